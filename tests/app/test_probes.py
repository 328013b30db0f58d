"""The probes answer within the Deployment's probe timeouts while every gunicorn worker is busy with pages.

Real gunicorn (the repository's config, sync workers) on the real PostgreSQL. The workers are made busy the way a
slow database makes them busy: a transaction holds a lock on `users`, so every signed-in page waits on it inside
a worker. The probes are then sent where base/deployment.yaml sends them, with its timeouts as the client's."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import yaml

from notejam import gunicorn_conf, smoke
from notejam.config import DEFAULT_PROBE_PORT
from tests.servers import Served, app_env, gunicorn
from tools.repository import REPO_ROOT

WORKERS = 2


def deployment_container() -> dict:
    deployment = yaml.safe_load((REPO_ROOT / "base" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def served(postgres, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probes")
    env = app_env(tmp, DB_URI=postgres.create_database("notejam_probes"))
    with gunicorn(tmp, env, WORKERS) as server:
        yield server


def local_port(served: Served, container: dict, port: str | int) -> str:
    """The test server's address for a probe's port (a container port name or number)."""
    numbers = {p["name"]: p["containerPort"] for p in container["ports"]}
    number = numbers.get(port, port)
    bind_port = int(gunicorn_conf.bind.rsplit(":", 1)[1])
    return {bind_port: served.base, DEFAULT_PROBE_PORT: served.probe_base}[number]


def status_within(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def waiting_on_the_lock(database_url_connection) -> int:
    with database_url_connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'notejam' AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_probes_answer_in_time_while_every_worker_is_busy(served: Served, postgres):
    session = smoke.Session(served.base, timeout=30)
    form = {"email": "busy@example.com", "password": "busy password", "repeat_password": "busy password"}
    assert session.post_form("/signup/", form).status == 302
    assert session.post_form("/signin/", {"email": form["email"], "password": form["password"]}).status == 302
    container = deployment_container()
    # The probe port is the one gunicorn_conf opens by default, and the one the Deployment names.
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["probes"] == DEFAULT_PROBE_PORT

    admin = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="notejam_probes")
    observer = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="notejam_probes")
    observer.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # held until the rollback below
    pool = ThreadPoolExecutor(max_workers=2 * WORKERS)
    try:
        # Twice as many pages as workers: every worker waits on the lock, and more requests queue behind them.
        pages = [pool.submit(session.request, "/") for _ in range(2 * WORKERS)]
        deadline = time.monotonic() + 60
        while waiting_on_the_lock(observer) < WORKERS:
            assert time.monotonic() < deadline, "the workers never got busy"
            assert not any(page.done() for page in pages), [page.result().status for page in pages if page.done()]
            time.sleep(0.1)

        for kind, expected in (("startupProbe", 200), ("livenessProbe", 200), ("readinessProbe", 200)):
            probe = container[kind]
            url = local_port(served, container, probe["httpGet"]["port"]) + probe["httpGet"]["path"]
            timeout = probe.get("timeoutSeconds", 1)  # Kubernetes' default
            for _ in range(3):
                assert status_within(url, timeout) == expected, f"{kind} {url}"
        assert not any(page.done() for page in pages), "the workers were not busy all along"
    finally:
        admin.rollback()
        admin.close()
        observer.close()
    assert [page.result().status for page in pages] == [200] * len(pages)
    pool.shutdown()


def test_the_probe_port_serves_the_probes_and_nothing_else(served: Served):
    assert status_within(served.probe_base + "/healthz", 10) == 200
    assert status_within(served.probe_base + "/readyz", 10) == 200
    for path in ("/", "/signin/", "/metrics", "/healthz/x"):
        assert status_within(served.probe_base + path, 10) == 404, path
