"""The composition function, called as Crossplane calls it: a hand-built RunFunctionRequest in, a response out
(the shape of crossplane/function-template-python's tests), and once over gRPC as its container serves it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import crossplane.function.proto.v1.run_function_pb2_grpc as grpcv1
import grpc
import pytest
import yaml
from crossplane.function import resource

from function import backup
from function.fn import FunctionRunner
from function.state import to_dict
from tests.conftest import free_port
from tools.repository import REPO_ROOT
from tools.waiting import listening, serving

APIS = REPO_ROOT / "crossplane" / "apis"


def step_input(api: str) -> dict[str, Any]:
    """The input our Composition for `api` passes to the function."""
    composition = yaml.safe_load((APIS / api / "composition.yaml").read_text())
    return composition["spec"]["pipeline"][0]["input"]


def composite(kind: str, parameters: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "platform.notejam.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": "notejam-db-ddc54",
            "uid": "0f0e0d0c-0000-0000-0000-000000000001",
            "labels": {"crossplane.io/claim-name": "notejam-db", "crossplane.io/claim-namespace": "notejam-dev"},
        },
        "spec": {"parameters": parameters},
        **({"status": status} if status else {}),
    }


POSTGRESQL = {
    "region": "eu-west-1",
    "size": "small",
    "storageGB": 20,
    "maxStorageGB": 100,
    "engineVersion": "16",
    "databaseName": "notejam",
    "highAvailability": False,
    "backupRetentionDays": 7,
    "deletionProtection": False,
    "masterPasswordSecretRef": {"name": "notejam-db-master-password", "key": "password"},
    "network": {"vpcId": "vpc-0a", "subnetIds": ["subnet-0a", "subnet-0b"], "clientCidrBlocks": ["10.0.0.0/16"]},
}
BACKUP = {
    "region": "eu-west-1",
    "environment": "dev",
    "accountId": "111111111111",
    "databaseIdentifier": "notejam-dev-notejam-db",
    "archiveDays": 1095,
    "snapshotRetentionDays": 7,
    "copyRegion": "eu-central-1",
    "copyRetentionDays": 7,
    "lambdaCode": {"bucket": "artifacts", "key": f"backup-lambda/{'0' * 64}.zip"},
}


def request(
    xr: dict[str, Any], api: str, observed: dict[str, dict[str, Any]] | None = None, secrets: dict | None = None
) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest(
        input=resource.dict_to_struct(step_input(api)),
        observed=fnv1.State(composite=fnv1.Resource(resource=resource.dict_to_struct(xr))),
    )
    for name, observed_resource in (observed or {}).items():
        req.observed.resources[name].resource.update(observed_resource)
        for key, value in (secrets or {}).get(name, {}).items():
            req.observed.resources[name].connection_details[key] = value
    return req


def run(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    return asyncio.run(FunctionRunner().RunFunction(req))


def created(kind: str, **at_provider: Any) -> dict[str, Any]:
    return {
        "apiVersion": "x.aws.upbound.io/v1",
        "kind": kind,
        "metadata": {"name": "created"},
        "status": {
            "atProvider": at_provider,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }


def test_first_call_composes_every_postgresql_resource_and_nothing_else():
    rsp = run(request(composite("XPostgreSQLInstance", POSTGRESQL), "postgresql"))
    assert list(rsp.results) == []
    assert sorted(rsp.desired.resources) == [
        "kms-key",
        "rds-instance",
        "security-group",
        "security-group-ingress-postgresql-10-0-0-0-16",
        "subnet-group",
    ]
    instance = to_dict(rsp.desired.resources["rds-instance"].resource)
    assert instance["spec"]["forProvider"]["identifier"] == "notejam-dev-notejam-db"
    assert instance["spec"]["forProvider"]["allocatedStorage"] == 20
    assert instance["spec"]["writeConnectionSecretToRef"]["name"] == "0f0e0d0c-0000-0000-0000-000000000001-postgresql"
    assert all(r.ready == fnv1.READY_UNSPECIFIED for r in rsp.desired.resources.values())
    assert not rsp.desired.composite.HasField("resource")
    assert dict(rsp.desired.composite.connection_details) == {}


def test_observed_instance_gives_status_connection_details_and_readiness():
    observed = {
        "rds-instance": {
            **created("Instance", address="db.example", port=5432, arn="arn:aws:rds:eu-west-1:1:db:x"),
            "spec": {"forProvider": {"username": "notejam_admin", "dbName": "notejam"}},
        },
        "kms-key": {"apiVersion": "kms.aws.upbound.io/v1beta1", "kind": "Key", "metadata": {"name": "k"}},
    }
    secrets = {"rds-instance": {"attribute.password": b"s3cret"}}
    rsp = run(request(composite("XPostgreSQLInstance", POSTGRESQL), "postgresql", observed, secrets))
    assert rsp.desired.resources["rds-instance"].ready == fnv1.READY_TRUE
    assert rsp.desired.resources["kms-key"].ready == fnv1.READY_UNSPECIFIED  # no Ready condition observed
    assert to_dict(rsp.desired.composite.resource) == {
        "status": {"address": "db.example", "arn": "arn:aws:rds:eu-west-1:1:db:x"}
    }
    assert dict(rsp.desired.composite.connection_details) == {
        "host": b"db.example",
        "port": b"5432",  # a whole number, not the protobuf double 5432.0
        "username": b"notejam_admin",
        "password": b"s3cret",
        "database": b"notejam",
    }


def test_without_claim_labels_the_named_resources_wait():
    xr = composite("XPostgreSQLInstance", POSTGRESQL)
    del xr["metadata"]["labels"]
    rsp = run(request(xr, "postgresql"))
    assert sorted(rsp.desired.resources) == ["kms-key", "security-group-ingress-postgresql-10-0-0-0-16", "subnet-group"]
    assert {r.severity for r in rsp.results} == {fnv1.SEVERITY_NORMAL}
    assert any("not composing rds-instance yet" in r.message for r in rsp.results)


def test_backup_resources_that_need_an_arn_wait_for_the_composite_status():
    rsp = run(request(composite("XDatabaseBackup", BACKUP), "backup"))
    assert "export-role" not in rsp.desired.resources
    assert len(rsp.desired.resources) == 13
    assert [r.message for r in rsp.results if "export-role yet" in r.message] == [
        "not composing export-role yet: it needs status.bucketKeyArn"
    ]
    key_arn = "arn:aws:kms:eu-west-1:111111111111:key/1"
    later = run(request(composite("XDatabaseBackup", BACKUP, {"bucketKeyArn": key_arn}), "backup"))
    role = to_dict(later.desired.resources["export-role"].resource)
    assert key_arn in role["spec"]["forProvider"]["inlinePolicy"][0]["policy"]


def test_the_composite_is_not_ready_while_a_resource_waits():
    """Crossplane derives an XR's readiness from the desired resources only: without READY_FALSE, a DatabaseBackup
    whose schedule targets and Lambda permissions still wait for ARNs would report Ready with every other resource."""
    waiting = run(request(composite("XDatabaseBackup", BACKUP), "backup"))
    assert "snapshot-schedule-target" not in waiting.desired.resources
    assert waiting.desired.composite.ready == fnv1.READY_FALSE
    arns = {key: f"arn:aws:x:eu-west-1:111111111111:{key}" for key in backup.STATUS}
    complete = run(request(composite("XDatabaseBackup", BACKUP, arns), "backup"))
    assert sorted(complete.desired.resources) == sorted(backup.resources({}, BACKUP))
    assert complete.desired.composite.ready == fnv1.READY_UNSPECIFIED  # readiness from the composed resources


def test_the_composite_status_carries_every_observed_arn():
    observed = {"bucket-key": created("Key", arn="arn:k"), "snapshot-schedule": created("Rule", arn="arn:r")}
    rsp = run(request(composite("XDatabaseBackup", BACKUP), "backup", observed))
    assert to_dict(rsp.desired.composite.resource) == {"status": {"bucketKeyArn": "arn:k", "snapshotRuleArn": "arn:r"}}


def test_an_existing_resource_is_never_dropped_for_a_lost_status():
    """Leaving an existing resource out would make Crossplane delete it."""
    observed = {"bucket-key": created("Key", arn="arn:k"), "export-role": created("Role", arn="arn:role")}
    rsp = run(request(composite("XDatabaseBackup", BACKUP), "backup", observed))  # no status at all
    assert (
        "arn:k"
        in to_dict(rsp.desired.resources["export-role"].resource)["spec"]["forProvider"]["inlinePolicy"][0]["policy"]
    )
    # Without the key's ARN anywhere the function refuses to answer: Crossplane applies and deletes nothing.
    rsp = run(request(composite("XDatabaseBackup", BACKUP), "backup", {"export-role": created("Role")}))
    [result] = rsp.results
    assert result.severity == fnv1.SEVERITY_FATAL
    assert result.message == (
        "export-role exists but status.bucketKeyArn is not known any more; not applying anything until it is"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"compose": "Bucket"}, "input.compose must be one of ['DatabaseBackup', 'PostgreSQLInstance'], got 'Bucket'"),
        ({"apiVersion": "pt.fn.crossplane.io/v1beta1"}, "input must be fn.platform.notejam.io/v1alpha1 Input, got"),
    ],
)
def test_an_unknown_input_is_fatal(change, message):
    req = request(composite("XPostgreSQLInstance", POSTGRESQL), "postgresql")
    req.input.update(change)
    [result] = run(req).results
    assert result.severity == fnv1.SEVERITY_FATAL
    assert result.message.startswith(message)


def test_a_parameter_the_xrd_should_have_required_is_fatal_not_a_crash():
    parameters = {key: value for key, value in BACKUP.items() if key != "region"}
    [result] = run(request(composite("XDatabaseBackup", parameters), "backup")).results
    assert (result.severity, result.message) == (
        fnv1.SEVERITY_FATAL,
        "cannot compose XDatabaseBackup: 'region' is missing",
    )


def test_main_has_help():
    result = subprocess.run(
        [sys.executable, "-m", "function.main", "--help"], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert "--insecure" in result.stdout and "--address" in result.stdout


def test_served_over_grpc_it_answers_like_in_process(tmp_path):
    """The container's entry point, run as `crossplane render` runs it (--insecure), on a local port."""
    port = free_port()
    command = [sys.executable, "-m", "function.main", "--insecure", "--address", f"127.0.0.1:{port}"]
    req = request(composite("XPostgreSQLInstance", POSTGRESQL), "postgresql")
    with (
        serving(command, lambda: listening(port), tmp_path / "function.log", cwd=REPO_ROOT),
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        rsp = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(req, timeout=30)
    assert rsp.desired == run(req).desired


def test_roles_carry_the_accounts_permissions_boundary_and_the_archive_outlives_its_claim():
    xr = composite(
        "XDatabaseBackup", BACKUP, {"bucketKeyArn": "arn:k", "exportRoleArn": "arn:r", "copyKeyArn": "arn:c"}
    )
    desired = {name: to_dict(r.resource) for name, r in run(request(xr, "backup")).desired.resources.items()}
    roles = [r for r in desired.values() if r["kind"] == "Role"]
    assert len(roles) == 3
    assert {r["spec"]["forProvider"]["permissionsBoundary"] for r in roles} == {
        "arn:aws:iam::111111111111:policy/notejam-dev-role-boundary"
    }
    kept = {name for name, r in desired.items() if r["spec"].get("deletionPolicy") == "Orphan"}
    assert kept == {"bucket-key", "bucket", "copy-key", *(n for n in desired if n.startswith("bucket-"))}


@pytest.mark.parametrize(("protected", "policy"), [(True, "Orphan"), (False, "Delete")])
def test_a_protected_database_outlives_its_claim_its_key_always_does(protected, policy):
    xr = composite("XPostgreSQLInstance", {**POSTGRESQL, "deletionProtection": protected})
    desired = {name: to_dict(r.resource) for name, r in run(request(xr, "postgresql")).desired.resources.items()}
    assert desired.pop("kms-key")["spec"]["deletionPolicy"] == "Orphan"
    assert {name: r["spec"]["deletionPolicy"] for name, r in desired.items()} == dict.fromkeys(desired, policy)
