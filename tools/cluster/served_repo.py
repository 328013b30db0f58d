"""The repository as the local Argo CD sees it: a copy of HEAD, served by `git daemon`, with the stand-ins committed.

The copy is the working tree's HEAD (uncommitted changes are not served) on branch `main`, plus one commit that makes
it syncable without the internet, and says so:
- every `https://github.com/notejam/notejam-gitops.git` becomes the local daemon's URL (the AppProjects' source lists
  too, so their whitelists keep their meaning);
- every Application whose source is a Helm chart from the internet gets a local folder instead,
  `standins/<application>/`: the CRDs that chart installs (from the shared CRDs folder), a ConfigMap saying that it
  is a stand-in, and for kube-prometheus-stack its `Prometheus` (see `prometheus_standins`). The swap is a patch at
  the end of each `clusters/<env>/kustomization.yaml` (`standin_patch`), so the Application is first built as in
  production, with its cluster's chart version (`clusters/<env>/versions/`) and Helm values; the swap then keeps that
  version as an annotation on everything the stand-in deploys (`notejam.io/chart-version`). A chart bump in git is
  therefore a sync here too, and it reaches a cluster only when its own versions folder says so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tools.repository import CHART_CRD_FOLDERS, REPO_ROOT

UPSTREAM_URL = "https://github.com/notejam/notejam-gitops.git"
REPOSITORY_NAME = "notejam-gitops"
BRANCH = "main"
STANDINS = "standins"
ARGOCD_CHART = "argo-cd"
PROMETHEUS_CHART = "kube-prometheus-stack"
# On everything a stand-in deploys: the chart version its cluster's versions/ folder names.
CHART_VERSION_ANNOTATION = "notejam.io/chart-version"


def prometheus_standins(app: dict[str, Any], chart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What kube-prometheus-stack renders that the prometheus-operator stand-in reports on: the `Prometheus`
    (`<release>-prometheus`), whose health Argo CD waits for in this Application, and its CRD.

    The shared CRDs folder carries no Prometheus CRD (prometheus-operator v0.93.0: PodMonitor, PrometheusRule and
    ServiceMonitor only) and the Go module proxy serves that project only up to v0.85.0, so this CRD is a stand-in
    too, and says so: the group and kind of the real one, an open schema, the status subresource."""
    release = (chart.get("helm") or {}).get("releaseName") or app["metadata"]["name"]
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "prometheuses.monitoring.coreos.com",
            "annotations": {"notejam.io/stand-in": "the shared CRDs folder has no Prometheus CRD; open schema"},
        },
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {"kind": "Prometheus", "listKind": "PrometheusList", "plural": "prometheuses",
                      "singular": "prometheus", "categories": ["prometheus-operator"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }  # fmt: skip
    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": f"{release}-prometheus", "namespace": app["spec"]["destination"]["namespace"]},
        "spec": {"replicas": 1},
    }
    return {"crd-monitoring.coreos.com_prometheuses.standin.yaml": crd, "prometheus.yaml": prometheus}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)  # noqa: S603, S607
    return result.stdout


def argocd_chart_version(source: Path = REPO_ROOT) -> str:
    """The argo-cd chart version of apps/argocd/application.yaml (one for every cluster: the bootstrap installs it)."""
    app = yaml.safe_load((source / "apps" / "argocd" / "application.yaml").read_text())
    (chart,) = [c for c in chart_sources(app) if c["chart"] == ARGOCD_CHART]
    return str(chart["targetRevision"])


def chart_sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app.get("spec") or {}
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    return [source for source in sources if source.get("chart")]


def standin_configmap(app: dict[str, Any], chart: dict[str, Any]) -> dict[str, Any]:
    name = app["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"notejam-standin-{name}",
            "namespace": app["spec"]["destination"]["namespace"],
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "notejam-local-cluster"},
        },
        "data": {
            "stand-in-for": f"{chart['repoURL']} chart {chart['chart']} (its version: the {CHART_VERSION_ANNOTATION} "
            "annotation)",
            "why": "Helm charts come from the internet, which cannot be reached here; only the chart's CRDs are.",
        },
    }


