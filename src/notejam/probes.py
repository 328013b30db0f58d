"""Kubernetes probes on a port of their own, answered by a thread in every gunicorn worker.

Why not the request port: a sync worker serves one request at a time, so under a spike (or a slow database) the
kubelet's probe waits in the same queue as the pages, misses its timeout on every pod at once, and the pods turn
unready exactly when they are needed. A worker class with threads only moves the limit: once every thread is busy,
the probe queues again. Here the arbiter opens one listening socket (gunicorn_conf.on_starting) and every worker
accepts on it from a thread that does nothing else; a worker busy with a page still answers its probes, because
the page waits on the database or the network with the GIL released (and CPU-bound code yields it every 5 ms).

The probes still run the app's own /healthz and /readyz views: same checks, same metrics. A worker stuck in a
request is the arbiter's job (gunicorn's `timeout` kills it), not the probes'.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def listen(port: int, host: str = "0.0.0.0") -> socket.socket:  # noqa: S104 - the kubelet probes the pod's IP
    """The probe port's listening socket, opened once in the arbiter; the workers inherit it."""
    return socket.create_server((host, port), backlog=64)  # forked workers share it, as they share gunicorn's


def only_probes(app: WsgiApp) -> WsgiApp:
    """The app for the probe paths; a 404 for anything else (the pages are served on the request port only)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in PROBE_PATHS and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not a probe: /healthz and /readyz only.\n"]

    return wsgi


class _QuietHandler(WSGIRequestHandler):
    # A client that connects and sends nothing must not hold the worker's probe thread for ever.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a probe every few seconds per pod is not worth a log line; failures show in the kubelet's events


class _ProbeServer(WSGIServer):
    """wsgiref's server on a socket that is already listening (the inherited one)."""

    def __init__(self, listener: socket.socket, app: WsgiApp) -> None:
        super().__init__(listener.getsockname()[:2], _QuietHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.server_name, self.server_port = "localhost", listener.getsockname()[1]  # no DNS lookup (getfqdn)
        self.setup_environ()
        self.set_app(only_probes(app))

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a kubelet that hung up early: nothing to do, and no traceback on stderr


def serve_in_background(listener: socket.socket, app: WsgiApp) -> threading.Thread:
    """Answer probes on `listener` from a daemon thread (it ends with the worker)."""
    server = _ProbeServer(listener, app)
    thread = threading.Thread(target=server.serve_forever, name="probes", daemon=True)
    thread.start()
    return thread
