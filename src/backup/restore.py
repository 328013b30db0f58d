"""Restore a snapshot of the Notejam database to a new RDS instance (see docs/restore.md).

    python -m backup.restore list --source notejam-prod-notejam-db
    python -m backup.restore restore --source notejam-prod-notejam-db --target notejam-prod-restored [--snapshot ID]

Without --snapshot the latest available snapshot of the source (ours or RDS's automated ones) is used. The new
instance reuses the source's instance class, subnet group and security groups when the source still exists; the
flags override them (and are needed when the source is gone). It is never publicly accessible.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

WAIT_DELAY_SECONDS = 30
WAIT_MAX_ATTEMPTS = 120  # an hour: restoring a large snapshot is slow


class RestoreError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def available_snapshots(rds: Any, source: str) -> list[dict[str, Any]]:
    """Available snapshots (manual and automated) of ``source``, newest first."""
    snapshots = [
        snapshot
        for page in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=source)
        for snapshot in page["DBSnapshots"]
        if snapshot["Status"] == "available"
    ]
    return sorted(snapshots, key=lambda s: s["SnapshotCreateTime"], reverse=True)


def choose_snapshot(rds: Any, source: str, wanted: str | None) -> dict[str, Any]:
    snapshots = available_snapshots(rds, source)
    if wanted is None:
        if not snapshots:
            raise RestoreError(f"no available snapshot of {source}")
        return snapshots[0]
    for snapshot in snapshots:
        if snapshot["DBSnapshotIdentifier"] == wanted.lower():
            return snapshot
    raise RestoreError(f"{wanted} is not an available snapshot of {source}; `list` shows the ones there are")


def source_instance(rds: Any, source: str) -> dict[str, Any] | None:
    """The instance named ``source``, or None when it is gone (the case a restore is for).

    Named by DBInstanceIdentifier, the call is authorised against that instance's ARN; a filter would need
    rds:DescribeDBInstances on every instance (db:*).
    """
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=source)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def restore_request(
    snapshot: dict[str, Any], target: str, source: dict[str, Any] | None, args: argparse.Namespace
) -> dict[str, Any]:
    """The RestoreDBInstanceFromDBSnapshot parameters: flags first, then the source's settings."""
    request: dict[str, Any] = {
        "DBInstanceIdentifier": target,
        "DBSnapshotIdentifier": snapshot["DBSnapshotIdentifier"],
        "PubliclyAccessible": False,
        "Tags": [{"Key": "restored-from", "Value": snapshot["DBSnapshotIdentifier"]}],
    }
    instance_class = args.instance_class or (source or {}).get("DBInstanceClass")
    subnet_group = args.subnet_group or (source or {}).get("DBSubnetGroup", {}).get("DBSubnetGroupName")
    security_groups = args.security_group or [
        group["VpcSecurityGroupId"] for group in (source or {}).get("VpcSecurityGroups", [])
    ]
    if instance_class:
        request["DBInstanceClass"] = instance_class
    if subnet_group:
        request["DBSubnetGroupName"] = subnet_group
    if security_groups:
        request["VpcSecurityGroupIds"] = security_groups
    return request


def list_command(rds: Any, args: argparse.Namespace) -> dict[str, Any]:
    snapshots = available_snapshots(rds, args.source)
    return {
        "source": args.source,
        "snapshots": [
            {
                "id": s["DBSnapshotIdentifier"],
                "type": s["SnapshotType"],
                "created": s["SnapshotCreateTime"].isoformat(),
            }
            for s in snapshots
        ],
    }


def restore_command(rds: Any, args: argparse.Namespace) -> dict[str, Any]:
    if source_instance(rds, args.target) is not None:
        raise RestoreError(f"an instance named {args.target} already exists; choose another --target")
    snapshot = choose_snapshot(rds, args.source, args.snapshot)
    request = restore_request(snapshot, args.target, source_instance(rds, args.source), args)
    instance = rds.restore_db_instance_from_db_snapshot(**request)["DBInstance"]
    if args.wait:
        rds.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=args.target,
            WaiterConfig={"Delay": WAIT_DELAY_SECONDS, "MaxAttempts": WAIT_MAX_ATTEMPTS},
        )
        instance = rds.describe_db_instances(DBInstanceIdentifier=args.target)["DBInstances"][0]
    return {
        "target": instance["DBInstanceIdentifier"],
        "snapshot": snapshot["DBSnapshotIdentifier"],
        "status": instance["DBInstanceStatus"],
        "endpoint": instance.get("Endpoint", {}).get("Address"),
    }


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m backup.restore", description=__doc__.split("\n\n")[0])
    cli.add_argument("--region", help="AWS region (default: the AWS CLI configuration)")
    commands = cli.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="available snapshots of an instance, newest first")
    listing.add_argument("--source", required=True, help="the RDS instance, e.g. notejam-prod-notejam-db")

    restore = commands.add_parser("restore", help="restore a snapshot to a new instance")
    restore.add_argument("--source", required=True, help="the RDS instance whose snapshot to restore")
    restore.add_argument("--target", required=True, help="identifier of the new instance")
    restore.add_argument("--snapshot", help="snapshot id (default: the latest available)")
    restore.add_argument("--instance-class", help="default: the source's")
    restore.add_argument("--subnet-group", help="DB subnet group name (default: the source's)")
    restore.add_argument(
        "--security-group", action="append", help="VPC security group id, repeatable (default: the source's)"
    )
    restore.add_argument("--wait", action="store_true", help="wait until the new instance is available")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        rds = boto3.client("rds", region_name=args.region)
        command = list_command if args.command == "list" else restore_command
        result = command(rds, args)
    except RestoreError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as problem:
        print(f"error: AWS refused: {problem}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
