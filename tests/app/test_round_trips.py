"""What a page costs the database, counted by the server itself: every statement it received, BEGIN, ROLLBACK and
pings included (tests/app/test_query_count.py counts only the queries SQLAlchemy sends)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg2
import pytest

from notejam import create_app, database, migrate
from notejam.models import NAME_MAX_LENGTH, Pad
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


def test_a_page_costs_two_statements_at_most_and_no_transaction(logging_postgres, signed_in):
    browser, pad, note = signed_in
    log = ServerLog(logging_postgres)
    # The user with their pads, then the list's own query; the note page reads its note in the user's statement.
    for path, expected in (("/", 2), (f"/pads/{pad.id}/", 2), (f"/notes/{note.id}/", 1)):
        assert browser.get(path).status_code == 200  # the pool's connection is warm
        log.skip()
        assert browser.get(path).status_code == 200
        statements = log.statements()
        assert len(statements) == expected, statements
        assert not [s for s in statements if s.upper() in ("BEGIN", "ROLLBACK", "COMMIT", "SELECT 1")], statements
        # Both prepared on this connection before: run by name, nothing for the server to parse or plan.
        assert all(s.startswith("EXECUTE notejam_") for s in statements), statements


def test_a_statement_is_prepared_once_per_connection(app, logging_postgres, signed_in):
    browser, pad, _ = signed_in
    database.engine(app).dispose()  # new connections, which have prepared nothing yet
    log = ServerLog(logging_postgres)
    log.skip()
    for _ in range(3):
        assert browser.get(f"/pads/{pad.id}/?order=name").status_code == 200
    statements = log.statements()
    prepares = [s for s in statements if s.startswith("PREPARE")]
    assert [s.split()[1] for s in prepares] == ["notejam_signed_in_user", "notejam_pad_notes_by_name"], statements
    assert len(statements) == 2 + 3 * 2, statements


def test_pages_survive_a_migration_that_changes_a_column_they_return(app, logging_postgres, signed_in):
    """A longer VARCHAR changes the result type of every prepared statement that returns the column: PostgreSQL
    refuses those ("cached plan must not change result type"), and each connection prepares them again, once."""
    browser, pad, note = signed_in
    pages = ("/", f"/pads/{pad.id}/", f"/notes/{note.id}/")
    database.engine(app).dispose()  # one connection from here on: pages are asked one at a time
    for path in pages:
        assert browser.get(path).status_code == 200  # prepared on that connection
    admin = psycopg2.connect(database.engine(app).url.render_as_string(hide_password=False).replace("+psycopg2", ""))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("ALTER TABLE pads ALTER COLUMN name TYPE varchar(200)")
        cursor.execute("ALTER TABLE notes ALTER COLUMN name TYPE varchar(200)")
    try:
        log = ServerLog(logging_postgres)
        log.skip()
        for path in pages:
            response = browser.get(path)
            assert response.status_code == 200, (path, response.status_code)
        # The user with their pads (pads.name), the two lists (notes.name, pads.name), and on the note page the user
        # with their pads and the note (both).
        assert sum(s.startswith("DEALLOCATE") for s in log.statements()) == 4
        for path in pages:  # prepared again for the new type: served as before
            assert browser.get(path).status_code == 200
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"ALTER TABLE pads ALTER COLUMN name TYPE varchar({NAME_MAX_LENGTH})")
            cursor.execute(f"ALTER TABLE notes ALTER COLUMN name TYPE varchar({NAME_MAX_LENGTH})")
        admin.close()


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
