"""Notejam as the container runs it, for tests: migrated by `flask db upgrade`, served by gunicorn on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port
from tools.repository import REPO_ROOT
from tools.waiting import answers, serving

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
    base = f"http://127.0.0.1:{port}"
    with serving(command, ready=lambda: answers(base + "/healthz"), log=log, env=env, cwd=tmp):
        yield Served(base=base, probe_base=f"http://127.0.0.1:{env['PROBE_PORT']}", log=log, tmp=tmp, env=env)
