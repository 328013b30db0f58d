"""Notejam as the container runs it, for tests: migrated by `flask db upgrade`, served by gunicorn on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tools.repository import REPO_ROOT

BIN = Path(sys.executable).parent


def app_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The container's environment, on SQLite in `tmp` unless `extra` says otherwise."""
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{REPO_ROOT / 'src'}",
        "NOTEJAM_ENV": "production",
        "SECRET_KEY": "gunicorn-test-secret",
        "DB_URI": f"sqlite:///{tmp / 'notejam.sqlite'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
        "HOME": str(tmp),
        # A port of its own for every server: the default (8001) would collide between tests.
        "PROBE_PORT": str(free_port()),
    }
    return env | extra


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"server did not come up:\n{log.read_text()}")


def flask_db(env: dict[str, str], command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "flask", "--app", "notejam", "db", command], env=env, capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class Served:
    base: str
    probe_base: str
    log: Path
    tmp: Path
    env: dict[str, str]


@contextmanager
def gunicorn(tmp: Path, env: dict[str, str], workers: int) -> Iterator[Served]:
    """Migrate, then serve with the repository's gunicorn config; stop gracefully afterwards."""
    migrated = flask_db(env, "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = tmp / "gunicorn.log"
    command = [BIN / "gunicorn", "--config", "python:notejam.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "notejam:create_app()"]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/healthz", process, log)
        yield Served(base=base, probe_base=f"http://127.0.0.1:{env['PROBE_PORT']}", log=log, tmp=tmp, env=env)
    finally:
        process.terminate()
        process.wait(timeout=40)
