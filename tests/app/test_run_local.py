"""`make run`: tools.run_local migrates the SQLite default and serves the app."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from tests.conftest import free_port
from tools.repository import REPO_ROOT
from tools.waiting import answers, serving


def test_help():
    result = subprocess.run(
        [sys.executable, "-m", "tools.run_local", "--help"],
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--port" in result.stdout


def test_run_local_migrates_sqlite_and_serves(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}",
        "HOME": str(tmp_path),
        # The instance folder's SQLite file, but in a temporary place instead of the working tree.
        "DB_URI": f"sqlite:///{tmp_path / 'notejam.sqlite'}",
    }
    command = [sys.executable, "-m", "tools.run_local", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with (
        serving(command, lambda: answers(f"{base}/readyz"), log, cwd=REPO_ROOT, env=env),  # 200 once migrated
        urllib.request.urlopen(f"{base}/signin/", timeout=5) as response,
    ):
        assert "Sign in" in response.read().decode()
    assert f"{base}/" in log.read_text()