def write_standin(copy: Path, app: dict[str, Any], chart: dict[str, Any], crds: Path, argocd_crds: Path) -> Path:
    """`standins/<application>/`, a kustomization (so that Argo CD can annotate what it deploys)."""
    folder = copy / STANDINS / app["metadata"]["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "standin.yaml").write_text(yaml.safe_dump(standin_configmap(app, chart), sort_keys=False))
    if chart["chart"] == PROMETHEUS_CHART:
        for name, document in prometheus_standins(app, chart).items():
            (folder / name).write_text(yaml.safe_dump(document, sort_keys=False))
    folder_of_crds = CHART_CRD_FOLDERS.get(chart["chart"])  # the Argo CD chart's: those of the release, below
    sources = [argocd_crds] if chart["chart"] == ARGOCD_CHART else [crds / folder_of_crds] if folder_of_crds else []
    for source in sources:
        for crd in sorted(source.glob("*.yaml")):
            text = crd.read_text()
            if "kind: CustomResourceDefinition" in text:
                (folder / f"crd-{crd.name}").write_text(text)
    resources = sorted(path.name for path in folder.glob("*.yaml") if path.name != "kustomization.yaml")
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder


def standin_patch(app: dict[str, Any], url: str, folder: str) -> list[dict[str, Any]]:
    """JSON6902 operations that swap the Application's chart source for its stand-in folder.

    They run after the cluster's own patches (chart version, Helm values), so they see the Application as production
    does: the chart's `targetRevision` moves into `kustomize.commonAnnotations` (RFC 6902 `move`), the Helm values go
    (`add` then `remove`, which works whether or not the cluster set any), and any other source from the internet
    (the Argo CD release's CRDs) goes; sources in this repository stay."""
    spec = app["spec"]
    if "sources" in spec:
        index = next(i for i, source in enumerate(spec["sources"]) if source.get("chart"))
        pointer = f"/spec/sources/{index}"
        internet = [i for i, s in enumerate(spec["sources"]) if not s.get("chart") and s.get("repoURL") != url]
    else:
        pointer, internet = "/spec/source", []
    annotations = f"{pointer}/kustomize/commonAnnotations"
    version = f"{annotations}/" + CHART_VERSION_ANNOTATION.replace("~", "~0").replace("/", "~1")
    return [
        {"op": "add", "path": f"{pointer}/kustomize", "value": {"commonAnnotations": {}}},
        {"op": "move", "from": f"{pointer}/targetRevision", "path": version},
        {"op": "add", "path": f"{pointer}/targetRevision", "value": BRANCH},
        {"op": "replace", "path": f"{pointer}/repoURL", "value": url},
        {"op": "remove", "path": f"{pointer}/chart"},
        {"op": "add", "path": f"{pointer}/path", "value": folder},
        {"op": "add", "path": f"{pointer}/helm", "value": {}},
        {"op": "remove", "path": f"{pointer}/helm"},
        *({"op": "remove", "path": f"/spec/sources/{i}"} for i in sorted(internet, reverse=True)),
    ]  # fmt: skip


def apply_standins(copy: Path, url: str, crds: Path, argocd_crds: Path) -> list[str]:
    """Rewrite the copy for the local control plane; return the names of the Applications given stand-ins."""
    for path in [*copy.glob("apps/**/*.yaml"), *copy.glob("clusters/**/*.yaml")]:
        text = path.read_text()
        if UPSTREAM_URL in text:
            path.write_text(text.replace(UPSTREAM_URL, url))
    patches = []
    for path in sorted(copy.glob("apps/**/*.yaml")):
        app = yaml.safe_load(path.read_text())
        if not isinstance(app, dict) or app.get("kind") != "Application" or not chart_sources(app):
            continue
        folder = write_standin(copy, app, chart_sources(app)[0], crds, argocd_crds)
        operations = standin_patch(app, url, str(folder.relative_to(copy)))
        name = app["metadata"]["name"]
        patches.append({"target": {"kind": "Application", "name": name}, "patch": yaml.safe_dump(operations)})
    for cluster in sorted(copy.glob("clusters/*/kustomization.yaml")):
        document = yaml.safe_load(cluster.read_text())
        document["patches"] = [*(document.get("patches") or []), *patches]
        cluster.write_text(yaml.safe_dump(document, sort_keys=False))
    return [patch["target"]["name"] for patch in patches]


def make_served_copy(base: Path, url: str, crds: Path, argocd_crds: Path, source: Path = REPO_ROOT) -> Path:
    """Clone HEAD of `source` into `<base>/notejam-gitops` on branch main and commit the stand-ins."""
    copy = base / REPOSITORY_NAME
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(source), str(copy)], check=True)  # noqa: S603, S607
    git("checkout", "--quiet", "-B", BRANCH, cwd=copy)
    replaced = apply_standins(copy, url, crds, argocd_crds)
    git("add", "-A", cwd=copy)
    message = f"Local stand-ins: repoURLs -> {url}; charts -> {STANDINS}/ ({', '.join(replaced)})"
    git("-c", "user.name=notejam-local", "-c", "user.email=local@notejam.invalid", "commit", "--quiet", "-m", message,
        cwd=copy)  # fmt: skip
    print(f"served repository: stand-ins for the Helm charts of {', '.join(replaced)} (CRDs, no chart runs here)")
    return copy


def commit(copy: Path, message: str) -> str:
    """Commit everything changed in the served copy (as a merge to main would); return the new revision."""
    git("add", "-A", cwd=copy)
    git("-c", "user.name=notejam-local", "-c", "user.email=local@notejam.invalid", "commit", "--quiet", "-m", message,
        cwd=copy)  # fmt: skip
    return git("rev-parse", "HEAD", cwd=copy).strip()


def revert(copy: Path, revision: str = "HEAD") -> str:
    """Revert one commit of the served copy (as a `git revert` merged to main would); return the new revision."""
    git("-c", "user.name=notejam-local", "-c", "user.email=local@notejam.invalid", "revert", "--no-edit", revision,
        cwd=copy)  # fmt: skip
    return git("rev-parse", "HEAD", cwd=copy).strip()


def daemon_command(base: Path, port: int) -> list[str]:
    return ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", f"--port={port}",
            f"--base-path={base}"]  # fmt: skip
