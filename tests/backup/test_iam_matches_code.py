"""The rendered backup composition and the Lambda code agree: handlers, environment variables and IAM actions.

Nothing here lists what the code does a second time. The AWS calls are read from the handlers' source (ast),
turned into operation names by botocore's service model, and compared with the actions the composition grants.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import fnmatch
import functools
import importlib
import inspect
import json
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.model
import botocore.session
import pytest
import yaml
from botocore import xform_name

from backup import export, log_retention, snapshot
from backup.naming import MANAGED_BY_TAG, snapshot_id
from backup.settings import env_names, load
from tools.crossplane_composite import RESOURCE_NAME_ANNOTATION
from tools.render import render_claim
from tools.repository import REPO_ROOT

CLAIM = REPO_ROOT / "crossplane" / "apis" / "backup" / "examples" / "claim.yaml"

# Actions AWS authorises on top of an operation's own, given how our code calls it.
ADDITIONAL_ACTIONS = {
    # We pass Tags=: tagging at creation is authorised as rds:AddTagsToResource.
    "rds:CreateDBSnapshot": {"rds:AddTagsToResource"},
    # The caller passes the export role to RDS and lets RDS use the KMS key through a grant (RDS user guide,
    # "Exporting DB snapshot data to Amazon S3").
    "rds:StartExportTask": {"iam:PassRole", "kms:CreateGrant", "kms:DescribeKey"},
    # CopyTags=True tags the copy, and RDS encrypts it with the second region's key through a grant.
    "rds:CopyDBSnapshot": {"rds:AddTagsToResource", "kms:CreateGrant", "kms:DescribeKey"},
}
# Not our code but the Lambda runtime, writing the function's logs to CloudWatch Logs.
RUNTIME_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


# --- what the code does ---------------------------------------------------------------------------------------


def backup_modules(module: ModuleType) -> list[ModuleType]:
    """``module`` and every module of the backup package it imports, directly or not."""
    seen: dict[str, ModuleType] = {}
    pending = [module]
    while pending:
        current = pending.pop()
        if current.__name__ in seen:
            continue
        seen[current.__name__] = current
        for node in ast.walk(ast.parse(inspect.getsource(current))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "backup":
                pending.append(importlib.import_module(node.module))
    return list(seen.values())


def client_services(tree: ast.AST) -> set[str]:
    """Services of the ``boto3.client("<service>")`` calls; by our convention the client is named after it."""
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "boto3"
        and isinstance(node.args[0], ast.Constant)
    }


@functools.cache
def service_model(service: str) -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operations_called(module: ModuleType) -> set[tuple[str, str]]:
    """(service, botocore operation name) of every client call the handler's module and helpers make."""
    trees = [ast.parse(inspect.getsource(m)) for m in backup_modules(module)]
    services = set().union(*(client_services(tree) for tree in trees))
    assert services, f"{module.__name__} creates no boto3 client: nothing to compare"
    calls: set[tuple[str, str]] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in services
            ):
                continue
            service = node.func.value.id
            model = service_model(service)
            operations = {xform_name(name): name for name in model.operation_names}
            method = node.func.attr
            if method == "get_paginator":
                method = node.args[0].value
            assert method in operations, f"{module.__name__}: {service}.{method} is not a {service} operation"
            calls.add((service, operations[method]))
    return calls


def actions_needed(module: ModuleType) -> set[str]:
    actions = set()
    for service, operation in operations_called(module):
        action = f"{service_model(service).signing_name}:{operation}"
        actions |= {action, *ADDITIONAL_ACTIONS.get(action, set())}
    return actions | RUNTIME_ACTIONS


def settings_class(module: ModuleType) -> type:
    """The settings class the module's handler loads (``load(<Class>)``)."""
    tree = ast.parse(inspect.getsource(module.handler))
    [name] = [
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load"
    ]
    return getattr(module, name)


# --- what the composition declares ----------------------------------------------------------------------------


