"""Alertmanager's own tool reads our configuration: amtool (the Alertmanager release kube-prometheus-stack runs,
AMTOOL_VERSION in the Makefile) checks it and routes test alerts through it, as the running Alertmanager would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.argocd.test_alerting import stack
from tools.repository import ENVIRONMENTS

# alert labels -> the receiver that must get it
ROUTES = {
    "alertname=Watchdog severity=none": "dead-mans-switch",
    "alertname=InfoInhibitor severity=none": "null",
    "alertname=NotejamHighErrorRate severity=critical namespace=notejam-prod": "on-call",
    "alertname=ArgoCDApplicationOutOfSync severity=warning namespace=argocd": "on-call",
    "alertname=KubePodCrashLooping severity=warning namespace=monitoring": "on-call",
}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool is not on PATH: `make tools` installs it into .tools/bin"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(params=ENVIRONMENTS)
def config_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    values, _ = stack(request.param)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    return path


def test_amtool_accepts_the_configuration(config_file: Path) -> None:
    result = amtool("check-config", str(config_file))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    assert " - 3 receivers" in result.stdout


@pytest.mark.parametrize(("labels", "receiver"), ROUTES.items())
def test_each_alert_reaches_its_receiver(config_file: Path, labels: str, receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={config_file}", *labels.split())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_the_check_notices_a_watchdog_sent_to_null(config_file: Path) -> None:
    """The control: with the old route (Watchdog to "null"), amtool routes it there, and the test above would fail."""
    config = yaml.safe_load(config_file.read_text())
    for route in config["route"]["routes"]:
        if route["receiver"] == "dead-mans-switch":
            route["receiver"] = "null"
    config_file.write_text(yaml.safe_dump(config))
    result = amtool("config", "routes", "test", f"--config.file={config_file}", "alertname=Watchdog")
    assert result.stdout.split() == ["null"]
