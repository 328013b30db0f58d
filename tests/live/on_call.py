"""The on-call tool's webhook, for the live tests: an HTTP server on the control plane's `on-call` port that keeps
every JSON body Argo CD Notifications posts (apps/argocd/values.yaml: `service.webhook.on-call`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OnCallReceiver:
    def __init__(self, port: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(body)
                except ValueError:
                    message = {"unparsed": body.decode(errors="replace")}
                with receiver.lock:
                    receiver.messages.append(message)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.port, self.handler = port, Handler
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> OnCallReceiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="on-call", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def received(self, **fields: str) -> list[dict[str, Any]]:
        """The messages whose fields have these values."""
        with self.lock:
            return [m for m in self.messages if all(m.get(k) == v for k, v in fields.items())]
