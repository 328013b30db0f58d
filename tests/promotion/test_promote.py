"""Promotion is a commit that changes one overlay's image tag, and nothing else."""

from pathlib import Path

import pytest
import yaml

from tools import promote

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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for env in promote.ENVIRONMENTS:
        overlay = tmp_path / "overlays" / env
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(KUSTOMIZATION)
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
    for env in promote.ENVIRONMENTS:
        tag = promote.read_tag(env)
        assert promote.TAG_PATTERN.fullmatch(tag), f"overlays/{env}: {tag!r}"
        assert yaml.safe_load((promote.REPO_ROOT / f"overlays/{env}/kustomization.yaml").read_text())
