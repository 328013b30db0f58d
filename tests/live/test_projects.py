"""Argo CD's projects hold, as Argo CD enforces them: the notejam project admits its own namespace only, by name, and
the built-in `default` project admits nothing (apps/projects/default.yaml), so neither a commit under overlays/<env>
nor an Application created in `default` can reach another namespace of the cluster."""

from __future__ import annotations

import json
import time

import pytest

from tests.live.conftest import LiveCluster
from tools.cluster.kube import Object
from tools.cluster.served_repo import commit, revert
from tools.cluster.sync import APPLICATIONS, push_webhook, state_of, wait_until

pytestmark = [pytest.mark.control_plane, pytest.mark.parametrize("live", ["staging"], indirect=True)]

ELSEWHERE = "notejam-elsewhere"
REFUSED_TIMEOUT = 120


def mentions_not_permitted(app: Object | None) -> bool:
    return "not permitted" in json.dumps((app or {}).get("status") or {})


def namespace_refused(app: Object | None, revision: str) -> bool:
    """The notejam Application tried `revision` and Argo CD refused the Namespace named ELSEWHERE by the project."""
    status = (app or {}).get("status") or {}
    operation = status.get("operationState") or {}
    if (operation.get("syncResult") or {}).get("revision") != revision:
        return False
    # The kind check's words (a namespaced resource in that namespace fails the destination check instead:
    # "namespace ... is not permitted in project"); without the name in the whitelist, a Namespace passes it.
    return any(r["kind"] == "Namespace" and r["name"] == ELSEWHERE and r.get("status") == "SyncFailed"
               and r.get("message", "").startswith("resource :Namespace is not permitted in project")
               for r in operation["syncResult"].get("resources") or [])  # fmt: skip


def test_argo_cd_refuses_a_namespace_the_notejam_project_does_not_name(live: LiveCluster) -> None:
    """The overlay's namespace changed by a commit: Argo CD refuses the Namespace it renders, by its name (without
    the name in the project's whitelist, the namespace of any other team would be Argo CD's to adopt and prune)."""
    copy, kube = live.plane.served_copy, live.kube
    kustomization = copy / "overlays" / live.environment / "kustomization.yaml"
    text = kustomization.read_text()
    own = f"namespace: {live.notejam_namespace()}\n"
    assert own in text
    kustomization.write_text(text.replace(own, f"namespace: {ELSEWHERE}\n", 1))
    moved = commit(copy, "The overlay moved to a namespace that is not the environment's")
    push_webhook(kube)
    try:
        refused = lambda: namespace_refused(kube.get(f"{APPLICATIONS}/notejam"), moved)  # noqa: E731
        wait_until("the Namespace refused by the notejam project", refused, timeout=REFUSED_TIMEOUT)
        assert kube.get(f"/api/v1/namespaces/{ELSEWHERE}") is None
    finally:
        reverted = revert(copy, moved)
        push_webhook(kube)
    wait_until("notejam Synced and Healthy again", lambda: (a := kube.get(f"{APPLICATIONS}/notejam"))
               and a["status"]["sync"].get("revision") == reverted and state_of(a) == ("Synced", "Healthy"),
               timeout=240)  # fmt: skip
    assert kube.get(f"/api/v1/namespaces/{ELSEWHERE}") is None


def test_an_application_in_the_default_project_deploys_nothing(live: LiveCluster) -> None:
    kube = live.kube
    stray = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "stray", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": live.plane.info()["git_url"], "targetRevision": "main", "path": "apps/projects"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
            "syncPolicy": {"automated": {}},
        },
    }
    default = kube.get("/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/default")["spec"]
    assert not default.get("destinations") and not default.get("clusterResourceWhitelist"), default
    kube.apply([stray])
    try:
        app = wait_until("the stray Application refused", lambda: (a := kube.get(f"{APPLICATIONS}/stray"))
                         and mentions_not_permitted(a) and a, timeout=REFUSED_TIMEOUT)  # fmt: skip
        conditions = [c["type"] for c in app["status"].get("conditions") or []]
        assert "InvalidSpecError" in conditions, app["status"]
        time.sleep(5)
        assert not (kube.get(f"{APPLICATIONS}/stray") or {}).get("status", {}).get("operationState")
    finally:
        kube.delete(f"{APPLICATIONS}/stray")
