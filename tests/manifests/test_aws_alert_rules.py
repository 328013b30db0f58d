"""The alerts on CloudWatch's metrics (apps/addons/monitoring/prometheusrule-aws.yaml), evaluated by promtool on the
series the CloudWatch exporter (apps/addons/cloudwatch-exporter.yaml) produces, and that exporter's configuration
producing exactly the series the rules read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.manifests.test_alert_rules import promtool, run_unit_test, unit_test
from tools.repository import ENVIRONMENTS, REPO_ROOT

RULES = REPO_ROOT / "apps" / "addons" / "monitoring" / "prometheusrule-aws.yaml"
EXPORTER = REPO_ROOT / "apps" / "addons" / "cloudwatch-exporter.yaml"
# The series cloudwatch_exporter makes of a CloudWatch metric: aws_<namespace>_<metric>_<statistic> in snake case,
# each dimension a label in snake case (prometheus/cloudwatch_exporter README, "Metrics"; the chart's values.yaml
# shows dbinstance_identifier). Written out, not computed: what the rules depend on, in one place.
SERIES = {
    ("AWS/Lambda", "Errors", "Sum"): ("aws_lambda_errors_sum", "function_name"),
    ("AWS/RDS", "FreeStorageSpace", "Minimum"): ("aws_rds_free_storage_space_minimum", "dbinstance_identifier"),
    ("AWS/RDS", "CPUUtilization", "Average"): ("aws_rds_cpuutilization_average", "dbinstance_identifier"),
}
LAMBDA = 'aws_lambda_errors_sum{function_name="notejam-prod-export", job="cloudwatch-exporter"}'
STORAGE = (
    'aws_rds_free_storage_space_minimum{dbinstance_identifier="notejam-prod-notejam-db", job="cloudwatch-exporter"}'
)
CPU = 'aws_rds_cpuutilization_average{dbinstance_identifier="notejam-prod-notejam-db", job="cloudwatch-exporter"}'
GIB = 1024**3


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def exporter_config() -> dict:
    application = yaml.safe_load(EXPORTER.read_text())
    return yaml.safe_load(application["spec"]["source"]["helm"]["valuesObject"]["config"])


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "aws-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": yaml.safe_load(RULES.read_text())["spec"]["groups"]}))
    return path


def test_rules_are_valid_promql(rules_file: Path) -> None:
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_exporter_produces_every_series_the_rules_read() -> None:
    produced = {}
    for metric in exporter_config()["metrics"]:
        for statistic in metric["aws_statistics"]:
            name, label = SERIES[(metric["aws_namespace"], metric["aws_metric_name"], statistic)]
            (dimension,) = metric["aws_dimensions"]
            assert metric["aws_dimension_select_regex"] == {dimension: ["notejam-.*"]}
            produced[name] = label
    for rule in rules():
        read = set(re.findall(r"\b(aws_[a-z_]+)\{", rule["expr"]))
        assert read and read <= set(produced), (rule["alert"], read)
        for name in read:
            assert f"{produced[name]}=~" in rule["expr"], (rule["alert"], produced[name])


def test_the_backup_alert_selects_every_backup_function_and_the_database_alerts_every_database() -> None:
    from tools.render_output import rendered

    _, composed = rendered()
    names = {
        kind: {r.resource["metadata"]["annotations"]["crossplane.io/external-name"] for r in composed if r.kind == kind}
        for kind in ("lambda.aws.upbound.io/Function",)
    }
    functions = names["lambda.aws.upbound.io/Function"]
    databases = {
        r.resource["spec"]["forProvider"]["identifier"] for r in composed if r.kind == "rds.aws.upbound.io/Instance"
    }
    assert len(functions) == 2 * len(ENVIRONMENTS) and len(databases) == len(ENVIRONMENTS), (functions, databases)
    assert all(re.fullmatch("notejam-.*", name) for name in functions | databases)


# alert: (series when it must fire, when, its labels, series when it must stay quiet)
CASES = {
    "NotejamBackupFunctionFailed": (
        # One error reported for two scrapes after the nightly run, then nothing: the alert holds for an hour.
        [{"series": LAMBDA, "values": "_x10 1 1 _x20"}],
        "25m",
        {"severity": "critical", "function_name": "notejam-prod-export"},
        [{"series": LAMBDA, "values": "_x10 0 0 _x20"}],
    ),
    "NotejamDatabaseStorageLow": (
        [{"series": STORAGE, "values": f"{3 * GIB}x40"}],
        "35m",
        {"severity": "critical", "dbinstance_identifier": "notejam-prod-notejam-db"},
        [{"series": STORAGE, "values": f"{40 * GIB}x40"}],
    ),
    "NotejamDatabaseCPUHigh": (
        [{"series": CPU, "values": "95x60"}],
        "50m",
        {"severity": "warning", "dbinstance_identifier": "notejam-prod-notejam-db"},
        [{"series": CPU, "values": "40x60"}],
    ),
    "NotejamCloudWatchMetricsMissing": (
        [{"series": STORAGE, "values": f"{40 * GIB}x90"}],  # storage, but no CPU series at all
        "65m",
        {"severity": "warning"},
        [{"series": CPU, "values": "40x90"}],
    ),
}


def test_every_alert_has_a_case() -> None:
    assert {rule["alert"] for rule in rules()} == set(CASES)


def expected(alert: str, labels: dict) -> list[dict]:
    return [{"exp_labels": labels}]


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_on_its_situation(alert: str, rules_file: Path, tmp_path: Path) -> None:
    series, at, labels, _ = CASES[alert]
    test = unit_test(rules_file, series, alert, expected(alert, labels), at=at)
    test["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"] = annotations(alert, labels)
    result = run_unit_test(tmp_path, test)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_stays_quiet_when_all_is_well(alert: str, rules_file: Path, tmp_path: Path) -> None:
    _, at, _, healthy = CASES[alert]
    result = run_unit_test(tmp_path, unit_test(rules_file, healthy, alert, expected=[], at=at))
    assert result.returncode == 0, result.stdout + result.stderr


def annotations(alert: str, labels: dict) -> dict:
    """The rule's annotations as Alertmanager receives them, with the templates filled in for these cases."""
    (rule,) = [rule for rule in rules() if rule["alert"] == alert]
    filled = {
        "NotejamBackupFunctionFailed": "notejam-prod-export reported 1 errors.",
        "NotejamDatabaseStorageLow": "notejam-prod-notejam-db has 3GiB free.",
        "NotejamDatabaseCPUHigh": "notejam-prod-notejam-db at 95% CPU.",
        "NotejamCloudWatchMetricsMissing": rule["annotations"]["description"],
    }
    return {**rule["annotations"], "description": filled[alert]}
