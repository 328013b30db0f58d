"""The composition function is built on every pull request and released on merge, like the app image."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tools import function_release
from tools.repository import REPO_ROOT, makefile_pin

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


def job(workflow: str, name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"][name]


def runs(job_: dict) -> str:
    return "\n".join(str(step.get("run", "")) for step in job_["steps"])


def test_ci_builds_image_and_package_without_pushing_and_compares_with_crossplane_render():
    function = job("ci.yaml", "function")
    [build] = [step for step in function["steps"] if step.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["context"] == "src/function"
    assert build["with"]["push"] is False
    assert "crossplane xpkg build --package-root src/function/package" in " ".join(runs(function).split())
    assert "xpkg push" not in runs(function)
    assert 'make render-check FUNCTION_IMAGE="$IMAGE"' in runs(function)


def test_release_pushes_image_and_package_tagged_with_the_commit_and_commits_the_tag():
    package = job("release.yaml", "function-package")
    [build] = [step for step in package["steps"] if step.get("uses", "").startswith("docker/build-push-action")]
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "ghcr.io/notejam/function-notejam-runtime:${{ github.sha }}"
    assert 'xpkg push --package-files function-notejam.xpkg "$PACKAGE:$GITHUB_SHA"' in runs(package)
    assert package["env"]["PACKAGE"] == function_release.PACKAGE
    deploy = job("release.yaml", "function-deploy")
    assert 'python -m tools.function_release --tag "${GITHUB_SHA}"' in runs(deploy)
    assert "git push origin HEAD:main" in runs(deploy)


def test_release_runs_for_function_changes_without_rebuilding_the_app():
    release = yaml.safe_load((WORKFLOWS / "release.yaml").read_text())
    assert "src/function/**" in release[True]["push"]["paths"]  # PyYAML reads `on:` as True
    assert job("release.yaml", "image")["if"] == "needs.changes.outputs.app == 'true'"
    assert job("release.yaml", "function-package")["if"] == "needs.changes.outputs.function == 'true'"


def test_the_crossplane_cli_is_the_version_the_clusters_run():
    chart = yaml.safe_load((REPO_ROOT / "clusters" / "dev" / "versions" / "addons" / "crossplane.yaml").read_text())
    assert makefile_pin("CROSSPLANE_VERSION") == f"v{chart['spec']['source']['targetRevision']}"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    copy = tmp_path / "function-notejam.yaml"
    copy.write_text(function_release.MANIFEST.read_text())
    return copy


def test_set_tag_changes_only_the_package_line(manifest: Path):
    before = manifest.read_text()
    tag = "0123456789abcdef0123456789abcdef01234567"
    assert function_release.set_tag(tag, manifest) is True
    assert function_release.package(manifest) == f"ghcr.io/notejam/function-notejam:{tag}"
    changed = [(a, b) for a, b in zip(before.splitlines(), manifest.read_text().splitlines(), strict=True) if a != b]
    assert len(changed) == 1
    assert function_release.set_tag(tag, manifest) is False


@pytest.mark.parametrize("tag", ["latest", "v1.0.0", "0123abc", "0123456789ABCDEF0123456789ABCDEF01234567"])
def test_only_a_full_commit_sha_is_a_tag(manifest: Path, tag: str, capsys):
    assert function_release.main(["--tag", tag, "--manifest", str(manifest)]) == 2
    assert "is not a full git commit SHA" in capsys.readouterr().err


def test_show_prints_what_the_clusters_install(capsys):
    assert function_release.main(["--show"]) == 0
    assert re.fullmatch(r"ghcr\.io/notejam/function-notejam:[0-9a-f]{40}\n", capsys.readouterr().out)
