"""The export Lambda: RDS reports our manual snapshot created (RDS-EVENT-0042), we export it to S3 as Parquet.

The export lands in ``s3://<EXPORT_BUCKET>/<EXPORT_PREFIX>/<export task id>/`` encrypted with EXPORT_KMS_KEY_ID,
written by RDS under EXPORT_ROLE_ARN; the bucket's lifecycle keeps it 3 years. Events that are not for one of
our snapshots, or that are malformed, are logged and ignored: raising would only make Lambda retry an event that
can never succeed. AWS errors are raised, so the invocation fails visibly and Lambda retries it. Setting its own log
group's retention (backup.log_retention) is the exception: a failure there is logged, not raised.

It also copies the snapshot to COPY_REGION, encrypted with COPY_KMS_KEY_ID (a key of that region), so a night's
backup survives the loss of the database's region; the snapshot Lambda expires the copies.

An export task runs for minutes to hours after the Lambda returned, so its own failure reaches nobody. Each night's
run therefore looks at the previous night's task once it started its own: if that one failed or was cancelled, the
invocation fails (PreviousExportFailedError) after logging why, and the Lambda's errors metric pages
(NotejamBackupFunctionFailed, apps/addons/monitoring/prometheusrule-aws.yaml).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import boto3

from backup.log_retention import keep_own_logs
from backup.logs import LOGGER_NAME, configure_logging
from backup.naming import export_task_id, is_ours, snapshot_day, snapshot_id
from backup.settings import ExportSettings, load

log = logging.getLogger(f"{LOGGER_NAME}.export")

DETAIL_TYPE = "RDS DB Snapshot Event"
MANUAL_SNAPSHOT_CREATED = "RDS-EVENT-0042"
# DescribeExportTasks statuses of a task that will never complete (RDS API reference, ExportTask.Status).
ENDED_WITHOUT_EXPORT = {"FAILED", "CANCELED", "CANCELING"}
_SNAPSHOT_ARN = re.compile(r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:(?P<id>[A-Za-z][A-Za-z0-9-]*)$")


class IgnoredEventError(Exception):
    """The event is not one this function acts on; the message says why."""


class PreviousExportFailedError(Exception):
    """The previous night's export task failed or was cancelled: that night has no archive in S3."""


def snapshot_arn_from_event(event: Any, settings: ExportSettings) -> tuple[str, str]:
    """(snapshot id, snapshot ARN) of the EventBridge "RDS DB Snapshot Event", or IgnoredEventError."""
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise IgnoredEventError("not an EventBridge event with a detail object")
    if event.get("source") != "aws.rds" or event.get("detail-type") != DETAIL_TYPE:
        raise IgnoredEventError(f"not an RDS snapshot event: {event.get('source')!r} {event.get('detail-type')!r}")
    detail = event["detail"]
    if detail.get("EventID") != MANUAL_SNAPSHOT_CREATED or detail.get("SourceType") != "SNAPSHOT":
        raise IgnoredEventError(f"not a manual snapshot created event: {detail.get('EventID')!r}")
    match = _SNAPSHOT_ARN.match(str(detail.get("SourceArn", "")))
    if not match:
        raise IgnoredEventError(f"SourceArn is not a DB snapshot ARN: {detail.get('SourceArn')!r}")
    identifier = match["id"]
    if snapshot_day(settings.snapshot_prefix, identifier) is None:
        raise IgnoredEventError(f"snapshot {identifier} is not named {settings.snapshot_prefix}-<YYYY-MM-DD>")
    return identifier, detail["SourceArn"]


def check_ours(rds: Any, settings: ExportSettings, identifier: str) -> None:
    """The name can be copied; the tag and the instance cannot: confirm both before exporting."""
    # Named by DBSnapshotIdentifier, RDS authorises the call against this snapshot's ARN, which the role's
    # snapshot pattern grants. A filter alone names no resource: IAM would check it against every snapshot
    # (snapshot:*) and deny it.
    try:
        [snapshot] = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
    except rds.exceptions.DBSnapshotNotFoundFault:
        raise IgnoredEventError(f"snapshot {identifier} no longer exists") from None
    if not is_ours(snapshot, settings.db_instance_identifier, settings.snapshot_prefix):
        raise IgnoredEventError(f"snapshot {identifier} is not a tagged snapshot of {settings.db_instance_identifier}")


