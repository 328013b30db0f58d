"""The 4x event on prod's control plane, scaled by the real HPA controller (kube-controller-manager), which reads CPU
from the real metrics-server (kwok reporting each pod's CPU) and the request rate from the Prometheus and
prometheus-adapter stand-in (tools/cluster/fake_controllers/prometheus_adapter.py).

The load: normal traffic (`tools.capacity.NORMAL_RPS`), then 4 times that, then normal again, offered on the
Ingress and spread by the ALB stand-in over the ready pods (fake_controllers/traffic.py); each request costs the CPU
that `make bench` measured (docs/bench.json). The HPA is prod's, rendered from overlays/prod (targets, min, max,
policies), with its windows and periods divided by the stand-ins' TIME_SCALE, committed to the served repository so
that Argo CD syncs it. The test records replicas, CPU per pod, what the HPA reported and Notejam's health in Argo CD
every second, writes them to `tools.capacity.EVENT_FILE` (docs/capacity.md plots them) and checks that prod reaches
the replicas the event needs before CPU per pod passes the point where latency degrades, never exceeds maxReplicas,
and scales back down only after the stabilization window. With a maxReplicas too small for the event, that check
fails.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.conftest import LiveCluster, say
from tools import capacity
from tools.cluster.fake_controllers.status import TIME_SCALE, conditions_of
from tools.cluster.fake_controllers.traffic import CPU_ANNOTATION, OFFERED_ANNOTATION
from tools.cluster.kube import Kube, Object
from tools.cluster.served_repo import commit, revert
from tools.cluster.sync import APPLICATIONS, push_webhook, wait_until
from tools.manifests import kustomize_overlay
from tools.repository import REPO_ROOT

pytestmark = [pytest.mark.control_plane, pytest.mark.parametrize("live", ["prod"], indirect=True)]

BENCH = REPO_ROOT / "docs" / "bench.json"
HPA = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/notejam"
# Phases of the run, in the plane's scaled seconds (normal traffic long enough for the rate window and a few HPA
# syncs; the event as long as 10 minutes of real time).
NORMAL_SECONDS = 25
EVENT_SECONDS = 600 / TIME_SCALE
SCALE_DOWN_TIMEOUT = 300
TOO_FEW_REPLICAS = 6


def prod_hpa() -> Object:
    [hpa] = [d for d in kustomize_overlay("prod") if d["kind"] == "HorizontalPodAutoscaler"]
    return hpa


def scaled(behavior: Object) -> Object:
    """The HPA's behavior with its stabilization windows and policy periods divided by TIME_SCALE."""
    result = json.loads(json.dumps(behavior))
    for direction in result.values():
        if "stabilizationWindowSeconds" in direction:
            direction["stabilizationWindowSeconds"] = direction["stabilizationWindowSeconds"] // TIME_SCALE
        for policy in direction.get("policies") or []:
            policy["periodSeconds"] = max(policy["periodSeconds"] // TIME_SCALE, 1)
    return result


def patch_prod_hpa(copy: Path, operations: list[Object], message: str) -> str:
    """A JSON6902 patch of the HPA appended to overlays/prod's patches, as a commit to the served repository."""
    path = copy / "overlays" / "prod" / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization["patches"].append({
        "target": {"kind": "HorizontalPodAutoscaler", "name": "notejam"},
        "patch": yaml.safe_dump(operations, sort_keys=False),
    })  # fmt: skip
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return commit(copy, message)


def synced_at(kube: Kube, revision: str, hpa_ready: Any) -> None:
    push_webhook(kube)

    def done() -> bool:
        app = kube.get(f"{APPLICATIONS}/notejam") or {}
        status = app.get("status") or {}
        synced = status.get("sync", {}).get("revision") == revision and status.get("sync", {}).get("status") == "Synced"
        return synced and hpa_ready(kube.get(HPA.format(ns="notejam-prod")))

    wait_until(f"notejam Synced at {revision[:12]}", done, timeout=180)


def millicores(quantity: str) -> float:
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


@dataclass
class Recorder:
    """One sample a second of what the HPA, metrics-server and Argo CD report, on a thread."""

    kube: Kube
    namespace: str
    offered: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, Any]:
        ns = self.namespace
        deployment = self.kube.get(f"/apis/apps/v1/namespaces/{ns}/deployments/notejam") or {}
        hpa = self.kube.get(HPA.format(ns=ns)) or {}
        usage = self.kube.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector="
                              "app.kubernetes.io/component%3Dweb") or {}  # fmt: skip
        cpu = [sum(millicores(c["usage"]["cpu"]) for c in pod["containers"]) for pod in usage.get("items") or []]
        metrics = (hpa.get("status") or {}).get("currentMetrics") or []
        rate = [m["pods"]["current"]["averageValue"] for m in metrics if m.get("type") == "Pods"]
        app = self.kube.get(f"{APPLICATIONS}/notejam") or {}
        return {
            "t": round(time.monotonic() - self.started, 1),
            "offered_rps": self.offered,
            "replicas": (deployment.get("spec") or {}).get("replicas"),
            "ready": (deployment.get("status") or {}).get("readyReplicas", 0),
            "cpu_millicores_per_pod": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "hpa_desired": (hpa.get("status") or {}).get("desiredReplicas"),
            "rps_per_pod_metric": round(millicores(rate[0]) / 1000, 2) if rate else None,
            "hpa_conditions": {k: v.get("reason") for k, v in conditions_of(hpa).items()},
            "argocd_health": ((app.get("status") or {}).get("health") or {}).get("status"),
        }

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(self.sample())
            self.stop.wait(1)

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Event:
    replicas_needed: int
    min_replicas: int
    max_replicas: int
    degrade_millicores: float
    window: int  # the scaled scale-down stabilization window
    start: float
    end: float
    samples: list[dict[str, Any]]
    cpu_ms: float
    cpu_source: str
    normal: float


