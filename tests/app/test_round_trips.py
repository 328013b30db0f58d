"""What a page costs the database, counted by the server itself: every statement it received, BEGIN, ROLLBACK and
pings included (tests/app/test_query_count.py counts only the queries SQLAlchemy sends)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg2
import pytest

from notejam import create_app, database, migrate
from notejam.models import Pad
from tests.app.support import Browser, Factory, app_config
from tests.conftest import PostgresServer, running_postgres

STATEMENT = re.compile(r"^notejam\|LOG:\s+statement: (.*)$")


@pytest.fixture(scope="module")
def logging_postgres() -> Iterator[PostgresServer]:
    """A server of its own that logs every statement with the client's application_name."""
    with running_postgres() as server:
        admin = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("ALTER SYSTEM SET log_statement = 'all'")
            cursor.execute("ALTER SYSTEM SET log_line_prefix = '%a|'")
            cursor.execute("SELECT pg_reload_conf()")
        admin.close()
        yield server


@pytest.fixture(scope="module")
def app(logging_postgres, smtp_server):
    app = create_app(app_config(logging_postgres.create_database("notejam_round_trips"), smtp_server))
    migrate.upgrade(database.engine(app))
    yield app
    database.engine(app).dispose()


class ServerLog:
    def __init__(self, server: PostgresServer) -> None:
        self.path = server.root / "log"
        self.offset = 0

    def skip(self) -> None:
        self.offset = self.path.stat().st_size

    def statements(self) -> list[str]:
        """The app's statements since the last call (or skip)."""
        with self.path.open() as log:
            log.seek(self.offset)
            text = log.read()
            self.offset = log.tell()
        return [match[1].strip() for line in text.splitlines() if (match := STATEMENT.match(line))]


@pytest.fixture
def signed_in(app, request):
    factory = Factory(app)
    alice = factory.user(f"{request.node.name[:40]}@example.com")
    pad = factory.pad(alice, "Work")
    note = factory.note(alice, pad=pad)
    browser = Browser(app.test_client())
    browser.signin(alice.email)
    yield browser, pad, note
    browser.client.get("/")  # nothing left checked out


def test_a_page_costs_two_statements_and_no_transaction(logging_postgres, signed_in):
    browser, pad, note = signed_in
    log = ServerLog(logging_postgres)
    for path in ("/", f"/pads/{pad.id}/", f"/notes/{note.id}/"):
        assert browser.get(path).status_code == 200  # the pool's connection is warm
        log.skip()
        assert browser.get(path).status_code == 200
        statements = log.statements()
        assert len(statements) == 2, statements  # the user with their pads, then the page's own query
        assert not [s for s in statements if s.upper() in ("BEGIN", "ROLLBACK", "COMMIT", "SELECT 1")], statements


def test_a_change_is_one_transaction(logging_postgres, signed_in):
    browser, _, _ = signed_in
    log = ServerLog(logging_postgres)
    token = browser.csrf_token()
    log.skip()
    response = browser.post("/pads/create/", {"name": "Home", "csrf_token": token}, csrf=False)
    assert response.status_code == 302
    statements = log.statements()
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
    assert any(s.startswith("INSERT INTO pads") for s in statements), statements


def test_a_write_while_answering_a_get_is_refused(app):
    with app.test_request_context("/", method="GET"):
        session = database.session()
        session.add(Pad(user_id=1, name="written by a GET"))
        with pytest.raises(database.WriteInReadOnlyRequest, match="GET / tried to write"):
            session.commit()
    with app.test_request_context("/pads/create/", method="POST"):
        assert database.session() is not None  # a POST gets the transactional session