def observe(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources as the providers would report them: named, with an ARN."""
    observed = []
    for index, resource in enumerate(resources):
        created = copy.deepcopy(resource)
        created["metadata"]["name"] = f"{created['metadata'].pop('generateName', 'x-')}{index:05d}"
        name = created["metadata"]["annotations"][RESOURCE_NAME_ANNOTATION]
        service = created["apiVersion"].split(".")[0]
        created["status"] = {"atProvider": {"arn": f"arn:aws:{service}:eu-west-1:111111111111:{name}"}}
        observed.append(created)
    return observed


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """The example claim's resources once every ARN is known (as after a few reconciles)."""
    claim = yaml.safe_load(CLAIM.read_text())
    resources = render_claim(claim).resources
    for _ in range(6):
        again = render_claim(claim, observe(resources)).resources
        if len(again) == len(resources):
            return again
        resources = again
    raise AssertionError("the backup composition never settled")


def functions(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [r for r in rendered if r["kind"] == "Function" and r["apiVersion"].startswith("lambda.")]
    assert len(found) == 2, "expected the snapshot and the export Lambda"
    return found


def handler_module(function: dict[str, Any]) -> ModuleType:
    module_name, _, _ = function["spec"]["forProvider"]["handler"].rpartition(".")
    return importlib.import_module(module_name)


def role_of(function: dict[str, Any], rendered: list[dict[str, Any]]) -> dict[str, Any]:
    selector = function["spec"]["forProvider"]["roleSelector"]["matchLabels"]
    [role] = [
        r for r in rendered if r["kind"] == "Role" and selector.items() <= (r["metadata"].get("labels") or {}).items()
    ]
    return role


def granted_actions(role: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for inline in role["spec"]["forProvider"].get("inlinePolicy", []):
        for statement in json.loads(inline["policy"])["Statement"]:
            assert statement["Effect"] == "Allow"
            listed = statement["Action"]
            actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


# --- the pairings ---------------------------------------------------------------------------------------------


def test_both_handlers_resolve_to_callables_in_src_backup(rendered):
    handlers = sorted(f["spec"]["forProvider"]["handler"] for f in functions(rendered))
    assert handlers == ["backup.export.handler", "backup.snapshot.handler"]
    for function in functions(rendered):
        module = handler_module(function)
        assert Path(module.__file__).is_relative_to(REPO_ROOT / "src" / "backup")
        assert callable(getattr(module, function["spec"]["forProvider"]["handler"].rpartition(".")[2]))


def test_each_function_sets_exactly_the_variables_its_code_reads(rendered):
    for function in functions(rendered):
        module = handler_module(function)
        variables = function["spec"]["forProvider"]["environment"]["variables"]
        assert sorted(variables) == sorted(env_names(settings_class(module))), module.__name__
        assert all(isinstance(value, str) and value for value in variables.values())


def test_each_role_grants_exactly_the_actions_its_code_calls(rendered):
    for function in functions(rendered):
        module = handler_module(function)
        assert granted_actions(role_of(function, rendered)) == actions_needed(module), module.__name__


def test_the_analysis_sees_the_calls_the_handlers_make():
    # Guards the analysis itself: if it stopped finding calls, the comparison above would compare nothing.
    snapshot, export = importlib.import_module("backup.snapshot"), importlib.import_module("backup.export")
    assert ("rds", "CreateDBSnapshot") in operations_called(snapshot)
    assert ("rds", "DescribeDBSnapshots") in operations_called(snapshot)  # through get_paginator
    assert ("rds", "StartExportTask") in operations_called(export)
    # backup.log_retention, imported by both handlers.
    assert {("logs", "CreateLogGroup"), ("logs", "PutRetentionPolicy")} <= operations_called(export)
    assert "iam:PassRole" in actions_needed(export)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge pattern matching for what our rule uses: value lists and ``{"prefix": ...}``."""
    for key, wanted in pattern.items():
        if key not in event:
            return False
        if isinstance(wanted, dict):
            if not (isinstance(event[key], dict) and matches(wanted, event[key])):
                return False
            continue
        values = event[key] if isinstance(event[key], list) else [event[key]]
        if not any(_matches_one(option, value) for option in wanted for value in values):
            return False
    return True


def _matches_one(option: Any, value: Any) -> bool:
    if isinstance(option, dict):
        assert set(option) == {"prefix"}, f"pattern operator {option} is not understood by this test"
        return isinstance(value, str) and value.startswith(option["prefix"])
    return option == value


def test_the_export_rule_delivers_exactly_the_events_the_handler_exports(rendered, snapshot_created_event):
    [rule] = [r for r in rendered if r["kind"] == "Rule" and "eventPattern" in r["spec"]["forProvider"]]
    pattern = json.loads(rule["spec"]["forProvider"]["eventPattern"])
    [export_function] = [f for f in functions(rendered) if handler_module(f).__name__ == "backup.export"]
    prefix = export_function["spec"]["forProvider"]["environment"]["variables"]["SNAPSHOT_PREFIX"]
    arn = "arn:aws:rds:eu-west-1:111111111111:snapshot:{}"

    ours = snapshot_created_event(arn.format(f"{prefix}-2026-11-29"), f"{prefix}-2026-11-29")
    other_env = snapshot_created_event(arn.format("notejam-prod-2026-11-29"), "notejam-prod-2026-11-29")
    automated = copy.deepcopy(ours)
    automated["detail"]["EventID"] = "RDS-EVENT-0091"

    assert matches(pattern, ours)
    assert not matches(pattern, other_env)
    assert not matches(pattern, automated)


# --- the resources each call is authorised against --------------------------------------------------------------
# Granting the right actions is not enough: IAM checks each call against the ARNs RDS names for it (Service
# Authorization Reference, "Actions, resources, and condition keys for Amazon RDS"). A Describe call that names
# no resource is checked against the wildcard ARN, which a role scoped to our instance and snapshots never grants.


def authorised_against(operation: str, params: dict[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs IAM evaluates for one RDS or CloudWatch Logs call of the handlers."""
    if operation in ("CreateLogGroup", "PutRetentionPolicy"):
        # The reference names the log group's ARN; AWS's AccessDenied for these calls names "<that ARN>:log-stream:".
        # A role must allow both to be sure.
        group = f"arn:aws:logs:{region}:{account}:log-group:{params['logGroupName']}"
        return [(f"logs:{operation}", group), (f"logs:{operation}", f"{group}:log-stream:")]
    rds = f"arn:aws:rds:{region}:{account}"
    if operation == "DescribeDBInstances":
        return [("rds:DescribeDBInstances", f"{rds}:db:{params.get('DBInstanceIdentifier', '*')}")]
    if operation == "DescribeDBSnapshots":
        if "DBSnapshotIdentifier" in params:
            return [("rds:DescribeDBSnapshots", f"{rds}:snapshot:{params['DBSnapshotIdentifier']}")]
        if "DBInstanceIdentifier" in params:
            return [("rds:DescribeDBSnapshots", f"{rds}:db:{params['DBInstanceIdentifier']}")]
        return [("rds:DescribeDBSnapshots", f"{rds}:snapshot:*")]
    if operation == "CreateDBSnapshot":
        snapshot = f"{rds}:snapshot:{params['DBSnapshotIdentifier']}"
        pairs = [("rds:CreateDBSnapshot", f"{rds}:db:{params['DBInstanceIdentifier']}")]
        pairs.append(("rds:CreateDBSnapshot", snapshot))
        return pairs + ([("rds:AddTagsToResource", snapshot)] if params.get("Tags") else [])
    if operation == "DeleteDBSnapshot":
        return [("rds:DeleteDBSnapshot", f"{rds}:snapshot:{params['DBSnapshotIdentifier']}")]
    if operation == "StartExportTask":
        return [
            ("rds:StartExportTask", params["SourceArn"]),
            ("iam:PassRole", params["IamRoleArn"]),
            ("kms:CreateGrant", params["KmsKeyId"]),
            ("kms:DescribeKey", params["KmsKeyId"]),
        ]
    if operation == "CopyDBSnapshot":
        # Called in the second region (`region`), from the source snapshot's ARN.
        copy = f"{rds}:snapshot:{params['TargetDBSnapshotIdentifier']}"
        pairs = [("rds:CopyDBSnapshot", params["SourceDBSnapshotIdentifier"]), ("rds:CopyDBSnapshot", copy)]
        pairs += [("rds:AddTagsToResource", copy)] if params.get("CopyTags") else []
        return [*pairs, ("kms:CreateGrant", params["KmsKeyId"]), ("kms:DescribeKey", params["KmsKeyId"])]
    if operation == "DescribeExportTasks":
        # No resource types: authorised against "*" whatever it names (Service Authorization Reference).
        return [("rds:DescribeExportTasks", "*")]
    raise AssertionError(f"no authorisation model for rds:{operation}: add it here")


def allowed(role: dict[str, Any], action: str, resource: str) -> bool:
    """Does an Allow statement of the role's inline policies cover (action, resource)? (IAM wildcards * and ?)"""
    for inline in role["spec"]["forProvider"]["inlinePolicy"]:
        for statement in json.loads(inline["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if action in actions and any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources):
                return True
    return False


def test_every_call_the_handlers_make_is_authorised_by_their_role(rendered, aws, snapshot_created_event, monkeypatch):
    claim = yaml.safe_load(CLAIM.read_text())["spec"]["parameters"]
    region, account = claim["region"], claim["accountId"]
    monkeypatch.setenv("MOTO_ACCOUNT_ID", account)  # moto's ARNs in the account the policies name
    rds = boto3.client("rds", region_name=region)
    by_handler = {handler_module(f).__name__: f for f in functions(rendered)}
    settings = {
        name: load(settings_class(handler_module(f)), f["spec"]["forProvider"]["environment"]["variables"])
        for name, f in by_handler.items()
    }
    daily = settings["backup.snapshot"]
    rds.create_db_instance(
        DBInstanceIdentifier=daily.db_instance_identifier,
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="notejam",
        MasterUserPassword="not-a-real-password",
    )
    today = date(2026, 11, 29)
    expired = snapshot_id(daily.snapshot_prefix, today - timedelta(days=daily.retention_days + 1))
    rds.create_db_snapshot(
        DBInstanceIdentifier=daily.db_instance_identifier, DBSnapshotIdentifier=expired, Tags=[MANAGED_BY_TAG]
    )
    made: list[tuple[str, str, dict[str, Any]]] = []
    copy_region = daily.copy_region
    copy_rds = boto3.client("rds", region_name=copy_region)
    logs = boto3.client("logs", region_name=region)
    for client in (rds, copy_rds, logs):
        client.meta.events.register(
            f"provide-client-params.{client.meta.service_model.endpoint_prefix}.*",
            lambda params, model, client=client, **_: made.append((client.meta.region_name, model.name, params)),
        )
    # RDS copies only with a key that exists in the second region: moto's, standing for the composed copy key.
    exporting = settings["backup.export"]
    moto_key = boto3.client("kms", region_name=copy_region).create_key()["KeyMetadata"]["Arn"]
    stands_for = {moto_key: exporting.copy_kms_key_id}
    exporting = dataclasses.replace(exporting, copy_kms_key_id=moto_key)

    def own_log_group(handler: str) -> str:
        return f"/aws/lambda/{by_handler[handler]['metadata']['annotations']['crossplane.io/external-name']}"

    # What the handlers do at a cold start, before the backup: set their own log group's retention.
    log_retention.put_retention(logs, own_log_group("backup.snapshot"), daily.log_retention_days)
    taken = snapshot.run(rds, copy_rds, daily, today)
    calls = {"backup.snapshot": list(made)}
    made.clear()
    log_retention.put_retention(logs, own_log_group("backup.export"), exporting.log_retention_days)
    event = snapshot_created_event(f"arn:aws:rds:{region}:{account}:snapshot:{taken['snapshot']}", taken["snapshot"])
    exported = export.run(rds, copy_rds, exporting, event)
    calls["backup.export"] = list(made)

    assert (taken["created"], taken["deleted"], exported["status"], exported["copy"]) == (
        True,
        [expired],
        "started",
        "started",
    )
    for handler, made_by_handler in calls.items():
        module = importlib.import_module(handler)
        assert {op for _, op, _ in made_by_handler} == {op for _, op in operations_called(module)}, handler
        role = role_of(by_handler[handler], rendered)
        for client_region, operation, params in made_by_handler:
            for action, resource in authorised_against(operation, params, client_region, account):
                resource = stands_for.get(resource, resource)
                assert allowed(role, action, resource), f"{handler}: {action} on {resource} is not granted"
    assert {(r, op) for r, op, _ in calls["backup.export"]} >= {(copy_region, "CopyDBSnapshot")}
    assert {(r, op) for r, op, _ in calls["backup.snapshot"]} >= {(copy_region, "DescribeDBSnapshots")}
