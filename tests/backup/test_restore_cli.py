"""The restore CLI (`python -m backup.restore`) against moto."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from typing import Any

import pytest

from backup import restore
from tools.repository import REPO_ROOT

SOURCE = "notejam-dev-notejam-db"


def run_cli(capsys, *argv: str) -> tuple[int, Any, str]:
    code = restore.main(list(argv))
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else None), captured.err


@pytest.fixture
def two_snapshots(rds, instance) -> list[str]:
    names = ["notejam-dev-2026-11-28", "notejam-dev-2026-11-29"]
    for name in names:
        rds.create_db_snapshot(DBInstanceIdentifier=SOURCE, DBSnapshotIdentifier=name)
        time.sleep(0.01)  # distinct SnapshotCreateTime, which orders them
    return names


def test_list_shows_available_snapshots_newest_first(capsys, two_snapshots):
    code, out, _ = run_cli(capsys, "list", "--source", SOURCE)

    assert code == 0
    manual = [s["id"] for s in out["snapshots"] if s["type"] == "manual"]
    automated = [s["id"] for s in out["snapshots"] if s["type"] == "automated"]
    assert manual == ["notejam-dev-2026-11-29", "notejam-dev-2026-11-28"]
    assert len(automated) == 1  # moto, like RDS, takes one when the instance is created
    assert out["snapshots"][-1]["id"] == automated[0]


def test_restore_without_a_snapshot_uses_the_latest(rds, capsys, two_snapshots):
    code, out, _ = run_cli(capsys, "restore", "--source", SOURCE, "--target", "notejam-dev-restored", "--wait")

    assert code == 0
    assert out["target"] == "notejam-dev-restored"
    assert out["snapshot"] == "notejam-dev-2026-11-29"
    assert out["status"] == "available"
    restored = rds.describe_db_instances(DBInstanceIdentifier="notejam-dev-restored")["DBInstances"][0]
    assert restored["DBInstanceClass"] == "db.t4g.micro"  # the source's
    assert {"Key": "restored-from", "Value": "notejam-dev-2026-11-29"} in restored["TagList"]


def test_restore_a_chosen_snapshot_with_overrides(rds, capsys, two_snapshots):
    code, out, _ = run_cli(
        capsys,
        "restore",
        "--source",
        SOURCE,
        "--target",
        "notejam-dev-restored",
        "--snapshot",
        "notejam-dev-2026-11-28",
        "--instance-class",
        "db.t4g.small",
    )

    assert code == 0
    assert out["snapshot"] == "notejam-dev-2026-11-28"
    restored = rds.describe_db_instances(DBInstanceIdentifier="notejam-dev-restored")["DBInstances"][0]
    assert restored["DBInstanceClass"] == "db.t4g.small"


def test_restore_works_when_the_source_instance_is_gone(rds, capsys, two_snapshots):
    rds.delete_db_instance(DBInstanceIdentifier=SOURCE, SkipFinalSnapshot=True)

    code, out, _ = run_cli(capsys, "restore", "--source", SOURCE, "--target", "notejam-dev-restored")

    assert code == 0
    assert out["snapshot"] == "notejam-dev-2026-11-29"


def test_unknown_snapshot_is_a_clear_error(capsys, two_snapshots):
    code, out, err = run_cli(
        capsys, "restore", "--source", SOURCE, "--target", "t", "--snapshot", "notejam-dev-1999-01-01"
    )

    assert (code, out) == (1, None)
    assert err.strip() == (
        f"error: notejam-dev-1999-01-01 is not an available snapshot of {SOURCE}; `list` shows the ones there are"
    )


def test_no_snapshot_at_all_is_a_clear_error(capsys, rds):
    code, _, err = run_cli(capsys, "restore", "--source", "billing-db", "--target", "t")

    assert code == 1
    assert err.strip() == "error: no available snapshot of billing-db"


def test_the_restored_instance_is_never_public_and_copies_the_sources_network():
    source = {
        "DBInstanceClass": "db.t4g.micro",
        "DBSubnetGroup": {"DBSubnetGroupName": "notejam-dev-db"},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123"}],
    }
    args = restore.parser().parse_args(["restore", "--source", SOURCE, "--target", "new"])

    request = restore.restore_request({"DBSnapshotIdentifier": "snap"}, "new", source, args)

    assert request == {
        "DBInstanceIdentifier": "new",
        "DBSnapshotIdentifier": "snap",
        "PubliclyAccessible": False,
        "Tags": [{"Key": "restored-from", "Value": "snap"}],
        "DBInstanceClass": "db.t4g.micro",
        "DBSubnetGroupName": "notejam-dev-db",
        "VpcSecurityGroupIds": ["sg-0123"],
    }


def test_flags_override_the_sources_network():
    source = {"DBSubnetGroup": {"DBSubnetGroupName": "old"}, "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-old"}]}
    argv = ["restore", "--source", SOURCE, "--target", "new", "--subnet-group", "dr", "--security-group", "sg-1"]
    args = restore.parser().parse_args([*argv, "--security-group", "sg-2"])

    request = restore.restore_request({"DBSnapshotIdentifier": "snap"}, "new", source, args)

    assert request["DBSubnetGroupName"] == "dr"
    assert request["VpcSecurityGroupIds"] == ["sg-1", "sg-2"]


def test_an_existing_target_is_refused(rds, capsys, two_snapshots):
    code, _, err = run_cli(capsys, "restore", "--source", SOURCE, "--target", SOURCE)

    assert code == 1
    assert "already exists" in err
    assert len(rds.describe_db_instances()["DBInstances"]) == 1


def test_aws_errors_are_reported_without_a_traceback(capsys, two_snapshots):
    code, _, err = run_cli(capsys, "restore", "--source", SOURCE, "--target", "Not_A_Valid--Name")

    assert code == 1
    assert err.startswith("error: AWS refused:")
    assert "Traceback" not in err


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "backup.restore", "--help"], capture_output=True, text=True, check=True
    )
    assert "restore" in result.stdout
    assert "list" in result.stdout


def test_the_runbooks_commands_are_ones_the_cli_accepts():
    runbook = (REPO_ROOT / "docs" / "restore.md").read_text()
    commands = [
        shlex.split(command.split("-m backup.restore", 1)[1])
        for command in runbook.replace("\\\n", " ").splitlines()
        if "-m backup.restore " in command
    ]
    assert len(commands) == 3
    for argv in commands:
        restore.parser().parse_args(argv)  # argparse exits (SystemExit) on anything it does not accept


def test_every_describe_names_its_instance_so_iam_can_be_scoped_to_it(rds, two_snapshots, monkeypatch):
    # A describe that names no instance (a filter) is authorised against every instance (db:*): the runbook
    # promises permissions on the source and target instances only.
    made: list[tuple[str, dict[str, Any]]] = []
    rds.meta.events.register(
        "provide-client-params.rds.*", lambda params, model, **_: made.append((model.name, params))
    )
    monkeypatch.setattr(restore.boto3, "client", lambda *args, **kwargs: rds)

    assert restore.main(["restore", "--source", SOURCE, "--target", "notejam-dev-restored"]) == 0

    describes = [(operation, params) for operation, params in made if operation.startswith("Describe")]
    assert {operation for operation, _ in describes} == {"DescribeDBInstances", "DescribeDBSnapshots"}
    assert all(params.get("DBInstanceIdentifier") in {SOURCE, "notejam-dev-restored"} for _, params in describes)
    assert not any("Filters" in params for _, params in describes)
