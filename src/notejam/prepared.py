"""Statements PostgreSQL parses and plans once per connection, run on the driver without SQLAlchemy's execution.

psycopg2 sends every query as text, and the server parses, analyses and plans it each time: for the query every
signed-in page runs (the user with their pads) planning took longer than running it. psycopg 3 prepares repeated
statements by itself; psycopg2, our driver, does not, and SQLAlchemy does not do it for psycopg2. So the busiest
pages' statements are `Prepared`: on a connection's first use, `PREPARE name AS ...`; from then on
`EXECUTE name(...)`, one round trip as before. PostgreSQL keeps a prepared statement for the life of the connection;
SQLAlchemy empties the connection's `info`, where we note what is prepared, when it replaces the connection.

`EXECUTE` goes straight to a psycopg2 cursor of the request's pooled connection. SQLAlchemy's execution of a
statement (its execution context, events, result object and row processing) cost about as much Python as psycopg2's
own work for a page's two statements (in one process, two runs one after the other: note page 0.79, then 0.64 ms).
What it did for these statements is kept here: rows typed by the Core statement's columns (UTC datetimes included,
through each column type's own result processor) and readable by column name, and a driver error raised as
SQLAlchemy's `DBAPIError`, the connection invalidated when the dialect says it is gone (so the pool replaces it, and
the page is a 503: database.is_unavailable). Only SQLAlchemy's cursor events do not fire: a count of statements is
the driver's or the server's (bench/query_count.py, tests/app/test_round_trips.py).

Only while a request reads, in autocommit (database.autocommit_while_reading). A form's statements run in its
transaction as plain Core statements, so that nothing below can abort a transaction:
- A migration that changes the type of a column a statement returns (a longer VARCHAR, say) makes PostgreSQL refuse
  the statement on every connection that prepared it before ("cached plan must not change result type", SQLSTATE
  0A000). Each connection then prepares it again, once, and the page is served.
- SQLite, the embedded default, runs the Core statement as it is.
- A pooler in transaction mode (PgBouncer, RDS Proxy) would have to pin each connection to its client: the app
  connects to RDS directly.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg2
from sqlalchemy import Connection, Dialect, Select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

# PostgreSQL's feature_not_supported, which it answers when a prepared statement's result type changed under it.
CACHED_PLAN_CHANGED = "0A000"
# The names this connection has prepared, in the pool's per-connection `info` (emptied with the connection).
PREPARED_NAMES = "notejam.prepared"
# PostgreSQL's own placeholders ($1, $2, ...) for the PREPARE text; psycopg2 fills in EXECUTE's arguments.
_NUMBERED = postgresql.dialect(paramstyle="numeric_dollar")


class Prepared:
    """A Core select, prepared under `name` on each PostgreSQL connection that runs it while reading."""

    def __init__(self, name: str, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=_NUMBERED)
        self.name = name
        self.statement = statement
        self.prepare = f"PREPARE {name} AS {compiled.string}"
        self.parameters = tuple(compiled.positiontup or ())
        # Values the statement carries itself (a literal becomes a bound parameter), filled in where not given.
        self._values = {key: bind.value for key, bind in compiled.binds.items() if not bind.required}
        self.execute = f"EXECUTE {name}({', '.join('%s' for _ in self.parameters)})"
        columns = statement.selected_columns
        keys = [column.key for column in columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{name}: label the columns that share a name, so that rows can be read by name: {keys}")
        # Rows read by position or by column name, as SQLAlchemy's are (`note.name`).
        self.row = namedtuple(f"{name}_row", keys)  # type: ignore[misc]
        self._columns = columns
        self._processors: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> Sequence[Any]:
        """The statement's rows on `connection`: by name where it is PostgreSQL in autocommit, else as Core."""
        dbapi_connection = connection.connection.dbapi_connection
        if connection.dialect.name != "postgresql" or not getattr(dbapi_connection, "autocommit", False):
            return connection.execute(self.statement, parameters).all()
        prepared: set[str] | None = connection.info.get(PREPARED_NAMES)
        if prepared is None:
            prepared = connection.info[PREPARED_NAMES] = set()
        arguments = tuple(parameters[name] if name in parameters else self._values[name] for name in self.parameters)
        cursor = dbapi_connection.cursor()
        try:
            if self.name not in prepared:
                cursor.execute(self.prepare)
                prepared.add(self.name)
            try:
                cursor.execute(self.execute, arguments)
            except psycopg2.Error as error:
                if error.pgcode != CACHED_PLAN_CHANGED:
                    raise
                # A migration changed what the statement returns: plan it again for the new table (autocommit:
                # nothing to roll back, the failed EXECUTE changed nothing).
                cursor.execute(f"DEALLOCATE {self.name}")
                cursor.execute(self.prepare)
                cursor.execute(self.execute, arguments)
            fetched = cursor.fetchall()
        except psycopg2.Error as error:
            raise self._sqlalchemy_error(connection, cursor, arguments, error) from error
        finally:
            cursor.close()
        return self._typed(connection.dialect, fetched)

    def _typed(self, dialect: Dialect, fetched: list[tuple[Any, ...]]) -> list[Any]:
        """The driver's rows as named rows, each value through its column type's result processor, if it has one."""
        if self._processors is None:
            self._processors = tuple(
                (index, processor)
                for index, column in enumerate(self._columns)
                if (processor := column.type.result_processor(dialect, None)) is not None
            )
        row, processors, new_row = self.row, self._processors, tuple.__new__  # a namedtuple, as its _make makes it
        if not processors:
            return [new_row(row, values) for values in fetched]
        typed = []
        for values in fetched:
            converted = list(values)
            for index, processor in processors:
                converted[index] = processor(converted[index])
            typed.append(new_row(row, converted))
        return typed

    def _sqlalchemy_error(
        self, connection: Connection, cursor: Any, arguments: tuple[Any, ...], error: psycopg2.Error
    ) -> BaseException:
        """What SQLAlchemy raises for a driver error: DBAPIError, and a connection the dialect finds disconnected
        (the server restarted or ended it) invalidated, so the pool opens a new one for the next request."""
        gone = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if gone:
            connection.invalidate(error)
        return DBAPIError.instance(
            self.execute, arguments, error, psycopg2.Error, connection_invalidated=gone, dialect=connection.dialect
        )
