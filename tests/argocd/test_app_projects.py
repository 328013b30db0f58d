"""The notejam AppProject of each cluster allows exactly what that environment's overlay renders, plus the child
kinds people look at in the resource tree."""

from __future__ import annotations

from functools import cache

import pytest
import yaml

from tests.argocd.argo_objects import IN_CLUSTER, REPO_URL, cluster_objects, overlay_objects, projects
from tools.manifests import Document
from tools.repository import ENVIRONMENTS
from tools.validation_data import crds_dir

# Built-in kinds that are not namespaced (the ones an app overlay could plausibly render).
CLUSTER_SCOPED_BUILTINS = {
    ("", "Namespace"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "StorageClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
}

GroupKind = tuple[str, str]

# Never in git, but allowed: a kind the project does not allow is hidden from the application's resource tree too
# (argo-cd#28564), and the tree should show the Deployment's ReplicaSets and Pods and the hook Jobs' Pods
# (tests/live/test_web_ui.py looks for them).
TREE_CHILDREN: set[GroupKind] = {("apps", "ReplicaSet"), ("", "Pod")}


def group_kind(doc: Document) -> GroupKind:
    api_version = doc["apiVersion"]
    return (api_version.split("/")[0] if "/" in api_version else "", doc["kind"])


@cache
def crd_scopes() -> dict[GroupKind, str]:
    """`Namespaced` or `Cluster` for every CRD kind in NOTEJAM_CRDS_DIR."""
    scopes = {}
    for path in crds_dir().rglob("*.yaml"):
        # libyaml: the CRDs are megabytes of schema.
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                scopes[(spec["group"], spec["names"]["kind"])] = spec["scope"]
    return scopes


def is_cluster_scoped(kind: GroupKind) -> bool:
    # Our claims are namespaced by definition (the composites are cluster-scoped, but git never holds those).
    return kind in CLUSTER_SCOPED_BUILTINS or crd_scopes().get(kind) == "Cluster"


def whitelist(entries: list[dict] | None) -> set[GroupKind]:
    return {(entry["group"], entry["kind"]) for entry in entries or []}


def whitelist_problems(project: Document, docs: list[Document]) -> list[str]:
    """How the project's kind whitelists differ from the kinds `docs` hold: each missing or surplus kind."""
    rendered = {group_kind(d) for d in docs}
    wanted = {
        "clusterResourceWhitelist": {k for k in rendered if is_cluster_scoped(k)},
        "namespaceResourceWhitelist": {k for k in rendered if not is_cluster_scoped(k)} | TREE_CHILDREN,
    }
    problems = []
    for field, kinds in wanted.items():
        allowed = whitelist(project["spec"].get(field))
        problems += [f"{field} lacks {group}/{kind}" for group, kind in sorted(kinds - allowed)]
        problems += [f"{field} allows {group}/{kind}, which is not rendered" for group, kind in sorted(allowed - kinds)]
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_notejam_project_whitelists_exactly_the_kinds_the_overlay_renders(environment: str) -> None:
    project = projects(environment)["notejam"]
    assert whitelist_problems(project, list(overlay_objects(environment))) == []


def test_whitelist_check_reports_a_missing_and_a_surplus_kind() -> None:
    project = projects("dev")["notejam"]
    docs = [d for d in overlay_objects("dev") if d["kind"] != "Ingress"]
    docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}})
    assert whitelist_problems(project, docs) == [
        "clusterResourceWhitelist lacks rbac.authorization.k8s.io/ClusterRole",
        "namespaceResourceWhitelist allows networking.k8s.io/Ingress, which is not rendered",
    ]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_notejam_project_allows_only_this_repository_and_its_own_namespace(environment: str) -> None:
    spec = projects(environment)["notejam"]["spec"]
    assert spec["sourceRepos"] == [REPO_URL]
    assert spec["destinations"] == [{"server": IN_CLUSTER, "namespace": f"notejam-{environment}"}]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlay_objects_stay_in_the_projects_namespace(environment: str) -> None:
    for doc in overlay_objects(environment):
        if not is_cluster_scoped(group_kind(doc)):
            assert doc["metadata"].get("namespace") == f"notejam-{environment}", doc["metadata"]["name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_notejam_project_allows_cluster_scoped_objects_only_by_the_names_the_overlay_renders(environment: str) -> None:
    """Without a name, the whitelist would let a commit under overlays/<env> adopt or prune any namespace."""
    entries = projects(environment)["notejam"]["spec"]["clusterResourceWhitelist"]
    rendered = {(*group_kind(d), d["metadata"]["name"]) for d in overlay_objects(environment)
                if is_cluster_scoped(group_kind(d))}  # fmt: skip
    assert {(e["group"], e["kind"], e.get("name", "*")) for e in entries} == rendered
    assert rendered == {("", "Namespace", f"notejam-{environment}")}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_root_project_allows_exactly_what_the_cluster_folder_renders(environment: str) -> None:
    """The root (project `bootstrap`) deploys clusters/<env>: Applications and AppProjects in argocd, from here."""
    spec = projects(environment)["bootstrap"]["spec"]
    assert spec["sourceRepos"] == [REPO_URL]
    assert spec["destinations"] == [{"server": IN_CLUSTER, "namespace": "argocd"}]
    assert not spec["clusterResourceWhitelist"]
    rendered = cluster_objects(environment)
    assert whitelist(spec["namespaceResourceWhitelist"]) == {group_kind(d) for d in rendered}
    assert {d["metadata"]["namespace"] for d in rendered} == {"argocd"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_built_in_default_project_allows_nothing(environment: str) -> None:
    spec = projects(environment)["default"]["spec"]
    assert spec["sourceRepos"] == [] and spec["destinations"] == [] and spec["sourceNamespaces"] == []
    assert spec["clusterResourceWhitelist"] == []  # stated: argocd-server creates the project with */*
    assert spec["namespaceResourceBlacklist"] == [{"group": "*", "kind": "*"}]
    apps = [d for d in cluster_objects(environment) if d["kind"] == "Application"]
    assert not [a["metadata"]["name"] for a in apps if a["spec"]["project"] == "default"]
