"""The stand-ins went through the states their real controllers report, and Argo CD read them as it reads the real
ones: the first sync converged through them (the `live` fixture), and a failure injected into any of them
(`standin.notejam.io/fail`) shows in Argo CD as that resource's Degraded health with the controller's message, and
clears when the failure does."""

from __future__ import annotations

import time

import pytest

from tests.live.conftest import LiveCluster
from tools.cluster.fake_controllers import crossplane, prometheus_operator
from tools.cluster.fake_controllers.status import FAIL_ANNOTATION, conditions_of, parse_time
from tools.cluster.kube import Object
from tools.cluster.sync import APPLICATIONS, wait_until

pytestmark = pytest.mark.control_plane

CLAIMS = "/apis/platform.notejam.io/v1alpha1"


def seconds_to(obj: Object, type_: str, status: str = "True") -> float:
    """Seconds from the object's creation to its condition `type_` reaching `status`."""
    found = conditions_of(obj).get(type_) or {}
    assert found.get("status") == status, (obj["metadata"]["name"], found)
    created = parse_time(obj["metadata"]["creationTimestamp"])
    return (parse_time(found["lastTransitionTime"]) - created).total_seconds()


def test_every_package_was_installed_before_it_was_healthy(live: LiveCluster) -> None:
    packages = [p for plural in ("providers", "functions")
                for p in live.kube.items(f"/apis/pkg.crossplane.io/v1/{plural}")]  # fmt: skip
    assert len(packages) >= 2
    for package in packages:
        # Healthy=Unknown while the runtime started: Healthy=True only after that time (1 s: timestamps are seconds).
        assert seconds_to(package, "Healthy") >= crossplane.PACKAGE_STARTING_SECONDS - 1, package["metadata"]["name"]
        assert conditions_of(package)["Installed"]["reason"] == "ActivePackageRevision"


def test_every_claim_bound_a_composite_that_was_created_before_it_was_ready(live: LiveCluster) -> None:
    namespace = live.notejam_namespace()
    claims = [c for plural in ("postgresqlinstances", "databasebackups")
              for c in live.kube.items(f"{CLAIMS}/namespaces/{namespace}/{plural}")]  # fmt: skip
    assert claims
    for claim in claims:
        reference = claim["spec"]["resourceRef"]
        plural = f"{reference['kind'].lower()}s"
        composite = live.kube.get(f"{CLAIMS}/{plural}/{reference['name']}")
        assert composite is not None, reference
        labels = composite["metadata"]["labels"]
        assert labels["crossplane.io/claim-name"] == claim["metadata"]["name"]
        assert labels["crossplane.io/claim-namespace"] == namespace
        assert composite["spec"]["claimRef"]["name"] == claim["metadata"]["name"]
        assert seconds_to(composite, "Ready") >= crossplane.COMPOSITE_CREATING_SECONDS - 1
        assert conditions_of(claim)["Ready"]["reason"] == "Available"
        secret = (claim["spec"].get("writeConnectionSecretToRef") or {}).get("name")
        if secret:
            assert live.kube.get(f"/api/v1/namespaces/{namespace}/secrets/{secret}") is not None


def test_alertmanagers_secret_holds_every_key_of_the_documented_secret(live: LiveCluster) -> None:
    """The ExternalSecret extracts the whole JSON secret docs/bootstrap.md creates: the on-call webhook and the
    dead-man's switch URL that Alertmanager's receivers read from files."""
    secret = live.kube.get("/api/v1/namespaces/monitoring/secrets/alertmanager-receiver")
    assert secret is not None
    assert set(secret["data"]) == {"url", "dead-mans-switch-url"}


def test_prometheus_was_not_ready_before_it_was_available(live: LiveCluster) -> None:
    [prometheus] = live.kube.items("/apis/monitoring.coreos.com/v1/prometheuses")
    assert seconds_to(prometheus, "Available") >= prometheus_operator.STARTING_SECONDS - 1


