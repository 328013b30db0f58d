"""The committed migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from notejam import database, migrate
from notejam.models import Base


def test_migrations_match_the_models(app):
    with database.engine(app).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_database_is_at_the_single_head(app):
    assert migrate.current_revisions(database.engine(app)) == migrate.head_revisions() == {"0001"}


def test_migrations_downgrade_and_upgrade_cleanly(tmp_path):
    engine = database.make_engine(f"sqlite:///{tmp_path / 'roundtrip.sqlite'}")
    try:
        migrate.upgrade(engine)
        from alembic import command

        command.downgrade(migrate.alembic_config(engine), "base")
        assert migrate.current_revisions(engine) == set()
        migrate.upgrade(engine)
        assert migrate.current_revisions(engine) == {"0001"}
    finally:
        engine.dispose()
