"""The part of Crossplane that `make render` emulates around the function: claim -> composite, the request,
composed metadata, the status the composite keeps, the connection details it publishes."""

from __future__ import annotations

import copy

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest

from tests.crossplane.conftest import by_name
from tools.crossplane_composite import (
    CompositionRenderError,
    claim_to_composite,
    load_apis,
    published_connection_details,
    request,
    written_status,
)
from tools.render import assume_created, render_claim


@pytest.fixture
def api():
    return load_apis()["PostgreSQLInstance"]


def test_claim_becomes_a_defaulted_composite_with_crossplanes_labels_and_refs(examples, api):
    claim = copy.deepcopy(examples["PostgreSQLInstance"])
    del claim["spec"]["parameters"]["size"]
    claim["metadata"]["labels"] = {"team": "a", "app.kubernetes.io/component": "database"}
    claim["metadata"]["annotations"] = {"argocd.argoproj.io/sync-wave": "-1", "kubectl.kubernetes.io/x": "{}"}
    composite = claim_to_composite(claim, api)
    name = composite["metadata"]["name"]
    assert composite["kind"] == "XPostgreSQLInstance"
    assert composite["spec"]["parameters"]["size"] == "small"  # the XRD's default
    assert composite["metadata"]["labels"] == {
        "team": "a",
        "crossplane.io/claim-name": "notejam-db",
        "crossplane.io/claim-namespace": "notejam-dev",
        "crossplane.io/composite": name,
    }
    assert composite["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "-1"}
    assert composite["spec"]["claimRef"]["name"] == "notejam-db"
    assert composite["spec"]["compositionRef"] == {"name": "xpostgresqlinstances.aws.platform.notejam.io"}
    assert composite["spec"]["writeConnectionSecretToRef"] == {
        "name": composite["metadata"]["uid"],
        "namespace": "crossplane-system",
    }


def test_composite_names_are_reproducible_and_differ_per_claim(examples, api):
    claim = examples["PostgreSQLInstance"]
    other = copy.deepcopy(claim)
    other["metadata"]["namespace"] = "notejam-prod"
    names = {claim_to_composite(c, api)["metadata"]["name"] for c in (claim, claim, other)}
    assert len(names) == 2


def test_composed_resources_carry_crossplane_metadata_and_keep_their_observed_name(examples):
    rendering = render_claim(examples["PostgreSQLInstance"])
    composite = rendering.composite["metadata"]
    key = by_name(rendering.resources)["kms-key"]["metadata"]
    assert key["generateName"] == f"{composite['name']}-"
    assert key["annotations"] == {"crossplane.io/composition-resource-name": "kms-key"}
    assert key["labels"] == {
        "crossplane.io/composite": composite["name"],
        "crossplane.io/claim-name": "notejam-db",
        "crossplane.io/claim-namespace": "notejam-dev",
    }
    [owner] = key["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "XPostgreSQLInstance",
        composite["name"],
        composite["uid"],
        True,
    )
    again = render_claim(examples["PostgreSQLInstance"], assume_created(rendering.resources))
    kept = by_name(again.resources)["kms-key"]["metadata"]
    assert kept["name"] == by_name(assume_created(rendering.resources))["kms-key"]["metadata"]["name"]
    assert "generateName" not in kept


def test_request_carries_input_observed_state_connection_details_and_the_previous_desired_state(api):
    previous = fnv1.State()
    previous.resources["earlier"].resource.update({"kind": "X"})
    observed = {"rds-instance": {"kind": "Instance", "metadata": {"name": "db"}}}
    req = request(
        {"kind": "XPostgreSQLInstance"},
        api.composition["spec"]["pipeline"][0],
        observed,
        {"rds-instance": {"attribute.password": "pw"}},
        previous,
    )
    assert req.input["compose"] == "PostgreSQLInstance"
    assert req.observed.composite.resource["kind"] == "XPostgreSQLInstance"
    assert req.observed.resources["rds-instance"].connection_details["attribute.password"] == b"pw"
    assert list(req.desired.resources) == ["earlier"]


def test_status_the_xrd_does_not_declare_is_pruned(examples, api):
    composite = claim_to_composite(examples["PostgreSQLInstance"], api)
    desired = fnv1.State()
    desired.composite.resource.update({"status": {"address": "db.example", "undeclared": "x"}})
    assert written_status(desired, composite, api) == ({"address": "db.example"}, ["status.undeclared"])


def test_only_the_xrds_connection_secret_keys_are_published(api):
    desired = fnv1.State()
    for key in ("host", "password", "internal"):
        desired.composite.connection_details[key] = b"v"
    assert published_connection_details(desired, api) == {"host": "v", "password": "v"}
    # XRD connectionSecretKeys: "If the list is empty, all keys will be published."
    api.definition["spec"]["connectionSecretKeys"] = []
    assert set(published_connection_details(desired, api)) == {"host", "password", "internal"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": {"parameters": {"size": "small"}}}, r"spec\.parameters: 'region' is a required property"),
        ({"apiVersion": "other.io/v1alpha1"}, "is not in group platform.notejam.io"),
        ({"apiVersion": "platform.notejam.io/v9"}, "version v9 is not served"),
        ({"kind": "Gadget"}, "no platform API offers claim kind 'Gadget'"),
        ({"metadata": {"name": "notejam-db"}}, "needs metadata.name and metadata.namespace"),
    ],
)
def test_invalid_claims_are_refused_clearly(examples, change, message):
    with pytest.raises(CompositionRenderError, match=message):
        render_claim({**examples["PostgreSQLInstance"], **change})


def test_observed_resource_without_its_composition_name_is_an_error(examples):
    with pytest.raises(CompositionRenderError, match=r"lacks annotation crossplane\.io/composition-resource-name"):
        render_claim(examples["PostgreSQLInstance"], [{"kind": "Key", "metadata": {"name": "x"}}])
