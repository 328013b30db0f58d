"""Alembic, driven from the app: `flask --app notejam db upgrade` and the readiness check.

Releases roll out as expand/contract (docs/migrations.md): the migration Job runs before the new pods start, so the
old pods keep serving on the newer schema. A database at a revision this code does not know was migrated by newer
code: it is *ahead*, and this code serves on it. A known revision short of the head is *behind*: not ready.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
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
HEAD = "head"
AHEAD = "ahead"
BEHIND = "behind head"

db_cli = AppGroup("db", help="Database schema migrations (Alembic, committed in notejam/migrations).")


@dataclass(frozen=True)
class CodeRevisions:
    """What this code knows: its head revision(s), and every revision it has a migration for."""

    heads: frozenset[str]
    known: frozenset[str]


def alembic_config(engine: Engine | None = None, extra_version_locations: Sequence[Path] = ()) -> Config:
    """An in-memory Alembic config: no alembic.ini, the engine is handed to migrations/env.py.

    `extra_version_locations` adds folders of migrations (the tests keep one that plays a newer release)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if extra_version_locations:
        locations = [MIGRATIONS_DIR / "versions", *extra_version_locations]
        config.set_main_option("version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations))
    config.attributes["engine"] = engine
    return config


def code_revisions(extra_version_locations: Sequence[Path] = ()) -> CodeRevisions:
    script = ScriptDirectory.from_config(alembic_config(extra_version_locations=extra_version_locations))
    return CodeRevisions(
        heads=frozenset(script.get_heads()), known=frozenset(rev.revision for rev in script.walk_revisions())
    )


def head_revisions() -> set[str]:
    return set(code_revisions().heads)


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def schema_state(current: set[str], code: CodeRevisions) -> str:
    """HEAD, AHEAD (a revision this code does not know: newer code migrated past it) or BEHIND."""
    if not current or (current & code.known) - code.heads:
        return BEHIND  # empty, or at an older revision of ours
    if current == set(code.heads):
        return HEAD
    return AHEAD if current - code.known else BEHIND  # all known but a head missing: another branch is behind


def upgrade(engine: Engine, revision: str = "head", extra_version_locations: Sequence[Path] = ()) -> None:
    command.upgrade(alembic_config(engine, extra_version_locations), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Apply migrations up to REVISION (default: head); nothing to do when newer code migrated further."""
    engine = database.engine(current_app)
    click.echo(f"Migrating {redacted_database_url(engine.url.render_as_string(hide_password=False))} to {revision}")
    current = current_revisions(engine)
    if revision == "head" and schema_state(current, code_revisions()) == AHEAD:
        # A rollback after a release with a migration: the Sync hook of the older release must not fail on the
        # revision it does not know, or the rollback never reaches the Deployment. The schema stays expanded.
        click.echo(f"Database is at {', '.join(sorted(current))}, ahead of this code: nothing to do")
        return
    upgrade(engine, revision)
    click.echo(f"Database is at {', '.join(sorted(current_revisions(engine))) or 'base'}")


@db_cli.command("current")
def current_command() -> None:
    """Print the database's revision and whether it is at, ahead of or behind this code's head."""
    current = current_revisions(database.engine(current_app))
    click.echo(f"{', '.join(sorted(current)) or 'base'} ({schema_state(current, code_revisions())})")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
