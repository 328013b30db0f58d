"""Every setting of the backup Lambdas, read from the environment in this one place.

Each field names its environment variable in its metadata, so the loader below and the test that
compares the names with the Crossplane composition read the same source. Every variable is required but
LOG_RETENTION_DAYS: a zip can run under a composition function one release older, which does not set it yet, and
the backup must not fail for its logs (backup.log_retention). A malformed value is an error like any other: the
claim's XRD lets only the periods CloudWatch Logs accepts through.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar


class SettingsError(ValueError):
    """A required environment variable is missing or malformed; the message names it."""


def _env(name: str, *, optional: bool = False) -> Any:
    """The field read from environment variable ``name``; an optional one that is unset reads as None."""
    if optional:
        return field(default=None, metadata={"env": name, "optional": True})
    return field(metadata={"env": name})


@dataclass(frozen=True)
class SnapshotSettings:
    db_instance_identifier: str = _env("DB_INSTANCE_IDENTIFIER")
    snapshot_prefix: str = _env("SNAPSHOT_PREFIX")
    retention_days: int = _env("SNAPSHOT_RETENTION_DAYS")
    copy_region: str = _env("COPY_REGION")
    copy_retention_days: int = _env("COPY_RETENTION_DAYS")
    log_retention_days: int | None = _env("LOG_RETENTION_DAYS", optional=True)


@dataclass(frozen=True)
class ExportSettings:
    db_instance_identifier: str = _env("DB_INSTANCE_IDENTIFIER")
    snapshot_prefix: str = _env("SNAPSHOT_PREFIX")
    bucket: str = _env("EXPORT_BUCKET")
    prefix: str = _env("EXPORT_PREFIX")
    role_arn: str = _env("EXPORT_ROLE_ARN")
    kms_key_id: str = _env("EXPORT_KMS_KEY_ID")
    copy_region: str = _env("COPY_REGION")
    copy_kms_key_id: str = _env("COPY_KMS_KEY_ID")
    log_retention_days: int | None = _env("LOG_RETENTION_DAYS", optional=True)


Settings = TypeVar("Settings", SnapshotSettings, ExportSettings)


def env_names(settings_class: type[SnapshotSettings] | type[ExportSettings]) -> list[str]:
    """The environment variables a settings class reads, in declaration order."""
    return [f.metadata["env"] for f in dataclasses.fields(settings_class)]


def load(settings_class: type[Settings], environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``settings_class`` from ``environ`` (default: the process environment).

    Raises SettingsError naming every missing variable at once, so one failed deploy shows them all.
    """
    environ = os.environ if environ is None else environ
    fields = dataclasses.fields(settings_class)
    unset = {f.name for f in fields if not environ.get(f.metadata["env"], "").strip()}
    missing = [f.metadata["env"] for f in fields if f.name in unset and not f.metadata.get("optional")]
    if missing:
        raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")
    values: dict[str, Any] = {}
    for f in fields:
        if f.name in unset:
            continue  # optional: its default, None
        name, raw = f.metadata["env"], environ[f.metadata["env"]].strip()
        values[f.name] = _positive_int(name, raw) if f.type in ("int", "int | None") else raw
    return settings_class(**values)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value
