"""The prometheus-adapter rule turns what the app exports into the metric its HPA reads: both sides read, not copied."""

from __future__ import annotations

import re
from typing import Any

import pytest

from notejam.metrics import LABELS, REQUESTS_TOTAL
from tests.argocd.argo_objects import applications, helm_sources, helm_values, overlay_objects
from tools.repository import ENVIRONMENTS

# Labels Prometheus adds to every series it scrapes through a ServiceMonitor; the rule maps them to objects.
SCRAPE_LABELS = {"namespace", "pod", "service", "container", "endpoint", "job", "instance"}
SERIES_QUERY = re.compile(r"^(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<matchers>[^}]*)\})?$")


def adapter_rules(environment: str) -> list[dict[str, Any]]:
    values = helm_values(applications(environment)["prometheus-adapter"])
    assert values["rules"]["default"] is False, "only our rules: the defaults publish hundreds of unused metrics"
    return values["rules"]["custom"]


def series_metric(rule: dict[str, Any]) -> tuple[str, set[str]]:
    """The metric name of a rule's seriesQuery and the label names it matches on."""
    match = SERIES_QUERY.match(rule["seriesQuery"].strip())
    assert match, f"cannot read seriesQuery {rule['seriesQuery']!r}"
    matchers = match.group("matchers") or ""
    labels = {re.split(r"[=!~]", m.strip(), maxsplit=1)[0] for m in matchers.split(",") if m.strip()}
    return match.group("metric"), labels


def hpa_pods_metrics(environment: str) -> set[str]:
    """The Pods metric names the rendered HPAs of an environment scale on."""
    return {
        metric["pods"]["metric"]["name"]
        for doc in overlay_objects(environment)
        if doc["kind"] == "HorizontalPodAutoscaler"
        for metric in doc["spec"]["metrics"]
        if metric["type"] == "Pods"
    }


def rule_for(environment: str, metric: str) -> dict[str, Any]:
    rules = [rule for rule in adapter_rules(environment) if rule["name"]["as"] == metric]
    assert len(rules) == 1, f"{environment}: {len(rules)} prometheus-adapter rules expose {metric}"
    return rules[0]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pods_metric_of_the_hpa_is_served_by_a_rule(environment: str) -> None:
    metrics = hpa_pods_metrics(environment)
    assert metrics, f"{environment}: the HPA scales on a Pods metric too"
    for metric in metrics:
        rule_for(environment, metric)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rule_reads_the_request_counter_the_app_exports(environment: str) -> None:
    for metric in hpa_pods_metrics(environment):
        rule = rule_for(environment, metric)
        series, labels = series_metric(rule)
        assert series == REQUESTS_TOTAL
        assert re.fullmatch(rule["name"]["matches"], REQUESTS_TOTAL)
        # Only labels the series really carries: the app's own, or those the scrape adds.
        assert labels <= set(LABELS) | SCRAPE_LABELS, labels - set(LABELS) - SCRAPE_LABELS


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rule_maps_the_series_onto_pods_and_computes_a_per_pod_rate(environment: str) -> None:
    for metric in hpa_pods_metrics(environment):
        rule = rule_for(environment, metric)
        overrides = rule["resources"]["overrides"]
        assert overrides["namespace"] == {"resource": "namespace"}
        assert overrides["pod"] == {"resource": "pod"}
        _, labels = series_metric(rule)
        assert {"namespace", "pod"} <= labels, "series without a pod cannot be a Pods metric"
        query = rule["metricsQuery"]
        # A counter becomes per second with rate(); the adapter groups by pod through <<.GroupBy>>.
        assert "rate(<<.Series>>{<<.LabelMatchers>>}" in query and "by (<<.GroupBy>>)" in query
        assert metric.endswith("_per_second")


def test_the_apps_metric_labels_survive_the_scrape() -> None:
    """A label the scrape also sets (e.g. `endpoint`, the port name) would be stored as `exported_<label>`."""
    assert not set(LABELS) & SCRAPE_LABELS, set(LABELS) & SCRAPE_LABELS


def test_series_query_reader_sees_wrong_metric_and_labels() -> None:
    rule = {"seriesQuery": 'notejam_http_request_total{namespace!="",app="x"}'}
    metric, labels = series_metric(rule)
    assert metric != REQUESTS_TOTAL
    assert labels - set(LABELS) - SCRAPE_LABELS == {"app"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_adapter_queries_the_prometheus_of_kube_prometheus_stack(environment: str) -> None:
    apps = applications(environment)
    stack = apps["kube-prometheus-stack"]
    (chart,) = helm_sources(stack)
    release = chart["helm"]["releaseName"]
    namespace = stack["spec"]["destination"]["namespace"]
    values = helm_values(apps["prometheus-adapter"])
    assert values["prometheus"]["url"] == f"http://{release}-prometheus.{namespace}.svc"
    assert values["prometheus"]["port"] == 9090


def seconds(duration: str) -> int:
    """A Prometheus duration of one unit (`30s`, `2m`, `1h`) in seconds."""
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, f"cannot read duration {duration!r}"
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def of_kind(environment: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in overlay_objects(environment) if doc["kind"] == kind]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_scrape_attaches_pod_and_namespace_to_the_web_pods_series(environment: str) -> None:
    """A ServiceMonitor labels each series with the pod behind the Service endpoint it scraped, so its Service must
    select the web pods and expose the scraped port by name."""
    (monitor,) = of_kind(environment, "ServiceMonitor")
    services = [
        s
        for s in of_kind(environment, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= (s["metadata"].get("labels") or {}).items()
    ]
    assert len(services) == 1, f"{environment}: the ServiceMonitor selects {len(services)} Services"
    (service,) = services
    assert service["metadata"]["namespace"] == monitor["metadata"]["namespace"], "no namespaceSelector: same namespace"
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names
    pod_labels = next(d for d in of_kind(environment, "Deployment") if d["metadata"]["name"] == "notejam")["spec"][
        "template"
    ]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rate_window_spans_at_least_two_scrapes_and_sums_per_pod(environment: str) -> None:
    (monitor,) = of_kind(environment, "ServiceMonitor")
    interval = max(seconds(endpoint.get("interval", "30s")) for endpoint in monitor["spec"]["endpoints"])
    for metric in hpa_pods_metrics(environment):
        query = rule_for(environment, metric)["metricsQuery"]
        # rate() needs two samples in its window; the sum adds up the method/endpoint/status series of one pod.
        window = re.search(r"rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[(\w+)\]\)", query)
        assert window, query
        assert seconds(window.group(1)) >= 2 * interval
        assert query.replace(" ", "").startswith("sum(rate(")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_prometheus_selects_the_apps_service_monitor_and_rules(environment: str) -> None:
    """kube-prometheus-stack's default (`*SelectorNilUsesHelmValues: true`) selects only objects labelled
    `release: <release>`; the app's carry no such label, so the defaults must be off and no selector set."""
    stack = applications(environment)["kube-prometheus-stack"]
    (chart,) = helm_sources(stack)
    release = chart["helm"]["releaseName"]
    spec = helm_values(stack)["prometheus"]["prometheusSpec"]
    for kind, prefix in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "rule")):
        objects = of_kind(environment, kind)
        assert objects, f"{environment}: no {kind}"
        assert not spec.get(f"{prefix}Selector") and not spec.get(f"{prefix}NamespaceSelector"), kind
        for obj in objects:
            labelled = (obj["metadata"].get("labels") or {}).get("release") == release
            assert spec.get(f"{prefix}SelectorNilUsesHelmValues", True) is False or labelled, obj["metadata"]["name"]
