"""Run Renovate's own extraction over this repository, offline, and list the dependencies it finds (tests/renovate).

This is Renovate itself (`renovate --platform=local --dry-run=extract`, the pinned version that `make tools` installs
into `.tools/`), reading `renovate.json5`. The local platform lists files with `git ls-files`, so Renovate runs in a
scratch git repository holding a copy of the files a commit of the working tree would hold (tracked, plus untracked
files that are not ignored). Extraction needs no network, and a host rule disables every host, so any lookup would
fail at once instead of waiting for a registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.repository import REPO_ROOT

# Renovate's environment: its scratch folders, no re2 (not installed, see the Makefile), every host disabled.
OFFLINE_ENV = {
    "RENOVATE_X_IGNORE_RE2": "true",
    "RENOVATE_HOST_RULES": json.dumps([{"enabled": False}]),
    "LOG_LEVEL": "warn",
}


class ExtractionError(Exception):
    """Renovate could not run or reported an error; the message says which."""


@dataclass(frozen=True)
class Dependency:
    """One dependency as Renovate extracted it."""

    manager: str
    file: str
    name: str
    current_value: str | None
    datasource: str | None
    skip_reason: str | None


@dataclass(frozen=True)
class Extraction:
    dependencies: list[Dependency]
    seconds: float
    report: dict[str, Any]


def renovate_binary() -> Path:
    """The pinned Renovate: NOTEJAM_RENOVATE (the Makefile exports it), else `renovate` on PATH."""
    configured = os.environ.get("NOTEJAM_RENOVATE") or shutil.which("renovate")
    if not configured or not Path(configured).is_file():
        raise ExtractionError(f"Renovate not found ({configured or 'NOTEJAM_RENOVATE unset'}): run `make tools`")
    return Path(configured)


def read_config(path: Path = REPO_ROOT / "renovate.json5") -> dict[str, Any]:
    """renovate.json5 as Renovate reads it: parsed by the json5 package of the pinned Renovate install."""
    package_dir = renovate_binary().resolve().parents[1]  # node_modules/renovate (the binary is dist/renovate.js)
    script = (
        "const json5 = require(require.resolve('json5', {paths: [process.argv[1]]}));"
        "process.stdout.write(JSON.stringify(json5.parse(require('fs').readFileSync(process.argv[2], 'utf8'))));"
    )
    result = subprocess.run(  # noqa: S603 - fixed script, path arguments only
        ["node", "-e", script, str(package_dir), str(path)],  # noqa: S607 - node from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise ExtractionError(f"{path}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def working_tree_files(root: Path = REPO_ROOT) -> list[str]:
    """Files a commit of the working tree would hold: tracked ones still present, and untracked ones not ignored."""
    listed = subprocess.run(  # noqa: S603 - fixed git subcommand
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def snapshot(root: Path, dest: Path, extra_files: dict[str, str] | None = None) -> None:
    """Copy the working tree's files (plus `extra_files`, path -> text) into a new git repository at `dest`."""
    for name in working_tree_files(root):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    for name, text in (extra_files or {}).items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run(["git", "init", "-q", str(dest)], check=True)  # noqa: S603, S607 - git from PATH
    subprocess.run(["git", "-C", str(dest), "add", "-A"], check=True)  # noqa: S603, S607 - git from PATH


def dependencies_of(report: dict[str, Any]) -> list[Dependency]:
    """The extracted dependencies in Renovate's file report (`--report-type=file`)."""
    repositories = report.get("repositories") or {}
    if not repositories:
        raise ExtractionError("Renovate processed no repository: without renovate.json5 it skips the repository")
    if len(repositories) != 1:
        raise ExtractionError(f"expected one repository in Renovate's report, found {sorted(repositories)}")
    (repository,) = repositories.values()
    found = []
    for manager, package_files in (repository.get("packageFiles") or {}).items():
        for package_file in package_files:
            for dep in package_file.get("deps") or []:
                found.append(
                    Dependency(
                        manager=manager,
                        file=package_file["packageFile"],
                        name=str(dep.get("depName") or dep.get("packageName") or ""),
                        current_value=dep.get("currentValue"),
                        datasource=dep.get("datasource"),
                        skip_reason=dep.get("skipReason"),
                    )
                )
    return found


def extract(root: Path = REPO_ROOT, extra_files: dict[str, str] | None = None, timeout: float = 600) -> Extraction:
    """Run Renovate's extraction over a snapshot of `root` (plus `extra_files`) and return what it found."""
    renovate = renovate_binary()
    with tempfile.TemporaryDirectory(prefix="notejam-renovate-") as scratch:
        repository = Path(scratch) / "repository"
        snapshot(root, repository, extra_files)
        report_path = Path(scratch) / "report.json"
        env = {**os.environ, **OFFLINE_ENV, "RENOVATE_BASE_DIR": str(Path(scratch) / "base")}
        for name in ("RENOVATE_TOKEN", "GITHUB_COM_TOKEN", "RENOVATE_CONFIG_FILE"):
            env.pop(name, None)
        command = [
            str(renovate),
            "--platform=local",
            "--dry-run=extract",
            # No config file means a broken setup here, not an onboarding pull request.
            "--onboarding=false",
            "--require-config=required",
            "--report-type=file",
            f"--report-path={report_path}",
        ]
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - the pinned Renovate, fixed flags
                command, cwd=repository, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise ExtractionError(f"Renovate did not finish within {timeout:.0f} s") from error
        seconds = time.monotonic() - started
        if result.returncode != 0 or not report_path.is_file():
            log = (result.stdout + result.stderr)[-4000:]
            raise ExtractionError(f"Renovate exited with {result.returncode}:\n{log}")
        report = json.loads(report_path.read_text())
    problems = [p for p in report.get("repositories", {}).get("local", {}).get("problems", []) if p["level"] >= 50]
    if problems:
        raise ExtractionError(f"Renovate reported errors: {problems}")
    return Extraction(dependencies=dependencies_of(report), seconds=seconds, report=report)
