"""JSON logs for the backup Lambdas: one object per line, which CloudWatch Logs Insights queries by field."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO

LOGGER_NAME = "backup"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``backup`` loggers to ``stream`` (default stdout) as JSON; safe to call on every invocation.

    The logger does not propagate: the Lambda runtime puts its own plain-text handler on the root logger,
    and propagating would log every line twice, once not as JSON.
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
