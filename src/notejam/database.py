"""The engine and the per-request session: on PostgreSQL, autocommit for requests that only read, a transaction for
everything else."""

from __future__ import annotations

import select
from typing import Any

import psycopg2
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

EXTENSION = "notejam.database"
# SQLSTATEs that mean the server went away, not that our SQL is wrong: class 08 (connection exception) and the
# shutdown codes 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")


def make_engine(url: str) -> Engine:
    """An engine tuned for serving requests: checked connections, bounded pool, fast failure."""
    options: dict[str, Any] = {}
    postgresql = make_url(url).get_backend_name() == "postgresql"
    if postgresql:
        options.update(
            pool_size=5,
            max_overflow=5,
            pool_timeout=10,
            pool_recycle=1800,
            # Fail a probe or request in seconds, not minutes, when the database is unreachable.
            connect_args={"connect_timeout": 5, "application_name": "notejam"},
        )
    engine = create_engine(url, **options)
    if postgresql:
        # A restarted database must not cost a 500: a connection the server hung up on is replaced at checkout.
        event.listen(engine, "checkout", discard_if_server_hung_up)
        event.listen(engine, "checkout", autocommit_while_reading)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_enforce_foreign_keys)
    return engine


def discard_if_server_hung_up(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's checkout check, without a round trip: SQLAlchemy's `pool_pre_ping` sends `SELECT 1` before every
    request's first statement, one round trip of five on every page.

    A pooled connection is idle, so the server has nothing to say on it, except when it ends it: a restart, a
    failover or `pg_terminate_backend` sends a FATAL message (57P01 and friends) and closes the socket, and a crashed
    server's kernel closes it. Either way the socket turns readable; then the connection is discarded, and the pool
    opens a new one and checks that (SQLAlchemy's "custom pessimistic ping": raising DisconnectionError in a
    `checkout` listener, up to three attempts). The rarer unsolicited messages (a parameter change after a reload)
    cost one reconnect. A peer that vanished without a word fails the first statement as a `SELECT 1` would have,
    and the request answers 503 (is_unavailable).
    """
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the database server closed this connection or is closing it")


def _sqlite_enforce_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Requests that only read: every view answers them without writing (forms change data on POST only).
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteInReadOnlyRequest(RuntimeError):
    pass


def _read_only_request() -> bool:
    return has_request_context() and request.method in READ_ONLY_METHODS


def autocommit_while_reading(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's checkout: a request that only reads gets its connection in autocommit, each statement a transaction
    of its own, so the page costs no BEGIN before its first query and no ROLLBACK when it gives the connection back
    (two round trips of four). It sees what it saw before: under READ COMMITTED, PostgreSQL's default, every
    statement takes a new snapshot inside a transaction too. Everything else (forms, migrations, the CLI) gets a
    transaction. psycopg2's `autocommit` is a flag on the client: switching it costs nothing (SQLAlchemy's
    `isolation_level="AUTOCOMMIT"` would send a `SET default_transaction_isolation` when the connection returns)."""
    dbapi_connection.autocommit = _read_only_request()


def _refuse_writes(_session: Session, _context: Any, _instances: Any) -> None:
    if _read_only_request():
        raise WriteInReadOnlyRequest(
            f"{request.method} {request.path} tried to write: a GET runs without a transaction, so its writes "
            "would not be atomic. Change data on POST."
        )


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    event.listen(factory, "before_flush", _refuse_writes)
    sessions = scoped_session(factory)
    app.extensions[EXTENSION] = (engine, sessions)

    @app.teardown_appcontext
    def remove_session(_exc: BaseException | None) -> None:
        sessions.remove()
        reading = g.pop(_READ_CONNECTION, None)
        if reading is not None:
            reading.close()


def engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions[EXTENSION][0]


def session() -> Session:
    """The session of the current request (or app context); removed when the context ends. While answering a GET it
    reads in autocommit, on the request's reading connection, and refuses to write (WriteInReadOnlyRequest)."""
    sessions = current_app.extensions[EXTENSION][1]
    if not sessions.registry.has() and _read_only_request():
        return sessions(bind=connection())
    return sessions()


# The request's connection while it answers a GET (in flask.g, closed when the app context ends).
_READ_CONNECTION = "_notejam_read_connection"


def connection() -> Connection:
    """The connection the request's statements run on: the ORM session's while a form changes data (its transaction,
    seeing what it wrote), and while answering a GET a Core connection of its own, which the ORM session shares if a
    page needs one. A page that only reads so costs no ORM session (creating one, beginning its transaction state and
    closing it cost about as much as a statement), and still one pooled connection."""
    if not _read_only_request():
        return session().connection()
    reading = g.get(_READ_CONNECTION)
    if reading is None:
        reading = engine().connect()
        setattr(g, _READ_CONNECTION, reading)
    return reading


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached (refused, dropped, shutting down, no pooled connection in time), as
    opposed to a query that is wrong, which is a bug."""
    if isinstance(error, PoolTimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:  # SQLAlchemy's own verdict: the connection is gone
        return True
    original = error.orig
    if isinstance(original, psycopg2.OperationalError):
        # No SQLSTATE: libpq failed before the server said anything (refused, timed out, host unknown).
        code = original.pgcode
        return code is None or code.startswith(_UNAVAILABLE_SQLSTATE_CLASSES) or code in _UNAVAILABLE_SQLSTATES
    return False
