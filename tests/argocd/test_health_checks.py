"""The Lua health checks in Argo CD's Helm values, run for real in an embedded Lua (lupa), as Argo CD runs them."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from tools.repository import PLATFORM_GROUP, REPO_ROOT

VALUES = REPO_ROOT / "apps" / "argocd" / "values.yaml"
HEALTH_PREFIX = "resource.customizations.health."


@cache
def argocd_cm() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())["configs"]["cm"]


def health_script(group: str, kind: str) -> str:
    # Argo CD's key for one kind: `<group>_<kind>` (no wildcard: EKS-managed Argo CD refuses those).
    return argocd_cm()[f"{HEALTH_PREFIX}{group}_{kind}"]


def run_health_check(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """Evaluate a health script the way Argo CD does: the object as global `obj`, the returned table is the health."""
    lua = LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return dict(result.items())


def claim_kinds() -> list[str]:
    """Every claim kind of our platform API, read from the XRDs in crossplane/apis/."""
    kinds = []
    for definition in sorted((REPO_ROOT / "crossplane" / "apis").glob("*/definition.yaml")):
        xrd = yaml.safe_load(definition.read_text())
        assert xrd["spec"]["group"] == PLATFORM_GROUP
        kinds.append(xrd["spec"]["claimNames"]["kind"])
    return kinds


def claim(conditions: list[dict[str, str]] | None = None, annotations: dict[str, str] | None = None) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": f"{PLATFORM_GROUP}/v1alpha1",
        "kind": "PostgreSQLInstance",
        "metadata": {"name": "notejam-db", "namespace": "notejam-dev", "annotations": annotations or {}},
        "spec": {"parameters": {"size": "small"}},
    }
    if conditions is not None:
        obj["status"] = {"conditions": conditions}
    return obj


def condition(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_every_claim_kind_of_our_api_has_a_health_check() -> None:
    kinds = claim_kinds()
    assert {"PostgreSQLInstance", "DatabaseBackup"} <= set(kinds)
    for kind in kinds:
        assert health_script(PLATFORM_GROUP, kind).strip()


def test_no_health_check_key_uses_a_wildcard() -> None:
    keys = [key for key in argocd_cm() if key.startswith(HEALTH_PREFIX)]
    assert keys and not [key for key in keys if "*" in key]


@pytest.fixture(params=["PostgreSQLInstance", "DatabaseBackup"])
def claim_script(request: pytest.FixtureRequest) -> str:
    return health_script(PLATFORM_GROUP, request.param)


def test_ready_and_synced_claim_is_healthy(claim_script: str) -> None:
    obj = claim([condition("Synced", "True", "ReconcileSuccess"), condition("Ready", "True", "Available")])
    assert run_health_check(claim_script, obj)["status"] == "Healthy"


def test_claim_that_cannot_sync_is_degraded_with_the_reason(claim_script: str) -> None:
    obj = claim(
        [
            condition("Synced", "False", "ReconcileError", "cannot compose resources: invalid instance class"),
            condition("Ready", "False", "Creating"),
        ]
    )
    health = run_health_check(claim_script, obj)
    assert health["status"] == "Degraded"
    assert "ReconcileError" in health["message"] and "invalid instance class" in health["message"]


def test_claim_without_status_is_progressing(claim_script: str) -> None:
    assert run_health_check(claim_script, claim())["status"] == "Progressing"


def test_claim_with_no_conditions_yet_is_progressing(claim_script: str) -> None:
    assert run_health_check(claim_script, claim([]))["status"] == "Progressing"


def test_synced_claim_whose_resources_are_being_created_is_progressing(claim_script: str) -> None:
    obj = claim([condition("Synced", "True", "ReconcileSuccess"), condition("Ready", "False", "Creating", "RDS")])
    health = run_health_check(claim_script, obj)
    assert health["status"] == "Progressing"
    assert "Creating" in health["message"]


def test_ready_claim_that_no_longer_syncs_is_degraded(claim_script: str) -> None:
    obj = claim([condition("Synced", "False", "ReconcileError", "boom"), condition("Ready", "True", "Available")])
    assert run_health_check(claim_script, obj)["status"] == "Degraded"


def test_paused_claim_is_suspended(claim_script: str) -> None:
    obj = claim([condition("Synced", "True"), condition("Ready", "True")], {"crossplane.io/paused": "true"})
    assert run_health_check(claim_script, obj)["status"] == "Suspended"


def application(
    health: dict[str, str] | None, sync: str = "Synced", operation_phase: str | None = "Succeeded"
) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}}
    if health is not None:
        obj["status"] = {"health": health, "sync": {"status": sync}}
        if operation_phase is not None:
            obj["status"]["operationState"] = {"phase": operation_phase}
    return obj


@pytest.mark.parametrize("status", ["Healthy", "Degraded", "Progressing", "Missing", "Suspended"])
def test_application_health_is_the_childs_own_health(status: str) -> None:
    script = health_script("argoproj.io", "Application")
    health = run_health_check(script, application({"status": status, "message": "from the child"}))
    assert health == {"status": status, "message": "from the child"}


@pytest.mark.parametrize(("sync", "phase"), [("OutOfSync", None), ("OutOfSync", "Running"), ("Synced", "Running"),
                                             ("Unknown", None)])  # fmt: skip
def test_a_healthy_application_that_has_not_synced_yet_is_progressing(sync: str, phase: str | None) -> None:
    """Before its first sync a child reports Healthy; the next wave of its root must not start then."""
    script = health_script("argoproj.io", "Application")
    health = run_health_check(script, application({"status": "Healthy"}, sync=sync, operation_phase=phase))
    assert health["status"] == "Progressing"


def test_the_root_reports_its_own_health_while_it_syncs_itself() -> None:
    """The root manages its own Application: waiting for its own sync to finish would never end."""
    script = health_script("argoproj.io", "Application")
    root = application({"status": "Healthy"}, sync="OutOfSync", operation_phase="Running")
    root["metadata"]["name"] = "root"
    assert run_health_check(script, root)["status"] == "Healthy"


def test_an_out_of_sync_application_keeps_its_unhealthy_status() -> None:
    script = health_script("argoproj.io", "Application")
    health = run_health_check(script, application({"status": "Degraded", "message": "boom"}, sync="OutOfSync"))
    assert health == {"status": "Degraded", "message": "boom"}


def test_application_without_health_yet_is_progressing() -> None:
    script = health_script("argoproj.io", "Application")
    assert run_health_check(script, application(None))["status"] == "Progressing"
    assert run_health_check(script, application({}))["status"] == "Progressing"


def test_resources_are_tracked_by_annotation() -> None:
    assert argocd_cm()["application.resourceTrackingMethod"] == "annotation"


def test_provider_config_usages_are_excluded_from_every_group() -> None:
    exclusions = yaml.safe_load(argocd_cm()["resource.exclusions"])
    assert {"apiGroups": ["*"], "kinds": ["ProviderConfigUsage"]} in exclusions
    # Replacing the chart's default list must keep the noisy core kinds out.
    excluded_kinds = {kind for rule in exclusions for kind in rule["kinds"]}
    assert {"Endpoints", "EndpointSlice", "Lease"} <= excluded_kinds


# Transitional states that real controllers report on a first sync: Progressing while transitional, Degraded once
# they are failures. The same scripts run in Argo CD's own binary in tests/argocd/test_health_in_argocd.py.
def package(kind: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "pkg.crossplane.io/v1", "kind": kind, "metadata": {"name": "provider-aws-rds"},
            "status": {"conditions": list(conditions)}}  # fmt: skip


@pytest.mark.parametrize("kind", ["Provider", "Function"])
def test_a_package_whose_runtime_is_starting_is_progressing(kind: str) -> None:
    script = health_script("pkg.crossplane.io", kind)
    starting = package(kind, condition("Installed", "True", "ActivePackageRevision"),
                       condition("Healthy", "Unknown", "UnknownPackageRevisionHealth"))  # fmt: skip
    assert run_health_check(script, starting)["status"] == "Progressing"
    assert run_health_check(script, package(kind, condition("Installed", "False", "UnpackingPackage")))["status"] == (
        "Progressing"
    )
    healthy = package(kind, condition("Installed", "True", "ActivePackageRevision"),
                      condition("Healthy", "True", "HealthyPackageRevision"))  # fmt: skip
    assert run_health_check(script, healthy)["status"] == "Healthy"


@pytest.mark.parametrize("kind", ["Provider", "Function"])
def test_a_package_that_cannot_be_fetched_or_is_unhealthy_is_degraded(kind: str) -> None:
    script = health_script("pkg.crossplane.io", kind)
    unresolvable = package(kind, condition("Installed", "False", "UnpackingPackage", "MANIFEST_UNKNOWN"))
    assert run_health_check(script, unresolvable) == {
        "status": "Degraded",
        "message": "UnpackingPackage: MANIFEST_UNKNOWN",
    }
    unhealthy = package(kind, condition("Installed", "True", "ActivePackageRevision"),
                        condition("Healthy", "False", "UnhealthyPackageRevision", "crash"))  # fmt: skip
    assert run_health_check(script, unhealthy)["status"] == "Degraded"


def hpa(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "notejam"},
            "status": {"conditions": list(conditions)}}  # fmt: skip


SCALE_OK = condition("AbleToScale", "True", "SucceededGetScale")
NO_METRICS = condition("ScalingActive", "False", "FailedGetResourceMetric", "no metrics returned")


def test_an_hpa_waiting_for_its_first_metrics_is_progressing() -> None:
    script = health_script("autoscaling", "HorizontalPodAutoscaler")
    assert run_health_check(script, hpa(SCALE_OK, NO_METRICS))["status"] == "Progressing"
    pods = condition("ScalingActive", "False", "FailedGetPodsMetric", "no metrics")
    assert run_health_check(script, hpa(SCALE_OK, pods))["status"] == "Progressing"


COMPUTED_BEFORE = condition("ScalingLimited", "False", "DesiredWithinRange")
# What the HPA controller says when a metrics API fails (podautoscaler/metrics/client.go), e.g. its APIService down.
OUTAGE = condition(
    "ScalingActive",
    "False",
    "FailedGetPodsMetric",
    "unable to get metric notejam_http_requests_per_second: "
    "unable to fetch metrics from custom metrics API: the server is currently unable to handle the request",
)


def test_an_hpa_whose_new_pods_are_not_measured_yet_is_progressing() -> None:
    """After a rollout, before metrics-server and Prometheus scraped the new pods: the controller's own words."""
    script = health_script("autoscaling", "HorizontalPodAutoscaler")
    for message in (
        "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
        "unable to get metric notejam_http_requests_per_second: no metrics returned from custom metrics API",
        "did not receive metrics for targeted pods (pods might be unready)",
    ):
        waiting = condition("ScalingActive", "False", "FailedGetResourceMetric", message)
        assert run_health_check(script, hpa(SCALE_OK, waiting, COMPUTED_BEFORE))["status"] == "Progressing", message


