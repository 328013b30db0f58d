"""CPU per request of one app without a server, for `make bench`: run with PYTHONPATH naming the version to measure.

Under gunicorn a request also costs what the server does for every app alike: accepting the connection, parsing the
request, the access log line, closing; and with five workers, PostgreSQL and the load generator on two CPUs, the
switching between them. This calls the app's WSGI callable in this process instead, as gunicorn's worker calls it
(the environ of the measured browser: its cookie, User-Agent and X-Forwarded-For, as bench/pages.py sends them),
and measures this process's CPU time per request and, with `--postgres-pid`, the PostgreSQL server's (the
postmaster and all its processes) over the same requests. Each page is measured `--repeats` times and the median
kept. Prints JSON: {label: {"app_ms": ..., "postgres_ms": ...}}.

    python -m bench.in_process --app "notejam:create_app()" --postgres-pid 4242 --cookie "session=..." "note=/notes/7/"
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gunicorn import SERVER_SOFTWARE
from gunicorn.util import import_app
from werkzeug.test import EnvironBuilder

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 300  # requests per page before measuring: imports, template compilation, the pool's connection


def process_tree_cpu_seconds(root: int) -> float:
    """utime+stime of process `root` and its children so far (gunicorn's master and workers, PostgreSQL's postmaster
    and backends)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if root in (int(stat.parent.name), int(fields[1])):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def request_environ(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The environ of `GET path` with these headers, as Werkzeug's test client builds it, with what gunicorn's sync
    worker sets besides: its SERVER_SOFTWARE, and no client address on a Unix socket (X-Forwarded-For carries the
    browser's). Copied per request with a fresh wsgi.input."""
    base = {"REMOTE_ADDR": "", "SERVER_SOFTWARE": SERVER_SOFTWARE, "wsgi.multiprocess": True}
    return EnvironBuilder(path=path, headers=headers, environ_base=base).get_environ()


def get(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """One request through the WSGI interface, the body read and the iterable closed, as a server would: status and
    headers. Not Werkzeug's `run_wsgi_app`, which wraps the response in objects of its own on every request, a cost
    that a figure for bare Flask (some 40 µs) would carry."""
    started: list[Any] = []
    result = app(
        environ | {"wsgi.input": io.BytesIO()}, lambda status, headers, exc_info=None: started.append((status, headers))
    )
    try:
        b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0]


def measure(
    app: Any, path: str, headers: dict[str, str], requests: int, repeats: int, postgres_pid: int | None
) -> dict[str, float | None]:
    environ = request_environ(path, headers)
    status, response_headers = get(app, environ)
    # The same rule as bench/pages.py: a page that errs or re-signs the session cookie measures the wrong thing.
    if not status.startswith("200") or any(name.lower() == "set-cookie" for name, _ in response_headers):
        raise SystemExit(f"GET {path} answered {status} with headers {response_headers}")
    for _ in range(WARM_UP):
        get(app, environ)
    app_ms, postgres_ms = [], []
    for _ in range(repeats):
        postgres_before = process_tree_cpu_seconds(postgres_pid) if postgres_pid else 0.0
        before = time.process_time()
        for _ in range(requests):
            get(app, environ)
        app_ms.append((time.process_time() - before) * 1000 / requests)
        if postgres_pid:
            postgres_ms.append((process_tree_cpu_seconds(postgres_pid) - postgres_before) * 1000 / requests)
    return {
        "app_ms": round(statistics.median(app_ms), 4),
        "postgres_ms": round(statistics.median(postgres_ms), 4) if postgres_ms else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.in_process", description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, help='gunicorn\'s syntax: "notejam:create_app()", "bench.hello:app"')
    parser.add_argument("--postgres-pid", type=int, help="the postmaster's pid, to measure PostgreSQL's CPU too")
    parser.add_argument("--cookie", default="", help="the signed-in browser's Cookie header")
    parser.add_argument("--header", action="append", default=[], help="another request header, Name=value")
    parser.add_argument("--requests", type=int, default=2000, help="requests per page and repeat (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per page; the median is kept")
    parser.add_argument("pages", nargs="+", help="label=path")
    args = parser.parse_args(argv)
    headers = dict(header.split("=", 1) for header in args.header) | ({"Cookie": args.cookie} if args.cookie else {})
    app = import_app(args.app)
    figures = {
        label: measure(app, path, headers, args.requests, args.repeats, args.postgres_pid)
        for label, path in (page.split("=", 1) for page in args.pages)
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
