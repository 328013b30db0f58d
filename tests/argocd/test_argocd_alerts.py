"""Argo CD's alerts on Applications (`controller.metrics.rules` of apps/argocd/values.yaml), evaluated by Prometheus's
rule engine (promtool) on argocd_app_info series labelled as Argo CD v3.6.1 exports them (controller/metrics/
metrics.go), and the wiring that lets the cluster's Prometheus scrape the controller and load the rules.

argocd_app_info is 1, with an Application's state in its labels: each case is a sequence of states, one series each.
An alert fires once the state it names has lasted past its `for:`, however the other labels change meanwhile, and
never for the states a normal sync or rollout goes through.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argocd.argo_objects import applications, helm_sources, helm_values
from tests.manifests.test_alert_rules import promtool, run_unit_test, unit_test
from tools.repository import ENVIRONMENTS, REPO_ROOT

VALUES = REPO_ROOT / "apps" / "argocd" / "values.yaml"
# One Application's argocd_app_info as Prometheus stores it: the target's labels (the chart's metrics Service), and
# Argo CD's, whose `namespace` (the Application's) the scrape keeps as exported_namespace.
APPLICATION = {
    "job": "argocd-application-controller-metrics",
    "namespace": "argocd",
    "exported_namespace": "argocd",
    "name": "notejam",
    "project": "notejam",
    "autosync_enabled": "true",
    "repo": "https://github.com/notejam/notejam-gitops",
    "dest_server": "https://kubernetes.default.svc",
    "dest_namespace": "notejam-prod",
}
IDENTITY = {key: APPLICATION[key] for key in ("name", "project", "dest_namespace")}

# The states a sync goes through (sync_status, health_status, operation, phase).
SYNCED = {"sync": "Synced", "health": "Healthy"}
NEW_COMMIT = {"sync": "OutOfSync", "health": "Healthy"}  # seen by the controller, auto-sync about to start
SYNCING = {"sync": "OutOfSync", "health": "Healthy", "operation": "sync", "phase": "Running"}  # retries included
ROLLING_OUT = {"sync": "Synced", "health": "Progressing", "operation": "sync", "phase": "Running"}


def argocd_rules() -> list[dict[str, Any]]:
    """The rules the chart copies into the application controller's PrometheusRule."""
    return yaml.safe_load(VALUES.read_text())["controller"]["metrics"]["rules"]["spec"]


def rule(alert: str) -> dict[str, Any]:
    (found,) = [r for r in argocd_rules() if r.get("alert") == alert]
    return found


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "argocd-rules.yaml"
    # The chart's group (templates/argocd-application-controller/prometheusrule.yaml).
    path.write_text(yaml.safe_dump({"groups": [{"name": "argocd", "rules": argocd_rules()}]}))
    return path


def app_info(sync: str, health: str, operation: str = "", phase: str = "Succeeded") -> str:
    labels = {**APPLICATION, "sync_status": sync, "health_status": health, "operation": operation, "phase": phase}
    return "argocd_app_info{" + ", ".join(f'{k}="{v}"' for k, v in labels.items() if v) + "}"


def timeline(*states: tuple[int, dict[str, str]]) -> list[dict[str, str]]:
    """input_series of an Application in each state for so many minutes, one after the other: a series is 1 while
    its state lasts and stale right after (what Prometheus records when a scrape no longer has it)."""
    minutes = sum(length for length, _ in states)
    values: dict[str, list[str]] = {}
    start = 0
    for length, state in states:
        series = values.setdefault(app_info(**state), ["_"] * (minutes + 1))
        series[start : start + length] = ["1"] * length
        if series[start + length] == "_":
            series[start + length] = "stale"
        start += length
    return [{"series": name, "values": " ".join(samples)} for name, samples in values.items()]


