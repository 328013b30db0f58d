"""Run Notejam locally (`make run`): migrate the SQLite database in the instance folder, then serve
http://127.0.0.1:5000 with Flask's built-in development server (single process, debug off).

NOTEJAM_ENV defaults to `development` here, so no SECRET_KEY is needed; set DB_URI or the PG*
variables to use PostgreSQL instead of SQLite. Production serves with gunicorn (see the Dockerfile).
"""

from __future__ import annotations

import argparse
import os

from notejam import create_app, database, migrate
from notejam.config import redacted_database_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    args = parser.parse_args(argv)

    os.environ.setdefault("NOTEJAM_ENV", "development")
    app = create_app()
    migrate.upgrade(database.engine(app))
    print(f"Notejam on {redacted_database_url(app.config['DATABASE_URL'])}: http://{args.host}:{args.port}/")
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
