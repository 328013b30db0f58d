"""A release whose migration or smoke test fails is stopped, visibly, and a revert brings the cluster back, live.

kwok's pods run no code, so a failing container is kwok's own chaos Stage (`pod-container-running-failed`, built in
tools/cluster/build.py): the release commit labels the Job's pods for it and gives kwok's `pod-complete` Stage the
weight 0 for them (kwok picks among matching Stages by weight; both read it from these annotations). The Job then
fails as Kubernetes' Job controller fails it (its own backoffLimit, pods retried with its backoff), and Argo CD
reacts as it does to any failed hook: the sync fails, after the Application's retries (`apps/notejam/application.yaml`).

The migration case runs on dev and the smoke-test case on staging: each takes minutes of real backoff, and the
environments' tests run side by side.
"""

from __future__ import annotations

import time

import pytest
import yaml

from tests.live.conftest import LiveCluster, say
from tests.live.test_steady_state import wait_synced_healthy
from tools.cluster import served_repo
from tools.cluster.kube import Kube, Object
from tools.cluster.served_repo import commit
from tools.cluster.sync import APPLICATIONS, push_webhook, state_of, wait_until
from tools.promote import read_tag, set_tag

pytestmark = pytest.mark.control_plane

FAILING_TAG = "fa11ed0000000000000000000000000000000000"
# kwok's chaos Stage (kustomize/stage/pod/chaos/pod-container-running-failed.yaml) and its inputs.
FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
# Plain words: kwok's template writes the message into YAML unquoted, so ": " would break the Stage.
FAIL_MESSAGE = "this container exits 1 (a release test)"
# All three attempts (the first and `retry.limit: 2`), each with the Job's own backoff (10 s, 20 s, 40 s).
FAILED_SYNC_TIMEOUT = 480


def failing_pods_patch(job: str) -> dict:
    """A kustomize patch that makes every pod of `job` fail in kwok, as a failing container would."""
    annotations = {f"{FAIL_LABEL}/message": FAIL_MESSAGE, "pod-complete.stage.kwok.x-k8s.io/weight": "0"}
    template = {"metadata": {"labels": {FAIL_LABEL: "true"}, "annotations": annotations}}
    job_patch = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job}, "spec": {"template": template}}
    return {"patch": yaml.safe_dump(job_patch)}


def release_with_failing(live: LiveCluster, job: str) -> str:
    """Commit a release of FAILING_TAG to this environment whose `job` fails; return the revision."""
    copy = live.plane.served_copy
    set_tag(live.environment, FAILING_TAG, copy)
    path = copy / "overlays" / live.environment / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization["patches"] = [*(kustomization.get("patches") or []), failing_pods_patch(job)]
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return commit(copy, f"Release {FAILING_TAG[:12]} to {live.environment} (its {job} fails)")


def failed_sync(kube: Kube, revision: str) -> Object | None:
    operation = kube.get(f"{APPLICATIONS}/notejam")["status"].get("operationState") or {}
    synced = (operation.get("syncResult") or {}).get("revision") or operation.get("operation", {}).get("sync", {}).get(
        "revision"
    )
    return operation if operation.get("phase") == "Failed" and synced == revision else None


def hook_result(operation: Object, job: str) -> Object:
    [result] = [r for r in operation["syncResult"]["resources"] if r["kind"] == "Job" and r["name"] == job]
    return result


def job_of(kube: Kube, namespace: str, name: str) -> Object | None:
    return kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")