def rendered(template: str, labels: dict[str, str]) -> str:
    """An annotation as Prometheus renders it; `{{ $labels.x }}` is the only template construct the rules use."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match[1]], template)


def test_the_rules_are_valid_promql(rules_file: Path) -> None:
    assert [r["alert"] for r in argocd_rules()], "no alerts"
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


# alert, the states, the minute it fires at (not a minute earlier), the state labels it carries
FIRING = [
    pytest.param(
        "ArgoCDApplicationOutOfSync",
        # A commit whose sync fails: retried for 25 minutes, then given up. The labels change thrice; 30 minutes
        # after the commit was seen, the alert fires.
        [(5, SYNCED), (1, NEW_COMMIT), (25, SYNCING), (20, {**NEW_COMMIT, "phase": "Failed"})],
        35,
        {"sync_status": "OutOfSync"},
        id="OutOfSync-through-retries",
    ),
    pytest.param(
        "ArgoCDApplicationOutOfSync",
        # A commit whose manifests cannot be generated: sync status Unknown, nothing is applied.
        [(5, SYNCED), (40, {"sync": "Unknown", "health": "Healthy"})],
        35,
        {"sync_status": "Unknown"},
        id="commit-that-cannot-render",
    ),
    *[
        pytest.param(
            "ArgoCDApplicationUnhealthy",
            # Unhealthy, and 8 minutes later a sync starts (and retries) without changing that.
            [(5, SYNCED), (8, {"sync": "Synced", "health": health}), (20, {**SYNCING, "health": health})],
            20,
            {"health_status": health},
            id=health,
        )
        for health in ("Degraded", "Missing", "Unknown")
    ],
]


@pytest.mark.parametrize(("alert", "states", "minute", "state"), FIRING)
def test_alert_fires_once_its_state_has_lasted(
    alert: str, states: list, minute: int, state: dict[str, str], rules_file: Path, tmp_path: Path
) -> None:
    labels = {**IDENTITY, **state, **rule(alert)["labels"]}
    annotations = {name: rendered(text, labels) for name, text in rule(alert)["annotations"].items()}
    (value,) = state.values()
    for name in ("summary", "description"):
        assert "notejam" in annotations[name], f"{alert}: the {name} does not name the application"
        assert value in annotations[name], f"{alert}: the {name} does not name the state"
    expected = [{"exp_labels": labels, "exp_annotations": annotations}]
    test = unit_test(rules_file, timeline(*states), alert, expected, at=f"{minute}m")
    test["tests"][0]["alert_rule_test"].insert(0, {"eval_time": f"{minute - 1}m", "alertname": alert, "exp_alerts": []})
    result = run_unit_test(tmp_path, test)
    assert result.returncode == 0, result.stdout + result.stderr


# alert, the states during which it must never fire
QUIET = [
    *[pytest.param(r["alert"], [(60, SYNCED)], id=f"{r['alert']}-synced-healthy") for r in argocd_rules()],
    pytest.param(
        "ArgoCDApplicationOutOfSync",
        # A slow release: a migration near its 10-minute deadline and a retry, then the rollout.
        [(5, SYNCED), (1, NEW_COMMIT), (20, SYNCING), (15, ROLLING_OUT), (10, SYNCED)],
        id="slow-sync",
    ),
    pytest.param(
        "ArgoCDApplicationUnhealthy",
        # Progressing for 40 minutes: a long rollout, or RDS being created.
        [(5, SYNCED), (2, SYNCING), (40, ROLLING_OUT), (10, SYNCED)],
        id="rollout",
    ),
    pytest.param("ArgoCDApplicationUnhealthy", [(60, {"sync": "Synced", "health": "Suspended"})], id="suspended"),
    pytest.param(
        "ArgoCDApplicationUnhealthy",
        # Degraded for 10 minutes (an add-on's pods restarting, an HPA's metrics late), then healthy again.
        [(5, SYNCED), (10, {"sync": "Synced", "health": "Degraded"}), (20, SYNCED)],
        id="degraded-briefly",
    ),
]


@pytest.mark.parametrize(("alert", "states"), QUIET)
def test_alert_stays_quiet(alert: str, states: list, rules_file: Path, tmp_path: Path) -> None:
    minutes = sum(length for length, _ in states)
    test = unit_test(rules_file, timeline(*states), alert, expected=[])
    test["tests"][0]["alert_rule_test"] = [
        {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": []} for minute in range(minutes + 1)
    ]
    result = run_unit_test(tmp_path, test)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def controller_metrics(environment: str) -> dict[str, Any]:
    """`controller.metrics` of the values the cluster's `argocd` Application gives the chart."""
    return helm_values(applications(environment)["argocd"])["controller"]["metrics"]


def prometheus_selector(environment: str, kind: str) -> dict[str, str]:
    """The labels the cluster's Prometheus requires of a ServiceMonitor (`kind` "serviceMonitor") or a
    PrometheusRule ("rule"), as kube-prometheus-stack writes its selector (templates/prometheus/prometheus.yaml):
    `<kind>Selector` if set; else `release: <release name>` unless `<kind>SelectorNilUsesHelmValues` is false
    (the chart's default is true); else none. Its namespace selector must take every namespace, argocd included."""
    application = applications(environment)["kube-prometheus-stack"]
    spec = helm_values(application)["prometheus"]["prometheusSpec"]
    assert not spec.get(f"{kind}NamespaceSelector"), f"{kind}NamespaceSelector: is namespace argocd selected?"
    if spec.get(f"{kind}Selector"):
        return spec[f"{kind}Selector"]["matchLabels"]
    if spec.get(f"{kind}SelectorNilUsesHelmValues", True):
        (chart,) = helm_sources(application)
        return {"release": chart["helm"]["releaseName"]}
    return {}


def test_the_controller_exports_metrics_with_a_servicemonitor_and_rules(environment: str) -> None:
    metrics = controller_metrics(environment)
    assert metrics["enabled"] is True, "no metrics Service"
    assert metrics["serviceMonitor"]["enabled"] is True
    assert metrics["rules"]["enabled"] is True
    assert metrics["rules"]["spec"] == argocd_rules()


@pytest.mark.parametrize(("kind", "values_key"), [("serviceMonitor", "serviceMonitor"), ("rule", "rules")])
def test_the_clusters_prometheus_selects_them(environment: str, kind: str, values_key: str) -> None:
    ours = controller_metrics(environment)[values_key]
    # The chart adds both to the object's labels (templates/argocd-application-controller/*.yaml).
    labels = {**(ours.get("selector") or {}), **(ours.get("additionalLabels") or {})}
    required = prometheus_selector(environment, kind)
    assert required.items() <= labels.items(), f"{values_key} needs the labels {required}"
