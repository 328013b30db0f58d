"""SQL queries per page, for `make bench`: run with PYTHONPATH naming the Notejam version to count.

Builds that version's app on the bench database, signs in with Flask's test client and counts the statements each
page sends (a SQLAlchemy `before_cursor_execute` listener, as tests/app/test_query_count.py does). Prints JSON.

    python -m bench.query_count --database-url URL --email E --password P "all notes=/" "note=/notes/1/"
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import event


def count(database_url: str, email: str, password: str, pages: dict[str, str]) -> dict[str, int]:
    from notejam import create_app, database  # the version on PYTHONPATH

    app = create_app({"DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    signed_in = client.post("/signin/", data={"email": email, "password": password})
    if signed_in.status_code != 302:
        raise SystemExit(f"sign-in failed: {signed_in.status_code}")
    statements: list[str] = []

    def record(*args: Any) -> None:
        if not args[2].startswith("PREPARE "):  # once per pooled connection, not per page (notejam.prepared)
            statements.append(args[2])

    event.listen(database.engine(app), "before_cursor_execute", record)
    counts = {}
    for label, path in pages.items():
        statements.clear()
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
