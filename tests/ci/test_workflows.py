"""The GitHub workflows are real: they lint clean, CI runs the same `make test`, and no job pretends to pass."""

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from tools import promote
from tools.repository import ENVIRONMENTS, REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github/workflows").glob("*.yaml"))


def steps(workflow: Path) -> list[dict]:
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    return [step for job in jobs.values() for step in job.get("steps", [])]


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        ["actionlint", "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_no_step_just_exits_successfully(workflow: Path) -> None:
    for step in steps(workflow):
        script = " ".join(str(step.get("run", "")).split())
        assert script not in {"exit 0", "true", ":"}, f"{workflow.name}: step {step.get('name')!r} does nothing"


def test_ci_runs_the_readme_test_command_on_every_pull_request() -> None:
    ci = yaml.safe_load((REPO_ROOT / ".github/workflows/ci.yaml").read_text())
    assert "pull_request" in ci[True]  # PyYAML reads the `on:` key as True
    assert any("make test" in str(step.get("run", "")) for step in steps(REPO_ROOT / ".github/workflows/ci.yaml"))
    assert "make test" in (REPO_ROOT / ".ci/run").read_text()


def test_ci_answers_first_with_the_fast_tier_in_a_job_of_its_own() -> None:
    jobs = yaml.safe_load((REPO_ROOT / ".github/workflows/ci.yaml").read_text())["jobs"]
    assert [step["run"].split()[-1] for step in jobs["check"]["steps"] if "make check" in str(step.get("run"))] == [
        "check"
    ]
    assert "needs" not in jobs["check"] and "needs" not in jobs["test"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_job_has_a_timeout(workflow: Path) -> None:
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    assert {name for name, job in jobs.items() if not job.get("timeout-minutes")} == set()


def test_the_test_job_caches_the_control_plane_by_its_pins_and_uploads_what_a_failure_leaves() -> None:
    test_steps = yaml.safe_load((REPO_ROOT / ".github/workflows/ci.yaml").read_text())["jobs"]["test"]["steps"]
    caches = [step["with"] for step in test_steps if str(step.get("uses", "")).startswith("actions/cache@")]
    assert any(c["path"] == "repo/.tools/cluster" and "steps.pins.outputs.key" in c["key"] for c in caches)
    upload = next(step for step in test_steps if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert "logs" in upload["with"]["path"] and "test-results" in upload["with"]["path"]


def test_no_workflow_pins_a_go_of_its_own_the_makefile_exports_the_toolchain() -> None:
    for workflow in WORKFLOWS:
        assert "actions/setup-go" not in workflow.read_text(), workflow.name
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "export GOTOOLCHAIN := go$(GO_TOOLCHAIN_VERSION)" in makefile
    assert "GOTOOLCHAIN=" not in makefile.replace("export GOTOOLCHAIN", "")


def test_both_tiers_report_durations_and_junit() -> None:
    result = subprocess.run(["make", "-n", "check", "test"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    pytest_lines = [line for line in result.stdout.splitlines() if " -m pytest" in line]
    assert len(pytest_lines) == 2
    assert all("--durations=" in line and "--junitxml=" in line for line in pytest_lines)
    assert "not control_plane and not browser and not node" in pytest_lines[0]


def test_release_deploys_to_dev_with_the_promotion_tool_and_the_image_it_built() -> None:
    release = (REPO_ROOT / ".github/workflows/release.yaml").read_text()
    assert f"tags: {promote.IMAGE}:${{{{ github.sha }}}}" in release
    assert 'python -m tools.promote --env dev --tag "${GITHUB_SHA}"' in release


def test_release_asks_for_the_next_promotion_because_its_own_push_starts_no_workflow() -> None:
    release = (REPO_ROOT / ".github/workflows/release.yaml").read_text()
    promote_workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/promote.yaml").read_text())
    assert "gh workflow run promote.yaml --ref main -f from=dev" in release
    assert "dev" in promote_workflow[True]["workflow_dispatch"]["inputs"]["from"]["options"]


def test_promotion_walks_dev_then_staging_then_prod() -> None:
    promote_workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/promote.yaml").read_text())
    matrix = promote_workflow["jobs"]["open-promotion-pr"]["strategy"]["matrix"]["include"]
    assert [(step["from"], step["to"]) for step in matrix] == list(pairwise(ENVIRONMENTS))


def test_the_promotion_pull_request_is_made_by_the_command_the_live_promotion_runs() -> None:
    """tests/live/test_promotion.py runs `python -m tools.promote --from-env S --env T` on the served copy."""
    promote_workflow = (REPO_ROOT / ".github/workflows/promote.yaml").read_text()
    assert 'python -m tools.promote --from-env "${{ matrix.from }}" --env "${{ matrix.to }}"' in promote_workflow
