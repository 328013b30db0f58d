"""moto-backed AWS for the backup tests: every test talks to real boto3 clients against an in-memory AWS."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup.logs import LOGGER_NAME

REGION = "eu-west-1"
COPY_REGION = "eu-central-1"  # the backup's second region
INSTANCE = "notejam-dev-notejam-db"
PREFIX = "notejam-dev"
EXPORT_ENV = {
    "DB_INSTANCE_IDENTIFIER": INSTANCE,
    "SNAPSHOT_PREFIX": PREFIX,
    "EXPORT_BUCKET": "notejamsnapshot-dev-123456789012",
    "EXPORT_PREFIX": "notejam-dev",
    "EXPORT_ROLE_ARN": "arn:aws:iam::123456789012:role/notejam-crossplane/notejam-dev-rds-export",
    "EXPORT_KMS_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/2d9c5c4e-0000-4000-8000-000000000001",
    "COPY_REGION": COPY_REGION,
    "COPY_KMS_KEY_ID": "arn:aws:kms:eu-central-1:123456789012:key/2d9c5c4e-0000-4000-8000-000000000002",
}
SNAPSHOT_ENV = {
    "DB_INSTANCE_IDENTIFIER": INSTANCE,
    "SNAPSHOT_PREFIX": PREFIX,
    "SNAPSHOT_RETENTION_DAYS": "7",
    "COPY_REGION": COPY_REGION,
    "COPY_RETENTION_DAYS": "14",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty in-memory AWS; fake credentials so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def rds(aws: None) -> Any:
    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def copy_rds(aws: None) -> Any:
    """RDS in the second region, where the export Lambda copies each snapshot."""
    return boto3.client("rds", region_name=COPY_REGION)


@pytest.fixture
def make_instance(rds: Any) -> Callable[[str], dict[str, Any]]:
    def make(identifier: str) -> dict[str, Any]:
        return rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="notejam",
            MasterUserPassword="not-a-real-password",
        )["DBInstance"]

    return make


@pytest.fixture
def instance(make_instance: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The database the Lambdas are configured for."""
    return make_instance(INSTANCE)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Parse what the handlers logged to stdout: every line must be a JSON object."""

    def entries() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    return entries


@pytest.fixture
def snapshot_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SNAPSHOT_ENV.items():
        monkeypatch.setenv(name, value)
    return SNAPSHOT_ENV


@pytest.fixture
def export_env(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """EXPORT_ENV, with COPY_KMS_KEY_ID a key that exists in the second region (RDS refuses a copy to any other)."""
    key = boto3.client("kms", region_name=COPY_REGION).create_key(Description="snapshot copies")["KeyMetadata"]
    environment = {**EXPORT_ENV, "COPY_KMS_KEY_ID": key["Arn"]}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
def snapshot_created_event() -> Callable[[str, str], dict[str, Any]]:
    return _snapshot_created_event


def _snapshot_created_event(snapshot_arn: str, snapshot_id: str) -> dict[str, Any]:
    """An EventBridge "RDS DB Snapshot Event" as AWS documents it (EventBridge events reference, aws.rds)."""
    now = datetime.now(UTC)
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "RDS DB Snapshot Event",
        "source": "aws.rds",
        "account": "123456789012",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [snapshot_arn],
        "detail": {
            "EventCategories": ["creation"],
            "SourceType": "SNAPSHOT",
            "SourceArn": snapshot_arn,
            "Date": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "Message": "Manual snapshot created",
            "SourceIdentifier": snapshot_id,
            "EventID": "RDS-EVENT-0042",
        },
    }


@pytest.fixture(autouse=True)
def _forget_log_streams() -> Iterator[None]:
    """A handler configures logging to the test's captured stdout; drop it so no later test writes there."""
    yield
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
