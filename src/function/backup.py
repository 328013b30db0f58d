"""DatabaseBackup: daily snapshots of one RDS instance, exported to a bucket kept for three years.

  archive:  KMS key, S3 bucket (+ versioning, SSE-KMS, public access block, ownership, TLS-only policy, lifecycle)
            and the IAM role RDS assumes to export snapshots into it;
  schedule: snapshot Lambda <- EventBridge cron(0 0 * * ? *);
  export:   export Lambda <- EventBridge "manual snapshot created" (RDS-EVENT-0042) for our snapshots; it also copies
            the snapshot to `copyRegion`, encrypted with a KMS key of that region (the snapshot Lambda expires copies).

ARNs that AWS assigns (key, export role, functions, rules) travel through the composite's status (`STATUS`): a
resource that needs one is composed only once the composite's status carries it. Snapshots are named
notejam-<environment>-<YYYY-MM-DD>; IAM matches exactly that with `????-??-??`, so the functions can never touch
another snapshot (e.g. the final snapshot of a deleted instance).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from function.state import Object, Observed, without_none

# Composite status field <- the composed resource whose status.atProvider.arn it carries.
STATUS = {
    "bucketKeyArn": "bucket-key",
    "copyKeyArn": "copy-key",
    "exportRoleArn": "export-role",
    "snapshotFunctionArn": "snapshot-function",
    "snapshotRuleArn": "snapshot-schedule",
    "exportFunctionArn": "export-function",
    "exportRuleArn": "export-trigger",
}
STEP_LABEL = "platform.notejam.io/backup-step"
# EventBridge retries delivery for an hour, then Lambda's own async retries (2) apply to function errors. No DLQ
# kind (SQS/SNS) is part of our provider set.
RETRY_POLICY = {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 10}
# The IAM path of every role composed here, the only one where the providers' role may change or pass roles
# (tools/provider_policy.py): the roles eksctl creates for service accounts (notejam-<env>-app-secrets, ...) are
# outside it.
ROLE_PATH = "/notejam-crossplane/"
# How long each function's CloudWatch log group keeps its events unless the claim says (logRetentionDays): a year of
# nightly runs, to look back at when a backup went missing. The function sets it itself (src/backup/log_retention.py).
DEFAULT_LOG_RETENTION_DAYS = 365
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _json(document: object) -> str:
    return json.dumps(document, separators=(",", ":"))


class _Names:
    """The AWS names every resource of one backup derives from its parameters."""

    def __init__(self, observed: Observed) -> None:
        parameters = observed.parameters
        self.region: str = parameters["region"]
        self.account: str = parameters["accountId"]
        self.environment: str = parameters["environment"]
        self.database: str = parameters["databaseIdentifier"]
        self.bucket = f"notejamsnapshot-{self.environment}-{self.account}"
        self.bucket_arns = [f"arn:aws:s3:::{self.bucket}", f"arn:aws:s3:::{self.bucket}/*"]
        self.copy_region: str = parameters["copyRegion"]
        self.our_snapshots = f"arn:aws:rds:{self.region}:{self.account}:snapshot:notejam-{self.environment}-????-??-??"
        self.our_copies = (
            f"arn:aws:rds:{self.copy_region}:{self.account}:snapshot:notejam-{self.environment}-????-??-??"
        )
        # Every role composed here carries the account's permissions boundary (crossplane/iam/role-boundary.json):
        # the providers' IAM role may only create roles that carry it.
        self.role_boundary = f"arn:aws:iam::{self.account}:policy/notejam-{self.environment}-role-boundary"

    def log_group_arns(self, function: str) -> list[str]:
        group = f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/lambda/notejam-{self.environment}-{function}"
        return [group, f"{group}:*"]


def _managed(api_version: str, kind: str, for_provider: Object, **metadata: object) -> Object:
    resource: Object = {"apiVersion": api_version, "kind": kind, "spec": {"forProvider": for_provider}}
    if metadata:
        resource["metadata"] = metadata
    return resource


def _external_name(name: str) -> dict[str, str]:
    return {"crossplane.io/external-name": name}


def _kept(resource: Object) -> Object:
    """Survives the deletion of its claim, in every environment: the key that encrypts three years of exports, the
    archive, and the settings that protect it (encryption, no public access, TLS only, expiry). Removing them is a
    person's decision."""
    resource["spec"] = {"deletionPolicy": "Orphan", **resource["spec"]}
    return resource