def test_the_real_hpa_computed_replicas_only_after_its_pods_were_ready_and_measured(live: LiveCluster) -> None:
    """kube-controller-manager's HPA controller, with metrics-server and the adapter stand-in: its first replica count
    (ScalingActive=True, ScalingLimited set) came once the pods were Available and their metrics scraped."""
    namespace = live.notejam_namespace()
    path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/notejam"

    def computed() -> Object | None:
        autoscaler = live.kube.get(path)
        if autoscaler is None:
            return None
        found = conditions_of(autoscaler)
        active = found.get("ScalingActive", {}).get("reason") == "ValidMetricFound"
        return autoscaler if active and "ScalingLimited" in found else None

    # Earlier tests on this plane may have just replaced the HPA or its pods (prod's protection test recreates the
    # Application, the event scales it): until the controller has measured the new pods it says FailedGetResourceMetric
    # ("did not receive metrics for targeted pods"), as a new HPA does. The check is on the state it settles in.
    autoscaler = wait_until("the HPA computing replicas from its metrics", computed, timeout=180)
    deployment = live.kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam")
    found = conditions_of(autoscaler)
    ready = parse_time(conditions_of(deployment)["Available"]["lastTransitionTime"])
    active = parse_time(found["ScalingActive"]["lastTransitionTime"])
    assert (active - ready).total_seconds() >= 0, (found["ScalingActive"], ready)
    # What it read: the request rate (the adapter stand-in) or CPU (metrics-server), whichever answered last time.
    measured = [m for m in autoscaler["status"]["currentMetrics"] if m.get("type") in ("Pods", "Resource")]
    assert measured, autoscaler["status"]


def notejam_health(live: LiveCluster) -> str:
    app = live.kube.get(f"{APPLICATIONS}/notejam")
    return ((app.get("status") or {}).get("health") or {}).get("status", "Unknown")


def wait_for_health(live: LiveCluster, status: str, timeout: float = 90) -> None:
    """Argo CD 3 keeps each resource's health out of the Application's status; the Application's own health is the
    worst of its resources' (and so says whether Argo CD judged the one we broke)."""
    deadline = time.monotonic() + timeout
    while (found := notejam_health(live)) != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"notejam is {found}, not {status}, after {timeout:.0f} s")
        time.sleep(1)


# (kind, API path under the namespace, name): a resource of each stand-in that Notejam's Application tracks.
INJECTABLE = [
    ("ExternalSecret", "/apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets", "notejam-app"),
    ("PostgreSQLInstance", CLAIMS + "/namespaces/{ns}/postgresqlinstances", "notejam-db"),
    ("HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", "notejam"),
]


@pytest.mark.parametrize("live", ["staging"], indirect=True)
@pytest.mark.parametrize(("kind", "path", "name"), INJECTABLE, ids=[k for k, _, _ in INJECTABLE])
def test_an_injected_failure_degrades_the_resource_in_argo_cd_and_then_clears(
    live: LiveCluster, kind: str, path: str, name: str
) -> None:
    """Drift on purpose (the step is about the stand-ins): annotate the live object, not git. For the ExternalSecret
    the stand-in also records a Warning Event, as ESO does."""
    url = f"{path.format(ns=live.notejam_namespace())}/{name}"
    message = f"injected by {__name__}"
    wait_for_health(live, "Healthy")
    live.kube.merge_patch(url, {"metadata": {"annotations": {FAIL_ANNOTATION: message}}})
    try:
        wait_for_health(live, "Degraded")
        # The stand-in's words: in a condition (Crossplane, the HPA) or a Warning Event (ESO keeps the provider's error
        # out of its condition).
        events = live.kube.items(f"/api/v1/namespaces/{live.notejam_namespace()}/events")
        reported = [c.get("message", "") for c in conditions_of(live.kube.get(url)).values()]
        reported += [e["message"] for e in events if e["involvedObject"]["name"] == name and e["type"] == "Warning"]
        assert any(message in text for text in reported), reported
        # On-call hears of it (Argo CD Notifications' on-health-degraded, once per revision: the first case sends it).
        wait_until("on-call told notejam degraded", lambda: live.on_call.received(event="health-degraded",
                                                                             application="notejam"), 60)  # fmt: skip
    finally:
        live.kube.merge_patch(url, {"metadata": {"annotations": {FAIL_ANNOTATION: None}}})
    wait_for_health(live, "Healthy")
