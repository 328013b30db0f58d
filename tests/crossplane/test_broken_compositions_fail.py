"""Mistakes in a composition are caught: each test breaks a copy of ours and expects a clear failure."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from tests.crossplane.checks import validation_errors
from tools.patch_and_transform.composite import PlatformAPI, load_apis
from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.pipeline import render
from tools.validation_data import schemas_dir


def broken(kind: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, PlatformAPI]:
    """All APIs, with a mutated deep copy of one composition's `rds-instance`-style resource template."""
    apis = dict(load_apis())
    api = apis[kind]
    composition = copy.deepcopy(api.composition)
    mutate(composition)
    apis[kind] = PlatformAPI(api.definition, composition)
    return apis


def template(composition: dict[str, Any], name: str) -> dict[str, Any]:
    [step] = [step for step in composition["spec"]["pipeline"] if "input" in step]
    [resource] = [resource for resource in step["input"]["resources"] if resource["name"] == name]
    return resource


def patch_to(composition: dict[str, Any], name: str, to_field_path: str) -> dict[str, Any]:
    [patch] = [p for p in template(composition, name)["patches"] if p.get("toFieldPath") == to_field_path]
    return patch


def test_typo_in_a_to_field_path_fails_validation_naming_resource_and_field(examples):
    def mutate(composition):
        patch_to(composition, "rds-instance", "spec.forProvider.instanceClass")["toFieldPath"] = (
            "spec.forProvider.instanceClas"
        )

    errors = validation_errors(
        render(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", mutate)).resources
    )
    assert any(e.startswith("rds-instance (Instance)") and "instanceClas" in e for e in errors), errors
    assert "rds-instance (Instance): spec.forProvider.instanceClass is required" in errors


def test_typo_in_a_required_from_field_path_leaves_the_resource_out_with_a_warning(examples):
    def mutate(composition):
        patch_to(composition, "rds-instance", "spec.forProvider.instanceClass")["fromFieldPath"] = (
            "spec.parameters.sise"
        )

    rendering = render(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", mutate))
    assert "rds-instance" not in {
        r["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for r in rendering.resources
    }
    assert len(rendering.warnings) == 1
    assert "rds-instance" in rendering.warnings[0]
    assert "spec.parameters.sise" in rendering.warnings[0]


def test_missing_required_field_fails_the_crd_cel_rule(examples):
    def mutate(composition):
        resource = template(composition, "rds-instance")
        resource["patches"].remove(patch_to(composition, "rds-instance", "spec.forProvider.instanceClass"))

    errors = validation_errors(
        render(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", mutate)).resources
    )
    assert errors == ["rds-instance (Instance): spec.forProvider.instanceClass is required"]


def test_wrong_api_version_fails_validation(examples):
    def mutate(composition):
        template(composition, "bucket")["base"]["apiVersion"] = "s3.aws.upbound.io/v1beta9"

    resources = render(examples["DatabaseBackup"], apis=broken("DatabaseBackup", mutate)).resources
    bucket = [r for r in resources if r["kind"] == "Bucket"]
    with pytest.raises(LookupError, match=r"Bucket\.s3\.aws\.upbound\.io has no version v1beta9"):
        validation_errors(bucket)


def test_wrong_api_version_is_reported_by_kubeconform(examples):
    from tests.crossplane.checks import kubeconform_errors

    def mutate(composition):
        template(composition, "bucket")["base"]["apiVersion"] = "s3.aws.upbound.io/v1beta9"

    resources = render(examples["DatabaseBackup"], apis=broken("DatabaseBackup", mutate)).resources
    errors = kubeconform_errors(resources)
    assert len(errors) == 1
    assert errors[0].startswith("bucket (Bucket): statusError")
    assert "could not find schema" in errors[0]


def test_misspelt_pipeline_input_field_fails_the_upstream_input_schema():
    schema = json.loads((schemas_dir() / "pt.fn.crossplane.io" / "resources_v1beta1.json").read_text())
    composition = copy.deepcopy(load_apis()["PostgreSQLInstance"].composition)
    patch_to(composition, "rds-instance", "spec.forProvider.instanceClass")["policy"] = {"fromFieldPath": "Requird"}
    [step] = [step for step in composition["spec"]["pipeline"] if "input" in step]
    with pytest.raises(jsonschema.ValidationError, match="'Requird' is not one of"):
        jsonschema.validate(step["input"], schema)


def test_an_unknown_transform_type_fails_the_render(examples):
    def mutate(composition):
        patch_to(composition, "rds-instance", "spec.forProvider.instanceClass")["transforms"][0]["type"] = "match"

    with pytest.raises(RenderError, match=r"rds-instance.*transform at index 0: type 'match' is not supported"):
        render(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", mutate))


def test_a_size_missing_from_the_map_fails_the_render(examples):
    def mutate(composition):
        del patch_to(composition, "rds-instance", "spec.forProvider.instanceClass")["transforms"][0]["map"]["small"]

    with pytest.raises(RenderError, match="key small is not found in map"):
        render(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", mutate))
