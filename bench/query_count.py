"""SQL queries per page, for `make bench`: run with PYTHONPATH naming the Notejam version to count.

Builds that version's app on the bench database, signs in with Flask's test client and counts the statements each
page sends (`counted_statements`, which tests/app/test_query_count.py uses too). Prints JSON.

    python -m bench.query_count --database-url URL --email E --password P "all notes=/" "note=/notes/1/"
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2.extensions
from sqlalchemy import Engine, event

# Where the counting connections' cursors note what they send: the innermost counted_statements block's list.
_counts: list[list[str]] = []


def _note(statement: Any) -> None:
    text = statement if isinstance(statement, str) else str(statement)
    # PREPARE: once per pooled connection, not per page (notejam.prepared).
    if _counts and not text.startswith("PREPARE "):
        _counts[-1].append(text)


class _CountingCursor(psycopg2.extensions.cursor):
    def execute(self, query: Any, vars: Any = None) -> None:
        _note(query)
        super().execute(query, vars)

    def executemany(self, query: Any, vars_list: Any) -> None:
        _note(query)
        super().executemany(query, vars_list)


class CountingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection whose cursors note each statement they send: a query, the pool's `SELECT 1` ping of
    versions that pre-ping, an `EXECUTE` that notejam.prepared sends without SQLAlchemy. Not the BEGIN and ROLLBACK
    that psycopg2 sends by itself (tests/app/test_round_trips.py counts those, from the server's log)."""

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cursor_factory", _CountingCursor)
        return super().cursor(*args, **kwargs)


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent on `engine` inside the block, PREPAREs left out. On PostgreSQL, what the driver sends, on
    connections opened for the count (the pool is emptied before and after), so that statements run on the driver
    without SQLAlchemy (notejam.prepared) count too; on other databases, what SQLAlchemy sends (its
    `before_cursor_execute` event)."""
    statements: list[str] = []

    def use_counting_connection(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["connection_factory"] = CountingConnection

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        _note(statement)

    postgresql = engine.dialect.name == "postgresql"
    listener = ("do_connect", use_counting_connection) if postgresql else ("before_cursor_execute", record)
    engine.dispose()
    event.listen(engine, *listener)
    _counts.append(statements)
    try:
        yield statements
    finally:
        _counts.remove(statements)
        event.remove(engine, *listener)
        engine.dispose()


def count(database_url: str, email: str, password: str, pages: dict[str, str]) -> dict[str, int]:
    from notejam import create_app, database  # the version on PYTHONPATH

    app = create_app({"DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    signed_in = client.post("/signin/", data={"email": email, "password": password})
    if signed_in.status_code != 302:
        raise SystemExit(f"sign-in failed: {signed_in.status_code}")
    counts = {}
    for label, path in pages.items():
        with counted_statements(database.engine(app)) as statements:
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
        counts[label] = len(statements)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.query_count", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("pages", nargs="+", help="label=path")
    args = parser.parse_args(argv)
    pages = dict(page.split("=", 1) for page in args.pages)
    print(json.dumps(count(args.database_url, args.email, args.password, pages)))


if __name__ == "__main__":
    main()
