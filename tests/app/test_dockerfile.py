"""The image's promises, read from the Dockerfile (the image itself is built in CI, not here)."""

from __future__ import annotations

import re
import shlex

import pytest

from tools.repository import REPO_ROOT


def parse(text: str) -> list[list[tuple[str, str]]]:
    """Stages of (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return parse((REPO_ROOT / "Dockerfile").read_text())


def args(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [arguments for name, arguments in stage if name == instruction]


def test_multi_stage_on_a_fully_pinned_slim_python(stages):
    assert len(stages) >= 2
    for stage in stages:
        image = args(stage, "FROM")[0].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", image), image


def test_runtime_runs_as_numeric_non_root_uid_10001(stages):
    users = args(stages[-1], "USER")
    assert users and users[-1] == "10001:10001"


def test_runtime_has_no_tests_or_dev_dependencies(stages):
    runtime = " ".join(args(stages[-1], "COPY") + args(stages[-1], "RUN") + args(stages[-1], "ADD"))
    assert "tests" not in runtime and "dev.txt" not in runtime and "pytest" not in runtime
    copies = args(stages[-1], "COPY")
    assert all(copy.startswith("--from=") for copy in copies), "the runtime stage takes only built artefacts"
    build = " ".join(args(stages[0], "COPY") + args(stages[0], "RUN"))
    assert "requirements/app.txt" in build and "dev.txt" not in build


def test_read_only_root_filesystem_only_tmp_written(stages):
    env = " ".join(args(stages[-1], "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env
    assert "HOME=/tmp" in env
    assert any("compileall" in run for run in args(stages[0], "RUN")), "bytecode compiled at build time"


def test_command_and_port_match_the_interface(stages):
    command = args(stages[-1], "CMD")[-1]
    assert shlex.split(command.strip("[]").replace(",", " ")) == [
        "gunicorn",
        "--config",
        "python:notejam.gunicorn_conf",
        "notejam:create_app()",
    ]
    assert args(stages[-1], "EXPOSE") == ["8000 8001"]  # the pages, the probes (notejam/probes.py)


def test_dockerignore_keeps_tests_and_local_state_out_of_the_context():
    lines = [
        line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything excluded, then only what the image needs
    allowed = {"!requirements/app.txt", "!src/notejam/", "!src/json_logs/"}  # json_logs: the shared log format
    assert set(line for line in lines if line.startswith("!")) == allowed
