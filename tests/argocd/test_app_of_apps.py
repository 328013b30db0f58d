"""The app of apps of each cluster: what the root deploys, from where, into which project, in which order."""

from __future__ import annotations

import re
from functools import cache

import pytest

from tests.argocd.argo_objects import (
    IN_CLUSTER,
    REPO_URL,
    TARGET_REVISION,
    applications,
    cluster_objects,
    git_paths,
    helm_sources,
    projects,
    source_objects,
    sources,
    wave,
)
from tools.manifests import kustomize
from tools.repository import ENVIRONMENTS, REPO_ROOT
from tools.validate import discover_targets

ARGOCD_RELEASE_REPO = "https://github.com/argoproj/argo-cd.git"

EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
ARGO_KINDS = {"Application", "ApplicationSet", "AppProject"}


def is_exact_version(version: str) -> bool:
    """A Helm chart version that names one release: no range, no wildcard, no `v` prefix."""
    return bool(EXACT_VERSION.match(version))


@cache
def rendered(path: str) -> tuple:
    """`kustomize build <path>`, once per path for all clusters."""
    return tuple(kustomize(REPO_ROOT / path))


@cache
def validated_kustomizations() -> frozenset:
    """What tests/manifests/test_repository_validates.py builds and kubeconforms -strict."""
    return frozenset(t.path for t in discover_targets(REPO_ROOT) if t.is_kustomization)


@pytest.mark.parametrize("version", ["1.2.3", "10.9.5", "2.3.4"])
def test_exact_versions_are_accepted(version: str) -> None:
    assert is_exact_version(version)


@pytest.mark.parametrize("version", ["1.2.x", "^1.2.0", "~1.2.0", ">=1.0.0", "*", "1.2", "v1.2.3", "1.2.3-rc.1", ""])
def test_ranges_and_wildcards_are_rejected(version: str) -> None:
    assert not is_exact_version(version)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_root_application_syncs_its_own_cluster_folder(environment: str) -> None:
    # `applications` reads the render of clusters/<env>: the root is part of what it syncs, so a change to
    # apps/root.yaml reaches the cluster through git like everything else (docs/bootstrap.md applies the same
    # render once by hand, selected by its label).
    root = applications(environment)["root"]
    assert git_paths(root) == [f"clusters/{environment}"]
    assert root["spec"]["project"] == "bootstrap"
    assert root["metadata"]["labels"]["app.kubernetes.io/name"] == "root"
    assert [
        a for a in applications(environment).values() if a["metadata"]["labels"]["app.kubernetes.io/name"] == "root"
    ] == [root]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_git_sources_are_this_repository_at_main(environment: str) -> None:
    for name, application in applications(environment).items():
        for source in sources(application):
            if "chart" in source or source["repoURL"] == ARGOCD_RELEASE_REPO:
                continue
            assert source["repoURL"] == REPO_URL, f"{name}: git source {source['repoURL']} is not this repository"
            assert source["targetRevision"] == TARGET_REVISION, f"{name}: targetRevision {source['targetRevision']}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_helm_chart_versions_are_exact(environment: str) -> None:
    charts = [(name, s) for name, app in applications(environment).items() for s in helm_sources(app)]
    assert charts, "the add-ons are Helm charts"
    for name, source in charts:
        assert is_exact_version(str(source["targetRevision"])), f"{name}: chart version {source['targetRevision']!r}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_git_source_path_exists_renders_and_validates(environment: str) -> None:
    for name, application in applications(environment).items():
        for path in git_paths(application):
            directory = REPO_ROOT / path
            assert (directory / "kustomization.yaml").is_file(), f"{name}: {path} is not a kustomization"
            assert rendered(path), f"{name}: {path} renders nothing"
            assert source_objects(environment, name, path), f"{name}: {path} with its components renders nothing"
            assert directory in validated_kustomizations(), f"{name}: {path} is not in the validation loop"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_at_most_three_levels(environment: str) -> None:
    """Root app, then Applications and AppProjects, then manifests: a child app deploys no Argo CD objects."""
    children = {name: app for name, app in applications(environment).items() if name != "root"}
    assert children
    for name, application in children.items():
        for path in git_paths(application):
            docs = rendered(path)
            nested = sorted({d["kind"] for d in docs} & ARGO_KINDS)
            assert not nested, f"{name}: {path} deploys {nested}, a fourth level"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_applications_deploy_into_their_own_cluster(environment: str) -> None:
    for name, application in applications(environment).items():
        destination = application["spec"]["destination"]
        assert destination == {"server": IN_CLUSTER, "namespace": destination["namespace"]}, name
        assert application["metadata"]["namespace"] == "argocd", name


def allows(project: dict, application: dict) -> list[str]:
    """Why `project` would refuse `application` (empty when it is allowed)."""
    spec = project["spec"]
    problems = []
    destination = application["spec"]["destination"]
    if not any(
        d.get("server") in (destination["server"], "*") and d.get("namespace") in (destination["namespace"], "*")
        for d in spec.get("destinations") or []
    ):
        problems.append(f"destination {destination} is not in project {project['metadata']['name']}")
    for source in sources(application):
        if source["repoURL"] not in spec.get("sourceRepos") or []:
            problems.append(f"repository {source['repoURL']} is not in project {project['metadata']['name']}")
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_application_is_allowed_by_its_project_in_the_same_cluster(environment: str) -> None:
    cluster_projects = projects(environment)
    for name, application in applications(environment).items():
        project = application["spec"]["project"]
        if name == "root":
            continue  # the built-in `default` project, which exists before anything is synced
        assert project in cluster_projects, f"{name}: project {project} is not deployed to {environment}"
        assert allows(cluster_projects[project], application) == [], name