def _on_the_bucket(kind: str, api_version: str, observed: Observed, **for_provider: object) -> Object:
    settings = {"bucketSelector": {"matchControllerRef": True}, **for_provider, "region": _Names(observed).region}
    return _kept(_managed(api_version, kind, settings))


def bucket_key(observed: Observed) -> Object:
    return _kept(
        _managed(
            "kms.aws.upbound.io/v1beta1",
            "Key",
            {
                "description": "Encrypts exported Notejam database snapshots.",
                "enableKeyRotation": True,
                "deletionWindowInDays": 30,
                "region": _Names(observed).region,
            },
        )
    )


def copy_key(observed: Observed) -> Object:
    """Encrypts the snapshot copies in the second region (a KMS key is regional). Kept like the bucket key."""
    return _kept(
        _managed(
            "kms.aws.upbound.io/v1beta1",
            "Key",
            {
                "description": "Encrypts the second-region copies of Notejam database snapshots.",
                "enableKeyRotation": True,
                "deletionWindowInDays": 30,
                "region": _Names(observed).copy_region,
            },
        )
    )


def bucket(observed: Observed) -> Object:
    names = _Names(observed)
    # Three years of exports are the point of this bucket: never empty it on delete.
    return _kept(
        _managed(
            "s3.aws.upbound.io/v1beta2",
            "Bucket",
            {"forceDestroy": False, "region": names.region},
            annotations=_external_name(names.bucket),
        )
    )


def bucket_versioning(observed: Observed) -> Object:
    return _on_the_bucket(
        "BucketVersioning", "s3.aws.upbound.io/v1beta2", observed, versioningConfiguration={"status": "Enabled"}
    )


def bucket_encryption(observed: Observed) -> Object:
    rule = {
        "applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyIdSelector": {"matchControllerRef": True},
        },
        # One data key per bucket instead of per object: far fewer KMS calls for Parquet exports.
        "bucketKeyEnabled": True,
    }
    return _on_the_bucket("BucketServerSideEncryptionConfiguration", "s3.aws.upbound.io/v1beta2", observed, rule=[rule])


def bucket_public_access_block(observed: Observed) -> Object:
    return _on_the_bucket(
        "BucketPublicAccessBlock",
        "s3.aws.upbound.io/v1beta1",
        observed,
        blockPublicAcls=True,
        blockPublicPolicy=True,
        ignorePublicAcls=True,
        restrictPublicBuckets=True,
    )


def bucket_ownership(observed: Observed) -> Object:
    return _on_the_bucket(
        "BucketOwnershipControls",
        "s3.aws.upbound.io/v1beta2",
        observed,
        rule={"objectOwnership": "BucketOwnerEnforced"},
    )


def bucket_policy(observed: Observed) -> Object:
    deny_without_tls = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": _Names(observed).bucket_arns,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    document = {"Version": "2012-10-17", "Statement": [deny_without_tls]}
    return _on_the_bucket("BucketPolicy", "s3.aws.upbound.io/v1beta1", observed, policy=_json(document))


def bucket_lifecycle(observed: Observed) -> Object:
    days = observed.parameters.get("archiveDays", 1095)
    rule = {
        "id": "expire-exports",
        "status": "Enabled",
        # filter and expiration are lists in this API version.
        "filter": [{"prefix": ""}],
        "expiration": [{"days": days}],
        "noncurrentVersionExpiration": [{"noncurrentDays": days}],
        "abortIncompleteMultipartUpload": [{"daysAfterInitiation": 7}],
    }
    return _on_the_bucket("BucketLifecycleConfiguration", "s3.aws.upbound.io/v1beta1", observed, rule=[rule])


