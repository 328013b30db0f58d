"""Linters as tests: ruff over the repository's Python, hadolint over the Dockerfiles (app and composition function)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.repository import REPO_ROOT

BIN = Path(sys.executable).parent


def run(*command: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def test_ruff_check_is_clean():
    result = run(BIN / "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run(BIN / "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "src/function/Dockerfile"])
def test_hadolint_passes_on_the_dockerfile(dockerfile):
    result = run(BIN / "hadolint", "--failure-threshold", "info", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