def test_a_project_refuses_a_foreign_namespace_and_repository() -> None:
    project = projects("dev")["notejam"]
    application = {
        "spec": {
            "destination": {"server": IN_CLUSTER, "namespace": "notejam-prod"},
            "source": {"repoURL": "https://github.com/someone/else.git", "path": ".", "targetRevision": "main"},
        }
    }
    assert len(allows(project, application)) == 2


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_project_is_used_and_platform_apps_use_platform(environment: str) -> None:
    apps = applications(environment)
    assert apps["notejam"]["spec"]["project"] == "notejam"
    addons = [name for name in apps if name not in ("root", "notejam")]
    assert {apps[name]["spec"]["project"] for name in addons} == {"platform"}
    assert apps["root"]["spec"]["project"] == "bootstrap"
    # `default` is Argo CD's built-in one, kept restricted to nothing (tests/argocd/test_app_projects.py).
    assert set(projects(environment)) == {"bootstrap", "default", "platform", "notejam"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_sync_waves_put_operators_first_crossplane_next_and_the_app_last(environment: str) -> None:
    apps = applications(environment)
    operators = ["crossplane", "external-secrets", "aws-load-balancer-controller"]
    crossplane_order = ["crossplane-packages", "crossplane-provider-config", "crossplane-apis"]
    assert max(wave(p) for p in projects(environment).values()) < min(wave(a) for a in apps.values())
    assert max(wave(apps[name]) for name in operators) < wave(apps[crossplane_order[0]])
    waves = [wave(apps[name]) for name in crossplane_order]
    assert waves == sorted(waves) and len(set(waves)) == len(waves), dict(zip(crossplane_order, waves, strict=True))
    assert wave(apps["prometheus-adapter"]) > wave(apps["kube-prometheus-stack"])
    # kube-prometheus-stack's second source (apps/addons/monitoring, with the cluster's facts) holds an ExternalSecret
    # and a SecretStore.
    assert wave(apps["kube-prometheus-stack"]) > wave(apps["external-secrets"])
    others = [wave(app) for name, app in apps.items() if name != "notejam"]
    assert wave(apps["notejam"]) > max(others)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_application_syncs_itself_with_retries(environment: str) -> None:
    for name, application in applications(environment).items():
        policy = application["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, name
        backoff = policy["retry"]["backoff"]
        assert policy["retry"]["limit"] != 0 and backoff["factor"] > 1 and backoff["maxDuration"], name
        # Without it a retry re-syncs the failed commit, and one that retries forever never takes the fix.
        assert policy["retry"]["refresh"] is True, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_root_and_platform_applications_never_stop_retrying(environment: str) -> None:
    """After `limit` failed attempts Argo CD stops auto-syncing the revision ("Skipping auto-sync: failed previous
    sync attempt") until a manual sync or a new commit: the root and the platform wait on controllers that take
    minutes, so they retry forever (-1). Notejam keeps a limit: a failing migration must end as a failed sync."""
    for name, application in applications(environment).items():
        limit = application["spec"]["syncPolicy"]["retry"]["limit"]
        if application["spec"]["project"] == "notejam":
            assert limit > 0, name
        else:
            assert limit == -1, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_notejam_application_deploys_its_environment_overlay(environment: str) -> None:
    notejam = applications(environment)["notejam"]
    assert git_paths(notejam) == [f"overlays/{environment}"]
    assert notejam["spec"]["destination"]["namespace"] == f"notejam-{environment}"
    options = notejam["spec"]["syncPolicy"].get("syncOptions") or []
    # ignoreDifferences without RespectIgnoreDifferences is ignored by sync, which then resets the field.
    assert bool(notejam["spec"].get("ignoreDifferences")) == ("RespectIgnoreDifferences=true" in options)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cluster_render_holds_only_argo_cd_objects(environment: str) -> None:
    kinds = {d["kind"] for d in cluster_objects(environment)}
    assert kinds == {"Application", "AppProject"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_ignored_differences_are_respected_by_sync(environment: str) -> None:
    for name, application in applications(environment).items():
        options = application["spec"]["syncPolicy"].get("syncOptions") or []
        # ignoreDifferences without RespectIgnoreDifferences only hides the diff: sync still resets the field.
        assert bool(application["spec"].get("ignoreDifferences")) == ("RespectIgnoreDifferences=true" in options), name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_load_balancer_controller_keeps_its_first_webhook_certificate(environment: str) -> None:
    """The chart generates a new CA on every `helm template` (its `lookup` reuse cannot work in Argo CD)."""
    ignored = {
        (rule.get("group", ""), rule["kind"]): rule.get("jqPathExpressions") or rule.get("jsonPointers")
        for rule in applications(environment)["aws-load-balancer-controller"]["spec"].get("ignoreDifferences") or []
    }
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert ignored.get(("admissionregistration.k8s.io", kind)) == [".webhooks[]?.clientConfig.caBundle"], kind
    assert ignored.get(("", "Secret")) == ["/data"]
