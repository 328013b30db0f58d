"""JSON logs for the backup Lambdas (json_logs: one object per line), which CloudWatch Logs Insights queries."""

from __future__ import annotations

import logging
import sys
from typing import IO

from json_logs import JsonFormatter

LOGGER_NAME = "backup"


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
