"""Each backup Lambda keeps its own log group's events LOG_RETENTION_DAYS, set once per cold start, against moto.

A failure to set it is an error line, never a failed backup (backup.log_retention).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from backup import export, log_retention, snapshot
from tests.backup.conftest import REGION

SNAPSHOT_GROUP = "/aws/lambda/notejam-dev-snapshot"
EXPORT_GROUP = "/aws/lambda/notejam-dev-export"


@pytest.fixture(autouse=True)
def cold_start() -> Iterator[None]:
    """Every test starts, and leaves, as a fresh execution environment."""
    log_retention.forget()
    yield
    log_retention.forget()


@pytest.fixture
def logs(aws: None) -> Any:
    return boto3.client("logs", region_name=REGION)


def context(group: str) -> SimpleNamespace:
    """The part of Lambda's context object the handlers read."""
    return SimpleNamespace(log_group_name=group)


def retention(logs: Any, group: str) -> int | None:
    [found] = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group]
    return found.get("retentionInDays")  # absent: never expire


def invoke_snapshot(group: str = SNAPSHOT_GROUP) -> dict[str, Any]:
    return snapshot.handler({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, context(group))


def messages(entries: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry["message"] == message]


@pytest.fixture
def denied(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The CloudWatch Logs operations that fail as IAM would deny them, for every client the handlers make."""
    refused: set[str] = set()
    real = boto3.client

    def refuse(model: Any, **_: Any) -> None:
        if model.name in refused:
            error = {"Code": "AccessDeniedException", "Message": f"not authorized to perform: logs:{model.name}"}
            raise ClientError({"Error": error}, model.name)

    def client(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        made.meta.events.register("before-call.logs.*", refuse)
        return made

    monkeypatch.setattr(boto3, "client", client)
    return refused


def test_the_snapshot_function_sets_its_own_groups_retention(logs, instance, snapshot_env, monkeypatch, json_logs):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "365")

    result = invoke_snapshot()

    assert result["created"] is True
    assert retention(logs, SNAPSHOT_GROUP) == 365
    [line] = messages(json_logs(), "log retention set")
    assert (line["level"], line["log_group"], line["retention_days"]) == ("INFO", SNAPSHOT_GROUP, 365)


def test_the_export_function_sets_its_own_groups_retention_even_for_an_ignored_event(
    logs, export_env, monkeypatch, json_logs
):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "30")

    assert export.handler({"source": "aws.s3"}, context(EXPORT_GROUP))["status"] == "ignored"

    assert retention(logs, EXPORT_GROUP) == 30
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [EXPORT_GROUP]


def test_a_group_lambda_already_created_is_kept_and_given_the_retention(
    logs, instance, snapshot_env, monkeypatch, json_logs
):
    logs.create_log_group(logGroupName=SNAPSHOT_GROUP)  # Lambda creates it on the function's first log line
    logs.create_log_stream(logGroupName=SNAPSHOT_GROUP, logStreamName="2026/11/29/[$LATEST]0123")
    monkeypatch.setenv("LOG_RETENTION_DAYS", "90")

    invoke_snapshot()

    assert retention(logs, SNAPSHOT_GROUP) == 90
    streams = logs.describe_log_streams(logGroupName=SNAPSHOT_GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["2026/11/29/[$LATEST]0123"]
    assert messages(json_logs(), "log retention not set") == []


def test_retention_is_set_once_per_cold_start_not_at_every_invocation(
    logs, instance, snapshot_env, monkeypatch, json_logs
):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "365")
    invoke_snapshot()
    logs.delete_retention_policy(logGroupName=SNAPSHOT_GROUP)  # someone removes it by hand

    invoke_snapshot()  # the same execution environment: not touched again
    assert retention(logs, SNAPSHOT_GROUP) is None
    assert len(messages(json_logs(), "log retention set")) == 1

    log_retention.forget()  # a new execution environment
    invoke_snapshot()
    assert retention(logs, SNAPSHOT_GROUP) == 365


@pytest.mark.parametrize("operation", ["CreateLogGroup", "PutRetentionPolicy"])
def test_a_refused_call_is_an_error_line_and_the_backup_still_runs(
    rds, instance, snapshot_env, monkeypatch, json_logs, denied, operation
):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "365")
    denied.add(operation)

    result = invoke_snapshot()

    assert result["created"] is True
    taken = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in taken] == [result["snapshot"]]
    [line] = messages(json_logs(), "log retention not set")
    assert (line["level"], line["log_group"], line["retention_days"]) == ("ERROR", SNAPSHOT_GROUP, 365)
    assert "AccessDeniedException" in line["reason"]


def test_after_a_failure_the_next_invocation_tries_again(logs, instance, snapshot_env, monkeypatch, json_logs, denied):
    monkeypatch.setenv("LOG_RETENTION_DAYS", "365")
    denied.add("PutRetentionPolicy")
    invoke_snapshot()
    assert retention(logs, SNAPSHOT_GROUP) is None
    denied.clear()  # the role is fixed

    invoke_snapshot()  # the same execution environment

    assert retention(logs, SNAPSHOT_GROUP) == 365


def test_without_log_retention_days_the_backup_runs_and_says_why_retention_is_not_set(
    logs, instance, snapshot_env, json_logs
):
    # The zip can run under a composition function one release older, which does not set the variable yet.
    result = invoke_snapshot()

    assert result["created"] is True
    [line] = messages(json_logs(), "log retention not set")
    assert (line["level"], line["reason"]) == ("ERROR", "LOG_RETENTION_DAYS is not set")
    assert logs.describe_log_groups()["logGroups"] == []
