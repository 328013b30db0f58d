"""Each backup Lambda keeps its own CloudWatch logs for LOG_RETENTION_DAYS instead of forever.

Lambda writes a function's logs to /aws/lambda/<function name>, a log group it creates on the first log line, with
no retention. No CloudWatch Logs kind is in our provider set, so the composition cannot compose that group with a
retention: the function sets it itself, once per execution environment (at its first invocation, the cold start).
It creates the group if Lambda has not yet (ResourceAlreadyExistsException means it has), then puts the retention
policy; its role may do both on that one group only (src/function/backup.py).

A failure here never stops the backup. It is logged as an error line, ``"message": "log retention not set"`` with
the group and the reason, and the invocation goes on; the next invocation tries again, until one succeeds. Failing
the invocation instead would page NotejamBackupFunctionFailed and make Lambda retry a backup that worked, for logs
that are only kept too long.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backup.logs import LOGGER_NAME

log = logging.getLogger(f"{LOGGER_NAME}.log_retention")

# Short timeouts and one retry: the backup has a 60-second budget, and this must not use it up when CloudWatch Logs
# is slow (botocore's defaults are 60 s to connect and 60 s to read, several times over).
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})

# Log groups whose retention this execution environment has set: Lambda keeps module state between invocations of
# one environment, so a group in here is not touched again until the next cold start.
_set_in_this_environment: set[str] = set()


def put_retention(logs: Any, group: str, days: int) -> None:
    """Create ``group`` unless it exists, then keep its events ``days`` days. AWS errors are raised."""
    # Usually Lambda has created it already, on the function's first log line.
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=days)


def keep_own_logs(context: Any, days: int | None) -> bool:
    """Set the retention of the invoked function's log group (the Lambda context names it), once per execution
    environment. True when it is set, now or earlier; False, after an error line, when it could not be."""
    group = getattr(context, "log_group_name", None)
    if group in _set_in_this_environment:
        return True
    if not group or days is None:
        reason = "LOG_RETENTION_DAYS is not set" if group else "the Lambda context names no log group"
        log.error("log retention not set", extra={"log_group": group, "reason": reason})
        return False
    try:
        put_retention(boto3.client("logs", config=CLIENT_CONFIG), group, days)
    # An AWS or network error: logged, and the backup goes on (see the module's docstring).
    except (BotoCoreError, ClientError) as error:
        log.error("log retention not set", extra={"log_group": group, "retention_days": days, "reason": str(error)})
        return False
    _set_in_this_environment.add(group)
    log.info("log retention set", extra={"log_group": group, "retention_days": days})
    return True


def forget() -> None:
    """As after a cold start: the next invocation sets the retention again (for tests)."""
    _set_in_this_environment.clear()
