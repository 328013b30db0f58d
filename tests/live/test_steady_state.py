"""After the first sync, live: syncing again changes nothing, the tree stays Synced, a commit that cannot render is
shown with Argo CD's message, applies nothing, and is undone by a revert, drift is healed and what leaves git is
pruned."""

from __future__ import annotations

import json
import time

import pytest

from tests.live.conftest import LiveCluster, say
from tools.cluster.kube import Kube, Object
from tools.cluster.served_repo import commit, revert
from tools.cluster.sync import APPLICATIONS, applications, refresh, state_of, wait_until

pytestmark = pytest.mark.control_plane

STAY_SYNCED_SECONDS = 60


def resource_path(kube: Kube, resource: Object) -> str:
    group, version, kind = resource.get("group", ""), resource["version"], resource["kind"]
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    plural = kube_plural(kube, prefix, kind)
    namespace = f"/namespaces/{resource['namespace']}" if resource.get("namespace") else ""
    return f"{prefix}{namespace}/{plural}/{resource['name']}"


_plurals: dict[tuple[str, str], str] = {}


def kube_plural(kube: Kube, prefix: str, kind: str) -> str:
    if (prefix, kind) not in _plurals:
        for api in kube.get(prefix)["resources"]:
            if "/" not in api["name"]:
                _plurals[(prefix, api["kind"])] = api["name"]
    return _plurals[(prefix, kind)]


# Written by Argo CD itself, not by applying git: on a refresh request, and by the notifications controller when it
# has sent a notification (which one, for which revision).
VOLATILE_ANNOTATIONS = {"argocd.argoproj.io/refresh", "notified.notifications.argoproj.io"}


def fingerprint(live: Object) -> str:
    """What a sync could change: everything but status, the Application `operation`, and server bookkeeping."""
    metadata = live["metadata"]
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in VOLATILE_ANNOTATIONS}
    content = {k: v for k, v in live.items() if k not in ("metadata", "status", "operation")}
    return json.dumps([content, metadata.get("labels"), annotations], sort_keys=True)


def managed_fingerprints(kube: Kube, apps: dict[str, Object]) -> dict[str, str]:
    """`{object: fingerprint}` of every object the tree manages (hooks excluded: each sync recreates them)."""
    found = {}
    for app in apps.values():
        for resource in app["status"].get("resources", []):
            if resource.get("hook"):
                continue
            live = kube.get(resource_path(kube, resource))
            assert live is not None, resource
            found[f"{resource['kind']}/{resource.get('namespace', '')}/{resource['name']}"] = fingerprint(live)
    return found


# Retries of a manual sync (`argocd app sync --retry-limit 3`, with the Application's own backoff). Under the full
# test run's load Argo CD once failed a sync with "failed to get resource health for CustomResourceDefinition
# applicationsets.argoproj.io: context deadline exceeded": its Lua health checks run with a fixed 1 s budget
# (util/lua/lua.go), which converting that 1 MB CRD can exceed on two busy cores; Argo CD's own auto-sync retries it.
MANUAL_SYNC_RETRIES = 3


def sync(kube: Kube, name: str) -> str:
    """Start a sync of one Application, as `argocd app sync --retry-limit` does (with the Application's sync options
    and retry backoff); return the start time of its previous operation."""
    app = kube.get(f"{APPLICATIONS}/{name}")
    before = ((app["status"].get("operationState") or {}).get("startedAt")) or ""
    options = (app["spec"].get("syncPolicy") or {}).get("syncOptions") or []
    retry = {**((app["spec"].get("syncPolicy") or {}).get("retry") or {}), "limit": MANUAL_SYNC_RETRIES}
    synced = app["status"]["sync"]
    # A multi-source Application (argocd, kube-prometheus-stack) has a revision per source.
    revision = {"revisions": synced["revisions"]} if "revisions" in synced else {"revision": synced["revision"]}
    kube.merge_patch(f"{APPLICATIONS}/{name}", {"operation": {
        "initiatedBy": {"username": "live-test"},
        "sync": {**revision, "syncOptions": options, "syncStrategy": {"hook": {}}},
        "retry": retry,
    }})  # fmt: skip
    return before


