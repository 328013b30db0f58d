"""Add-on charts and Crossplane packages are versioned per cluster (clusters/<env>/versions/): a bump in dev changes
what dev renders and nothing else, and the promotion that carries the app's image tag carries it to staging, then
prod."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tools import promote
from tools.manifests import build_kustomization, kustomize_source
from tools.renovate_extract import working_tree_files
from tools.repository import ENVIRONMENTS, REPO_ROOT

VERSION = re.compile(r"^v?\d+\.\d+\.\d+$|^[0-9a-f]{40}$")


def copy_of_the_repository(dest: Path) -> Path:
    for name in working_tree_files(REPO_ROOT):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return dest


def rendered(root: Path, env: str) -> str:
    """What the cluster's Argo CD applies from git: its root kustomization and its Crossplane packages."""
    cluster = build_kustomization(root / "clusters" / env)
    [packages] = [d for d in yaml.safe_load_all(cluster) if d and d["metadata"]["name"] == "crossplane-packages"]
    return cluster + "---\n" + yaml.safe_dump_all(kustomize_source(packages["spec"]["source"], root))


def documents(root: Path, env: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(rendered(root, env)) if doc]


def bump(path: Path, pattern: str, new: str) -> str:
    """Replace the one version `pattern` captures, as Renovate does; returns the old version."""
    text = path.read_text()
    matches = list(re.finditer(pattern, text))
    assert len(matches) == 1, f"{path}: {pattern} matches {len(matches)} times"
    old = matches[0].group(1)
    path.write_text(text[: matches[0].start(1)] + new + text[matches[0].end(1) :])
    return old


def chart_versions(docs: list[dict]) -> dict[str, str]:
    versions = {}
    for doc in docs:
        if doc["kind"] != "Application":
            continue
        spec = doc["spec"]
        for source in [spec["source"]] if "source" in spec else spec.get("sources") or []:
            if source.get("chart"):
                versions[source["chart"]] = str(source.get("targetRevision", ""))
    return versions


def package_tags(docs: list[dict]) -> dict[str, str]:
    return {
        doc["spec"]["package"].rpartition(":")[0] or doc["spec"]["package"]: doc["spec"]["package"].rpartition(":")[2]
        for doc in docs
        if doc["kind"] in ("Provider", "Function")
    }


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_the_repository(tmp_path_factory.mktemp("repository"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_chart_and_package_of_a_cluster_has_a_version(env: str) -> None:
    docs = documents(REPO_ROOT, env)
    charts, packages = chart_versions(docs), package_tags(docs)
    assert charts and packages
    for name, version in {**charts, **packages}.items():
        assert VERSION.match(version), f"clusters/{env}: {name} has no pinned version ({version!r})"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_versions_folder_names_no_environment_so_promotion_can_copy_it(env: str) -> None:
    files = promote.version_files(env, REPO_ROOT)
    assert {"addons/kustomization.yaml", "crossplane-packages/kustomization.yaml"} <= set(files)
    for name, text in files.items():
        assert not promote.NAMES_AN_ENVIRONMENT.search(text), f"clusters/{env}/versions/{name} names a cluster"


def test_a_bump_in_dev_changes_dev_only_and_promotion_carries_it_forward(repository: Path) -> None:
    before = {env: rendered(repository, env) for env in ENVIRONMENTS}
    dev = repository / "clusters/dev/versions"
    chart = bump(dev / "addons/crossplane.yaml", r"targetRevision: (\S+)", "99.1.0")
    package = bump(dev / "crossplane-packages/kustomization.yaml", r"provider-aws-rds\n\s+newTag: (\S+)", "v99.2.0")
    after = {env: rendered(repository, env) for env in ENVIRONMENTS}
    assert after["staging"] == before["staging"] and after["prod"] == before["prod"]
    dev_docs = documents(repository, "dev")
    assert chart_versions(dev_docs)["crossplane"] == "99.1.0" != chart
    assert package_tags(dev_docs)["xpkg.crossplane.io/crossplane-contrib/provider-aws-rds"] == "v99.2.0" != package

    assert promote.main(["--root", str(repository), "--from-env", "dev", "--env", "staging"]) == 0
    staging_docs = documents(repository, "staging")
    assert chart_versions(staging_docs)["crossplane"] == "99.1.0"
    assert package_tags(staging_docs)["xpkg.crossplane.io/crossplane-contrib/provider-aws-rds"] == "v99.2.0"
    assert rendered(repository, "prod") == before["prod"]

    assert promote.main(["--root", str(repository), "--from-env", "staging", "--env", "prod"]) == 0
    prod_docs = documents(repository, "prod")
    assert chart_versions(prod_docs) == chart_versions(dev_docs)
    assert package_tags(prod_docs) == package_tags(dev_docs)


def test_a_change_to_dev_or_staging_versions_starts_the_promotion_workflow() -> None:
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/promote.yaml").read_text())
    paths = workflow[True]["push"]["paths"]  # PyYAML reads `on:` as True
    assert {"clusters/dev/versions/**", "clusters/staging/versions/**"} <= set(paths)
    assert "clusters/prod/versions/**" not in paths
