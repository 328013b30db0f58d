"""Settings come from the environment with errors that name the variable; logs are one JSON object a line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from backup.logs import configure_logging
from backup.settings import ExportSettings, SettingsError, SnapshotSettings, env_names, load

SNAPSHOT = {
    "DB_INSTANCE_IDENTIFIER": "db",
    "SNAPSHOT_PREFIX": "notejam-dev",
    "SNAPSHOT_RETENTION_DAYS": "7",
    "COPY_REGION": "eu-central-1",
    "COPY_RETENTION_DAYS": "14",
}


def test_snapshot_settings_are_read_from_the_environment():
    assert load(SnapshotSettings, SNAPSHOT) == SnapshotSettings(
        db_instance_identifier="db",
        snapshot_prefix="notejam-dev",
        retention_days=7,
        copy_region="eu-central-1",
        copy_retention_days=14,
        log_retention_days=None,
    )


def test_env_names_are_the_documented_variables():
    assert env_names(SnapshotSettings) == [
        "DB_INSTANCE_IDENTIFIER",
        "SNAPSHOT_PREFIX",
        "SNAPSHOT_RETENTION_DAYS",
        "COPY_REGION",
        "COPY_RETENTION_DAYS",
        "LOG_RETENTION_DAYS",
    ]
    assert env_names(ExportSettings) == [
        "DB_INSTANCE_IDENTIFIER",
        "SNAPSHOT_PREFIX",
        "EXPORT_BUCKET",
        "EXPORT_PREFIX",
        "EXPORT_ROLE_ARN",
        "EXPORT_KMS_KEY_ID",
        "COPY_REGION",
        "COPY_KMS_KEY_ID",
        "LOG_RETENTION_DAYS",
    ]


def test_every_missing_variable_is_named_in_one_error():
    with pytest.raises(SettingsError) as error:
        load(ExportSettings, {"DB_INSTANCE_IDENTIFIER": "db", "SNAPSHOT_PREFIX": "p"})
    assert str(error.value) == (
        "missing required environment variable(s): EXPORT_BUCKET, EXPORT_PREFIX, EXPORT_ROLE_ARN, EXPORT_KMS_KEY_ID, "
        "COPY_REGION, COPY_KMS_KEY_ID"
    )


def test_log_retention_is_optional_and_read_as_days():
    # Optional: a zip newer than the composition function that sets it must still back up (backup.log_retention).
    assert load(SnapshotSettings, SNAPSHOT).log_retention_days is None
    assert load(SnapshotSettings, {**SNAPSHOT, "LOG_RETENTION_DAYS": " 365 "}).log_retention_days == 365
    with pytest.raises(SettingsError, match="LOG_RETENTION_DAYS must be a whole number of days"):
        load(SnapshotSettings, {**SNAPSHOT, "LOG_RETENTION_DAYS": "a year"})


@pytest.mark.parametrize(
    ("value", "message"),
    [("seven", "SNAPSHOT_RETENTION_DAYS must be a whole number of days, got 'seven'"), ("0", "at least 1")],
)
def test_retention_must_be_a_positive_number_of_days(value, message):
    with pytest.raises(SettingsError, match=message):
        load(SnapshotSettings, {**SNAPSHOT, "SNAPSHOT_RETENTION_DAYS": value})


def test_logs_are_json_with_the_extra_fields():
    stream = io.StringIO()
    configure_logging(stream)
    logging.getLogger("backup.snapshot").info("snapshot started", extra={"snapshot": "notejam-dev-2026-11-29"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("backup.export").exception("failed")
    configure_logging()

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "backup.snapshot"
    assert first["message"] == "snapshot started"
    assert first["snapshot"] == "notejam-dev-2026-11-29"
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR"
    assert "RuntimeError: boom" in second["exception"]


def test_configuring_twice_does_not_log_twice():
    stream = io.StringIO()
    configure_logging(stream)
    configure_logging(stream)
    logging.getLogger("backup").info("once")
    configure_logging()

    assert len(stream.getvalue().splitlines()) == 1
