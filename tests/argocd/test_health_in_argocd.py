"""Our health overrides in Argo CD's own binary (`argocd admin settings resource-overrides health`, the release the
clusters run): the transitional states real controllers report on a first sync are Progressing with our argocd-cm,
and Degraded without our keys (Argo CD's built-in checks), which is what failed the first sync's waves."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.cluster import argocd_settings
from tools.cluster.versions import component_dir, makefile_pins

pytestmark = pytest.mark.control_plane  # the argocd binary comes from `make cluster-build`

OUR_KEYS = (
    "resource.customizations.health.pkg.crossplane.io_Provider",
    "resource.customizations.health.pkg.crossplane.io_Function",
    "resource.customizations.health.autoscaling_HorizontalPodAutoscaler",
    "resource.customizations.health.monitoring.coreos.com_Prometheus",
)
T = "2026-01-01T00:00:00Z"


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T}


def package(kind: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "pkg.crossplane.io/v1", "kind": kind, "metadata": {"name": "p"},
            "spec": {"package": "xpkg.crossplane.io/crossplane-contrib/provider-aws-rds:v2.6.0"},
            "status": {"conditions": list(conditions)}}  # fmt: skip


def hpa(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "notejam", "namespace": "notejam-dev"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "notejam"},
                     "maxReplicas": 2},
            "status": {"currentReplicas": 1, "desiredReplicas": 1, "conditions": list(conditions)}}  # fmt: skip


def prometheus(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring"},
            "status": {"conditions": list(conditions)}}  # fmt: skip


INSTALLED = condition("Installed", "True", "ActivePackageRevision")
# (what a real controller reports while it starts, our health, Argo CD's built-in health)
TRANSITIONAL = {
    "provider installing": (
        package("Provider", INSTALLED, condition("Healthy", "Unknown", "UnknownPackageRevisionHealth")),
        "Progressing", "Degraded"),
    "hpa before its first metrics": (
        hpa(condition("AbleToScale", "True", "SucceededGetScale"),
            condition("ScalingActive", "False", "FailedGetResourceMetric", "no metrics returned")),
        "Progressing", "Degraded"),
    "hpa after a rollout, new pods not scraped yet": (
        hpa(condition("AbleToScale", "True", "ReadyForNewScale"),
            condition("ScalingActive", "False", "FailedGetPodsMetric", "unable to get metric "
                      "notejam_http_requests_per_second: no metrics returned from custom metrics API"),
            condition("ScalingLimited", "False", "DesiredWithinRange")),
        "Progressing", "Degraded"),
    "prometheus pod starting": (
        prometheus(condition("Available", "False", "NoPodReady")), "Progressing", "Degraded"),
}  # fmt: skip
FAILURES = {
    "provider cannot be fetched": package("Provider", condition("Installed", "False", "UnpackingPackage", "404")),
    "function unhealthy": package("Function", INSTALLED, condition("Healthy", "False", "UnhealthyPackageRevision")),
    "hpa metrics outage": hpa(condition("AbleToScale", "True", "ReadyForNewScale"),
                              condition("ScalingActive", "False", "FailedGetResourceMetric", "unable to get metrics "
                                        "for resource cpu: unable to fetch metrics from resource metrics API: the "
                                        "server is currently unable to handle the request"),
                              condition("ScalingLimited", "False", "DesiredWithinRange")),
}  # fmt: skip


def argocd_health(tmp_path: Path, obj: dict[str, Any], without_ours: bool = False) -> str:
    cm = next(o for o in argocd_settings.settings_objects() if o["metadata"]["name"] == "argocd-cm")
    if without_ours:
        cm["data"] = {k: v for k, v in cm["data"].items() if k not in OUR_KEYS}
    (tmp_path / "argocd-cm.yaml").write_text(yaml.safe_dump(cm))
    (tmp_path / "object.yaml").write_text(yaml.safe_dump(obj))
    argocd = component_dir("argocd", makefile_pins()["argocd"]) / "argocd"
    result = subprocess.run(
        [str(argocd), "admin", "settings", "resource-overrides", "health", str(tmp_path / "object.yaml"),
         "--argocd-cm-path", str(tmp_path / "argocd-cm.yaml")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    status = next(line for line in result.stdout.splitlines() if line.startswith("STATUS:"))
    return status.removeprefix("STATUS:").strip()


@pytest.mark.parametrize("case", TRANSITIONAL)
def test_a_transitional_state_is_progressing_with_our_settings_and_degraded_without(tmp_path: Path, case: str) -> None:
    obj, ours, builtin = TRANSITIONAL[case]
    assert argocd_health(tmp_path, obj) == ours
    assert argocd_health(tmp_path, obj, without_ours=True) == builtin


@pytest.mark.parametrize("case", FAILURES)
def test_a_real_failure_stays_degraded(tmp_path: Path, case: str) -> None:
    assert argocd_health(tmp_path, FAILURES[case]) == "Degraded"
