"""The PrometheusRule's alerts, evaluated by Prometheus's own rule engine (promtool) on synthetic series.

Each alert fires on the situation it names and stays quiet on a healthy one; a typo in a metric or label name
makes an alert silently never fire, which only evaluating it shows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from notejam import metrics
from tools.manifests import Document
from tools.repository import ENVIRONMENTS

REQUESTS = f'{metrics.REQUESTS_TOTAL}{{job="notejam", method="GET", handler="notes.index", status="%s"}}'
BUCKETS = f'{metrics.REQUEST_DURATION_SECONDS}_bucket{{job="notejam", method="GET", handler="notes.index", le="%s"}}'
UNAVAILABLE = 'kube_deployment_status_replicas_unavailable{namespace="notejam-prod", deployment="notejam"}'


def rule_groups(docs: list[Document]) -> dict:
    (rule,) = [doc for doc in docs if doc["kind"] == "PrometheusRule"]
    return {"groups": rule["spec"]["groups"]}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def rules_file(rendered, tmp_path: Path) -> Path:
    path = tmp_path / "notejam-rules.yaml"
    path.write_text(yaml.safe_dump(rule_groups(rendered["prod"])))
    return path


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rules_are_valid_promql(rendered, env: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_groups(rendered[env])))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def unit_test(rules_file: Path, series: list[dict], alert: str, expected: list[dict], at: str = "20m") -> dict:
    return {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
            }
        ],
    }


def run_unit_test(tmp_path: Path, test: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test))
    return promtool("test", "rules", str(path))


def annotation(rendered, alert: str, name: str = "summary") -> str:
    rules = [rule for group in rule_groups(rendered["prod"])["groups"] for rule in group["rules"]]
    (rule,) = [rule for rule in rules if rule.get("alert") == alert]
    return rule["annotations"][name]


def latency_buckets(per_minute: dict[str, int]) -> list[dict]:
    """Cumulative histogram buckets growing by `per_minute[le]` requests a minute."""
    return [{"series": BUCKETS % le, "values": f"0+{count}x30"} for le, count in per_minute.items()]


# alert: (series when it must fire, the alert's labels and description then, series when it must stay quiet)
CASES = {
    "NotejamHighErrorRate": (
        # 10 of every 100 requests fail.
        [{"series": REQUESTS % "200", "values": "0+90x30"}, {"series": REQUESTS % "500", "values": "0+10x30"}],
        {"severity": "critical"},
        "10% of requests failed over the last 5 minutes.",
        [{"series": REQUESTS % "200", "values": "0+99x30"}, {"series": REQUESTS % "500", "values": "0+1x30"}],
    ),
    "NotejamHighLatencyP99": (
        # 80 of every 100 requests take between 1 and 5 seconds: p99 interpolates to 4.95 s.
        [
            {"series": BUCKETS % le, "values": f"0+{n}x30"}
            for le, n in (("0.5", 10), ("1", 20), ("5", 100), ("+Inf", 100))
        ],
        {"severity": "warning"},
        "p99 latency is 4.95s over the last 5 minutes.",
        [
            {"series": BUCKETS % le, "values": f"0+{n}x30"}
            for le, n in (("0.5", 99), ("1", 100), ("5", 100), ("+Inf", 100))
        ],
    ),
    "NotejamPodsNotReady": (
        [{"series": UNAVAILABLE, "values": "1x30"}],
        {"severity": "warning", "namespace": "notejam-prod", "deployment": "notejam"},
        "1 pods of notejam-prod/notejam are not ready.",
        [{"series": UNAVAILABLE, "values": "0x30"}],
    ),
}


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_on_its_situation(alert: str, rendered, rules_file: Path, tmp_path: Path) -> None:
    series, labels, description, _ = CASES[alert]
    expected = [
        {
            "exp_labels": labels,
            "exp_annotations": {
                "summary": annotation(rendered, alert),
                "description": description,
                "runbook_url": annotation(rendered, alert, "runbook_url"),
            },
        }
    ]
    result = run_unit_test(tmp_path, unit_test(rules_file, series, alert, expected))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_stays_quiet_when_all_is_well(alert: str, rules_file: Path, tmp_path: Path) -> None:
    *_, healthy = CASES[alert]
    result = run_unit_test(tmp_path, unit_test(rules_file, healthy, alert, expected=[]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_wait_ten_minutes_before_firing(rules_file: Path, tmp_path: Path) -> None:
    series, *_ = CASES["NotejamPodsNotReady"]
    early = run_unit_test(tmp_path, unit_test(rules_file, series, "NotejamPodsNotReady", expected=[], at="9m"))
    assert early.returncode == 0, early.stdout + early.stderr
