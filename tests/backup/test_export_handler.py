"""The export Lambda against moto, driven by EventBridge events shaped as AWS documents them."""

from __future__ import annotations

from typing import Any

import pytest

from backup import export
from backup.settings import SettingsError

OURS = [{"Key": "managed-by", "Value": "notejam-backup"}]


@pytest.fixture
def our_snapshot(rds, instance) -> dict[str, Any]:
    return rds.create_db_snapshot(
        DBInstanceIdentifier="notejam-dev-notejam-db", DBSnapshotIdentifier="notejam-dev-2026-11-29", Tags=OURS
    )["DBSnapshot"]


def export_tasks(rds: Any) -> list[dict[str, Any]]:
    return rds.describe_export_tasks()["ExportTasks"]


def test_export_starts_to_the_configured_bucket_prefix_role_and_key(
    rds, our_snapshot, export_env, snapshot_created_event, json_logs
):
    event = snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29")

    result = export.handler(event, None)

    assert result == {"status": "started", "export_task": "notejam-dev-2026-11-29", "copy": "started"}
    [task] = export_tasks(rds)
    assert task["ExportTaskIdentifier"] == "notejam-dev-2026-11-29"
    assert task["SourceArn"] == our_snapshot["DBSnapshotArn"]
    assert task["S3Bucket"] == export_env["EXPORT_BUCKET"]
    assert task["S3Prefix"] == export_env["EXPORT_PREFIX"]
    assert task["IamRoleArn"] == export_env["EXPORT_ROLE_ARN"]
    assert task["KmsKeyId"] == export_env["EXPORT_KMS_KEY_ID"]
    assert [e["export_task"] for e in json_logs() if e["message"] == "export started"] == ["notejam-dev-2026-11-29"]


def test_export_prefix_is_used_without_surrounding_slashes(
    rds, our_snapshot, export_env, snapshot_created_event, monkeypatch
):
    monkeypatch.setenv("EXPORT_PREFIX", "/exports/dev/")

    export.handler(snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)

    assert export_tasks(rds)[0]["S3Prefix"] == "exports/dev"


def test_a_second_event_for_the_same_snapshot_starts_no_second_export(
    rds, our_snapshot, export_env, snapshot_created_event
):
    event = snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29")

    export.handler(event, None)
    second = export.handler(event, None)

    assert second == {"status": "exists", "export_task": "notejam-dev-2026-11-29", "copy": "exists"}
    assert len(export_tasks(rds)) == 1


def test_another_instances_snapshot_is_ignored(rds, make_instance, export_env, snapshot_created_event, json_logs):
    make_instance("billing-db")
    other = rds.create_db_snapshot(DBInstanceIdentifier="billing-db", DBSnapshotIdentifier="billing-db-2026-11-29")

    result = export.handler(snapshot_created_event(other["DBSnapshot"]["DBSnapshotArn"], "billing-db-2026-11-29"), None)

    assert result["status"] == "ignored"
    assert "is not named notejam-dev-<YYYY-MM-DD>" in result["reason"]
    assert export_tasks(rds) == []
    assert [e["level"] for e in json_logs() if e["message"] == "event ignored"] == ["WARNING"]


