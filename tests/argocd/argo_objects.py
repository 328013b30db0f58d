"""Reading what each cluster's root Application deploys: the rendered clusters/<env>/ and the objects in it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tools.environment_facts import facts
from tools.manifests import Document, kustomize, kustomize_overlay, kustomize_source
from tools.repository import ENVIRONMENTS, REPO_ROOT

REPO_URL = "https://github.com/notejam/notejam-gitops.git"
TARGET_REVISION = "main"
IN_CLUSTER = "https://kubernetes.default.svc"
ACCOUNTS = {environment: facts(environment).account for environment in ENVIRONMENTS}
REGION = "eu-west-1"  # every environment's today (clusters/<env>/environment)
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"


@cache
def cluster_objects(environment: str) -> tuple[Document, ...]:
    """What the root Application of `environment` applies: `kustomize build clusters/<environment>`."""
    return tuple(kustomize(REPO_ROOT / "clusters" / environment))


@cache
def overlay_objects(environment: str) -> tuple[Document, ...]:
    """What the notejam Application of `environment` applies: `kustomize build overlays/<environment>`."""
    return tuple(kustomize_overlay(environment))


def of_kind(docs: tuple[Document, ...] | list[Document], kind: str) -> dict[str, Document]:
    """The objects of one Argo CD kind, by name (Applications and AppProjects are unique per name)."""
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def applications(environment: str) -> dict[str, Document]:
    return of_kind(cluster_objects(environment), "Application")


def projects(environment: str) -> dict[str, Document]:
    return of_kind(cluster_objects(environment), "AppProject")


def sources(application: Document) -> list[dict[str, Any]]:
    """An Application's sources, whether it uses `source` or `sources`."""
    spec = application["spec"]
    return list(spec.get("sources") or [spec["source"]])


def git_paths(application: Document) -> list[str]:
    """The repository paths an Application deploys (sources of this repository with a `path`)."""
    return [s["path"] for s in sources(application) if s["repoURL"] == REPO_URL and "path" in s]


@cache
def source_objects(environment: str, application: str, path: str) -> tuple[Document, ...]:
    """What an Application of `environment` applies from its source at `path` of this repository, rendered as Argo CD
    does (with the source's `kustomize.components`, which add the cluster's facts)."""
    [source] = [s for s in sources(applications(environment)[application]) if s.get("path") == path]
    return tuple(kustomize_source(source))


def helm_sources(application: Document) -> list[dict[str, Any]]:
    return [s for s in sources(application) if "chart" in s]


def helm_values(application: Document) -> dict[str, Any]:
    """The Helm values an Application passes inline, merged with the value files it reads from this repository."""
    values: dict[str, Any] = {}
    for source in helm_sources(application):
        helm = source.get("helm") or {}
        for value_file in helm.get("valueFiles") or []:
            values.update(yaml.safe_load(repo_file(value_file.removeprefix("$values/")).read_text()))
        values.update(helm.get("valuesObject") or {})
    return values


def repo_file(relative: str) -> Path:
    return REPO_ROOT / relative


def wave(obj: Document) -> int:
    return int(((obj["metadata"].get("annotations") or {}).get(WAVE_ANNOTATION)) or 0)


@cache
def eksctl_config(environment: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "clusters" / environment / "eksctl.yaml").read_text())


def role_arn(environment: str, role_name: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[environment]}:role/{role_name}"
