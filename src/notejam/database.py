"""The engine and the per-request session."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, scoped_session, sessionmaker

EXTENSION = "notejam.database"


def make_engine(url: str) -> Engine:
    """An engine tuned for serving requests: checked connections, bounded pool, fast failure."""
    options: dict[str, Any] = {"pool_pre_ping": True}  # a restarted database must not cost a 500
    if make_url(url).get_backend_name() == "postgresql":
        options.update(
            pool_size=5,
            max_overflow=5,
            pool_timeout=10,
            pool_recycle=1800,
            # Fail a probe or request in seconds, not minutes, when the database is unreachable.
            connect_args={"connect_timeout": 5, "application_name": "notejam"},
        )
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_enforce_foreign_keys)
    return engine


def _sqlite_enforce_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    sessions = scoped_session(sessionmaker(bind=engine, expire_on_commit=False))
    app.extensions[EXTENSION] = (engine, sessions)

    @app.teardown_appcontext
    def remove_session(_exc: BaseException | None) -> None:
        sessions.remove()


def engine(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions[EXTENSION][0]


def session() -> Session:
    """The session of the current request (or app context); removed when the context ends."""
    return current_app.extensions[EXTENSION][1]()
