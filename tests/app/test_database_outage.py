"""A database outage answers 503 with Retry-After and a "briefly unavailable" page, counted as such; a real bug
stays a 500. Against a PostgreSQL server of its own, really stopped (the shared one serves the other tests)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, text

from notejam import create_app, database, metrics, migrate
from tests.app.support import PASSWORD, Browser, Factory, app_config
from tests.conftest import PostgresServer, running_postgres

UNAVAILABLE = "briefly unavailable"


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def app(own_postgres, smtp_server):
    url = own_postgres.create_database("notejam_outage")
    app = create_app(app_config(url, smtp_server))
    migrate.upgrade(database.engine(app))
    yield app
    database.engine(app).dispose()
    connection = psycopg2.connect(host="127.0.0.1", port=own_postgres.port, user="postgres", dbname="postgres")
    connection.autocommit = True
    connection.cursor().execute('DROP DATABASE "notejam_outage"')
    connection.close()


def unavailable_count(handler: str) -> float:
    return REGISTRY.get_sample_value(metrics.DB_UNAVAILABLE_TOTAL, {"handler": handler}) or 0.0


def assert_briefly_unavailable(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "text/html"
    assert UNAVAILABLE in body
    for leak in ("Traceback", "OperationalError", "psycopg2", "127.0.0.1", "Server error"):
        assert leak not in body


def test_pages_answer_503_while_postgres_is_stopped_and_recover(app, own_postgres):
    factory = Factory(app)
    alice = factory.user("alice@example.com")
    note = factory.note(alice, name="Kept")
    signed_in, visitor = Browser(app.test_client()), Browser(app.test_client())
    signed_in.signin(alice.email)
    token = visitor.csrf_token()  # a form loaded before the outage, submitted during it
    before = {h: unavailable_count(h) for h in ("notes.index", "notes.view", "auth.signin")}
    own_postgres.stop()
    try:
        assert_briefly_unavailable(signed_in.get("/"))
        assert_briefly_unavailable(signed_in.get(f"/notes/{note.id}/"))
        signin = {"email": alice.email, "password": PASSWORD, "csrf_token": token}
        assert_briefly_unavailable(visitor.post("/signin/", signin, csrf=False))
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        own_postgres.start()
    assert {h: unavailable_count(h) - before[h] for h in before} == {
        "notes.index": 1,
        "notes.view": 1,
        "auth.signin": 1,
    }
    assert "Kept" in signed_in.get("/").get_data(as_text=True)  # back as soon as the server is


def terminate_app_connections(engine) -> None:
    """From outside the pool, as an administrator or a failover would: every connection of the app is cut, and we
    wait (up to 5 s) until each backend is gone."""
    admin = psycopg2.connect(str(engine.url.set(drivername="postgresql")), application_name="admin")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = 'notejam'"
        )
        assert cursor.fetchall(), "no connection of the app to cut"
    admin.close()


def browsing(app, email: str) -> Browser:
    """A signed-in browser that has loaded a page: the pool holds a connection."""
    Factory(app).user(email)
    browser = Browser(app.test_client())
    browser.signin(email)
    assert browser.get("/").status_code == 200
    return browser


def test_connections_the_server_ended_are_replaced_before_use(app):
    """A restart or failover ends the pool's idle connections: the next page is served on a new one, not a 503,
    and without a round trip per request to find out (no pre-ping)."""
    browser = browsing(app, "dave@example.com")
    engine = database.engine(app)
    assert not engine.pool._pre_ping
    terminate_app_connections(engine)
    assert browser.get("/").status_code == 200


def test_a_connection_dropped_mid_session_is_503_too(app):
    """The server terminates our backends (a failover, an admin) after the pool handed a connection out: the next
    query finds its connection dead."""
    browser = browsing(app, "bob@example.com")
    engine = database.engine(app)
    # Without the pool's checkout check, the checked-in connection is used as is and fails on its first statement.
    event.remove(engine, "checkout", database.discard_if_server_hung_up)
    try:
        terminate_app_connections(engine)
        assert_briefly_unavailable(browser.get("/"))
        assert browser.get("/").status_code == 200  # the pool dropped the dead connection and made a new one
    finally:
        event.listen(engine, "checkout", database.discard_if_server_hung_up)


def test_a_real_bug_in_a_query_stays_a_500(app, monkeypatch):
    from notejam import notes

    def broken_rows(order, pad=None):
        return list(database.session().execute(text("SELECT no_such_column FROM notes")))

    monkeypatch.setattr(notes, "note_rows", broken_rows)
    factory = Factory(app)
    factory.user("carol@example.com")
    browser = Browser(app.test_client())
    browser.signin("carol@example.com")
    before = unavailable_count("notes.index")
    response = browser.get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body and "Retry-After" not in response.headers
    assert unavailable_count("notes.index") == before
