"""Statements PostgreSQL parses and plans once per connection, not on every page.

psycopg2 sends every query as text, and the server parses, analyses and plans it each time: for the query every
signed-in page runs (the user with their pads) planning took longer than running it. psycopg 3 prepares repeated
statements by itself; psycopg2, our driver, does not, and SQLAlchemy does not do it for psycopg2. So the busiest
pages' statements are `Prepared`: on a connection's first use, `PREPARE name AS ...`; from then on
`EXECUTE name(...)`, one round trip as before, its rows typed by the Core statement's columns (UTC datetimes
included). PostgreSQL keeps a prepared statement for the life of the connection; SQLAlchemy empties the connection's
`info`, where we note what is prepared, when it replaces the connection.

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

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, CursorResult, Select, TextualSelect, text
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
        parameters = compiled.positiontup or []
        self.name = name
        self.statement = statement
        self.prepare = f"PREPARE {name} AS {compiled.string}"
        arguments = ", ".join(f":{parameter}" for parameter in parameters)
        self.execute: TextualSelect = text(f"EXECUTE {name}({arguments})").columns(*statement.selected_columns)

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> CursorResult[Any]:
        """The statement's rows on `connection`: by name where it is PostgreSQL in autocommit, else as Core."""
        dbapi_connection = connection.connection.dbapi_connection
        if connection.dialect.name != "postgresql" or not getattr(dbapi_connection, "autocommit", False):
            return connection.execute(self.statement, parameters)
        prepared: set[str] | None = connection.info.get(PREPARED_NAMES)
        if prepared is None:
            prepared = connection.info[PREPARED_NAMES] = set()
        if self.name not in prepared:
            connection.exec_driver_sql(self.prepare)
            prepared.add(self.name)
        try:
            return connection.execute(self.execute, parameters)
        except DBAPIError as error:
            if getattr(error.orig, "pgcode", None) != CACHED_PLAN_CHANGED:
                raise
        # A migration changed what the statement returns: plan it again for the new table (autocommit: nothing to
        # roll back, the failed EXECUTE changed nothing).
        connection.exec_driver_sql(f"DEALLOCATE {self.name}")
        connection.exec_driver_sql(self.prepare)
        return connection.execute(self.execute, parameters)