def image_tag(workload: Object) -> str:
    return workload["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


def failed_operation_event(kube: Kube, revision: str) -> list[str]:
    """Argo CD's Warning Event for the failed sync (what the Application's events show in the UI)."""
    return [
        e["message"] for e in kube.items("/api/v1/namespaces/argocd/events")
        if e["involvedObject"]["name"] == "notejam" and e["type"] == "Warning" and e["reason"] == "OperationCompleted"
        and revision in e["message"]
    ]  # fmt: skip


def heard_of_failure(live: LiveCluster, revision: str) -> None:
    """On-call's webhook got Argo CD Notifications' sync-failed for notejam at that revision, with Argo CD's message."""
    [message] = wait_until("on-call heard of the failed sync", lambda: live.on_call.received(
        event="sync-failed", application="notejam", revision=revision), 60)  # fmt: skip
    assert "failed" in message["message"] or "unsuccessfully" in message["message"], message


def failed_release(request: pytest.FixtureRequest, live: LiveCluster, job: str) -> tuple[str, Object]:
    """Release FAILING_TAG with `job` failing; wait until the sync failed for good and on-call heard of it. Returns
    the release's revision and the failed operation."""
    started = time.monotonic()
    revision = release_with_failing(live, job)
    push_webhook(live.kube)
    operation = wait_until("the sync failed", lambda: failed_sync(live.kube, revision), FAILED_SYNC_TIMEOUT, every=3)
    say(request.config, f"{live.environment}: {job} failed the sync in {time.monotonic() - started:.0f} s")
    heard_of_failure(live, revision)
    return revision, operation


def revert(live: LiveCluster, revision: str) -> str:
    """`git revert` of the release, merged, and the push webhook."""
    reverted = served_repo.revert(live.plane.served_copy, revision)
    push_webhook(live.kube)
    return reverted


def smoke_test_passed_at(kube: Kube, namespace: str, revision: str, tag: str) -> bool:
    app = kube.get(f"{APPLICATIONS}/notejam")
    operation = app["status"].get("operationState") or {}
    smoke = job_of(kube, namespace, "notejam-smoke-test")
    return (
        operation.get("phase") == "Succeeded"
        and operation.get("syncResult", {}).get("revision") == revision
        and state_of(app) == ("Synced", "Healthy")
        and smoke is not None
        and image_tag(smoke) == tag
        and smoke["status"].get("succeeded") == 1
    )


@pytest.mark.parametrize("live", ["dev"], indirect=True)
def test_a_release_whose_migration_fails_stops_before_the_deployment_and_the_smoke_test(
    request: pytest.FixtureRequest, live: LiveCluster
) -> None:
    kube, namespace = live.kube, live.notejam_namespace()
    deployment_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam"
    tag = read_tag(live.environment, live.plane.served_copy)
    deployment = kube.get(deployment_path)
    smoke_before = job_of(kube, namespace, "notejam-smoke-test")
    replica_sets = {rs["metadata"]["name"] for rs in kube.items(f"/apis/apps/v1/namespaces/{namespace}/replicasets")}

    revision, operation = failed_release(request, live, "notejam-migrate")
    migrate = hook_result(operation, "notejam-migrate")
    assert migrate["hookPhase"] == "Failed", migrate
    assert "backoff limit" in migrate["message"], migrate  # the Job controller's BackoffLimitExceeded
    assert operation["retryCount"] == 2
    # The Deployment kept its template and its ReplicaSets; the smoke test (PostSync) never ran.
    after = kube.get(deployment_path)
    assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert image_tag(after) == tag
    assert {rs["metadata"]["name"] for rs in kube.items(f"/apis/apps/v1/namespaces/{namespace}/replicasets")} == (
        replica_sets
    )
    smoke = job_of(kube, namespace, "notejam-smoke-test")
    assert smoke["metadata"]["uid"] == smoke_before["metadata"]["uid"]
    assert not [r for r in operation["syncResult"]["resources"] if r["name"] == "notejam-smoke-test"]
    # Visible: the Application is OutOfSync (git wants the new Deployment), and Argo CD's Warning Event says why.
    assert state_of(kube.get(f"{APPLICATIONS}/notejam"))[0] == "OutOfSync"
    assert failed_operation_event(kube, revision)
    pods = kube.items(f"/api/v1/namespaces/{namespace}/pods?labelSelector={FAIL_LABEL}%3Dtrue")
    assert {p["status"]["phase"] for p in pods} == {"Failed"}
    assert {p["status"]["containerStatuses"][0]["state"]["terminated"]["message"] for p in pods} == {FAIL_MESSAGE}

    # The revert leaves nothing to apply (the Deployment never changed): the Application turns Synced at the revert,
    # and the last operation stays the failed one until the next release.
    reverted = revert(live, revision)
    wait_until("Synced and Healthy at the revert", lambda: (app := kube.get(f"{APPLICATIONS}/notejam"))["status"][
        "sync"].get("revision") == reverted and state_of(app) == ("Synced", "Healthy"))  # fmt: skip
    assert kube.get(deployment_path)["metadata"]["generation"] == deployment["metadata"]["generation"]


@pytest.mark.parametrize("live", ["staging"], indirect=True)
def test_a_release_whose_smoke_test_fails_fails_the_sync_visibly_and_a_revert_rolls_back(
    request: pytest.FixtureRequest, live: LiveCluster
) -> None:
    kube, namespace = live.kube, live.notejam_namespace()
    deployment_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/notejam"
    tag = read_tag(live.environment, live.plane.served_copy)

    revision, operation = failed_release(request, live, "notejam-smoke-test")
    smoke = hook_result(operation, "notejam-smoke-test")
    assert smoke["hookPhase"] == "Failed" and "backoff limit" in smoke["message"], smoke
    assert hook_result(operation, "notejam-migrate")["hookPhase"] == "Succeeded"
    # The release was applied (a PostSync hook runs after the sync is healthy): the failure is the sync's.
    assert image_tag(kube.get(deployment_path)) == FAILING_TAG
    # Synced and Healthy, with the sync Failed. Waited for, not read once: health flips between Progressing and
    # Healthy around a sync (test_web_ui.py).
    app = wait_synced_healthy(kube, ["notejam"])["notejam"]
    assert app["status"]["operationState"]["phase"] == "Failed"
    assert failed_operation_event(kube, revision)

    # The revert is a new commit, so auto-sync applies it (a failed commit is not retried by itself): the previous
    # release comes back and its smoke test passes.
    reverted = revert(live, revision)
    wait_until("the revert synced, smoke test passed", lambda: smoke_test_passed_at(kube, namespace, reverted, tag))
    assert image_tag(kube.get(deployment_path)) == tag
    wait_until("the previous release rolled back", lambda: (s := kube.get(deployment_path)["status"]).get(
        "updatedReplicas") == s.get("replicas") == s.get("availableReplicas"))  # fmt: skip