def export_role(observed: Observed) -> Object:
    names = _Names(observed)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "export.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
            }
        ],
    }
    # The permissions AWS documents for snapshot export, on this bucket and this key only.
    write_exports = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteExports",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject*",
                    "s3:ListBucket",
                    "s3:GetObject*",
                    "s3:DeleteObject*",
                    "s3:GetBucketLocation",
                ],
                "Resource": names.bucket_arns,
            },
            {
                "Sid": "EncryptWithTheBucketKey",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": observed.status("bucketKeyArn"),
            },
        ],
    }
    return _managed(
        "iam.aws.upbound.io/v1beta1",
        "Role",
        {
            "description": "Assumed by RDS to export Notejam snapshots to the snapshot bucket.",
            "path": ROLE_PATH,
            "permissionsBoundary": names.role_boundary,
            "assumeRolePolicy": _json(trust),
            "inlinePolicy": [{"name": "write-snapshot-exports", "policy": _json(write_exports)}],
        },
        annotations=_external_name(f"notejam-{names.environment}-rds-export"),
    )


def snapshot_function_role(observed: Observed) -> Object:
    names = _Names(observed)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SnapshotThisInstance",
                "Effect": "Allow",
                "Action": ["rds:CreateDBSnapshot", "rds:DescribeDBInstances", "rds:DescribeDBSnapshots"],
                "Resource": [f"arn:aws:rds:{names.region}:{names.account}:db:{names.database}", names.our_snapshots],
            },
            {
                "Sid": "TagAndExpireOurSnapshots",
                "Effect": "Allow",
                "Action": ["rds:AddTagsToResource", "rds:DeleteDBSnapshot"],
                "Resource": names.our_snapshots,
            },
            {
                # The copies in the second region keep the instance's identifier, which a listing names.
                "Sid": "ExpireOurCopies",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot"],
                "Resource": [f"arn:aws:rds:{names.copy_region}:{names.account}:db:{names.database}", names.our_copies],
            },
            *_logs_statements(names, "snapshot"),
        ],
    }
    return _managed(
        "iam.aws.upbound.io/v1beta1",
        "Role",
        {
            "description": "Runs the Notejam snapshot Lambda.",
            "path": ROLE_PATH,
            "permissionsBoundary": names.role_boundary,
            "assumeRolePolicy": _json(LAMBDA_TRUST),
            "inlinePolicy": [{"name": "snapshot-this-database", "policy": _json(policy)}],
        },
        labels={STEP_LABEL: "snapshot"},
        annotations=_external_name(f"notejam-{names.environment}-snapshot-lambda"),
    )


def _logs_statements(names: _Names, function: str) -> list[Object]:
    """What the Lambda runtime needs to write the function's logs, and what the function needs to set their
    retention at a cold start (src/backup/log_retention.py): both on the function's own log group only."""
    writing = {
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": names.log_group_arns(function),
    }
    # The group's ARN, and the same with ":*": AWS's AccessDenied for PutRetentionPolicy names the resource
    # "<group ARN>:log-stream:", not the bare ARN the Service Authorization Reference gives for a log group.
    retention = {
        "Sid": "KeepOwnLogsForRetentionDays",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
        "Resource": names.log_group_arns(function),
    }
    return [writing, retention]


