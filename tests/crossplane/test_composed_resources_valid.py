"""Every composition input and every composed resource validates against the real upstream schemas."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.crossplane.checks import cel_errors, kubeconform_errors, required_fields, validation_errors
from tests.crossplane.conftest import CROSSPLANE_DIR, load_yaml, render_until_settled
from tools.patch_and_transform.composite import load_apis
from tools.patch_and_transform.pipeline import render
from tools.validation_data import schemas_dir

COMPOSITIONS = sorted(CROSSPLANE_DIR.glob("apis/*/composition.yaml"))
PASSWORD = {"rds-instance": {"attribute.password": "s3cret"}}


def claim_id(claim: dict[str, Any]) -> str:
    return f"{claim['kind']}-{claim['metadata']['namespace']}"


def test_every_api_has_a_composition():
    assert {path.parent.name for path in COMPOSITIONS} == {"postgresql", "backup"}
    assert set(load_apis()) == {"PostgreSQLInstance", "DatabaseBackup"}


@pytest.mark.parametrize("path", COMPOSITIONS, ids=lambda path: path.parent.name)
def test_pipeline_input_matches_the_patch_and_transform_schema(path):
    schema = json.loads((schemas_dir() / "pt.fn.crossplane.io" / "resources_v1beta1.json").read_text())
    composition = load_yaml(path)
    steps = [step for step in composition["spec"]["pipeline"] if "input" in step]
    assert steps, "the composition has no patch-and-transform step"
    for step in steps:
        jsonschema.validate(step["input"], schema)


def test_every_claim_renders_valid_resources(all_claims):
    for claim in all_claims:
        rendering = render_until_settled(claim, PASSWORD)
        assert rendering.warnings == [], claim_id(claim)
        assert validation_errors(rendering.resources) == [], claim_id(claim)


def test_first_render_without_observed_resources_is_valid_too(all_claims):
    for claim in all_claims:
        assert validation_errors(render(claim).resources) == [], claim_id(claim)


def test_kubeconform_reports_an_unknown_field_by_resource_name(examples):
    resources = render(examples["PostgreSQLInstance"]).resources
    resources[-1]["spec"]["forProvider"]["instanceClas"] = "db.t4g.micro"
    errors = kubeconform_errors(resources)
    assert len(errors) == 1
    assert errors[0].startswith("rds-instance (Instance)")
    assert "instanceClas" in errors[0]


def test_cel_required_fields_come_from_the_crd():
    assert required_fields("rds.aws.upbound.io/v1beta3", "Instance") == ["instanceClass"]
    assert required_fields("cloudwatchevents.aws.upbound.io/v1beta2", "Target") == ["arn"]
    assert set(required_fields("lambda.aws.upbound.io/v1beta1", "Permission")) == {"action", "principal"}


def test_cel_rule_is_skipped_only_for_observe_only_resources(examples):
    resources = render(examples["PostgreSQLInstance"]).resources
    instance = resources[-1]
    del instance["spec"]["forProvider"]["instanceClass"]
    assert cel_errors([instance]) == ["rds-instance (Instance): spec.forProvider.instanceClass is required"]
    instance["spec"]["initProvider"] = {"instanceClass": "db.t4g.micro"}
    assert cel_errors([instance]) == []
    del instance["spec"]["initProvider"]
    instance["spec"]["managementPolicies"] = ["Observe"]
    assert cel_errors([instance]) == []