def check_event(event: Event) -> None:
    """What prod must do through the event (the assertions of the live run; the negative control expects them to
    fail)."""
    during = [s for s in event.samples if s["t"] >= event.start]
    reached = next((s["t"] for s in during if (s["ready"] or 0) >= event.replicas_needed), None)
    degraded = next((s["t"] for s in during
                     if (s["cpu_millicores_per_pod"] or 0) > event.degrade_millicores), None)  # fmt: skip
    assert reached is not None and reached <= event.end, (
        f"prod never had the {event.replicas_needed} ready pods the event needs (peak "
        f"{max(s['ready'] or 0 for s in during)}, maxReplicas {event.max_replicas})"
    )
    assert degraded is None or degraded > reached, (
        f"CPU per pod passed {event.degrade_millicores:g}m at {degraded:.0f} s, before prod reached "
        f"{event.replicas_needed} pods at {reached:.0f} s"
    )
    peak = max(s["replicas"] or 0 for s in event.samples)
    assert peak <= event.max_replicas, f"{peak} replicas, above maxReplicas {event.max_replicas}"
    unhealthy = [
        (s["t"], s["argocd_health"]) for s in event.samples if s["argocd_health"] not in ("Healthy", "Progressing")
    ]
    assert not unhealthy, f"Notejam's health in Argo CD left Healthy/Progressing: {unhealthy[:5]}"


def check_scale_down(event: Event) -> None:
    after = [s for s in event.samples if s["t"] >= event.end]
    first_down = next((s["t"] for s in after if (s["replicas"] or 0) < event.replicas_needed), None)
    assert first_down is not None, "prod never scaled down after the event"
    assert first_down >= event.end + event.window, (
        f"scaled down at {first_down - event.end:.0f} s after the event, inside the {event.window} s window"
    )
    assert after[-1]["replicas"] == event.min_replicas, f"ended at {after[-1]['replicas']} replicas"


def offer(kube: Kube, recorder: Recorder, rps: float, cpu_ms: float) -> None:
    recorder.offered = rps
    annotations = {OFFERED_ANNOTATION: f"{rps:g}", CPU_ANNOTATION: f"{cpu_ms:.3f}"}
    kube.merge_patch(f"/apis/networking.k8s.io/v1/namespaces/{recorder.namespace}/ingresses/notejam",
                     {"metadata": {"annotations": annotations}})  # fmt: skip


@pytest.fixture(scope="module")
def scaled_hpa(live: LiveCluster, request: pytest.FixtureRequest) -> Iterator[Object]:
    """Prod's HPA with its windows and periods scaled, synced by Argo CD; reverted afterwards."""
    behavior = scaled(prod_hpa()["spec"]["behavior"])
    copy = live.plane.served_copy
    message = f"Event test: prod's HPA with its windows and periods divided by {TIME_SCALE}"
    scaling = patch_prod_hpa(copy, [{"op": "replace", "path": "/spec/behavior", "value": behavior}], message)
    synced_at(live.kube, scaling, lambda hpa: hpa["spec"]["behavior"] == behavior)
    say(request.config, f"prod: HPA behaviour scaled by 1/{TIME_SCALE}, synced")
    yield behavior
    synced_at(live.kube, revert(copy, scaling), lambda hpa: hpa["spec"]["behavior"] == prod_hpa()["spec"]["behavior"])