def test_a_snapshot_with_our_name_on_another_instance_is_ignored(
    rds, instance, make_instance, export_env, snapshot_created_event
):
    make_instance("notejam-dev-copy")
    lookalike = rds.create_db_snapshot(
        DBInstanceIdentifier="notejam-dev-copy", DBSnapshotIdentifier="notejam-dev-2026-11-29", Tags=OURS
    )["DBSnapshot"]

    result = export.handler(snapshot_created_event(lookalike["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)

    assert result == {
        "status": "ignored",
        "reason": "snapshot notejam-dev-2026-11-29 is not a tagged snapshot of notejam-dev-notejam-db",
    }
    assert export_tasks(rds) == []


def test_an_untagged_snapshot_with_our_name_is_ignored(rds, instance, export_env, snapshot_created_event):
    untagged = rds.create_db_snapshot(
        DBInstanceIdentifier="notejam-dev-notejam-db", DBSnapshotIdentifier="notejam-dev-2026-11-28"
    )["DBSnapshot"]

    result = export.handler(snapshot_created_event(untagged["DBSnapshotArn"], "notejam-dev-2026-11-28"), None)

    assert result["status"] == "ignored"
    assert export_tasks(rds) == []


def test_an_event_for_a_deleted_snapshot_is_ignored(rds, our_snapshot, export_env, snapshot_created_event):
    rds.delete_db_snapshot(DBSnapshotIdentifier="notejam-dev-2026-11-29")

    result = export.handler(snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)

    assert result["status"] == "ignored"
    assert export_tasks(rds) == []


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda e: None, "not an EventBridge event"),
        (lambda e: "RDS-EVENT-0042", "not an EventBridge event"),
        (lambda e: _without(e, "detail"), "not an EventBridge event"),
        (lambda e: {**e, "detail": "Manual snapshot created"}, "not an EventBridge event"),
        (lambda e: {**e, "source": "aws.ec2"}, "not an RDS snapshot event"),
        (lambda e: {**e, "detail-type": "RDS DB Instance Event"}, "not an RDS snapshot event"),
        (lambda e: {**e, "detail": {**e["detail"], "EventID": "RDS-EVENT-0091"}}, "not a manual snapshot created"),
        (lambda e: _without(e, "detail", "EventID"), "not a manual snapshot created"),
        (lambda e: {**e, "detail": {**e["detail"], "SourceType": "CLUSTER_SNAPSHOT"}}, "not a manual snapshot"),
        (lambda e: _without(e, "detail", "SourceArn"), "SourceArn is not a DB snapshot ARN"),
        (lambda e: {**e, "detail": {**e["detail"], "SourceArn": 42}}, "SourceArn is not a DB snapshot ARN"),
        (
            lambda e: {**e, "detail": {**e["detail"], "SourceArn": "arn:aws:rds:eu-west-1:123456789012:db:x"}},
            "SourceArn is not a DB snapshot ARN",
        ),
    ],
)
def test_malformed_or_unexpected_events_are_logged_and_ignored(
    rds, our_snapshot, export_env, snapshot_created_event, json_logs, mangle, reason
):
    event = mangle(snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29"))

    result = export.handler(event, None)

    assert result["status"] == "ignored"
    assert reason in result["reason"]
    assert export_tasks(rds) == []
    [logged] = [e for e in json_logs() if e["message"] == "event ignored"]
    assert reason in logged["reason"]


def test_missing_configuration_names_every_missing_variable(aws, export_env, monkeypatch, snapshot_created_event):
    monkeypatch.delenv("EXPORT_ROLE_ARN")
    monkeypatch.setenv("EXPORT_KMS_KEY_ID", "  ")

    with pytest.raises(SettingsError, match="EXPORT_ROLE_ARN, EXPORT_KMS_KEY_ID"):
        export.handler(snapshot_created_event("arn:aws:rds:eu-west-1:123456789012:snapshot:x", "x"), None)


@pytest.fixture
def two_nights(rds, instance) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our snapshots of 28 and 29 November."""
    return tuple(
        rds.create_db_snapshot(
            DBInstanceIdentifier="notejam-dev-notejam-db", DBSnapshotIdentifier=f"notejam-dev-2026-11-{day}", Tags=OURS
        )["DBSnapshot"]
        for day in (28, 29)
    )


def test_a_cancelled_export_the_night_before_fails_tonights_run_after_starting_its_export(
    rds, two_nights, export_env, snapshot_created_event, json_logs
):
    before, tonight = two_nights
    export.handler(snapshot_created_event(before["DBSnapshotArn"], "notejam-dev-2026-11-28"), None)
    rds.cancel_export_task(ExportTaskIdentifier="notejam-dev-2026-11-28")

    with pytest.raises(export.PreviousExportFailedError, match="notejam-dev-2026-11-28 ended"):
        export.handler(snapshot_created_event(tonight["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)

    assert "notejam-dev-2026-11-29" in {task["ExportTaskIdentifier"] for task in export_tasks(rds)}
    errors = [entry for entry in json_logs() if entry["message"] == "previous export failed"]
    assert [entry["export_task"] for entry in errors] == ["notejam-dev-2026-11-29"]


def test_a_completed_or_missing_export_the_night_before_is_no_error(
    rds, two_nights, export_env, snapshot_created_event
):
    before, tonight = two_nights
    # No export the night before (the first night, or a night the snapshot was missing: restore.md covers that).
    assert export.handler(snapshot_created_event(before["DBSnapshotArn"], "notejam-dev-2026-11-28"), None)["status"]
    # moto completes an export at once, like a night that went well.
    result = export.handler(snapshot_created_event(tonight["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)
    assert result == {"status": "started", "export_task": "notejam-dev-2026-11-29", "copy": "started"}


@pytest.mark.parametrize(
    ("status", "failed"),
    [("FAILED", True), ("CANCELED", True), ("CANCELING", True), ("IN_PROGRESS", False), ("COMPLETE", False)],
)
def test_every_status_that_ends_without_an_export_is_a_failure(status, failed, export_env) -> None:
    class Rds:
        """DescribeExportTasks as RDS answers it for the night before, with the status under test."""

        class exceptions:
            ExportTaskNotFoundFault = KeyError

        def describe_export_tasks(self, ExportTaskIdentifier):
            assert ExportTaskIdentifier == "notejam-dev-2026-11-28"
            task = {"ExportTaskIdentifier": ExportTaskIdentifier, "Status": status, "FailureCause": "KMS key disabled"}
            return {"ExportTasks": [task]}

    settings = export.load(export.ExportSettings)
    failure = export.previous_export_failure(Rds(), settings, "notejam-dev-2026-11-29")
    assert (failure is not None) == failed
    if failed:
        assert failure == f"export task notejam-dev-2026-11-28 ended {status}: KMS key disabled"


def test_each_snapshot_is_copied_to_the_second_region_with_its_tags_under_that_regions_key(
    rds, copy_rds, our_snapshot, export_env, snapshot_created_event, json_logs
):
    export.handler(snapshot_created_event(our_snapshot["DBSnapshotArn"], "notejam-dev-2026-11-29"), None)

    [copy] = copy_rds.describe_db_snapshots(DBSnapshotIdentifier="notejam-dev-2026-11-29")["DBSnapshots"]
    assert copy["KmsKeyId"] == export_env["COPY_KMS_KEY_ID"]
    assert copy["DBSnapshotArn"].startswith("arn:aws:rds:eu-central-1:")
    assert {"Key": "managed-by", "Value": "notejam-backup"} in copy["TagList"]  # so the snapshot Lambda expires it
    assert [e["region"] for e in json_logs() if e["message"] == "copy started"] == ["eu-central-1"]
