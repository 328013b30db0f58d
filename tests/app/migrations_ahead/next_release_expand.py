"""Test only: the migration of a release after this code's, an expand step as docs/migrations.md allows.

Revision ID: next_release_expand
Revises: this code's head(s), computed, so it stays one revision past the code whatever migrations are added

Applied by tests/app/test_migration_rollout.py through an extra Alembic version location; never shipped.
"""

import sqlalchemy as sa
from alembic import op

from notejam.migrate import head_revisions

revision = "next_release_expand"
down_revision = tuple(sorted(head_revisions()))
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new column the old code does not write: NOT NULL only because the server fills it in.
    op.add_column("notes", sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()))
    # A new table pointing at an old one: ON DELETE CASCADE, so the old code's deletes still succeed.
    op.create_table(
        "note_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["notes.id"], name=op.f("fk_note_tags_note_id_notes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_tags")),
    )


def downgrade() -> None:
    op.drop_table("note_tags")
    op.drop_column("notes", "archived")
