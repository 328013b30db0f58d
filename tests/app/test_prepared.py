"""notejam.prepared runs the pages' statements on psycopg2 without SQLAlchemy's execution: what SQLAlchemy did for
them must still happen (typed rows, its errors, a dead connection invalidated), on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Engine, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError

from notejam import database, migrate
from notejam.models import Note, User
from notejam.prepared import Prepared
from tests.conftest import PostgresServer

NOTES = Note.__table__.c
NOTE_BY_ID = select(NOTES.id, NOTES.name, NOTES.updated_at, NOTES.pad_id).where(NOTES.id == bindparam("id"))
EDITED = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine(postgres: PostgresServer) -> Iterator[Engine]:
    engine = database.make_engine(postgres.create_database("notejam_prepared"))
    migrate.upgrade(engine)
    with engine.begin() as connection:
        user_id = connection.execute(
            insert(User).values(email="p@example.com", password_hash="x")
        ).inserted_primary_key[0]
        connection.execute(insert(Note).values(id=7, user_id=user_id, name="Plan", text="t", updated_at=EDITED))
    yield engine
    engine.dispose()


@pytest.fixture
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection as a page that reads gets it: in autocommit, here in a time zone that is not UTC."""
    with engine.connect() as connection:
        connection.connection.dbapi_connection.autocommit = True
        connection.exec_driver_sql("SET TIME ZONE 'Asia/Kolkata'")
        yield connection


def test_rows_are_the_core_statements_rows_typed_and_named(reading):
    statement = Prepared("test_note_by_id", NOTE_BY_ID)
    [row] = statement.rows(reading, {"id": 7})
    [core] = reading.execute(NOTE_BY_ID, {"id": 7}).all()
    assert tuple(row) == tuple(core) == (7, "Plan", EDITED, None)
    # UTC, as the column type (UTCDateTime) makes it, not the session's +05:30 that psycopg2 hands over.
    assert row.updated_at.utcoffset() == timedelta(0) and row.updated_at.tzinfo is UTC
    raw = reading.connection.dbapi_connection.cursor()
    raw.execute("SELECT updated_at FROM notes WHERE id = 7")
    assert raw.fetchone()[0].tzinfo == timezone(timedelta(hours=5, minutes=30))  # what the type corrects
    assert (row.id, row.name, row.pad_id) == (7, "Plan", None)
    assert statement.rows(reading, {"id": 8}) == []


def test_columns_that_share_a_name_must_be_labelled():
    with pytest.raises(ValueError, match="label the columns"):
        Prepared("test_two_ids", select(NOTES.id, User.__table__.c.id))
    Prepared("test_two_ids", select(NOTES.id, User.__table__.c.id.label("user_id")))


def test_a_statement_is_prepared_once_per_connection(reading):
    statement = Prepared("test_note_once", NOTE_BY_ID)
    for _ in range(3):
        assert len(statement.rows(reading, {"id": 7})) == 1
    names = reading.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars().all()
    assert names.count("test_note_once") == 1


def test_a_driver_error_is_sqlalchemys_and_leaves_the_connection_usable(reading):
    broken = Prepared("test_note_broken", NOTE_BY_ID.where(NOTES.id / bindparam("zero") > 0))
    with pytest.raises(DBAPIError) as raised:
        broken.rows(reading, {"id": 7, "zero": 0})
    assert raised.value.orig.pgcode == "22012"  # division_by_zero
    assert not raised.value.connection_invalidated and not database.is_unavailable(raised.value)
    assert not reading.invalidated
    assert reading.execute(text("SELECT 1")).scalar() == 1


def test_a_connection_the_server_ended_is_invalidated_and_unavailable(engine, reading):
    statement = Prepared("test_note_dead", NOTE_BY_ID)
    backend = reading.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    with pytest.raises(DBAPIError) as raised:
        statement.rows(reading, {"id": 7})
    assert raised.value.connection_invalidated and database.is_unavailable(raised.value)
    assert reading.invalidated  # the pool will not hand the dead connection out again
