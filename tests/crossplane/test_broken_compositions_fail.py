"""Mistakes in the composition function or a Composition are caught: each test breaks a copy and expects a clear
failure (validation of the composed resources, or a Fatal result that `make render` reports)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from function import backup, postgresql
from tests.crossplane.checks import kubeconform_errors, validation_errors
from tests.crossplane.conftest import by_name
from tools.crossplane_composite import CompositionRenderError, PlatformAPI, load_apis
from tools.render import render_claim


def misspelt_instance_class(observed: Any, classes: Any) -> dict[str, Any]:
    instance = ORIGINAL_INSTANCE(observed, classes)
    instance["spec"]["forProvider"]["instanceClas"] = instance["spec"]["forProvider"].pop("instanceClass")
    return instance


ORIGINAL_INSTANCE = postgresql.instance


def test_typo_in_a_field_name_fails_validation_naming_resource_and_field(examples, monkeypatch):
    monkeypatch.setattr(postgresql, "instance", misspelt_instance_class)
    errors = validation_errors(render_claim(examples["PostgreSQLInstance"]).resources)
    assert any(e.startswith("rds-instance (Instance)") and "instanceClas" in e for e in errors), errors
    assert "rds-instance (Instance): spec.forProvider.instanceClass is required" in errors


def test_missing_required_field_fails_the_crd_cel_rule(examples, monkeypatch):
    def without_instance_class(observed, classes):
        instance = ORIGINAL_INSTANCE(observed, classes)
        del instance["spec"]["forProvider"]["instanceClass"]
        return instance

    monkeypatch.setattr(postgresql, "instance", without_instance_class)
    errors = validation_errors(render_claim(examples["PostgreSQLInstance"]).resources)
    assert errors == ["rds-instance (Instance): spec.forProvider.instanceClass is required"]


def test_wrong_api_version_fails_validation(examples, monkeypatch):
    original = backup.bucket
    monkeypatch.setattr(
        backup, "bucket", lambda observed: {**original(observed), "apiVersion": "s3.aws.upbound.io/v1beta9"}
    )
    resources = render_claim(examples["DatabaseBackup"]).resources
    bucket = [r for r in resources if r["kind"] == "Bucket"]
    with pytest.raises(LookupError, match=r"Bucket\.s3\.aws\.upbound\.io has no version v1beta9"):
        validation_errors(bucket)
    errors = kubeconform_errors(resources)
    assert len(errors) == 1
    assert errors[0].startswith("bucket (Bucket): statusError")
    assert "could not find schema" in errors[0]


def broken(claim_kind: str, step_input: dict[str, Any]) -> dict[str, PlatformAPI]:
    """All APIs, with one Composition's step input changed."""
    apis = dict(load_apis())
    composition = copy.deepcopy(apis[claim_kind].composition)
    composition["spec"]["pipeline"][0]["input"].update(step_input)
    apis[claim_kind] = PlatformAPI(apis[claim_kind].definition, composition)
    return apis


def test_a_size_missing_from_the_input_fails_the_render(examples):
    apis = broken("PostgreSQLInstance", {"instanceClasses": {"medium": "db.t4g.medium"}})
    with pytest.raises(CompositionRenderError, match="cannot compose XPostgreSQLInstance: 'small' is missing"):
        render_claim(examples["PostgreSQLInstance"], apis=apis)


@pytest.mark.parametrize(
    ("step_input", "message"),
    [
        ({"compose": "PostgreSQLInstanc"}, r"input\.compose must be one of \['DatabaseBackup', 'PostgreSQLInstance'\]"),
        ({"kind": "Resources"}, r"input must be fn\.platform\.notejam\.io/v1alpha1 Input, got .* Resources"),
        ({"instanceClasses": ["db.t4g.micro"]}, "input.instanceClasses must map each size"),
    ],
)
def test_a_bad_input_is_a_fatal_result_with_its_reason(examples, step_input, message):
    with pytest.raises(CompositionRenderError, match=f"step 'compose': {message}"):
        render_claim(examples["PostgreSQLInstance"], apis=broken("PostgreSQLInstance", step_input))


def test_a_step_calling_another_function_is_refused(examples):
    apis = dict(load_apis())
    composition = copy.deepcopy(apis["DatabaseBackup"].composition)
    composition["spec"]["pipeline"].append({"step": "ready", "functionRef": {"name": "function-auto-ready"}})
    apis["DatabaseBackup"] = PlatformAPI(apis["DatabaseBackup"].definition, composition)
    with pytest.raises(
        CompositionRenderError, match="step 'ready' calls 'function-auto-ready': only function-notejam runs"
    ):
        render_claim(examples["DatabaseBackup"], apis=apis)
    composition["spec"]["mode"] = "Resources"
    with pytest.raises(CompositionRenderError, match="only mode Pipeline"):
        render_claim(examples["DatabaseBackup"], apis=apis)


def test_the_unbroken_function_renders_valid_resources(examples):
    """The control for the tests above: without the breakage, the same checks find nothing."""
    resources = render_claim(examples["PostgreSQLInstance"]).resources
    assert validation_errors(resources) == []
    assert by_name(resources)["rds-instance"]["spec"]["forProvider"]["instanceClass"] == "db.t4g.micro"
