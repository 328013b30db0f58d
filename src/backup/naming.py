"""How the backup Lambdas name and recognise their snapshots and exports.

Snapshot ids are ``<SNAPSHOT_PREFIX>-<YYYY-MM-DD>`` (SNAPSHOT_PREFIX is ``notejam-<env>``). A snapshot is ours
only if it also carries MANAGED_BY_TAG and belongs to the configured instance: nothing else is ever exported or
deleted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

MANAGED_BY_TAG = {"Key": "managed-by", "Value": "notejam-backup"}


def snapshot_id(prefix: str, day: date) -> str:
    return f"{prefix}-{day.isoformat()}"


def snapshot_day(prefix: str, identifier: str) -> date | None:
    """The day in ``<prefix>-<YYYY-MM-DD>``, or None for any other identifier."""
    # RDS stores snapshot identifiers in lower case.
    head = f"{prefix.lower()}-"
    if not identifier.lower().startswith(head):
        return None
    try:
        return date.fromisoformat(identifier[len(head) :])
    except ValueError:
        return None


def is_ours(snapshot: dict[str, Any], db_instance_identifier: str, prefix: str) -> bool:
    """``snapshot`` (a DescribeDBSnapshots entry) was taken by the snapshot Lambda of this instance."""
    return (
        MANAGED_BY_TAG in snapshot.get("TagList", [])
        and snapshot.get("DBInstanceIdentifier") == db_instance_identifier
        and snapshot_day(prefix, snapshot["DBSnapshotIdentifier"]) is not None
    )


def export_task_id(snapshot_identifier: str) -> str:
    """One export per snapshot: the export task is named after it, so a repeated event cannot start a second.

    Snapshot and export task identifiers share the rules (letters, digits, single hyphens, a letter first), so
    our snapshot id is a valid export id as long as it fits the export's 60 characters.
    """
    if len(snapshot_identifier) > 60:
        raise ValueError(f"snapshot id {snapshot_identifier!r} is longer than an export task id may be (60)")
    return snapshot_identifier
