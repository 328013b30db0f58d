"""Alembic, driven from the app: `flask --app notejam db upgrade` and the readiness check."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import Engine

from notejam import database
from notejam.config import redacted_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

db_cli = AppGroup("db", help="Database schema migrations (Alembic, committed in notejam/migrations).")


def alembic_config(engine: Engine | None = None) -> Config:
    """An in-memory Alembic config: no alembic.ini, the engine is handed to migrations/env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    engine = database.engine(current_app)
    click.echo(f"Migrating {redacted_database_url(engine.url.render_as_string(hide_password=False))} to {revision}")
    upgrade(engine, revision)
    click.echo(f"Database is at {', '.join(sorted(current_revisions(engine))) or 'base'}")


@db_cli.command("current")
def current_command() -> None:
    """Print the database's revision and whether it is the head."""
    current = current_revisions(database.engine(current_app))
    state = "head" if current == head_revisions() else "behind head"
    click.echo(f"{', '.join(sorted(current)) or 'base'} ({state})")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
