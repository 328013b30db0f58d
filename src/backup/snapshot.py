"""The daily snapshot Lambda (EventBridge ``cron(0 0 * * ? *)``).

Takes ``<SNAPSHOT_PREFIX>-<YYYY-MM-DD>`` (UTC) of the instance, tagged as ours, and deletes our snapshots older
than SNAPSHOT_RETENTION_DAYS, and our copies in COPY_REGION (the export Lambda makes them) older than
COPY_RETENTION_DAYS. It waits for nothing: when RDS reports the snapshot created, the export Lambda
takes over. A database that cannot be snapshotted, and any AWS error, raise: the invocation fails visibly and
Lambda retries it.
Setting its own log group's retention (backup.log_retention) is the exception: a failure there is logged, not raised.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3

from backup.log_retention import keep_own_logs
from backup.logs import LOGGER_NAME, configure_logging
from backup.naming import MANAGED_BY_TAG, is_ours, snapshot_day, snapshot_id
from backup.settings import SnapshotSettings, load

log = logging.getLogger(f"{LOGGER_NAME}.snapshot")

# CreateDBSnapshot accepts only these instance states (RDS API reference). Checking first turns an RDS error
# at midnight into a log line that says what is wrong with the database.
SNAPSHOT_READY_STATES = frozenset({"available", "storage-optimization"})


class DatabaseNotReadyError(RuntimeError):
    """The instance is in a state RDS cannot snapshot; raised so that Lambda retries."""


def take_snapshot(rds: Any, settings: SnapshotSettings, today: date) -> bool:
    """Start today's snapshot; False if it already exists (a retry or a second run the same day)."""
    identifier = snapshot_id(settings.snapshot_prefix, today)
    instance = rds.describe_db_instances(DBInstanceIdentifier=settings.db_instance_identifier)["DBInstances"][0]
    status = instance["DBInstanceStatus"]
    if status not in SNAPSHOT_READY_STATES:
        raise DatabaseNotReadyError(
            f"cannot snapshot {settings.db_instance_identifier}: its status is {status!r}, "
            f"RDS needs one of {sorted(SNAPSHOT_READY_STATES)}"
        )
    try:
        rds.create_db_snapshot(
            DBInstanceIdentifier=settings.db_instance_identifier,
            DBSnapshotIdentifier=identifier,
            Tags=[MANAGED_BY_TAG],
        )
    except rds.exceptions.DBSnapshotAlreadyExistsFault:
        log.info("snapshot already exists", extra={"snapshot": identifier})
        return False
    log.info("snapshot started", extra={"snapshot": identifier, "instance": settings.db_instance_identifier})
    return True


def delete_expired(rds: Any, settings: SnapshotSettings, today: date, retention_days: int) -> list[str]:
    """Delete our manual snapshots (in `rds`'s region) whose day is more than ``retention_days`` before ``today``.
    A copy keeps the source's instance identifier and, copied with its tags, is recognised the same way."""
    oldest_kept = today - timedelta(days=retention_days)
    deleted = []
    pages = rds.get_paginator("describe_db_snapshots").paginate(
        DBInstanceIdentifier=settings.db_instance_identifier, SnapshotType="manual"
    )
    for page in pages:
        for snapshot in page["DBSnapshots"]:
            identifier = snapshot["DBSnapshotIdentifier"]
            day = snapshot_day(settings.snapshot_prefix, identifier)
            ours = is_ours(snapshot, settings.db_instance_identifier, settings.snapshot_prefix)
            if not ours or day is None or day >= oldest_kept:
                continue
            rds.delete_db_snapshot(DBSnapshotIdentifier=identifier)
            log.info("expired snapshot deleted", extra={"snapshot": identifier, "day": day.isoformat()})
            deleted.append(identifier)
    return deleted


def run(rds: Any, copy_rds: Any, settings: SnapshotSettings, today: date) -> dict[str, Any]:
    """`rds` in the database's region, `copy_rds` in COPY_REGION."""
    created = take_snapshot(rds, settings, today)
    deleted = delete_expired(rds, settings, today, settings.retention_days)
    copies_deleted = delete_expired(copy_rds, settings, today, settings.copy_retention_days)
    return {
        "snapshot": snapshot_id(settings.snapshot_prefix, today),
        "created": created,
        "deleted": deleted,
        "copies_deleted": copies_deleted,
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point ``backup.snapshot.handler``; the scheduled event carries nothing we need."""
    configure_logging()
    settings = load(SnapshotSettings)
    keep_own_logs(context, settings.log_retention_days)  # once per cold start; never stops the backup
    rds = boto3.client("rds")
    return run(rds, boto3.client("rds", region_name=settings.copy_region), settings, datetime.now(UTC).date())
