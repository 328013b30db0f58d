"""What holds data is never deleted by Argo CD, live: the claims (a database, its backups) and our platform API (the
XRDs, whose deletion deletes every composite of their type, and the Compositions) survive their removal from git
and the deletion of their Application, as `argocd app delete` (cascading) or the UI's Delete does it.

The protection is `argocd.argoproj.io/sync-options: Delete=false,Prune=false` (overlays/*/…-claim.yaml,
crossplane/apis/kustomization.yaml). Runs on prod's control plane, after its promotion: deleting the Applications
makes the root recreate and sync them again, which takes minutes."""

from __future__ import annotations

import re

import pytest

from tests.live.conftest import LiveCluster, say
from tools.cluster.kube import Kube, Object
from tools.cluster.served_repo import commit, revert
from tools.cluster.sync import APPLICATIONS, push_webhook, state_of, wait_until

pytestmark = pytest.mark.control_plane

CLAIMS = "/apis/platform.notejam.io/v1alpha1"
FINALIZER = "resources-finalizer.argocd.argoproj.io"  # what `argocd app delete --cascade` sets before it deletes


def data_holders(kube: Kube, namespace: str) -> dict[str, str]:
    """`{kind/name: uid}` of the claims, XRDs, Compositions and the app's namespace: a new uid is a deletion."""
    found = {}
    paths = [f"{CLAIMS}/namespaces/{namespace}/postgresqlinstances", f"{CLAIMS}/namespaces/{namespace}/databasebackups",
             "/apis/apiextensions.crossplane.io/v1/compositeresourcedefinitions",
             "/apis/apiextensions.crossplane.io/v1/compositions"]  # fmt: skip
    for path in paths:
        for item in kube.items(path):
            found[f"{path.rsplit('/', 1)[1]}/{item['metadata']['name']}"] = item["metadata"]["uid"]
    found[f"namespaces/{namespace}"] = kube.get(f"/api/v1/namespaces/{namespace}")["metadata"]["uid"]
    return found


def operation_at(kube: Kube, name: str, revision: str) -> Object | None:
    operation = kube.get(f"{APPLICATIONS}/{name}")["status"].get("operationState") or {}
    done = operation.get("phase") == "Succeeded" and (operation.get("syncResult") or {}).get("revision") == revision
    return operation if done else None


def synced_and_healthy(kube: Kube, names: tuple[str, ...]) -> bool:
    return all(state_of(app) == ("Synced", "Healthy") for app in kube.items(APPLICATIONS)
               if app["metadata"]["name"] in names)  # fmt: skip


# A strategic-merge patch of the DatabaseBackup claim in an overlay (prod's retention), with its comment lines.
BACKUP_CLAIM_PATCH = re.compile(
    r"(?:^  #[^\n]*\n)*^  - patch: \|-\n(?:^      [^\n]*\n)*?^      kind: DatabaseBackup\n(?:^      [^\n]*\n)*", re.M
)


@pytest.mark.parametrize("live", ["prod"], indirect=True)
def test_claims_xrds_and_compositions_survive_removal_from_git_and_deletion_of_their_application(
    request: pytest.FixtureRequest, live: LiveCluster
) -> None:
    kube, copy, namespace, environment = live.kube, live.plane.served_copy, live.notejam_namespace(), live.environment
    before = data_holders(kube, namespace)
    assert {key.split("/")[0] for key in before} == {
        "postgresqlinstances",
        "databasebackups",
        "compositeresourcedefinitions",
        "compositions",
        "namespaces",
    }

    # 1. They leave git: auto-sync runs, and skips them with Argo CD's "ignored (no prune)".
    overlay, apis = copy / "overlays" / environment / "kustomization.yaml", copy / "crossplane/apis/kustomization.yaml"
    base = copy / "base" / "kustomization.yaml"
    for path, line in ((overlay, "  - database-claim.yaml\n"), (base, "  - backup-claim.yaml\n"),
                       (apis, "  - backup\n")):  # fmt: skip
        assert line in path.read_text(), (path, line)
        path.write_text(path.read_text().replace(line, "", 1))
    # With the backup claim, an overlay's patch of it goes too (prod's retention): kustomize refuses a patch of nothing.
    overlay.write_text(BACKUP_CLAIM_PATCH.sub("", overlay.read_text()))
    removed = commit(copy, "Remove the claims and the backup API from git")
    push_webhook(kube)
    for name, kinds in (("notejam", {"PostgreSQLInstance", "DatabaseBackup"}),
                        ("crossplane-apis", {"CompositeResourceDefinition", "Composition"})):  # fmt: skip
        operation = wait_until(f"{name} synced {removed[:12]}", lambda n=name: operation_at(kube, n, removed))
        skipped = {
            r["kind"]: r["message"] for r in operation["syncResult"]["resources"] if r["status"] == "PruneSkipped"
        }
        assert set(skipped) == kinds and set(skipped.values()) == {"ignored (no prune)"}, (name, skipped)
        assert state_of(kube.get(f"{APPLICATIONS}/{name}"))[0] == "OutOfSync"  # Argo CD shows what it kept
    assert data_holders(kube, namespace) == before
    reverted = revert(copy)
    push_webhook(kube)
    wait_until("back to Synced", lambda: all(operation_at(kube, n, reverted) or state_of(kube.get(
        f"{APPLICATIONS}/{n}")) == ("Synced", "Healthy") for n in ("notejam", "crossplane-apis")))  # fmt: skip

    # 2. Their Applications are deleted with a cascade, the way `argocd app delete` does; the root recreates them.
    for name in ("notejam", "crossplane-apis"):
        deleted = kube.get(f"{APPLICATIONS}/{name}")
        kube.merge_patch(f"{APPLICATIONS}/{name}", {"metadata": {"finalizers": [FINALIZER]}})
        kube.delete(f"{APPLICATIONS}/{name}")
        wait_until(
            f"{name} deleted and recreated by the root",
            lambda n=name, uid=deleted["metadata"]["uid"]: (
                (app := kube.get(f"{APPLICATIONS}/{n}")) is not None and app["metadata"]["uid"] != uid
            ),
            300,
        )
        say(request.config, f"{environment}: Application {name} deleted (cascade) and recreated")
    # The cascade deleted what the Application managed (the Deployment goes and comes back), not what holds data.
    wait_until(
        "the tree Synced and Healthy again",
        lambda: synced_and_healthy(kube, ("root", "notejam", "crossplane-apis")),
        420,
    )
    assert data_holders(kube, namespace) == before