def _function(observed: Observed, step: str, handler: str, variables: dict[str, str]) -> Object:
    names = _Names(observed)
    code = observed.parameters["lambdaCode"]
    return _managed(
        "lambda.aws.upbound.io/v1beta2",
        "Function",
        {
            "runtime": "python3.12",
            "handler": handler,
            "architectures": ["arm64"],
            # Only API calls that return at once (create, describe, delete, start export): a minute is ample.
            "timeout": 60,
            "memorySize": 256,
            "loggingConfig": {"logFormat": "JSON"},
            "roleSelector": {"matchControllerRef": True, "matchLabels": {STEP_LABEL: step}},
            "environment": {
                "variables": {
                    "DB_INSTANCE_IDENTIFIER": names.database,
                    "SNAPSHOT_PREFIX": f"notejam-{names.environment}",
                    **variables,
                    "LOG_RETENTION_DAYS": str(observed.parameters.get("logRetentionDays", DEFAULT_LOG_RETENTION_DAYS)),
                }
            },
            "region": names.region,
            "s3Bucket": code["bucket"],
            "s3Key": code["key"],
        },
        labels={STEP_LABEL: step},
        annotations=_external_name(f"notejam-{names.environment}-{step}"),
    )


def snapshot_function(observed: Observed) -> Object:
    # Lambda environment values are strings.
    parameters = observed.parameters
    variables = {
        "SNAPSHOT_RETENTION_DAYS": str(parameters.get("snapshotRetentionDays", 7)),
        "COPY_REGION": parameters["copyRegion"],
        "COPY_RETENTION_DAYS": str(parameters.get("copyRetentionDays", 7)),
    }
    return _function(observed, "snapshot", "backup.snapshot.handler", variables)


def _rule(observed: Observed, step: str, name: str, for_provider: Object) -> Object:
    names = _Names(observed)
    return _managed(
        "cloudwatchevents.aws.upbound.io/v1beta1",
        "Rule",
        {**for_provider, "region": names.region},
        labels={STEP_LABEL: step},
        annotations=_external_name(f"notejam-{names.environment}-{name}"),
    )


def snapshot_schedule(observed: Observed) -> Object:
    return _rule(
        observed,
        "snapshot",
        "daily-snapshot",
        {
            "description": "Daily manual snapshot of the Notejam database at 00:00 UTC.",
            "scheduleExpression": "cron(0 0 * * ? *)",
        },
    )


def _target(observed: Observed, step: str, target_id: str, function_arn: str) -> Object:
    # Target.arn has no reference field: the function's ARN comes through the composite status.
    return _managed(
        "cloudwatchevents.aws.upbound.io/v1beta2",
        "Target",
        {
            "targetId": target_id,
            "ruleSelector": {"matchControllerRef": True, "matchLabels": {STEP_LABEL: step}},
            "retryPolicy": dict(RETRY_POLICY),
            "region": _Names(observed).region,
            "arn": observed.status(function_arn),
        },
    )


def _permission(observed: Observed, step: str, statement_id: str, rule_arn: str) -> Object:
    # Only this rule may invoke the function; sourceArn has no reference field either.
    return _managed(
        "lambda.aws.upbound.io/v1beta1",
        "Permission",
        {
            "action": "lambda:InvokeFunction",
            "principal": "events.amazonaws.com",
            "statementId": statement_id,
            "functionNameSelector": {"matchControllerRef": True, "matchLabels": {STEP_LABEL: step}},
            "region": _Names(observed).region,
            "sourceArn": observed.status(rule_arn),
        },
    )


