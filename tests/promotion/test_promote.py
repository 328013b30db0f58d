"""Promotion is a commit that changes one overlay's image tag, and nothing else."""

from pathlib import Path

import pytest
import yaml

from tools import promote
from tools.repository import ENVIRONMENTS, RELEASE_TAG, REPO_ROOT

OLD = "a" * 40
NEW = "b" * 40

KUSTOMIZATION = f"""\
# staging: what differs from base
namespace: notejam-staging
resources:
  - ../../base
images:
  - name: busybox
    newTag: "1.37.0"
  - name: {promote.IMAGE}
    newTag: {OLD}  # set by promotion
"""


CHARTS = """\
# The add-on charts this cluster runs.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: crossplane
spec:
  source:
    targetRevision: {version}
"""
PACKAGES = """\
kind: Component
images:
  - name: xpkg.crossplane.io/crossplane-contrib/provider-aws-rds
    newTag: {version}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for env in ENVIRONMENTS:
        overlay = tmp_path / "overlays" / env
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(KUSTOMIZATION)
        versions = tmp_path / "clusters" / env / "versions"
        (versions / "crossplane-packages").mkdir(parents=True)
        (versions / "charts.yaml").write_text(CHARTS.format(version="2.3.4"))
        (versions / "crossplane-packages" / "kustomization.yaml").write_text(PACKAGES.format(version="v2.6.0"))
    return tmp_path


def test_set_tag_changes_only_our_image_line(repo: Path) -> None:
    assert promote.set_tag("dev", NEW, repo) is True
    text = (repo / "overlays/dev/kustomization.yaml").read_text()
    assert text == KUSTOMIZATION.replace(f"newTag: {OLD}", f"newTag: {NEW}")
    assert promote.read_tag("dev", repo) == NEW


def test_copy_from_previous_environment(repo: Path) -> None:
    promote.set_tag("dev", NEW, repo)
    assert promote.main(["--root", str(repo), "--from-env", "dev", "--env", "staging"]) == 0
    assert promote.read_tag("staging", repo) == NEW
    assert promote.read_tag("prod", repo) == OLD


def test_setting_the_same_tag_is_a_no_op(repo: Path) -> None:
    assert promote.set_tag("prod", OLD, repo) is False


@pytest.mark.parametrize("bad_tag", ["latest", "v1.0", "A" * 40, "a" * 39, ""])
def test_a_tag_that_is_not_a_commit_sha_is_refused(repo: Path, bad_tag: str, capsys) -> None:
    assert promote.main(["--root", str(repo), "--env", "dev", "--tag", bad_tag]) == 2
    assert "not a full git commit SHA" in capsys.readouterr().err
    assert promote.read_tag("dev", repo) == OLD


def test_an_overlay_without_our_image_is_a_clear_error(repo: Path, capsys) -> None:
    path = repo / "overlays/dev/kustomization.yaml"
    path.write_text("resources:\n  - ../../base\n")
    assert promote.main(["--root", str(repo), "--env", "dev", "--tag", NEW]) == 2
    assert "no `images:` entry" in capsys.readouterr().err


def test_every_real_overlay_pins_a_commit_sha() -> None:
    for env in ENVIRONMENTS:
        tag = promote.read_tag(env)
        assert RELEASE_TAG.fullmatch(tag), f"overlays/{env}: {tag!r}"
        assert yaml.safe_load((REPO_ROOT / f"overlays/{env}/kustomization.yaml").read_text())


def test_promotion_carries_the_platform_versions_one_environment_forward(repo: Path, capsys) -> None:
    dev = repo / "clusters/dev/versions"
    (dev / "charts.yaml").write_text(CHARTS.format(version="2.4.0"))
    (dev / "crossplane-packages/kustomization.yaml").write_text(PACKAGES.format(version="v2.7.0"))
    assert promote.main(["--root", str(repo), "--from-env", "dev", "--env", "staging"]) == 0
    assert "staging: platform versions from dev (charts.yaml, crossplane-packages/kustomization.yaml)" in (
        capsys.readouterr().out
    )
    assert promote.version_files("staging", repo) == promote.version_files("dev", repo)
    assert "2.3.4" in (repo / "clusters/prod/versions/charts.yaml").read_text()
    assert promote.copy_versions("staging", "prod", repo) == ["charts.yaml", "crossplane-packages/kustomization.yaml"]
    assert promote.version_files("prod", repo) == promote.version_files("dev", repo)
    assert promote.copy_versions("staging", "prod", repo) == []


def test_a_file_dev_no_longer_has_leaves_the_next_environment_too(repo: Path) -> None:
    (repo / "clusters/dev/versions/charts.yaml").unlink()
    assert promote.copy_versions("dev", "staging", repo) == ["charts.yaml"]
    assert not (repo / "clusters/staging/versions/charts.yaml").exists()


def test_versions_that_name_their_environment_are_not_copied(repo: Path, capsys) -> None:
    charts = repo / "clusters/dev/versions/charts.yaml"
    charts.write_text(charts.read_text() + "# clusterName: notejam-dev\n")
    assert promote.main(["--root", str(repo), "--from-env", "dev", "--env", "staging"]) == 2
    assert "names its environment" in capsys.readouterr().err
    assert "notejam-dev" not in (repo / "clusters/staging/versions/charts.yaml").read_text()
    assert promote.read_tag("staging", repo) == OLD


def test_a_cluster_without_a_versions_folder_is_a_clear_error(repo: Path, capsys) -> None:
    for path in sorted((repo / "clusters/staging/versions").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (repo / "clusters/staging/versions").rmdir()
    assert promote.main(["--root", str(repo), "--from-env", "dev", "--env", "staging"]) == 2
    assert "no platform versions folder" in capsys.readouterr().err
