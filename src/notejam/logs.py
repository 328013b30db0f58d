"""JSON logs (json_logs: one object per line), with the request id of the request being served.

Every request is logged once, by whoever serves it: this module under the Flask server and tests,
gunicorn's access log (gunicorn_conf.JsonAccessLogger) under gunicorn.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from json_logs import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is honoured only if it is short and plain, so it cannot forge log lines.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HANDLER_MARK = "_notejam_json_handler"
_RESET_TOKEN_IN_PATH = re.compile(r"^/reset-password/[^/]+")
request_logger = logging.getLogger("notejam.request")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners and servers swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class RequestJsonFormatter(JsonFormatter):
    """json_logs' lines, with the id of the request being served."""

    def context_fields(self) -> dict[str, Any]:
        if has_request_context() and "request_id" in g:
            return {"request_id": g.request_id}
        return {}


def configure(level: str) -> None:
    """Send the `notejam` loggers to stderr as JSON (once per process, however many apps exist)."""
    logger = logging.getLogger("notejam")
    logger.setLevel(level)
    if not any(getattr(h, _HANDLER_MARK, False) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(RequestJsonFormatter())
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)


def redact_path(path: str) -> str:
    """The path as it may be logged: reset-password tokens are credentials until used."""
    return _RESET_TOKEN_IN_PATH.sub("/reset-password/<redacted>", path)


def request_id_from(header_value: str | None) -> str:
    if header_value and _SAFE_REQUEST_ID.match(header_value):
        return header_value
    return secrets.token_hex(16)  # 128 random bits in 32 hex digits, like uuid4().hex, without building a UUID


def init_app(app: Flask) -> None:
    configure(app.config["LOG_LEVEL"])

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.log_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id") or request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        if not request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            started = g.get("log_started", time.perf_counter())
            # Path only: query strings may carry tokens, and form bodies are never logged.
            fields = {
                "method": request.method,
                "path": redact_path(request.path),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "remote_addr": request.remote_addr,
            }
            request_logger.info("request", extra=fields)
        return response