def wait_for_operation(kube: Kube, name: str, before: str, timeout: float = 180) -> Object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app = kube.get(f"{APPLICATIONS}/{name}")
        operation = app["status"].get("operationState") or {}
        if app.get("operation") is None and operation.get("startedAt", "") > before and operation.get("finishedAt"):
            return app
        time.sleep(0.5)
    raise TimeoutError(f"{name}: the sync did not finish within {timeout:.0f} s")


def wait_synced_healthy(kube: Kube, names: list[str], timeout: float = 180) -> dict[str, Object]:
    deadline = time.monotonic() + timeout
    while True:
        apps = applications(kube)
        if all(state_of(apps[n]) == ("Synced", "Healthy") for n in names):
            return apps
        assert time.monotonic() < deadline, {n: state_of(apps[n]) for n in names}
        time.sleep(1)


def test_a_second_sync_changes_nothing_and_the_tree_stays_synced(live: LiveCluster) -> None:
    kube = live.kube
    apps = wait_synced_healthy(kube, list(live.first_sync))
    before = managed_fingerprints(kube, apps)
    markers = {name: sync(kube, name) for name in apps}
    for name, marker in markers.items():
        app = wait_for_operation(kube, name, marker)
        assert app["status"]["operationState"]["phase"] == "Succeeded", (name, app["status"]["operationState"])
    apps = wait_synced_healthy(kube, list(apps))
    after = managed_fingerprints(kube, apps)
    assert {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)} == {}
    # A perpetual diff (defaulting, a field the API server rewrites) shows as OutOfSync at the next comparison,
    # and selfHeal would then sync again: watch for a minute (three comparison periods).
    history = {name: len(app["status"].get("history", [])) for name, app in apps.items()}
    deadline = time.monotonic() + STAY_SYNCED_SECONDS
    while time.monotonic() < deadline:
        apps = applications(kube)
        out_of_sync = {n: state_of(a) for n, a in apps.items() if state_of(a) != ("Synced", "Healthy")}
        assert not out_of_sync
        assert {n: len(a["status"].get("history", [])) for n, a in apps.items()} == history
        time.sleep(2)


def comparison_errors(app: Object) -> list[str]:
    return [c["message"] for c in app["status"].get("conditions", []) if c["type"] == "ComparisonError"]


def test_a_commit_that_cannot_render_shows_argo_cds_message_applies_nothing_and_a_revert_heals(
    request: pytest.FixtureRequest, live: LiveCluster
) -> None:
    kube, namespace, copy = live.kube, live.notejam_namespace(), live.plane.served_copy
    deployment_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam"
    generation = kube.get(deployment_path)["metadata"]["generation"]
    synced_revision = kube.get(f"{APPLICATIONS}/notejam")["status"]["operationState"]["syncResult"]["revision"]
    kustomization = copy / "overlays" / live.environment / "kustomization.yaml"
    text = kustomization.read_text()
    assert "\nresources:\n" in text
    kustomization.write_text(text.replace("\nresources:\n", "\nresources:\n  - does-not-exist.yaml\n", 1))
    commit(copy, "A change that cannot render")
    try:
        # What the push webhook does. Found by polling instead, the error would show only after the next poll and
        # the repo-error grace period (apps/argocd/values.yaml); a refresh request skips that period.
        refresh(kube, "notejam")
        started = time.monotonic()
        while not comparison_errors(app := kube.get(f"{APPLICATIONS}/notejam")):
            assert time.monotonic() - started < 60, ("no ComparisonError yet", state_of(app))
            operation = app["status"].get("operationState") or {}
            assert operation.get("syncResult", {}).get("revision") == synced_revision, "the bad revision was synced"
            time.sleep(2)
        say(request.config, f"{live.environment}: the bad commit showed {time.monotonic() - started:.0f} s after it")
        [message] = comparison_errors(app)
        assert "does-not-exist.yaml" in message, message
        assert app["status"]["operationState"]["syncResult"]["revision"] == synced_revision
        assert kube.get(deployment_path)["metadata"]["generation"] == generation
    finally:
        reverted = revert(copy)
    deadline = time.monotonic() + 240
    while True:
        refresh(kube, "notejam")
        app = kube.get(f"{APPLICATIONS}/notejam")
        if (
            not comparison_errors(app)
            and app["status"]["sync"].get("revision") == reverted
            and state_of(app) == ("Synced", "Healthy")
        ):
            break
        assert time.monotonic() < deadline, (state_of(app), comparison_errors(app))
        time.sleep(5)
    assert kube.get(deployment_path)["metadata"]["generation"] == generation


