"""`make run`: tools.run_local migrates the SQLite default and serves the app."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from tests.conftest import free_port
from tests.servers import wait_until_up
from tools.repository import REPO_ROOT


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
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.run_local", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/readyz", process, log)  # 200 only once migrated
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin/", timeout=5) as response:
            assert "Sign in" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert f"http://127.0.0.1:{port}/" in log.read_text()
