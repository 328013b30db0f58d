"""What a DatabaseBackup claim composes: a private 3-year archive, and the two Lambdas wired to EventBridge."""

from __future__ import annotations

import copy
import json
import re

import botocore.session
import pytest

from function.backup import DEFAULT_LOG_RETENTION_DAYS
from tests.crossplane.conftest import ACCOUNT_ID, by_name, load_yaml, render_until_settled
from tools.render import assume_created, render_claim
from tools.repository import REPO_ROOT

BUCKET = f"notejamsnapshot-dev-{ACCOUNT_ID}"
BUCKET_ARNS = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/bucket-key"
COPY_KEY_ARN = f"arn:aws:kms:eu-central-1:{ACCOUNT_ID}:key/copy-key"
EXPORT_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/export-role"
OUR_SNAPSHOTS = f"arn:aws:rds:eu-west-1:{ACCOUNT_ID}:snapshot:notejam-dev-????-??-??"


@pytest.fixture(scope="module")
def settled(examples):
    """The backup claim after the providers created everything and reported their ARNs."""
    return render_until_settled(examples["DatabaseBackup"])


@pytest.fixture(scope="module")
def resources(settled):
    return by_name(settled.resources)


def statements(policy_json: str) -> list[dict]:
    document = json.loads(policy_json)
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def actions(policy_json: str) -> set[str]:
    found = set()
    for statement in statements(policy_json):
        assert statement["Effect"] == "Allow"
        found.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    return found


def test_bucket_is_named_per_environment_and_account(resources):
    bucket = resources["bucket"]
    assert bucket["apiVersion"] == "s3.aws.upbound.io/v1beta2"
    assert bucket["metadata"]["annotations"]["crossplane.io/external-name"] == BUCKET
    assert bucket["spec"]["forProvider"] == {"forceDestroy": False, "region": "eu-west-1"}


def test_bucket_blocks_every_kind_of_public_access(resources):
    for_provider = resources["bucket-public-access-block"]["spec"]["forProvider"]
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(for_provider[flag] is True for flag in flags)