def test_an_hpa_that_lost_its_metrics_or_its_target_is_degraded() -> None:
    script = health_script("autoscaling", "HorizontalPodAutoscaler")
    assert run_health_check(script, hpa(SCALE_OK, OUTAGE, COMPUTED_BEFORE))["status"] == "Degraded"
    no_target = condition("AbleToScale", "False", "FailedGetScale", 'deployments.apps "notejam" not found')
    assert run_health_check(script, hpa(no_target))["status"] == "Degraded"


def test_an_hpa_that_computed_replicas_is_healthy() -> None:
    script = health_script("autoscaling", "HorizontalPodAutoscaler")
    active = condition("ScalingActive", "True", "ValidMetricFound")
    limited = condition("ScalingLimited", "True", "TooFewReplicas")
    assert run_health_check(script, hpa(condition("AbleToScale", "True", "ReadyForNewScale"), active, limited))[
        "status"] == "Healthy"  # fmt: skip


def prometheus(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "metadata": {"name": "p"},
            "status": {"conditions": list(conditions)}}  # fmt: skip


def test_a_prometheus_whose_first_pod_is_starting_is_progressing_and_a_broken_one_degraded() -> None:
    script = health_script("monitoring.coreos.com", "Prometheus")
    assert (
        run_health_check(script, prometheus(condition("Available", "False", "NoPodReady")))["status"] == "Progressing"
    )
    assert run_health_check(script, prometheus(condition("Available", "True", "")))["status"] == "Healthy"
    assert run_health_check(script, prometheus(condition("Available", "Degraded", "Unknown")))["status"] == "Degraded"