def start_export(rds: Any, settings: ExportSettings, identifier: str, arn: str) -> dict[str, Any]:
    task_id = export_task_id(identifier)
    try:
        rds.start_export_task(
            ExportTaskIdentifier=task_id,
            SourceArn=arn,
            S3BucketName=settings.bucket,
            S3Prefix=settings.prefix.strip("/"),
            IamRoleArn=settings.role_arn,
            KmsKeyId=settings.kms_key_id,
        )
    except rds.exceptions.ExportTaskAlreadyExistsFault:
        log.info("export already started", extra={"export_task": task_id, "snapshot": identifier})
        return {"status": "exists", "export_task": task_id}
    log.info(
        "export started",
        extra={"export_task": task_id, "snapshot": identifier, "bucket": settings.bucket, "prefix": settings.prefix},
    )
    return {"status": "started", "export_task": task_id}


def copy_to_second_region(rds: Any, settings: ExportSettings, identifier: str, arn: str) -> str:
    """Start the snapshot's copy under the same name, with its tags; "started" or "exists". `rds` is a client in
    COPY_REGION (it is the copy's region that copies)."""
    source_region = arn.split(":")[3]
    try:
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=arn,
            TargetDBSnapshotIdentifier=identifier,
            KmsKeyId=settings.copy_kms_key_id,
            CopyTags=True,
            SourceRegion=source_region,  # boto3 signs the pre-signed URL RDS needs for a cross-region copy
        )
    except rds.exceptions.DBSnapshotAlreadyExistsFault:
        log.info("copy already started", extra={"snapshot": identifier, "region": settings.copy_region})
        return "exists"
    log.info("copy started", extra={"snapshot": identifier, "region": settings.copy_region})
    return "started"


def previous_export_failure(rds: Any, settings: ExportSettings, identifier: str) -> str | None:
    """Why the export of the night before `identifier`'s failed, or None (it completed, is running, or never was)."""
    day = snapshot_day(settings.snapshot_prefix, identifier)
    if day is None:
        return None
    previous = export_task_id(snapshot_id(settings.snapshot_prefix, day - timedelta(days=1)))
    try:
        tasks = rds.describe_export_tasks(ExportTaskIdentifier=previous)["ExportTasks"]
    except rds.exceptions.ExportTaskNotFoundFault:
        return None
    for task in tasks:
        if str(task.get("Status", "")).upper() in ENDED_WITHOUT_EXPORT:
            return f"export task {previous} ended {task['Status']}: {task.get('FailureCause') or 'no cause given'}"
    return None


def run(rds: Any, copy_rds: Any, settings: ExportSettings, event: Any) -> dict[str, Any]:
    """`rds` in the database's region, `copy_rds` in COPY_REGION."""
    try:
        identifier, arn = snapshot_arn_from_event(event, settings)
        check_ours(rds, settings, identifier)
    except IgnoredEventError as ignored:
        log.warning("event ignored", extra={"reason": str(ignored), "event_id": _event_id(event)})
        return {"status": "ignored", "reason": str(ignored)}
    started = start_export(rds, settings, identifier, arn)
    copied = copy_to_second_region(copy_rds, settings, identifier, arn)
    failure = previous_export_failure(rds, settings, identifier)
    if failure:
        log.error("previous export failed", extra={"reason": failure, "export_task": started["export_task"]})
        raise PreviousExportFailedError(failure)
    return {**started, "copy": copied}


def _event_id(event: Any) -> Any:
    return event.get("id") if isinstance(event, dict) else None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point ``backup.export.handler``."""
    configure_logging()
    settings = load(ExportSettings)
    keep_own_logs(context, settings.log_retention_days)  # once per cold start; never stops the backup
    rds = boto3.client("rds")
    return run(rds, boto3.client("rds", region_name=settings.copy_region), settings, event)
