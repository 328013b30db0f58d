"""/healthz, /readyz, /metrics, request ids and JSON request logs."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY

from notejam import create_app, database, metrics, migrate
from tests.app.support import PASSWORD, app_config


@pytest.fixture
def fresh_app(tmp_path, smtp_server):
    """An app on an empty (unmigrated) SQLite file."""
    app = create_app(app_config(f"sqlite:///{tmp_path / 'fresh.sqlite'}", smtp_server))
    yield app
    database.engine(app).dispose()


def test_healthz_needs_no_database_readyz_does(smtp_server):
    from tests.conftest import free_port

    unreachable = f"postgresql+psycopg2://notejam@127.0.0.1:{free_port()}/notejam"
    app = create_app(app_config(unreachable, smtp_server))
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert client.get("/readyz").status_code == 503


def test_readyz_ok_when_database_at_head(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "migrations": "head"}


def test_readyz_503_until_migrations_reach_head_then_recovers(fresh_app):
    client = fresh_app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["migrations"] == "behind head"
    migrate.upgrade(database.engine(fresh_app))
    assert client.get("/readyz").status_code == 200  # same app, no restart


def test_readyz_503_when_postgres_stops_and_200_when_it_returns(postgres, smtp_server):
    url = postgres.create_database("notejam_readyz")
    app = create_app(app_config(url, smtp_server))
    try:
        migrate.upgrade(database.engine(app))
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        postgres.stop()
        try:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json == {"status": "unavailable", "database": "unreachable"}
            assert client.get("/healthz").status_code == 200  # liveness does not follow the DB
        finally:
            postgres.start()
        assert client.get("/readyz").status_code == 200  # pooled connections were re-checked
    finally:
        database.engine(app).dispose()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_and_time_requests_by_endpoint_and_status(app):
    client = app.test_client()
    labels = {"method": "GET", "handler": "auth.signin", "status": "200"}
    before = sample(metrics.REQUESTS_TOTAL, **labels)
    before_hist = sample(metrics.REQUEST_DURATION_SECONDS + "_count", **labels)
    client.get("/signin/")
    client.get("/signin/")
    assert sample(metrics.REQUESTS_TOTAL, **labels) == before + 2
    assert sample(metrics.REQUEST_DURATION_SECONDS + "_count", **labels) == before_hist + 2
    unmatched = {"method": "GET", "handler": metrics.UNMATCHED_ENDPOINT, "status": "404"}
    before_404 = sample(metrics.REQUESTS_TOTAL, **unmatched)
    client.get("/no/such/page/12345")
    assert sample(metrics.REQUESTS_TOTAL, **unmatched) == before_404 + 1


def test_metrics_endpoint_exposes_the_contract_names(app):
    client = app.test_client()
    client.get("/signin/")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'notejam_http_requests_total{handler="auth.signin",method="GET",status="200"}' in body
    for name in (
        metrics.REQUEST_DURATION_SECONDS + "_bucket",
        metrics.REQUESTS_IN_FLIGHT,
        metrics.DB_POOL_SIZE,
        metrics.DB_POOL_CHECKED_OUT,
        metrics.DB_POOL_OVERFLOW,
    ):
        assert f"\n{name}" in body, name
    assert metrics.DB_POOL_SIZE.startswith(metrics.DB_POOL_PREFIX)


def test_in_flight_gauge_returns_to_its_level(app):
    before = sample(metrics.REQUESTS_IN_FLIGHT)
    app.test_client().get("/signin/")
    assert sample(metrics.REQUESTS_IN_FLIGHT) == before


# The pool gauges describe a QueuePool, the pool of PostgreSQL's engine: this test runs on that backend only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_pool_gauges_follow_the_pool_and_are_written_only_when_it_changed(app, monkeypatch):
    from sqlalchemy.pool import QueuePool

    assert isinstance(database.engine(app).pool, QueuePool)
    client = app.test_client()
    client.get("/signin/")
    writes = []
    original_set = type(metrics.db_pool_checked_out).set
    monkeypatch.setattr(
        type(metrics.db_pool_checked_out), "set", lambda self, value: writes.append(value) or original_set(self, value)
    )
    client.get("/signin/")
    assert writes == []  # the same pool as after the request before
    held = database.engine(app).connect()  # a connection in use while a page is served
    try:
        client.get("/signin/")
        assert sample(metrics.DB_POOL_CHECKED_OUT) == 1 and len(writes) == 3
    finally:
        held.close()
    client.get("/signin/")
    assert sample(metrics.DB_POOL_CHECKED_OUT) == 0


def test_the_app_asks_once_per_function_whether_it_is_a_coroutine(app, monkeypatch):
    import flask.app

    asked = []
    original = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda func: asked.append(func) or original(func))
    client = app.test_client()
    client.get("/signin/")
    client.get("/signin/")
    assert asked == []  # every hook and view of the sign-in page was answered on an earlier request

    def hook() -> None:
        pass

    assert app.ensure_sync(hook) is hook and app.ensure_sync(hook) is hook
    assert asked == [hook]


def test_incoming_request_id_is_honoured(app):
    response = app.test_client().get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("incoming", [None, "", "x" * 200, 'forged"} {"level": "ERROR'])
def test_missing_or_unsafe_request_id_is_replaced(app, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    request_id = app.test_client().get("/healthz", headers=headers).headers["X-Request-ID"]
    assert request_id != incoming and len(request_id) == 32


def test_one_json_log_line_per_request_with_request_id(app, capsys):
    app.test_client().get("/signin/", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "notejam.request"]
    assert len(requests) == 1
    assert requests[0] | {"duration_ms": 0} == {
        "time": requests[0]["time"],
        "level": "INFO",
        "logger": "notejam.request",
        "message": "request",
        "request_id": "req-42",
        "method": "GET",
        "path": "/signin/",
        "status": 200,
        "duration_ms": 0,
        "remote_addr": "127.0.0.1",
    }


def test_logs_never_contain_passwords_db_password_or_reset_tokens(database_url, smtp_server, capsys, caplog):
    from tests.app.support import Browser

    caplog.set_level(logging.DEBUG)
    secret_db_password = "db-password-s3cret"
    url = "postgresql+psycopg2://notejam:" + secret_db_password + "@127.0.0.1:1/notejam"
    create_app(app_config(url, smtp_server))  # logs the database it uses
    app = create_app(app_config(database_url, smtp_server))
    browser = Browser(app.test_client())
    browser.post("/signup/", {"email": "log@example.com", "password": PASSWORD, "repeat_password": PASSWORD})
    browser.post("/signin/", {"email": "log@example.com", "password": PASSWORD})
    browser.get("/reset-password/some-secret-token/")
    database.engine(app).dispose()
    logged = capsys.readouterr().err + caplog.text
    assert "127.0.0.1:1/notejam" in logged  # the URL is logged, masked
    assert secret_db_password not in logged
    assert PASSWORD not in logged
    assert "some-secret-token" not in logged


def test_unexpected_error_is_a_clean_500_page(app, monkeypatch):
    from notejam import queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(queries, "user_pads", broken)
    monkeypatch.setattr("notejam.notes.user_pads", broken)
    from tests.app.support import Browser

    browser = Browser(app.test_client())
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        from tests.app.support import Factory

        Factory(app).user("err@example.com")
        browser.signin("err@example.com")
        response = browser.get("/notes/create/")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body and "boom" not in body and "Traceback" not in body


def test_the_app_gunicorn_and_the_backup_lambdas_share_one_json_formatter(app):
    import logging

    from backup.logs import configure_logging
    from json_logs import JsonFormatter
    from notejam import gunicorn_conf

    app_handlers = [h for h in logging.getLogger("notejam").handlers if getattr(h, "_notejam_json_handler", False)]
    assert app_handlers and all(isinstance(h.formatter, JsonFormatter) for h in app_handlers)
    backup_logger = configure_logging()
    assert all(isinstance(h.formatter, JsonFormatter) for h in backup_logger.handlers)
    # gunicorn's logs: tests/app/test_gunicorn.py reads them as JSON from a served app.
    assert gunicorn_conf.JsonFormatter is JsonFormatter
