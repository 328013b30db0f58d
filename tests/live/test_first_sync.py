"""The first sync of a fresh cluster, live: every Application converges, waves and hooks run in order, and the API
server (with Argo CD's own checks) rejects nothing."""

from __future__ import annotations

import datetime
import itertools
import re

import pytest

from tests.live.conftest import LiveCluster
from tools.cluster.kube import Object
from tools.cluster.sync import expected_children, state_of

pytestmark = pytest.mark.control_plane


def when(timestamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def wave(app: Object) -> int:
    return int((app["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_every_application_is_synced_and_healthy(live: LiveCluster) -> None:
    apps = live.first_sync
    children = expected_children(apps)
    # The tree is the whole of clusters/<env>: Argo CD itself, the add-ons, the Crossplane layers and Notejam.
    assert {"argocd", "crossplane", "crossplane-packages", "crossplane-apis", "notejam"} <= children
    assert set(apps) == {"root", *children}
    not_ready = {name: state_of(app) for name, app in apps.items() if state_of(app) != ("Synced", "Healthy")}
    assert not not_ready


def test_root_waves_complete_in_order(live: LiveCluster) -> None:
    """An Application of a later wave is created only after every Application of each earlier wave was synced."""
    children = [app for name, app in live.first_sync.items() if name != "root"]
    waves = sorted({wave(app) for app in children})
    assert len(waves) >= 4, waves
    for earlier, later in itertools.pairwise(waves):
        done = max(when(app["status"]["history"][0]["deployedAt"]) for app in children if wave(app) == earlier)
        created = min(when(app["metadata"]["creationTimestamp"]) for app in children if wave(app) == later)
        assert done <= created, f"wave {later} started at {created} before wave {earlier} finished at {done}"


def check_claims_then_migration_then_deployment_then_smoke_test(objects: dict[str, Object], notejam: Object) -> None:
    """The order Notejam's first sync must keep: every claim Ready (the database exists) before the migration Job is
    created, the migration done before the Deployment, the Deployment available before the smoke test."""
    claims = [obj for key, obj in objects.items() if key.startswith(("PostgreSQLInstance/", "DatabaseBackup/"))]
    migrate, smoke = objects["Job/notejam-migrate"], objects["Job/notejam-smoke-test"]
    deployment = objects["Deployment/notejam"]
    assert claims, "the claims were not created"
    # Argo CD's sync result names the hooks and the phase each ran in.
    result = notejam["status"]["operationState"]["syncResult"]["resources"]
    hooks = {r["name"]: (r.get("hookType"), r.get("hookPhase")) for r in result if r.get("hookType")}
    assert hooks == {"notejam-migrate": ("Sync", "Succeeded"), "notejam-smoke-test": ("PostSync", "Succeeded")}
    ready = [c for claim in claims for c in claim["status"]["conditions"] if c["type"] == "Ready"]
    migration_created = when(migrate["metadata"]["creationTimestamp"])
    not_ready = [c for c in ready if c["status"] != "True"]
    # A claim still Ready=False (Creating) is not ready at its condition's transition time: it is not ready yet.
    assert len(ready) == len(claims) and not not_ready, (
        f"the migration started at {migration_created}, claims not Ready yet: {not_ready}"
    )
    claims_ready = max(when(c["lastTransitionTime"]) for c in ready)
    assert claims_ready <= migration_created, (
        f"the migration started at {migration_created}, claims Ready {claims_ready}"
    )
    assert when(migrate["status"]["completionTime"]) <= when(deployment["metadata"]["creationTimestamp"])
    available = next(c for c in deployment["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"
    assert when(available["lastTransitionTime"]) <= when(smoke["metadata"]["creationTimestamp"])
    assert smoke["status"].get("succeeded") == 1


def test_notejam_runs_claims_then_migration_then_deployment_then_smoke_test(live: LiveCluster) -> None:
    check_claims_then_migration_then_deployment_then_smoke_test(
        live.objects_after_first_sync, live.first_sync["notejam"]
    )


# A kind whose CRD an asynchronous controller installs (a provider's ProviderConfig) may not exist yet at the first
# attempt; Argo CD retries, as it would in the clusters. Anything else the API server or Argo CD refuses is a failure.
# The real HPA controller warns while its pods are not measured yet (the first minute of a Deployment), in the words
# that our health check reads as Progressing (apps/argocd/values.yaml); any other warning is a failure.
WAITING_FOR_METRICS = re.compile(r"no metrics returned|did not receive metrics for targeted pods")
# It also warns `FailedUpdateStatus` when its status write lost an optimistic-concurrency race with a writer of the
# same HPA (Argo CD applying it during the sync): it returns the error and the work queue reconciles the HPA again
# (kubernetes v1.35 pkg/controller/podautoscaler/horizontal.go, updateStatus and processNextWorkItem). Tolerated
# only when a later status write succeeded, which the test reads from the HPA.
STATUS_WRITE_CONFLICT = re.compile(r"the object has been modified; please apply your changes to the latest version")
NOT_YET_INSTALLED = re.compile(
    r"resource mapping not found|could not find the requested resource|no matches for kind"
    r"|failed to discover server resources for group version"
)


def test_nothing_was_rejected_on_the_first_sync(live: LiveCluster) -> None:
    """No sync attempt failed (admission, schemas, CEL rules, annotation size, AppProject whitelists, a child that
    was Degraded on the way), every resource was applied, no Application carries an error or warning condition, and
    no Pod was refused (PodSecurity only warns for a Deployment: its ReplicaSet records FailedCreate).

    Read from what Argo CD records, not sampled: each Application's final operation state (a failed attempt that
    was retried leaves `retryCount`) and its Events (a sync that failed for good is a Warning `OperationCompleted`),
    as they were when the first sync finished."""
    for name, app in live.first_sync.items():
        operation = app["status"]["operationState"]
        assert operation["phase"] == "Succeeded", (name, operation.get("message"))
        seen = live.first_sync_failures.get(name, set())
        explained = seen and all(NOT_YET_INSTALLED.search(message) for message in seen)
        assert not operation.get("retryCount") or explained, (name, operation.get("retryCount"), sorted(seen))
        failed = [r for r in operation["syncResult"].get("resources", []) if r.get("status") not in ("Synced", None)]
        assert not failed, (name, failed)
        conditions = app["status"].get("conditions", [])
        assert not [c for c in conditions if c["type"].endswith(("Error", "Warning"))], (name, conditions)
    events = live.events_after_first_sync["argocd"]
    failed_syncs = [
        e["message"] for e in events
        if e["involvedObject"]["kind"] == "Application" and e.get("type") == "Warning"
    ]  # fmt: skip
    assert not failed_syncs
    namespace = live.notejam_namespace()
    labels = live.kube.get(f"/api/v1/namespaces/{namespace}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    events = live.events_after_first_sync[namespace]
    refused = [e["message"] for e in events if e.get("reason") in ("FailedCreate", "FailedScheduling")]
    assert not refused
    warnings = [
        f"{e['involvedObject']['kind']}: {e['message']}" for e in events if e.get("type") == "Warning"
        and not (e["involvedObject"]["kind"] == "HorizontalPodAutoscaler" and WAITING_FOR_METRICS.search(e["message"]))
        and not is_retried_status_conflict(e)
    ]  # fmt: skip
    assert not warnings, "a controller reported a failure (the stand-ins: tools/cluster/fake_controllers)"
    conflicts = [e.get("lastTimestamp") or e["eventTime"] for e in events if is_retried_status_conflict(e)]
    if conflicts:
        autoscaler = live.kube.get(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/notejam")
        status_writes = [
            f["time"] for f in autoscaler["metadata"]["managedFields"]
            if f["manager"] == "kube-controller-manager" and f.get("subresource") == "status"
        ]  # fmt: skip
        # RFC 3339 in UTC with second precision on both sides, so the strings order as the times do.
        assert status_writes and max(status_writes) >= max(conflicts), ("no status write after the conflict", conflicts)
    pods = live.kube.items(f"/api/v1/namespaces/{namespace}/pods?labelSelector=app.kubernetes.io/component%3Dweb")
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)


def is_retried_status_conflict(event: dict) -> bool:
    return (
        event["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
        and event.get("reason") == "FailedUpdateStatus"
        and bool(STATUS_WRITE_CONFLICT.search(event["message"]))
    )


def test_crds_too_large_for_client_side_apply_were_applied_server_side(live: LiveCluster) -> None:
    """External Secrets' CRDs exceed the 262,144-byte last-applied annotation: the API server refuses a client-side
    apply of them, so their Application must sync server-side (first-sync blocker 1)."""
    crd = live.kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretstores.external-secrets.io")
    assert crd is not None
    managers = {(m["manager"], m["operation"]) for m in crd["metadata"]["managedFields"]}
    assert ("argocd-controller", "Apply") in managers, managers
    # The limit is real here: the same CRD applied client-side is refused.
    crd["metadata"] = {"name": crd["metadata"]["name"]}
    crd.pop("status", None)
    try:
        live.kube.apply([crd], server_side=False, dry_run=True)
    except RuntimeError as refused:
        assert "Too long" in str(refused)
    else:
        raise AssertionError("a client-side apply of secretstores.external-secrets.io was accepted")
