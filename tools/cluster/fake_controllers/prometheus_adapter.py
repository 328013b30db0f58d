"""Stand-in for Prometheus and prometheus-adapter: the custom metrics API (`custom.metrics.k8s.io/v1beta1`) that the
real HPA controller reads the Notejam request rate from. prometheus-adapter is not served by the Go module proxy, so
it cannot run here; metrics-server (CPU) is real.

What it does, as the real pair does with apps/addons/prometheus-adapter.yaml:
- Prometheus scrapes each pod's `notejam_http_requests_total` (kept by the `traffic` stand-in) every
  `SCRAPE_SECONDS`; a pod that has served nothing has no series, a deleted pod's series ends.
- The adapter answers `GET /apis/custom.metrics.k8s.io/v1beta1/namespaces/<ns>/pods/*/notejam_http_requests_per_second
  ?labelSelector=...` with `sum(rate(notejam_http_requests_total[<window>])) by (pod)` for the pods of the selector
  that have a series with two samples in the window (prometheus-adapter pkg/custom-provider/provider.go returns only
  the series Prometheus found; the HPA then treats the missing pods as the controller does). The rate is the
  increase over the window's first and last samples divided by their distance (Prometheus promql/functions.go
  `extrapolatedRate` also extrapolates to the window's edges; for a steady rate the two agree).
- Discovery (`/apis/custom.metrics.k8s.io/v1beta1`) lists the metric, which is what the aggregator's availability
  check and the HPA's client ask first. The APIService (v1beta1.custom.metrics.k8s.io, as the chart registers it)
  points at a Service of type ExternalName `localhost`, as kwokctl registers metrics-server's.
Times are divided by `TIME_SCALE` like the other stand-ins' durations: the chart's 30 s scrape and the 2m window of
our rule become 3 s and 12 s; tests/live/test_event.py divides the HPA's own windows and periods by the same.
An HPA annotated `standin.notejam.io/fail: "<message>"` gets that message as an error for its Pods metrics (a
Prometheus outage), which the HPA reports as `FailedGetPodsMetric`.
Requests are not authenticated (the real adapter checks the aggregator's front-proxy certificate): it listens on
127.0.0.1 only.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tools.cluster.fake_controllers.status import FAIL_ANNOTATION, TIME_SCALE, log, timestamp
from tools.cluster.fake_controllers.traffic import RequestCounters
from tools.cluster.kube import Kube, Object

GROUP, VERSION = "custom.metrics.k8s.io", "v1beta1"
METRIC = "notejam_http_requests_per_second"  # the rule's `as:` in apps/addons/prometheus-adapter.yaml
SCRAPE_SECONDS = 30 / TIME_SCALE
WINDOW_SECONDS = 120 / TIME_SCALE
SERVICE = {"namespace": "kube-system", "name": "prometheus-adapter"}


def api_objects(port: int) -> list[Object]:
    """The APIService and its ExternalName Service (kwokctl's pattern for metrics-server, components/
    metrics_server_apiservice.yaml.tpl)."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": dict(SERVICE),
         "spec": {"type": "ExternalName", "externalName": "localhost"}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": f"{VERSION}.{GROUP}"},
         "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 100, "versionPriority": 100,
                  "insecureSkipTLSVerify": True, "service": {**SERVICE, "port": port}}},
    ]  # fmt: skip


class Prometheus:
    """The scraped samples of each pod's counter, `SCRAPE_SECONDS` apart, kept for one window."""

    def __init__(self, counters: RequestCounters) -> None:
        self.counters = counters
        self.lock = threading.Lock()
        self.samples: dict[tuple[str, str], deque[tuple[float, float]]] = {}

    def scrape(self) -> None:
        now, totals = time.monotonic(), self.counters.snapshot()
        with self.lock:
            for pod in set(self.samples) - set(totals):
                del self.samples[pod]
            for pod, total in totals.items():
                series = self.samples.setdefault(pod, deque())
                series.append((now, total))
                while series and series[0][0] < now - WINDOW_SECONDS:
                    series.popleft()

    def rate(self, pod: tuple[str, str]) -> float | None:
        with self.lock:
            series = list(self.samples.get(pod, ()))
        if len(series) < 2:
            return None
        (first_t, first), (last_t, last) = series[0], series[-1]
        return (last - first) / (last_t - first_t)

    def run(self) -> None:
        while True:
            self.scrape()
            time.sleep(SCRAPE_SECONDS)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors (`a=b,c=d`), which is what the HPA sends for a Deployment's matchLabels."""
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.lstrip("=").strip():
            return False
    return True


class Adapter:
    def __init__(self, kube: Kube, prometheus: Prometheus) -> None:
        self.kube = kube
        self.prometheus = prometheus

    def discovery(self) -> dict[str, Any]:
        resource = {"name": f"pods/{METRIC}", "singularName": "", "namespaced": True, "kind": "MetricValueList",
                    "verbs": ["get"]}  # fmt: skip
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
                "resources": [resource]}  # fmt: skip

    def outage(self, namespace: str) -> str | None:
        for hpa in self.kube.items(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"):
            metrics = [m.get("pods", {}).get("metric", {}).get("name") for m in hpa["spec"].get("metrics") or []]
            message = (hpa["metadata"].get("annotations") or {}).get(FAIL_ANNOTATION)
            if message and METRIC in metrics:
                return message
        return None

    def pod_metrics(self, namespace: str, selector: str) -> dict[str, Any]:
        items = []
        for pod in self.kube.items(f"/api/v1/namespaces/{namespace}/pods"):
            name = pod["metadata"]["name"]
            rate = self.prometheus.rate((namespace, name))
            if rate is None or not selector_matches(selector, pod["metadata"].get("labels") or {}):
                continue
            items.append({
                "describedObject": {"kind": "Pod", "namespace": namespace, "name": name, "apiVersion": "/v1"},
                "metricName": METRIC, "timestamp": timestamp(), "window": int(WINDOW_SECONDS),
                "value": f"{round(rate * 1000)}m",
            })  # fmt: skip
        return {"kind": "MetricValueList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {}, "items": items}

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = unquote(path).strip("/").split("/")  # the aggregator sends `*` as %2A
        if parts == ["apis", GROUP, VERSION]:
            return 200, self.discovery()
        # apis/<group>/<version>/namespaces/<ns>/pods/*/<metric>
        if len(parts) == 8 and parts[:3] == ["apis", GROUP, VERSION] and parts[3] == "namespaces" \
                and parts[5] == "pods" and parts[6] == "*":  # fmt: skip
            namespace, metric = parts[4], parts[7]
            if metric != METRIC:
                return 404, status(404, "NotFound", f"the server could not find the metric {metric} for pods")
            message = self.outage(namespace)
            if message:
                return 503, status(503, "ServiceUnavailable", message)
            return 200, self.pod_metrics(namespace, query.get("labelSelector", [""])[0])
        return 404, status(404, "NotFound", "the server could not find the requested resource")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip


def serve(adapter: Adapter, port: int, certificate: Path, key: Path) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            try:
                code, body = adapter.answer(url.path, parse_qs(url.query))
            except Exception as error:
                code, body = 500, status(500, "InternalError", str(error))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="prometheus-adapter", daemon=True).start()
    log("prometheus-adapter", f"serving {GROUP}/{VERSION} on 127.0.0.1:{port}")
    return server
