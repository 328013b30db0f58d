"""The load and custom-metrics stand-ins without a control plane: what a pod counts, the rate the adapter answers, the
API paths and errors the HPA controller sees. tests/live/test_event.py runs them with the real HPA controller."""

from __future__ import annotations

import pytest

from tools.cluster.fake_controllers import prometheus_adapter, traffic
from tools.cluster.fake_controllers.prometheus_adapter import METRIC, Adapter, Prometheus
from tools.cluster.fake_controllers.traffic import RequestCounters, probe_rate
from tools.manifests import kustomize_overlay

POD = ("notejam-prod", "notejam-abc")
PATH = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/notejam-prod/pods/%2A/{METRIC}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(traffic.time, "monotonic", clock)
    monkeypatch.setattr(prometheus_adapter.time, "monotonic", clock)
    return clock


def scraped(clock: Clock, counters: RequestCounters, prometheus: Prometheus, rates: list[float]) -> None:
    """One scrape per rate, `SCRAPE_SECONDS` apart, the pod serving that rate until the next."""
    for rate in rates:
        counters.advance({POD: rate})
        prometheus.scrape()
        clock.now += prometheus_adapter.SCRAPE_SECONDS
    counters.advance({POD: rates[-1]})
    prometheus.scrape()


def test_prod_pods_count_their_probes_as_requests() -> None:
    docs = kustomize_overlay("prod")
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    [ingress] = [d for d in docs if d["kind"] == "Ingress"]
    pod = {"spec": deployment["spec"]["template"]["spec"]}
    # readiness every 5 s, liveness every 10 s, the ALB's health check every 10 s (base/ingress.yaml)
    assert probe_rate(pod, ingress) == pytest.approx(1 / 5 + 1 / 10 + 1 / 10)


def test_the_rate_is_the_counters_increase_over_the_window(clock: Clock) -> None:
    counters, prometheus = RequestCounters(), None
    prometheus = Prometheus(counters)
    counters.advance({POD: 0.0})
    assert prometheus.rate(POD) is None  # no samples: no series
    scraped(clock, counters, prometheus, [20.0] * 10)
    assert prometheus.rate(POD) == pytest.approx(20.0)
    # A jump to 60/s shows gradually, and fully once the window holds only the new rate.
    scraped(clock, counters, prometheus, [60.0])
    assert 20.0 < prometheus.rate(POD) < 60.0
    scraped(clock, counters, prometheus, [60.0] * 6)
    assert prometheus.rate(POD) == pytest.approx(60.0)


class FakeKube:
    def __init__(self, pods: list[dict], hpas: list[dict]) -> None:
        self.found = {"/api/v1/namespaces/notejam-prod/pods": pods,
                      "/apis/autoscaling/v2/namespaces/notejam-prod/horizontalpodautoscalers": hpas}  # fmt: skip

    def items(self, path: str) -> list[dict]:
        return self.found[path]


def pod(name: str, labels: dict[str, str]) -> dict:
    return {"metadata": {"name": name, "namespace": "notejam-prod", "labels": labels}}


def adapter_with(clock: Clock, hpas: list[dict]) -> Adapter:
    counters = RequestCounters()
    prometheus = Prometheus(counters)
    scraped(clock, counters, prometheus, [12.5] * 5)
    pods = [pod("notejam-abc", {"app": "notejam"}), pod("notejam-new", {"app": "notejam"}), pod("other", {"app": "x"})]
    return Adapter(FakeKube(pods, hpas), prometheus)  # type: ignore[arg-type]


def test_the_adapter_answers_the_pods_of_the_selector_that_have_a_series(clock: Clock) -> None:
    code, body = adapter_with(clock, []).answer(PATH, {"labelSelector": ["app=notejam"]})
    assert code == 200 and body["kind"] == "MetricValueList"
    # notejam-new has no series yet (it has served nothing): left out, as prometheus-adapter leaves it out.
    assert [(i["describedObject"]["name"], i["value"]) for i in body["items"]] == [("notejam-abc", "12500m")]


def test_the_adapter_serves_discovery_and_refuses_other_paths_and_metrics(clock: Clock) -> None:
    adapter = adapter_with(clock, [])
    code, body = adapter.answer("/apis/custom.metrics.k8s.io/v1beta1", {})
    assert code == 200 and body["resources"][0]["name"] == f"pods/{METRIC}"
    assert adapter.answer(PATH.replace(METRIC, "cpu_seconds"), {})[0] == 404
    assert adapter.answer("/apis/custom.metrics.k8s.io/v1beta2", {})[0] == 404


def test_an_hpa_marked_failed_gets_a_prometheus_outage_for_its_pods_metric(clock: Clock) -> None:
    hpa = {"metadata": {"annotations": {"standin.notejam.io/fail": "Prometheus is down"}},
           "spec": {"metrics": [{"type": "Pods", "pods": {"metric": {"name": METRIC}}}]}}  # fmt: skip
    code, body = adapter_with(clock, [hpa]).answer(PATH, {"labelSelector": ["app=notejam"]})
    assert (code, body["message"]) == (503, "Prometheus is down")
