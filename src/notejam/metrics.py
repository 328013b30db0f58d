"""Prometheus metrics. The names are a contract (docs/interfaces.md, the HPA's prometheus-adapter rule).

Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes prometheus_client keep one file per worker and /metrics
aggregates them, so any worker answers for all of them (gunicorn_conf.child_exit cleans up dead ones).
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.pool import QueuePool

from notejam import database
from notejam.config import prometheus_multiproc_dir

REQUESTS_TOTAL = "notejam_http_requests_total"
REQUEST_DURATION_SECONDS = "notejam_http_request_duration_seconds"
REQUESTS_IN_FLIGHT = "notejam_http_requests_in_flight"
DB_POOL_PREFIX = "notejam_db_pool_"
DB_POOL_SIZE = "notejam_db_pool_size"
DB_POOL_CHECKED_OUT = "notejam_db_pool_checked_out"
DB_POOL_OVERFLOW = "notejam_db_pool_overflow"
DB_UNAVAILABLE_TOTAL = "notejam_db_unavailable_total"

# `handler`, not `endpoint`: the ServiceMonitor scrape adds its own `endpoint` target label (the port name), which
# would rename ours to `exported_endpoint`.
LABELS = ("method", "handler", "status")
# Requests that match no route share one label value, so random URLs cannot explode the series count.
UNMATCHED_ENDPOINT = "unmatched"

_multiproc_dir = prometheus_multiproc_dir()
if _multiproc_dir:
    # prometheus_client opens its per-process files as the metrics below are created, at import; the
    # migration and smoke Jobs import the package too, before anything else could create the directory.
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)

requests_total = Counter(REQUESTS_TOTAL, "HTTP requests served.", LABELS)
request_duration = Histogram(
    REQUEST_DURATION_SECONDS,
    "Time from request start to response, in seconds.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# livesum: the sum over the workers that are alive (dead workers' files are removed in child_exit).
requests_in_flight = Gauge(REQUESTS_IN_FLIGHT, "HTTP requests being served.", multiprocess_mode="livesum")
db_pool_size = Gauge(DB_POOL_SIZE, "Connections the pool keeps open.", multiprocess_mode="livesum")
db_pool_checked_out = Gauge(DB_POOL_CHECKED_OUT, "Connections in use.", multiprocess_mode="livesum")
# Pages answered 503 because the database could not be reached (their status is also in REQUESTS_TOTAL).
db_unavailable_total = Counter(DB_UNAVAILABLE_TOTAL, "Requests answered 503: database unreachable.", ("handler",))
db_pool_overflow = Gauge(DB_POOL_OVERFLOW, "Connections opened beyond the pool size.", multiprocess_mode="livesum")


def render() -> Response:
    """The exposition for /metrics: every worker's values when multiprocess mode is on."""
    if prometheus_multiproc_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count and time every request, and publish the pool's state after each one."""

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()
        g.metrics_in_flight = True
        requests_in_flight.inc()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            count, duration = _series((request.method, request.endpoint or UNMATCHED_ENDPOINT, response.status_code))
            count.inc()
            duration.observe(time.perf_counter() - started)
        _publish_pool(app)
        return response

    @app.teardown_request
    def finish(_exc: BaseException | None) -> None:
        if g.pop("metrics_in_flight", False):
            requests_in_flight.dec()


# The request series by (method, handler, status), looked up once per worker: `labels()` validates and converts its
# values and takes a lock on every call. As many entries as prometheus_client keeps children.
_request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series(key: tuple[str, str, int]) -> tuple[Counter, Histogram]:
    series = _request_series.get(key)
    if series is None:
        labels = (key[0], key[1], str(key[2]))
        series = _request_series[key] = (requests_total.labels(*labels), request_duration.labels(*labels))
    return series


def count_db_unavailable() -> None:
    db_unavailable_total.labels(request.endpoint or UNMATCHED_ENDPOINT).inc()


# What this process last wrote to the pool gauges. A gauge's value is this process's own (multiprocess mode sums the
# live processes), so a write that would not change it is skipped: three locked writes a request, most of them equal.
_published_pool: list[tuple[int, int, int] | None] = [None]


def _publish_pool(app: Flask) -> None:
    pool = database.engine(app).pool
    if isinstance(pool, QueuePool):
        state = (pool.size(), pool.checkedout(), max(pool.overflow(), 0))
        if state != _published_pool[0]:
            db_pool_size.set(state[0])
            db_pool_checked_out.set(state[1])
            db_pool_overflow.set(state[2])
            _published_pool[0] = state
