"""Alembic environment: runs against the engine the app hands over (see notejam.migrate)."""

from alembic import context

from notejam.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # Batch mode lets the same migration files alter tables on SQLite too.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
