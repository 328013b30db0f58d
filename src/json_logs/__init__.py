"""One JSON object per log line: the format of every log Notejam writes (the web app, gunicorn's access and error
logs, the backup Lambdas), which Logs Insights and the cluster's log pipeline query by field.

A small formatter of our own, not python-json-logger: it does the same for us in less time per line (about 7 against
9 µs, and the access log writes a line per request), and the backup Lambdas' zip bundles no third-party code (the
Lambda runtime brings boto3 only). The web app's image and the Lambdas' zip both ship this package.

    logger.info("snapshot started", extra={"snapshot": name})
    {"time": "2026-12-06T11:16:25.138+00:00", "level": "INFO", "logger": "backup.snapshot",
     "message": "snapshot started", "snapshot": "notejam-dev-2026-12-06"}
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "timestamp"]

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def timestamp(seconds: float) -> str:
    """A Unix time as the lines write it: ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """time, level, logger and message, then the record's ``extra=`` fields, then ``context_fields`` (what a
    subclass knows about the moment, such as the request being served), then the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES})
        entry.update(self.context_fields())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def context_fields(self) -> dict[str, Any]:
        return {}
