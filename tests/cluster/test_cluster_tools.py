"""The local control plane's tools, without starting anything: what they configure, serve and fake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.cluster import argocd_settings, kwok_nodes, served_repo
from tools.cluster.fake_controllers.crossplane import crds_from_xrd, provider_crd_files, unready_resources
from tools.cluster.versions import makefile_pins
from tools.manifests import kustomize
from tools.repository import ENVIRONMENTS, REPO_ROOT
from tools.validation_data import argocd_crds_dir, crds_dir

MODULES = ["build", "argocd_ui", "fake_controllers", "up", "down"]


@pytest.mark.parametrize("module", MODULES)
def test_every_cluster_tool_has_help(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", f"tools.cluster.{module}", "--help"], capture_output=True,
                            text=True, cwd=REPO_ROOT, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_the_control_plane_runs_the_clusters_kubernetes_minor_and_the_installed_argocd() -> None:
    pins = makefile_pins()
    control_plane_minor = int(pins["kubernetes"].split(".")[1])
    for environment in ENVIRONMENTS:
        eksctl = yaml.safe_load((REPO_ROOT / "clusters" / environment / "eksctl.yaml").read_text())
        cluster_minor = int(str(eksctl["metadata"]["version"]).split(".")[1])
        assert control_plane_minor == cluster_minor, environment
    assert argocd_crds_dir().parts[-3] == f"v3@{pins['argocd']}"
    wrapper = (REPO_ROOT / "tools" / "cluster" / "gomod" / "argocd" / "go.mod").read_text()
    assert f"github.com/argoproj/argo-cd/v3 {pins['argocd']}" in wrapper
    kubernetes = (REPO_ROOT / "tools" / "cluster" / "gomod" / "kubernetes" / "go.mod").read_text()
    assert f"k8s.io/kubernetes {pins['kubernetes']}" in kubernetes


def test_argocd_cm_is_the_charts_defaults_overridden_by_the_values_file() -> None:
    values = yaml.safe_load(argocd_settings.VALUES_FILE.read_text())["configs"]["cm"]
    objects = {o["metadata"]["name"]: o for o in argocd_settings.settings_objects()}
    cm = objects["argocd-cm"]
    assert cm["data"] == {**argocd_settings.CHART_CM_DEFAULTS, **values}
    assert cm["data"]["timeout.reconciliation"] == "180s"  # a chart default our values do not set
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    params = yaml.safe_load(argocd_settings.VALUES_FILE.read_text())["configs"]["params"]
    assert objects["argocd-cmd-params-cm"]["data"] == {
        **argocd_settings.CHART_PARAMS_DEFAULTS,
        **{k: str(v) for k, v in params.items()},
    }


def test_the_local_controller_reads_the_repo_error_grace_period_as_the_statefulset_does() -> None:
    """Argo CD's StatefulSet maps argocd-cmd-params-cm's key to ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS."""
    statefulset = argocd_crds_dir().parent / "base" / "application-controller"
    text = (statefulset / "argocd-application-controller-statefulset.yaml").read_text()
    assert "ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS" in text and "controller.repo.error.grace.period.seconds" in text
    assert argocd_settings.controller_env() == {"ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS": "60"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_one_kwok_node_per_zone_labelled_like_eks(environment: str) -> None:
    eksctl = yaml.safe_load((REPO_ROOT / "clusters" / environment / "eksctl.yaml").read_text())
    nodes = kwok_nodes.nodes(environment)
    assert sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes) == sorted(
        eksctl["availabilityZones"]
    )
    groups = {g["name"] for g in eksctl["managedNodeGroups"]}
    for node in nodes:
        name = node["metadata"]["name"]
        # kwok fakes it; metrics-server scrapes its resource metrics where kwok serves them
        assert node["metadata"]["annotations"] == {
            "kwok.x-k8s.io/node": "fake",
            "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
        }
        assert node["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] in groups


def applications_of(cluster: Path) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in kustomize(cluster) if doc["kind"] == "Application"}


@pytest.fixture(scope="module")
def served_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return served_repo.make_served_copy(tmp_path_factory.mktemp("served"), SERVED_URL, crds_dir(), argocd_crds_dir())


SERVED_URL = "git://127.0.0.1:1/notejam-gitops"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_served_copy_replaces_only_charts_and_keeps_each_clusters_chart_versions(
    served_copy: Path, environment: str
) -> None:
    production = applications_of(REPO_ROOT / "clusters" / environment)
    served = applications_of(served_copy / "clusters" / environment)
    assert served.keys() == production.keys()
    for name, app in served.items():
        original = production[name]
        assert app["spec"]["syncPolicy"] == original["spec"]["syncPolicy"], name  # sync options are what is tested
        sources = app["spec"].get("sources") or [app["spec"]["source"]]
        assert not served_repo.chart_sources(app), name
        assert {source["repoURL"] for source in sources} == {SERVED_URL}, name
        charts = served_repo.chart_sources(original)
        if charts:  # the version this cluster's versions/ folder (or the Application) names, kept for the stand-in
            annotations = sources[0]["kustomize"]["commonAnnotations"]
            assert annotations == {served_repo.CHART_VERSION_ANNOTATION: charts[0]["targetRevision"]}, name
            assert sources[0]["path"] == f"{served_repo.STANDINS}/{name}"


def test_the_served_copy_stands_in_for_chart_contents(served_copy: Path) -> None:
    copy = served_copy
    standin = copy / "standins" / "external-secrets"
    assert (standin / "crd-external-secrets.io_secretstores.yaml").is_file()
    # kube-prometheus-stack's Prometheus, for the prometheus-operator stand-in, with a CRD that says it is a stand-in.
    monitoring = copy / "standins" / "kube-prometheus-stack"
    prometheus = yaml.safe_load((monitoring / "prometheus.yaml").read_text())
    assert prometheus["metadata"] == {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring"}
    crd = yaml.safe_load((monitoring / "crd-monitoring.coreos.com_prometheuses.standin.yaml").read_text())
    assert "notejam.io/stand-in" in crd["metadata"]["annotations"]
    assert "stand-in-for" in (standin / "standin.yaml").read_text()
    # A kustomization, so that the chart version can annotate all of it.
    assert {doc["kind"] for doc in kustomize(standin)} == {"ConfigMap", "CustomResourceDefinition"}
    log = subprocess.run(["git", "log", "-1", "--format=%s"], cwd=copy, capture_output=True, text=True, check=True)
    assert log.stdout.startswith("Local stand-ins")


def test_claim_crds_generated_from_our_xrds_keep_their_schema() -> None:
    xrd = yaml.safe_load((REPO_ROOT / "crossplane" / "apis" / "postgresql" / "definition.yaml").read_text())
    composite, claim = crds_from_xrd(xrd)
    assert claim["spec"]["scope"] == "Namespaced" and composite["spec"]["scope"] == "Cluster"
    spec = claim["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "writeConnectionSecretToRef" in spec["properties"]
    assert spec["properties"]["parameters"] == xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"]["properties"]["parameters"]  # fmt: skip


def test_each_provider_package_installs_its_service_crds() -> None:
    folder = crds_dir() / "provider-upjet-aws"
    rds = provider_crd_files("xpkg.crossplane.io/crossplane-contrib/provider-aws-rds:v2.6.0", folder)
    assert rds and all(p.name.startswith("rds.aws.upbound.io_") for p in rds)
    family = provider_crd_files("xpkg.crossplane.io/crossplane-contrib/provider-family-aws:v2.6.0", folder)
    assert [p.name for p in family] == ["aws.upbound.io_providerconfigs.yaml"]


def test_the_crossplane_standin_keeps_a_claim_without_its_password_secret_unready() -> None:
    claim = yaml.safe_load((REPO_ROOT / "overlays" / "prod" / "database-claim.yaml").read_text())
    claim["metadata"]["namespace"] = "notejam-prod"
    asked = []

    def exists(namespace: str, name: str) -> bool:
        asked.append((namespace, name))
        return False

    assert unready_resources(claim, exists) == ["rds-instance"]
    assert asked == [("notejam-prod", "notejam-db-master-password")]
    assert unready_resources(claim, lambda namespace, name: True) == []
