"""The container's way of running: migrations through the CLI, gunicorn with several workers,
metrics aggregated across them, JSON access logs, and the post-deploy smoke test against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from notejam import gunicorn_conf, metrics
from tests.conftest import free_port
from tests.servers import BIN, app_env, flask_db, get, gunicorn

WORKERS = 2


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn with the repo's config, two workers, on SQLite migrated by `flask db upgrade`."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = app_env(tmp)
    with gunicorn(tmp, env, WORKERS) as server:
        current = flask_db(env, "current")
        yield {"base": server.base, "log": server.log, "tmp": tmp, "current": current.stdout}


def test_db_upgrade_cli_migrates_and_current_reports_head(tmp_path):
    env = app_env(tmp_path)
    assert flask_db(env, "current").stdout.strip() != "0001 (head)"
    migrated = flask_db(env, "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    assert "Database is at 0001" in migrated.stdout
    assert flask_db(env, "current").stdout.strip() == "0001 (head)"


def test_served_database_is_at_head(served):
    assert served["current"].strip() == "0001 (head)"


def scrape(base: str) -> float:
    _, body = get(base + "/metrics")
    total = 0.0
    for line in body.splitlines():
        if line.startswith(metrics.REQUESTS_TOTAL + "{") and 'handler="ops.readyz"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def access_log(served, until=lambda entries: True, timeout: float = 5) -> list[dict]:
    """The JSON log lines so far, polled until `until(entries)` holds (workers flush on their own time)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [json.loads(line) for line in served["log"].read_text().splitlines() if line.startswith("{")]
        if until(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def test_metrics_add_up_across_gunicorn_workers(served):
    before = scrape(served["base"])
    sent, pids = 0, set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Concurrent requests until the access log shows that every worker served some of them.
        for round_number in range(20):
            request_ids = [f"agg-{round_number}-{n}" for n in range(16)]
            statuses = pool.map(lambda rid: get(served["base"] + "/readyz", {"X-Request-ID": rid})[0], request_ids)
            assert set(statuses) == {200}
            sent += len(request_ids)
            pids = {e["worker_pid"] for e in access_log(served) if e.get("request_id", "").startswith("agg-")}
            if len(pids) >= WORKERS:
                break
    assert len(pids) == WORKERS, "the requests never reached both workers"
    for _ in range(4):  # whichever worker answers the scrape reports everybody's requests
        assert scrape(served["base"]) == before + sent


def test_gunicorn_access_log_is_json_with_the_request_id(served):
    get(served["base"] + "/healthz", headers={"X-Request-ID": "gunicorn-req-7"})

    def ours(entries: list[dict]) -> list[dict]:
        return [entry for entry in entries if entry.get("request_id") == "gunicorn-req-7"]

    mine = ours(access_log(served, until=ours))
    time.sleep(0.3)  # a second line, were there one, would be written by now
    mine = ours(access_log(served))
    assert len(mine) == 1, "exactly one line per request (gunicorn's, not also the app's)"
    assert mine[0]["logger"] == "gunicorn.access"
    assert (mine[0]["method"], mine[0]["path"], mine[0]["status"]) == ("GET", "/healthz", 200)


def test_each_workers_heartbeat_file_is_on_a_tmpfs(served):
    """gunicorn's heartbeat file, touched on every request, lives in /dev/shm, not on the disk-backed /tmp."""
    get(served["base"] + "/signin/")
    entries = access_log(served, lambda logged: any("worker_pid" in entry for entry in logged))
    worker = next(entry["worker_pid"] for entry in entries if "worker_pid" in entry)
    fd_dir = Path(f"/proc/{worker}/fd")
    heartbeats = [target for target in map(os.readlink, fd_dir.iterdir()) if "wgunicorn-" in target]
    assert len(heartbeats) == 1 and heartbeats[0].startswith("/dev/shm/wgunicorn-"), heartbeats


def test_gunicorn_error_log_is_json_too(served):
    booted = [entry for entry in access_log(served) if entry.get("logger") == "gunicorn.error"]
    assert any(entry["message"].startswith("Booting worker") for entry in booted), booted
    assert {"time", "level", "logger", "message"} <= set(booted[0])


def test_smoke_test_passes_against_the_served_app(served):
    result = subprocess.run(
        [sys.executable, "-m", "notejam.smoke", "--base-url", served["base"]],
        env=app_env(served["tmp"], SMOKE_EMAIL="smoke@example.com", SMOKE_PASSWORD="smoke password"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stdout
    assert "ok: deleted it" in result.stdout


def test_smoke_test_fails_clearly_when_nothing_answers(tmp_path):
    base = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "notejam.smoke", "--base-url", base, "--timeout", "2"],
        env=app_env(tmp_path, SMOKE_EMAIL="smoke@example.com", SMOKE_PASSWORD="smoke password"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"SMOKE TEST FAILED against {base}: cannot reach {base}/readyz" in result.stderr


def test_smoke_test_fails_clearly_when_not_ready(tmp_path, smtp_server):
    from werkzeug.serving import make_server

    from notejam import create_app, database, smoke
    from tests.app.support import app_config

    app = create_app(app_config(f"sqlite:///{tmp_path / 'unmigrated.sqlite'}", smtp_server))
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(smoke.SmokeFailure, match="/readyz returned 503"):
            smoke.run(f"http://127.0.0.1:{server.server_port}", "smoke@example.com", "smoke password")
    finally:
        server.shutdown()
        database.engine(app).dispose()


def test_gunicorn_refuses_to_start_without_secret_key(tmp_path):
    env = app_env(tmp_path)
    del env["SECRET_KEY"]
    result = subprocess.run(
        [
            BIN / "gunicorn",
            "--config",
            "python:notejam.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
            "notejam:create_app()",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stdout + result.stderr


def test_gunicorn_settings_for_kubernetes_behind_an_alb():
    assert gunicorn_conf.bind == "0.0.0.0:8000"
    assert gunicorn_conf.graceful_timeout == 30
    assert gunicorn_conf.keepalive > 60  # the ALB's idle timeout: it must close first
    assert gunicorn_conf.workers == 2 * gunicorn_conf.available_cpus() + 1
    assert gunicorn_conf.control_socket_disable is True  # $HOME is read-only in the container
    assert gunicorn_conf.accesslog == "-"


def test_each_worker_freezes_what_it_loaded_before_serving(tmp_path):
    """post_worker_init, which gunicorn calls once the worker has loaded the app, moves it out of the cycle
    collector's full passes (in a process of its own: freezing is for the life of the process)."""
    script = (
        "import gc, types; from notejam import gunicorn_conf, create_app; app = create_app(); "
        "before = gc.get_freeze_count(); gunicorn_conf.post_worker_init(types.SimpleNamespace(wsgi=app)); "
        "print(before, gc.get_freeze_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=app_env(tmp_path), capture_output=True, text=True, check=True, cwd=tmp_path
    )
    before, after = map(int, result.stdout.split())
    assert before == 0 and after > 10_000, result.stdout


@pytest.mark.parametrize(("cpu_max", "expected"), [("max 100000", None), ("50000 100000", 1), ("150000 100000", 2)])
def test_available_cpus_follows_the_cgroup_quota(tmp_path, cpu_max, expected):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max + "\n")
    affinity = len(os.sched_getaffinity(0))
    assert gunicorn_conf.available_cpus(path) == min(affinity, expected or affinity)
    assert gunicorn_conf.available_cpus(tmp_path / "missing") == affinity