def export_function_role(observed: Observed) -> Object:
    names = _Names(observed)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExportOurSnapshots",
                "Effect": "Allow",
                "Action": ["rds:DescribeDBSnapshots", "rds:StartExportTask"],
                "Resource": names.our_snapshots,
            },
            {
                # How the previous night's export ended (src/backup/export.py); this action names no resource.
                "Sid": "SeeHowExportsEnded",
                "Effect": "Allow",
                "Action": ["rds:DescribeExportTasks"],
                "Resource": "*",
            },
            {
                "Sid": "PassTheExportRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": observed.status("exportRoleArn"),
            },
            {
                "Sid": "GrantTheBucketKeyToTheExport",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:DescribeKey"],
                "Resource": observed.status("bucketKeyArn"),
            },
            {
                # A cross-region copy is authorised on the source snapshot and on the copy it creates (tagged with
                # the source's tags), and RDS uses the second region's key through a grant.
                "Sid": "CopyOurSnapshotsToTheSecondRegion",
                "Effect": "Allow",
                "Action": ["rds:CopyDBSnapshot", "rds:AddTagsToResource"],
                "Resource": [names.our_snapshots, names.our_copies],
            },
            {
                "Sid": "GrantTheCopyKeyToTheCopy",
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:DescribeKey"],
                "Resource": observed.status("copyKeyArn"),
            },
            *_logs_statements(names, "export"),
        ],
    }
    return _managed(
        "iam.aws.upbound.io/v1beta1",
        "Role",
        {
            "description": "Runs the Notejam snapshot export Lambda.",
            "path": ROLE_PATH,
            "permissionsBoundary": names.role_boundary,
            "assumeRolePolicy": _json(LAMBDA_TRUST),
            "inlinePolicy": [{"name": "export-our-snapshots", "policy": _json(policy)}],
        },
        labels={STEP_LABEL: "export"},
        annotations=_external_name(f"notejam-{names.environment}-export-lambda"),
    )


def export_function(observed: Observed) -> Object:
    names = _Names(observed)
    variables = {
        "EXPORT_BUCKET": names.bucket,
        "EXPORT_PREFIX": f"exports/{names.database}",
        "EXPORT_ROLE_ARN": observed.status("exportRoleArn"),
        "EXPORT_KMS_KEY_ID": observed.status("bucketKeyArn"),
        "COPY_REGION": names.copy_region,
        "COPY_KMS_KEY_ID": observed.status("copyKeyArn"),
    }
    return _function(observed, "export", "backup.export.handler", variables)


def export_trigger(observed: Observed) -> Object:
    pattern = {
        "source": ["aws.rds"],
        "detail-type": ["RDS DB Snapshot Event"],
        "detail": {
            "EventID": ["RDS-EVENT-0042"],
            "SourceIdentifier": [{"prefix": f"notejam-{_Names(observed).environment}-"}],
        },
    }
    return _rule(
        observed,
        "export",
        "export-snapshot",
        {
            "description": "A manual snapshot of the Notejam database was created; export it to S3.",
            "eventPattern": _json(pattern),
        },
    )


def resources(settings: Object, parameters: Object) -> dict[str, Callable[[Observed], Object]]:  # neither is used
    """The composed resources by composition resource name, in the order they are listed."""
    return {
        # ---- archive
        "bucket-key": bucket_key,
        "bucket": bucket,
        "bucket-versioning": bucket_versioning,
        "bucket-encryption": bucket_encryption,
        "bucket-public-access-block": bucket_public_access_block,
        "bucket-ownership": bucket_ownership,
        "bucket-policy": bucket_policy,
        "bucket-lifecycle": bucket_lifecycle,
        "export-role": export_role,
        "copy-key": copy_key,
        # ---- snapshot: cron -> Lambda
        "snapshot-function-role": snapshot_function_role,
        "snapshot-function": snapshot_function,
        "snapshot-schedule": snapshot_schedule,
        "snapshot-schedule-target": lambda o: _target(o, "snapshot", "snapshot-function", "snapshotFunctionArn"),
        "snapshot-schedule-permission": lambda o: _permission(
            o, "snapshot", "AllowDailySnapshotRule", "snapshotRuleArn"
        ),
        # ---- export: snapshot created -> Lambda -> StartExportTask
        "export-function-role": export_function_role,
        "export-function": export_function,
        "export-trigger": export_trigger,
        "export-trigger-target": lambda o: _target(o, "export", "export-function", "exportFunctionArn"),
        "export-trigger-permission": lambda o: _permission(o, "export", "AllowSnapshotCreatedRule", "exportRuleArn"),
    }


def status(observed: Observed) -> Object:
    """Every ARN AWS has assigned so far, for the resources that need it on the next reconcile."""
    return without_none({key: observed.at_provider(name, "arn") for key, name in STATUS.items()})


def connection_details(observed: Observed) -> dict[str, str]:
    return {}