def test_a_manual_edit_of_a_synced_object_is_reverted_by_self_heal_and_recorded(live: LiveCluster) -> None:
    """Drift on purpose: kubectl edit of the PodDisruptionBudget; selfHeal syncs it back, as an automated operation
    with its OperationCompleted Event. Argo CD records it in one of two ways (controller/appcontroller.go, autoSync):
    when its last sync was to the revision it now wants, a partial sync of what drifted, which it keeps out of
    `status.history` (controller/sync.go records only a sync of every resource); when the last sync was to an
    earlier revision (a later commit changed nothing here, or a failed release was reverted), a sync of everything at
    the current revision, which is in the history."""
    kube = live.kube
    app_path = f"{APPLICATIONS}/notejam"
    path = f"/apis/policy/v1/namespaces/{live.notejam_namespace()}/poddisruptionbudgets/notejam"
    wait_until("notejam Synced and Healthy", lambda: state_of(kube.get(app_path)) == ("Synced", "Healthy"))
    before = (kube.get(app_path)["status"].get("operationState") or {}).get("startedAt", "")
    spec = kube.get(path)["spec"]
    field = "maxUnavailable" if "maxUnavailable" in spec else "minAvailable"
    edited = kube.merge_patch(path, {"spec": {field: spec[field] + 7}})
    assert edited["spec"][field] == spec[field] + 7
    wait_until("the edit reverted", lambda: kube.get(path)["spec"][field] == spec[field], 120)

    def self_heal() -> Object | None:
        operation = kube.get(app_path)["status"].get("operationState") or {}
        resources = operation.get("operation", {}).get("sync", {}).get("resources", [])
        healed = not resources or any(r["kind"] == "PodDisruptionBudget" and r["name"] == "notejam" for r in resources)
        return operation if operation.get("startedAt", "") > before and healed and operation.get(
            "phase") == "Succeeded" else None  # fmt: skip

    operation = wait_until("the self-heal recorded as the last operation", self_heal, 60)
    assert operation["operation"]["initiatedBy"].get("automated") is True
    partial = bool(operation["operation"]["sync"].get("resources"))
    if not partial:
        history = kube.get(app_path)["status"]["history"]
        assert history[-1]["revision"] == operation["syncResult"]["revision"]
    start = "Partial sync operation" if partial else f"Sync operation to {operation['syncResult']['revision']}"

    def completed_event() -> bool:
        return any(
            e["involvedObject"]["name"] == "notejam" and e["reason"] == "OperationCompleted"
            and e["message"].startswith(start) and e["message"].endswith("succeeded")
            for e in kube.items("/api/v1/namespaces/argocd/events")
        )  # fmt: skip

    # The controller patches the operation state into the Application first and records the Event after it
    # (controller/appcontroller.go, setOperationState), so the Event may trail what the test just read.
    wait_until("the self-heal's OperationCompleted Event", completed_event, 30)


def test_a_resource_removed_from_git_is_pruned_and_a_revert_brings_it_back(live: LiveCluster) -> None:
    kube, copy = live.kube, live.plane.served_copy
    path = f"/apis/policy/v1/namespaces/{live.notejam_namespace()}/poddisruptionbudgets/notejam"
    kustomization = copy / "base" / "kustomization.yaml"
    text = kustomization.read_text()
    assert "\n  - pdb.yaml\n" in text
    kustomization.write_text(text.replace("\n  - pdb.yaml\n", "\n", 1))
    commit(copy, "Remove the PodDisruptionBudget")
    refresh(kube, "notejam")
    wait_until("the PodDisruptionBudget pruned", lambda: kube.get(path) is None)
    wait_until(
        "notejam Synced and Healthy", lambda: state_of(kube.get(f"{APPLICATIONS}/notejam")) == ("Synced", "Healthy")
    )
    revert(copy)
    refresh(kube, "notejam")
    wait_until("the PodDisruptionBudget back", lambda: kube.get(path) is not None)
    wait_until(
        "notejam Synced and Healthy", lambda: state_of(kube.get(f"{APPLICATIONS}/notejam")) == ("Synced", "Healthy")
    )
