"""gunicorn settings for the container: `gunicorn --config python:notejam.gunicorn_conf "notejam:create_app()"`.

Command-line flags override these (the tests use `--bind` and `--workers`).
"""

from __future__ import annotations

import gc
import math
import os
import shutil
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from json_logs import JsonFormatter
from notejam import probes
from notejam.config import probe_port, prometheus_multiproc_dir
from notejam.logs import redact_path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this container may use: the cgroup v2 quota if there is one, else the CPUs we may run on."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit visible: use the affinity count
    return max(cpus, 1)


class JsonAccessLogger(Logger):
    """gunicorn's access and error logs as json_logs' lines, like the app's: one JSON object per line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):  # the handlers gunicorn made for errorlog and accesslog
                    handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        fields = {
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "path": redact_path(environ.get("PATH_INFO", "")),
            "status": int(str(resp.status).split(None, 1)[0]),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "worker_pid": os.getpid(),
        }
        self.access_log.info("request", extra=fields)


bind = "0.0.0.0:8000"
# The kubelet's and the ALB's probes have a port of their own, answered outside the request workers' queue
# (notejam/probes.py says why): PROBE_PORT, 8001 by default. Not a gunicorn setting, hence the capitals.
PROBE_PORT = probe_port()
_probe_listener: Any = None
# The gunicorn docs' rule of thumb for sync workers: (2 x CPUs) + 1, counting the container's CPUs.
workers = 2 * available_cpus() + 1
timeout = 30
# Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds (default 30 s) before SIGKILL.
graceful_timeout = 30
# Sync workers answer each request with `Connection: close`, so the ALB never reuses a connection gunicorn is
# closing. Should the worker class change to one that keeps connections alive (gthread), this must stay longer
# than the ALB's 60 s idle timeout, so that the balancer, not gunicorn, closes idle connections (else 502s).
keepalive = 75
# Each worker's heartbeat, a file the worker touches on every request and the arbiter reads to find hung workers: on a
# tmpfs, as gunicorn's docs advise ("Blocking OS calls"). The pod's /tmp is an emptyDir on the node's disk, where a
# slow or throttled volume would block the touch, and with it the worker, until the arbiter kills it as hung.
# Container runtimes mount /dev/shm in every container; elsewhere (macOS) gunicorn's default, the temp directory.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - a mount point, not a file name
accesslog = "-"
errorlog = "-"
logger_class = JsonAccessLogger
# The control socket would live under $HOME, which is read-only in the container.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory (files from a previous run would add stale counts), and open the
    probe port once, in the arbiter, so that every worker (and every replacement worker) inherits it."""
    global _probe_listener
    directory = prometheus_multiproc_dir()
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)
    _probe_listener = probes.listen(PROBE_PORT)


def post_worker_init(worker: Any) -> None:
    """Each worker answers probes from a thread of its own, next to the requests it serves. The app is loaded by
    now: what it loaded (modules, the app, its caches, about 100,000 objects) is moved out of the cycle collector's
    reach (`gc.freeze`), so the collector's full passes walk only what requests made since. Unfrozen, a full pass about
    every 3,000 requests walked all of it, about 20 µs a request on average (docs/capacity.md)."""
    gc.collect()
    gc.freeze()
    if _probe_listener is not None:
        probes.serve_in_background(_probe_listener, worker.wsgi)


def on_exit(server: Any) -> None:
    if _probe_listener is not None:
        _probe_listener.close()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges (in-flight, pool) must stop counting."""
    if prometheus_multiproc_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
