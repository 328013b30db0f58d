"""Stand-in for the users behind an Ingress: the load a test offers, spread by the load balancer over the ready pods.

A test (or someone at `make cluster`) offers load on an Ingress with two annotations: requests per second
(`OFFERED_ANNOTATION`) and the CPU milliseconds a request costs (`CPU_ANNOTATION`, what `make bench` measured). The
ALB sends traffic only to the targets that pass its health check, round robin (AWS Load Balancer Controller, target
type `ip`: the pods that are Ready and not terminating), so each such pod of the Ingress's backend Services gets an
equal share. What each pod then does is what the real pipeline measures:
- its CPU: `kwok.x-k8s.io/usage-cpu` (share x CPU per request: requests/s x ms = millicores), which kwok's
  `usage-from-annotation` ClusterResourceUsage turns into the kubelet's resource metrics that metrics-server scrapes
  (kwok kustomize/metrics/usage/usage-from-annotation.yaml, kustomize/metrics/resource/metrics-resource.yaml);
- its request counter, `notejam_http_requests_total` of the app (docs/interfaces.md), kept here per pod and
  scraped by the Prometheus stand-in in `prometheus_adapter`. The share is also written on the pod
  (`SHARE_ANNOTATION`), for people reading `kubectl get pod -o yaml`.
Probes are requests too: the app answers the kubelet's readiness and liveness probes and the ALB's health checks
with its own views, which count in the same counter (src/notejam/probes.py). So every running pod behind an Ingress
counts one request per probe period (the pod's `readinessProbe` and `livenessProbe`, the Ingress's
`alb.ingress.kubernetes.io/healthcheck-interval-seconds`, 15 s by default), load or not, as in a cluster; without
the load annotations that is all it serves, and kwok reports 1m of CPU for it.
"""

from __future__ import annotations

import threading
import time

from tools.cluster.fake_controllers.status import log
from tools.cluster.kube import Kube, Object

OFFERED_ANNOTATION = "standin.notejam.io/offered-requests-per-second"
CPU_ANNOTATION = "standin.notejam.io/cpu-ms-per-request"
SHARE_ANNOTATION = "standin.notejam.io/requests-per-second"
KWOK_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
ALB_HEALTHCHECK_INTERVAL = "alb.ingress.kubernetes.io/healthcheck-interval-seconds"
ALB_DEFAULT_INTERVAL = 15  # AWS Load Balancer Controller docs, guide/ingress/annotations.md
KUBELET_DEFAULT_PERIOD = 10  # a probe's periodSeconds default (core/v1 Probe)


def ready(pod: Object) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def running(pod: Object) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get("phase") == "Running"


def probe_rate(pod: Object, ingress: Object) -> float:
    """Requests/s that probes send a pod: the kubelet's readiness and liveness probes, the ALB's health check."""
    interval = (ingress["metadata"].get("annotations") or {}).get(ALB_HEALTHCHECK_INTERVAL, ALB_DEFAULT_INTERVAL)
    periods = [probe.get("periodSeconds", KUBELET_DEFAULT_PERIOD) for container in pod["spec"]["containers"]
               for probe in (container.get("readinessProbe"), container.get("livenessProbe")) if probe]  # fmt: skip
    return sum(1 / period for period in periods) + 1 / float(interval)


def matches(selector: dict[str, str], pod: Object) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


class RequestCounters:
    """Each pod's `notejam_http_requests_total`, as the app counts it: a monotonic counter from the pod's start."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals: dict[tuple[str, str], float] = {}
        self.rates: dict[tuple[str, str], float] = {}
        self.since = time.monotonic()

    def advance(self, rates: dict[tuple[str, str], float]) -> None:
        """Count the requests served since the last call at the rates then in force, then switch to `rates`."""
        with self.lock:
            now = time.monotonic()
            elapsed, self.since = now - self.since, now
            for pod, rate in self.rates.items():
                self.totals[pod] = self.totals.get(pod, 0.0) + rate * elapsed
            for pod in rates:
                self.totals.setdefault(pod, 0.0)
            self.rates = dict(rates)

    def snapshot(self) -> dict[tuple[str, str], float]:
        with self.lock:
            return dict(self.totals)

    def forget(self, alive: set[tuple[str, str]]) -> None:
        """A deleted pod's series ends (Prometheus marks it stale)."""
        with self.lock:
            for pod in set(self.totals) - alive:
                self.totals.pop(pod, None)
                self.rates.pop(pod, None)


class Traffic:
    def __init__(self, kube: Kube, counters: RequestCounters) -> None:
        self.kube = kube
        self.counters = counters
        self.written: dict[tuple[str, str], tuple[str, str]] = {}

    def reconcile(self) -> None:
        rates: dict[tuple[str, str], float] = {}
        alive: set[tuple[str, str]] = set()
        targeted: set[tuple[str, str]] = set()
        for ingress in self.kube.items("/apis/networking.k8s.io/v1/ingresses"):
            annotations = ingress["metadata"].get("annotations") or {}
            namespace = ingress["metadata"]["namespace"]
            pods = self.kube.items(f"/api/v1/namespaces/{namespace}/pods")
            alive |= {(namespace, pod["metadata"]["name"]) for pod in pods}
            backends = [pod for service in self.backend_services(ingress) for pod in pods
                        if matches(service["spec"].get("selector") or {}, pod) and running(pod)]  # fmt: skip
            for pod in backends:
                rates[(namespace, pod["metadata"]["name"])] = probe_rate(pod, ingress)
            if OFFERED_ANNOTATION not in annotations:
                continue
            offered = float(annotations[OFFERED_ANNOTATION])
            cpu_ms = float(annotations.get(CPU_ANNOTATION, "0"))
            targets = [pod for pod in backends if ready(pod)]
            share = offered / len(targets) if targets else 0.0
            for pod in targets:
                key = (namespace, pod["metadata"]["name"])
                rates[key] += share
                self.annotate(key, f"{share:.3f}", f"{max(share * cpu_ms, 1):.0f}m")
                targeted.add(key)
        for key in [key for key in self.written if key in alive and key not in targeted]:
            self.annotate(key, "0.000", "1m")  # out of the target group (not Ready, terminating): no traffic
        self.counters.advance(rates)
        self.counters.forget(alive | set(rates))
        self.written = {key: value for key, value in self.written.items() if key in alive}

    def backend_services(self, ingress: Object) -> list[Object]:
        namespace = ingress["metadata"]["namespace"]
        paths = [
            path for rule in ingress["spec"].get("rules") or [] for path in (rule.get("http") or {}).get("paths") or []
        ]
        names = {path["backend"]["service"]["name"] for path in paths if "service" in path.get("backend", {})}
        found = [self.kube.get(f"/api/v1/namespaces/{namespace}/services/{name}") for name in sorted(names)]
        return [service for service in found if service is not None]

    def annotate(self, key: tuple[str, str], share: str, cpu: str) -> None:
        if self.written.get(key) == (share, cpu):
            return
        namespace, name = key
        patch = {"metadata": {"annotations": {SHARE_ANNOTATION: share, KWOK_CPU_ANNOTATION: cpu}}}
        self.kube.merge_patch(f"/api/v1/namespaces/{namespace}/pods/{name}", patch)
        if self.written.get(key, ("",))[0] != share:
            log("traffic", f"Pod {namespace}/{name}: {share} requests/s, {cpu} CPU")
        self.written[key] = (share, cpu)
