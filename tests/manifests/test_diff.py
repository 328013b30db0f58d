"""tools/diff.py (`make diff BASE=<ref>`) on a throwaway git repository holding a copy of what the overlays and the
clusters' kustomizations read (base/, overlays/, apps/, clusters/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import diff
from tools.repository import ENVIRONMENTS, REPO_ROOT

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for folder in ("base", "overlays", "apps", "clusters", "components"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def set_dev_tag(repo: Path, tag: str) -> None:
    path = repo / "overlays" / "dev" / "kustomization.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if "newTag:" in line)
    path.write_text(text.replace(old, f"    newTag: {tag}"))


def test_an_unchanged_tree_has_no_diff(repo: Path) -> None:
    assert diff.diff_environments("HEAD", repo) == {
        f"{tree}/{env}": "" for tree in ("clusters", "overlays") for env in ENVIRONMENTS
    }


def test_a_new_tag_shows_in_every_object_that_uses_the_image_of_that_environment_only(repo: Path) -> None:
    set_dev_tag(repo, "a" * 40)
    diffs = diff.diff_environments("HEAD", repo)
    assert not any(diffs[f"overlays/{env}"] for env in ENVIRONMENTS if env != "dev")
    assert not any(diffs[f"clusters/{env}"] for env in ENVIRONMENTS)
    added = [line for line in diffs["overlays/dev"].splitlines() if line.startswith("+") and "image:" in line]
    assert added == [f"+        image: ghcr.io/notejam/notejam:{'a' * 40}"] * 3  # Deployment and both Jobs
    assert diffs["overlays/dev"].startswith("--- overlays/dev @ HEAD\n+++ overlays/dev @ working tree\n")


def test_a_change_in_base_shows_in_every_environment(repo: Path) -> None:
    path = repo / "base" / "config.env"
    path.write_text(path.read_text().replace("SMTP_PORT=587", "SMTP_PORT=2587"))
    diffs = diff.diff_environments("HEAD", repo)
    assert all('+  SMTP_PORT: "2587"' in diffs[f"overlays/{env}"] for env in ENVIRONMENTS)


def test_a_new_environment_is_diffed_against_nothing(repo: Path) -> None:
    shutil.copytree(repo / "overlays" / "dev", repo / "overlays" / "qa")
    qa = diff.diff_environments("HEAD", repo)["overlays/qa"]
    assert qa.startswith("--- overlays/qa @ HEAD")
    assert not any(line.startswith("-") and not line.startswith("---") for line in qa.splitlines())


def test_the_command_prints_a_section_per_environment(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    set_dev_tag(repo, "b" * 40)
    assert diff.main(["--base", "HEAD", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "## overlays/dev: changes" in out and "## overlays/prod: no changes" in out
    assert "## overlays/staging: no changes" in out and "## clusters/dev: no changes" in out


def test_a_chart_bump_in_a_clusters_versions_shows_the_application_it_changes(repo: Path, capsys) -> None:
    """What Renovate and promotion pull requests change: only clusters/<env>/versions/."""
    path = repo / "clusters" / "dev" / "versions" / "addons" / "external-secrets.yaml"
    old = next(line for line in path.read_text().splitlines() if "targetRevision:" in line)
    path.write_text(path.read_text().replace(old, "    targetRevision: 99.0.0"))
    assert diff.main(["--base", "HEAD", "--repo", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "## clusters/dev: changes" in out and "## clusters/staging: no changes" in out
    assert "## overlays/dev: no changes" in out
    changed = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [f"-{old}", "+    targetRevision: 99.0.0"]
    section = out.split("## clusters/dev: changes", 1)[1]
    before_change = section.split("+    targetRevision: 99.0.0")[0]
    assert "name: external-secrets" in before_change  # the hunk shows which Application


def test_an_unknown_ref_is_a_clear_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        diff.main(["--base", "no-such-ref", "--repo", str(repo)])
    assert exit_info.value.code == 2
    assert "cannot read 'no-such-ref'" in capsys.readouterr().err