def test_bucket_is_versioned_owner_enforced_and_kms_encrypted(resources):
    assert resources["bucket-versioning"]["spec"]["forProvider"]["versioningConfiguration"] == {"status": "Enabled"}
    assert resources["bucket-ownership"]["spec"]["forProvider"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    [rule] = resources["bucket-encryption"]["spec"]["forProvider"]["rule"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyIdSelector": {"matchControllerRef": True},
    }
    assert resources["bucket-key"]["spec"]["forProvider"]["enableKeyRotation"] is True


def test_bucket_policy_denies_everything_without_tls(resources):
    [statement] = statements(resources["bucket-policy"]["spec"]["forProvider"]["policy"])
    assert statement["Effect"] == "Deny"
    assert (statement["Principal"], statement["Action"]) == ("*", "s3:*")
    assert statement["Resource"] == BUCKET_ARNS
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_objects_and_old_versions_expire_after_three_years(resources):
    [rule] = resources["bucket-lifecycle"]["spec"]["forProvider"]["rule"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == [{"prefix": ""}]
    assert rule["expiration"] == [{"days": 1095}]
    assert rule["noncurrentVersionExpiration"] == [{"noncurrentDays": 1095}]


def test_archive_days_parameter_drives_both_expirations(claim_variant):
    lifecycle = by_name(render_claim(claim_variant("DatabaseBackup", archiveDays=30)).resources)["bucket-lifecycle"]
    [rule] = lifecycle["spec"]["forProvider"]["rule"]
    assert (rule["expiration"][0]["days"], rule["noncurrentVersionExpiration"][0]["noncurrentDays"]) == (30, 30)


def test_export_role_is_assumed_by_rds_export_of_this_account_only(resources):
    for_provider = resources["export-role"]["spec"]["forProvider"]
    [trust] = statements(for_provider["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "export.rds.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    [inline] = for_provider["inlinePolicy"]
    write, encrypt = statements(inline["policy"])
    assert write["Resource"] == BUCKET_ARNS
    assert set(write["Action"]) == {
        "s3:PutObject*",
        "s3:ListBucket",
        "s3:GetObject*",
        "s3:DeleteObject*",
        "s3:GetBucketLocation",
    }
    assert (encrypt["Action"], encrypt["Resource"]) == (["kms:GenerateDataKey", "kms:Decrypt"], KEY_ARN)


@pytest.mark.parametrize(
    ("name", "handler", "variables"),
    [
        (
            "snapshot-function",
            "backup.snapshot.handler",
            {
                "DB_INSTANCE_IDENTIFIER": "notejam-dev-notejam-db",
                "SNAPSHOT_PREFIX": "notejam-dev",
                "SNAPSHOT_RETENTION_DAYS": "7",
                "COPY_REGION": "eu-central-1",
                "COPY_RETENTION_DAYS": "7",
                "LOG_RETENTION_DAYS": "365",
            },
        ),
        (
            "export-function",
            "backup.export.handler",
            {
                "DB_INSTANCE_IDENTIFIER": "notejam-dev-notejam-db",
                "SNAPSHOT_PREFIX": "notejam-dev",
                "EXPORT_BUCKET": BUCKET,
                "EXPORT_PREFIX": "exports/notejam-dev-notejam-db",
                "EXPORT_ROLE_ARN": EXPORT_ROLE_ARN,
                "EXPORT_KMS_KEY_ID": KEY_ARN,
                "COPY_REGION": "eu-central-1",
                "COPY_KMS_KEY_ID": COPY_KEY_ARN,
                "LOG_RETENTION_DAYS": "365",
            },
        ),
    ],
)
def test_functions_run_the_packaged_handlers_with_their_settings(resources, name, handler, variables):
    function = resources[name]
    assert function["apiVersion"] == "lambda.aws.upbound.io/v1beta2"
    for_provider = function["spec"]["forProvider"]
    assert (for_provider["runtime"], for_provider["handler"]) == ("python3.12", handler)
    assert for_provider["s3Bucket"] == f"notejam-artifacts-{ACCOUNT_ID}"
    assert for_provider["s3Key"] == f"backup-lambda/{'0' * 64}.zip"
    assert for_provider["environment"]["variables"] == variables
    assert for_provider["timeout"] <= 60
    assert for_provider["loggingConfig"] == {"logFormat": "JSON"}
    assert function["metadata"]["annotations"]["crossplane.io/external-name"] == f"notejam-dev-{name.split('-')[0]}"


def test_snapshot_role_may_only_snapshot_this_instance_and_manage_our_snapshots(resources):
    [inline] = resources["snapshot-function-role"]["spec"]["forProvider"]["inlinePolicy"]
    snapshot, manage, copies, logs, _retention = statements(inline["policy"])
    # The exact action lists are pinned against the handlers' boto3 calls in tests/backup; here: the scope.
    assert "rds:CreateDBSnapshot" in snapshot["Action"]
    assert all(action.startswith("rds:") for action in snapshot["Action"])
    assert snapshot["Resource"] == [f"arn:aws:rds:eu-west-1:{ACCOUNT_ID}:db:notejam-dev-notejam-db", OUR_SNAPSHOTS]
    assert {"rds:AddTagsToResource", "rds:DeleteDBSnapshot"} <= set(manage["Action"])
    assert manage["Resource"] == OUR_SNAPSHOTS
    # The copies in the second region: listed by the instance's identifier, deleted when they expire.
    assert copies["Action"] == ["rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot"]
    assert copies["Resource"] == [
        f"arn:aws:rds:eu-central-1:{ACCOUNT_ID}:db:notejam-dev-notejam-db",
        OUR_SNAPSHOTS.replace("eu-west-1", "eu-central-1"),
    ]
    assert all(
        arn.startswith(f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/aws/lambda/notejam-dev-snapshot")
        for arn in logs["Resource"]
    )


def test_export_role_may_only_export_ours_pass_the_export_role_and_grant_the_key(resources):
    [inline] = resources["export-function-role"]["spec"]["forProvider"]["inlinePolicy"]
    export, exports_ended, pass_role, grant, copy, copy_grant, _logs, _retention = statements(inline["policy"])
    assert "rds:StartExportTask" in export["Action"]
    # DescribeExportTasks names no resource (Service Authorization Reference): read-only, on "*".
    assert (exports_ended["Action"], exports_ended["Resource"]) == (["rds:DescribeExportTasks"], "*")
    assert all(action.startswith("rds:") for action in export["Action"])
    assert export["Resource"] == OUR_SNAPSHOTS
    assert (pass_role["Action"], pass_role["Resource"]) == (["iam:PassRole"], EXPORT_ROLE_ARN)
    assert (grant["Action"], grant["Resource"]) == (["kms:CreateGrant", "kms:DescribeKey"], KEY_ARN)
    # The copy to the second region: our snapshots only, under the key of that region.
    assert copy["Action"] == ["rds:CopyDBSnapshot", "rds:AddTagsToResource"]
    assert copy["Resource"] == [OUR_SNAPSHOTS, OUR_SNAPSHOTS.replace("eu-west-1", "eu-central-1")]
    assert (copy_grant["Action"], copy_grant["Resource"]) == (["kms:CreateGrant", "kms:DescribeKey"], COPY_KEY_ARN)


@pytest.mark.parametrize("function", ["snapshot", "export"])
def test_each_function_may_set_the_retention_of_its_own_log_group_only(resources, function):
    [inline] = resources[f"{function}-function-role"]["spec"]["forProvider"]["inlinePolicy"]
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/aws/lambda/notejam-dev-{function}"
    [retention] = [s for s in statements(inline["policy"]) if "logs:PutRetentionPolicy" in s["Action"]]
    assert retention == {
        "Sid": "KeepOwnLogsForRetentionDays",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
        # The group, and the same with ":*", which IAM names in PutRetentionPolicy's AccessDenied (the composition).
        "Resource": [group, f"{group}:*"],
    }


def test_log_retention_days_reaches_both_functions(claim_variant):
    rendered = by_name(render_until_settled(claim_variant("DatabaseBackup", logRetentionDays=30)).resources)
    for name in ("snapshot-function", "export-function"):
        assert rendered[name]["spec"]["forProvider"]["environment"]["variables"]["LOG_RETENTION_DAYS"] == "30"


def test_log_retention_days_default_when_the_claim_omits_it(examples):
    claim = copy.deepcopy(examples["DatabaseBackup"])
    del claim["spec"]["parameters"]["logRetentionDays"]
    rendered = by_name(render_until_settled(claim).resources)
    variables = rendered["snapshot-function"]["spec"]["forProvider"]["environment"]["variables"]
    assert variables["LOG_RETENTION_DAYS"] == str(DEFAULT_LOG_RETENTION_DAYS)


def test_log_retention_days_are_the_periods_cloudwatch_logs_accepts():
    # PutRetentionPolicy rejects any other value; AWS's API model lists them in the parameter's documentation.
    model = botocore.session.get_session().get_service_model("logs")
    documented = model.operation_model("PutRetentionPolicy").input_shape.members["retentionInDays"].documentation
    accepted = [int(days) for days in re.findall(r"\d+", re.search(r"Possible values are: ([^.]+)\.", documented)[1])]
    definition = load_yaml(REPO_ROOT / "crossplane" / "apis" / "backup" / "definition.yaml")
    version = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    parameter = version["properties"]["spec"]["properties"]["parameters"]["properties"]["logRetentionDays"]
    assert parameter["enum"] == accepted
    assert parameter["default"] == DEFAULT_LOG_RETENTION_DAYS


def test_snapshot_runs_daily_at_midnight_utc(resources):
    assert resources["snapshot-schedule"]["spec"]["forProvider"]["scheduleExpression"] == "cron(0 0 * * ? *)"


def test_export_triggers_on_our_manual_snapshot_created_events(resources):
    pattern = json.loads(resources["export-trigger"]["spec"]["forProvider"]["eventPattern"])
    assert pattern == {
        "source": ["aws.rds"],
        "detail-type": ["RDS DB Snapshot Event"],
        "detail": {"EventID": ["RDS-EVENT-0042"], "SourceIdentifier": [{"prefix": "notejam-dev-"}]},
    }


@pytest.mark.parametrize("step", ["snapshot", "export"])
def test_targets_and_permissions_carry_the_observed_arns(resources, step):
    rule = "snapshot-schedule" if step == "snapshot" else "export-trigger"
    target = resources[f"{rule}-target"]["spec"]["forProvider"]
    permission = resources[f"{rule}-permission"]["spec"]["forProvider"]
    assert target["arn"] == f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function/{step}-function"
    assert target["ruleSelector"]["matchLabels"] == {"platform.notejam.io/backup-step": step}
    assert permission["sourceArn"] == f"arn:aws:cloudwatchevents:eu-west-1:{ACCOUNT_ID}:rule/{rule}"
    assert (permission["action"], permission["principal"]) == ("lambda:InvokeFunction", "events.amazonaws.com")
    assert permission["functionNameSelector"]["matchLabels"] == {"platform.notejam.io/backup-step": step}
    selected = [
        r for r in resources.values() if r["metadata"].get("labels", {}).get("platform.notejam.io/backup-step") == step
    ]
    assert {r["kind"] for r in selected} == {"Role", "Function", "Rule"}


def test_resources_waiting_for_an_arn_are_not_created_before_it_exists(examples):
    first = render_claim(examples["DatabaseBackup"])
    waits_for = {
        "export-role": "status.bucketKeyArn",
        "snapshot-schedule-target": "status.snapshotFunctionArn",
        "snapshot-schedule-permission": "status.snapshotRuleArn",
        "export-function-role": "status.exportRoleArn",
        "export-function": "status.exportRoleArn",
        "export-trigger-target": "status.exportFunctionArn",
        "export-trigger-permission": "status.exportRuleArn",
    }
    assert set(waits_for).isdisjoint(by_name(first.resources))
    assert sorted(first.results) == sorted(
        f"Normal: not composing {name} yet: it needs {needed}" for name, needed in waits_for.items()
    )


def test_an_arn_reaches_the_resources_that_need_it_one_reconcile_after_aws_reports_it(examples):
    """The key is observed with its ARN: the composite's status carries it, so the export role appears."""
    claim = examples["DatabaseBackup"]
    first = render_claim(claim)
    created = assume_created(first.resources, ACCOUNT_ID)
    second = render_claim(claim, created)
    assert second.composite["status"]["bucketKeyArn"] == KEY_ARN
    assert "export-role" in by_name(second.resources)
    # Its own ARN is not known before it exists: the roles and function that need it still wait.
    assert "export-function-role" not in by_name(second.resources)


def test_settled_composite_status_holds_every_arn(settled):
    assert set(settled.composite["status"]) == {
        "bucketKeyArn",
        "copyKeyArn",
        "exportRoleArn",
        "snapshotFunctionArn",
        "exportFunctionArn",
        "snapshotRuleArn",
        "exportRuleArn",
    }
    assert len(settled.resources) == 20
