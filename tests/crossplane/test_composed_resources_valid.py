"""Every composition input and every composed resource validates against the real upstream schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.crossplane.checks import cel_errors, kubeconform_errors, required_fields, validation_errors
from tests.crossplane.conftest import CROSSPLANE_DIR, REPO_ROOT, by_name, load_yaml, render_until_settled
from tools.crossplane_composite import load_apis
from tools.render import render_claim

COMPOSITIONS = sorted(CROSSPLANE_DIR.glob("apis/*/composition.yaml"))
INPUT_CRD = REPO_ROOT / "src" / "function" / "package" / "input" / "fn.platform.notejam.io_inputs.yaml"
PASSWORD = {"rds-instance": {"attribute.password": "s3cret"}}


def claim_id(claim: dict[str, Any]) -> str:
    return f"{claim['kind']}-{claim['metadata']['namespace']}"


def test_every_api_has_a_composition():
    assert {path.parent.name for path in COMPOSITIONS} == {"postgresql", "backup"}
    assert set(load_apis()) == {"PostgreSQLInstance", "DatabaseBackup"}


def input_schema() -> dict[str, Any]:
    [version] = load_yaml(INPUT_CRD)["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("path", COMPOSITIONS, ids=lambda path: path.parent.name)
def test_pipeline_calls_our_function_with_an_input_its_schema_accepts(path):
    composition = load_yaml(path)
    [step] = composition["spec"]["pipeline"]
    assert step["functionRef"] == {"name": "function-notejam"}
    assert step["input"]["compose"] == composition["spec"]["compositeTypeRef"]["kind"].removeprefix("X")
    jsonschema.validate(step["input"], input_schema())


def test_input_schema_refuses_an_api_the_function_does_not_compose():
    with pytest.raises(jsonschema.ValidationError, match="'PostgreSQLInstanc' is not one of"):
        jsonschema.validate({"compose": "PostgreSQLInstanc"}, input_schema())


def test_every_claim_renders_valid_resources(all_claims):
    for claim in all_claims:
        rendering = render_until_settled(claim, PASSWORD)
        assert rendering.results == [], claim_id(claim)
        assert validation_errors(rendering.resources) == [], claim_id(claim)


def test_first_render_without_observed_resources_is_valid_too(all_claims):
    for claim in all_claims:
        assert validation_errors(render_claim(claim).resources) == [], claim_id(claim)


def test_kubeconform_reports_an_unknown_field_by_resource_name(examples):
    resources = render_claim(examples["PostgreSQLInstance"]).resources
    by_name(resources)["rds-instance"]["spec"]["forProvider"]["instanceClas"] = "db.t4g.micro"
    errors = kubeconform_errors(resources)
    assert len(errors) == 1
    assert errors[0].startswith("rds-instance (Instance)")
    assert "instanceClas" in errors[0]


def test_cel_required_fields_come_from_the_crd():
    assert required_fields("rds.aws.upbound.io/v1beta3", "Instance") == ["instanceClass"]
    assert required_fields("cloudwatchevents.aws.upbound.io/v1beta2", "Target") == ["arn"]
    assert set(required_fields("lambda.aws.upbound.io/v1beta1", "Permission")) == {"action", "principal"}


def test_cel_rule_is_skipped_only_for_observe_only_resources(examples):
    instance = by_name(render_claim(examples["PostgreSQLInstance"]).resources)["rds-instance"]
    del instance["spec"]["forProvider"]["instanceClass"]
    assert cel_errors([instance]) == ["rds-instance (Instance): spec.forProvider.instanceClass is required"]
    instance["spec"]["initProvider"] = {"instanceClass": "db.t4g.micro"}
    assert cel_errors([instance]) == []
    del instance["spec"]["initProvider"]
    instance["spec"]["managementPolicies"] = ["Observe"]
    assert cel_errors([instance]) == []