def run_event(live: LiveCluster, config: pytest.Config) -> Event:
    """Normal traffic, the event, normal traffic until the HPA is back at minReplicas (after its window)."""
    kube, namespace = live.kube, live.notejam_namespace()
    prod = capacity.load_prod()
    hpa = kube.get(HPA.format(ns=namespace))
    cpu_ms, source = capacity.cpu_ms_per_request(BENCH, prod.cpu_request)
    normal = capacity.NORMAL_RPS
    peak = normal * capacity.EVENT_FACTOR
    recorder = Recorder(kube, namespace)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    try:
        offer(kube, recorder, normal, cpu_ms)
        time.sleep(NORMAL_SECONDS)
        start = recorder.now()
        say(config, f"prod: event, {peak:g} req/s at {cpu_ms:.2f} ms CPU each ({source})")
        offer(kube, recorder, peak, cpu_ms)
        time.sleep(EVENT_SECONDS)
        end = recorder.now()
        offer(kube, recorder, normal, cpu_ms)
        window = hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
        say(config, f"prod: back to {normal:g} req/s; waiting for the scale-down after the {window} s window")
        wait_until("prod back at minReplicas", lambda: recorder.samples[-1]["replicas"] == hpa["spec"]["minReplicas"]
                   and recorder.now() > end + window, timeout=SCALE_DOWN_TIMEOUT, every=1)  # fmt: skip
        time.sleep(3)
    finally:
        recorder.stop.set()
        thread.join()
        kube.merge_patch(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/notejam",
                         {"metadata": {"annotations": {OFFERED_ANNOTATION: None, CPU_ANNOTATION: None}}})  # fmt: skip
    needed = capacity.replicas_needed(prod, peak, cpu_ms)
    return Event(needed, hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"], capacity.degrade_millicores(prod),
                 window, start, end, recorder.samples, cpu_ms, source, normal)  # fmt: skip


def write_event(event: Event) -> None:
    capacity.EVENT_FILE.parent.mkdir(parents=True, exist_ok=True)
    capacity.EVENT_FILE.write_text(json.dumps({
        "environment": "prod", "time_scale": TIME_SCALE, "cpu_ms_per_request": event.cpu_ms,
        "cpu_source": event.cpu_source, "normal_rps": event.normal, "factor": capacity.EVENT_FACTOR,
        "min_replicas": event.min_replicas, "max_replicas": event.max_replicas,
        "replicas_needed": event.replicas_needed, "degrade_millicores": event.degrade_millicores,
        "phases": {"event_start": event.start, "event_end": event.end}, "samples": event.samples,
    }, indent=1) + "\n")  # fmt: skip


def test_prod_carries_a_4x_event_on_the_real_hpa_and_scales_back_after_the_window(
    live: LiveCluster, scaled_hpa: Object, request: pytest.FixtureRequest
) -> None:
    event = run_event(live, request.config)
    write_event(event)
    say(request.config, f"prod: event recorded in {capacity.EVENT_FILE}")
    target = float(prod_hpa()["spec"]["metrics"][0]["pods"]["target"]["averageValue"])
    assert event.replicas_needed == math.ceil(capacity.NORMAL_RPS * capacity.EVENT_FACTOR / target)
    check_event(event)
    check_scale_down(event)


def test_with_a_maxreplicas_too_small_for_the_event_the_check_fails(
    live: LiveCluster, scaled_hpa: Object, request: pytest.FixtureRequest
) -> None:
    copy = live.plane.served_copy
    revision = patch_prod_hpa(copy, [{"op": "replace", "path": "/spec/maxReplicas", "value": TOO_FEW_REPLICAS}],
                              f"Negative control: maxReplicas {TOO_FEW_REPLICAS}, too few for the event")  # fmt: skip
    try:
        synced_at(live.kube, revision, lambda hpa: hpa["spec"]["maxReplicas"] == TOO_FEW_REPLICAS)
        event = run_event(live, request.config)
        assert max(s["replicas"] or 0 for s in event.samples) == TOO_FEW_REPLICAS  # the HPA went as far as allowed
        with pytest.raises(AssertionError, match="never had the 10 ready pods the event needs"):
            check_event(event)
    finally:
        synced_at(
            live.kube,
            revert(copy, revision),
            lambda hpa: hpa["spec"]["maxReplicas"] == prod_hpa()["spec"]["maxReplicas"],
        )
