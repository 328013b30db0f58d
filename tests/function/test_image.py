"""The function's image and requirements keep their promises (the image itself is built in CI, job `function`)."""

from __future__ import annotations

import re
from pathlib import Path

from tools.repository import REPO_ROOT

FUNCTION = REPO_ROOT / "src" / "function"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split()[0].upper(), " ".join(line.split()[1:])) for line in lines]


def test_base_image_is_pinned_and_the_same_as_the_apps():
    bases = {args.split()[0] for op, args in instructions(FUNCTION / "Dockerfile") if op == "FROM"}
    app_bases = {args.split()[0] for op, args in instructions(REPO_ROOT / "Dockerfile") if op == "FROM"}
    assert len(bases) == 1 and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", next(iter(bases)))
    assert bases == app_bases  # one Python for the repository: bumping it is one decision


def test_runs_as_a_numeric_non_root_user_and_serves_the_function_on_9443():
    ops = instructions(FUNCTION / "Dockerfile")
    runtime = ops[max(i for i, (op, _) in enumerate(ops) if op == "FROM") :]
    [user] = [args for op, args in runtime if op == "USER"]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user)
    assert ("EXPOSE", "9443") in runtime
    assert ("ENTRYPOINT", '["python", "-m", "function.main"]') in runtime


def test_every_runtime_dependency_is_pinned_exactly():
    lines = [line for line in (FUNCTION / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert "crossplane-function-sdk-python==0.15.1" in lines
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", line) for line in lines), lines


def test_the_build_context_carries_only_code_and_requirements():
    assert (FUNCTION / ".dockerignore").read_text().split("\n", 1)[1].split() == ["*", "!requirements.txt", "!*.py"]
