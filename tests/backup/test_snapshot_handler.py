"""The daily snapshot Lambda against moto: naming, tags, idempotency, retention, and failures that must retry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from backup import snapshot
from backup.settings import SettingsError, SnapshotSettings, load

OURS = [{"Key": "managed-by", "Value": "notejam-backup"}]
TODAY = date(2026, 11, 29)


def snapshots(rds: Any) -> dict[str, dict[str, Any]]:
    return {s["DBSnapshotIdentifier"]: s for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}


def test_handler_creates_todays_snapshot_tagged_as_ours(rds, instance, snapshot_env, json_logs):
    result = snapshot.handler({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, None)

    today = datetime.now(UTC).date().isoformat()
    expected = f"notejam-dev-{today}"
    assert result == {"snapshot": expected, "created": True, "deleted": [], "copies_deleted": []}
    taken = snapshots(rds)[expected]
    assert taken["DBInstanceIdentifier"] == "notejam-dev-notejam-db"
    assert {"Key": "managed-by", "Value": "notejam-backup"} in taken["TagList"]
    started = [e for e in json_logs() if e["message"] == "snapshot started"]
    assert started == [{**started[0], "level": "INFO", "snapshot": expected, "instance": "notejam-dev-notejam-db"}]


def test_second_run_the_same_day_is_a_no_op(rds, copy_rds, instance, snapshot_env):
    settings = load(SnapshotSettings)
    first = snapshot.run(rds, copy_rds, settings, TODAY)
    second = snapshot.run(rds, copy_rds, settings, TODAY)

    assert first["created"] is True
    assert second == {"snapshot": "notejam-dev-2026-11-29", "created": False, "deleted": [], "copies_deleted": []}
    assert list(snapshots(rds)) == ["notejam-dev-2026-11-29"]


def test_retention_deletes_only_our_old_snapshots(rds, copy_rds, instance, make_instance, snapshot_env):
    make_instance("notejam-staging-notejam-db")

    def take(identifier: str, instance_id: str = "notejam-dev-notejam-db", tags=OURS) -> None:
        rds.create_db_snapshot(DBInstanceIdentifier=instance_id, DBSnapshotIdentifier=identifier, Tags=tags)

    def day(days_ago: int) -> str:
        return (TODAY - timedelta(days=days_ago)).isoformat()

    take(f"notejam-dev-{day(8)}")  # ours, expired
    take(f"notejam-dev-{day(30)}")  # ours, expired
    take(f"notejam-dev-{day(7)}")  # ours, exactly at the retention limit: kept
    take(f"notejam-dev-{day(1)}")  # ours, recent
    take(f"notejam-dev-{day(9)}", tags=[])  # our name, not our tag (someone's manual copy)
    take(f"before-upgrade-{day(40)}")  # someone's manual snapshot
    take(f"notejam-dev-{day(10)}", instance_id="notejam-staging-notejam-db")  # another instance
    take("notejam-dev-final", tags=OURS)  # our prefix and tag, no date in the name

    result = snapshot.run(rds, copy_rds, load(SnapshotSettings), TODAY)

    assert sorted(result["deleted"]) == [f"notejam-dev-{day(30)}", f"notejam-dev-{day(8)}"]
    assert sorted(snapshots(rds)) == sorted(
        [
            "notejam-dev-2026-11-29",
            f"notejam-dev-{day(7)}",
            f"notejam-dev-{day(1)}",
            f"notejam-dev-{day(9)}",
            f"before-upgrade-{day(40)}",
            f"notejam-dev-{day(10)}",
            "notejam-dev-final",
        ]
    )


def test_retention_is_configurable(rds, copy_rds, instance, snapshot_env, monkeypatch):
    monkeypatch.setenv("SNAPSHOT_RETENTION_DAYS", "2")
    rds.create_db_snapshot(
        DBInstanceIdentifier="notejam-dev-notejam-db", DBSnapshotIdentifier="notejam-dev-2026-11-26", Tags=OURS
    )

    result = snapshot.run(rds, copy_rds, load(SnapshotSettings), TODAY)

    assert result["deleted"] == ["notejam-dev-2026-11-26"]


def test_a_stopped_database_raises_so_lambda_retries(rds, instance, snapshot_env):
    rds.stop_db_instance(DBInstanceIdentifier="notejam-dev-notejam-db")

    with pytest.raises(snapshot.DatabaseNotReadyError, match="status is 'stopped'"):
        snapshot.handler({}, None)
    assert snapshots(rds) == {}


def test_a_missing_database_raises_so_lambda_retries(rds, snapshot_env):
    with pytest.raises(ClientError, match="DBInstanceNotFound"):
        snapshot.handler({}, None)


def test_missing_configuration_names_the_variable(aws, snapshot_env, monkeypatch):
    monkeypatch.delenv("SNAPSHOT_PREFIX")

    with pytest.raises(SettingsError, match="SNAPSHOT_PREFIX"):
        snapshot.handler({}, None)
    assert boto3.client("rds").describe_db_snapshots()["DBSnapshots"] == []


def test_copies_in_the_second_region_expire_after_their_own_retention(rds, copy_rds, instance, snapshot_env):
    """COPY_RETENTION_DAYS is 14 here, SNAPSHOT_RETENTION_DAYS 7: each region keeps its own."""
    key = boto3.client("kms", region_name="eu-central-1").create_key()["KeyMetadata"]["Arn"]

    def copied(days_ago: int, tags=OURS) -> str:
        identifier = f"notejam-dev-{(TODAY - timedelta(days=days_ago)).isoformat()}"
        source = rds.create_db_snapshot(
            DBInstanceIdentifier="notejam-dev-notejam-db", DBSnapshotIdentifier=identifier, Tags=tags
        )["DBSnapshot"]
        copy_rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=source["DBSnapshotArn"],
            TargetDBSnapshotIdentifier=identifier,
            KmsKeyId=key,
            CopyTags=True,
            SourceRegion="eu-west-1",
        )
        return identifier

    old, kept, recent, not_ours = copied(15), copied(14), copied(8), copied(20, tags=[])

    result = snapshot.run(rds, copy_rds, load(SnapshotSettings), TODAY)

    assert result["copies_deleted"] == [old]
    assert sorted(snapshots(copy_rds)) == sorted([kept, recent, not_ours])
    assert sorted(result["deleted"]) == sorted([old, kept, recent])  # the sources, after 7 days
