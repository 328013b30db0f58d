"""The mechanical part of the expand/contract rule (docs/migrations.md), checked on every committed migration.

The code of the release before keeps running on the schema a migration leaves, until the new pods replace it:
- `upgrade()` removes, renames or retypes nothing, and makes no existing column NOT NULL, unless the migration
  says it is a contract step (`contract = "<why nothing running uses it any more>"`), one release after the code
  stopped using what it removes;
- a column added NOT NULL has a server default, or the old code's INSERTs, which do not name it, fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from notejam.migrate import MIGRATIONS_DIR

AHEAD = Path(__file__).parent / "migrations_ahead"
DESTRUCTIVE = {"drop_table", "drop_column", "rename_table", "drop_table_comment"}
# alter_column keywords that change what the old code reads or writes.
BREAKING_ALTERATIONS = {"new_column_name", "type_"}


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def violations(source: str) -> list[str]:
    """What in this migration's upgrade() would break the code of the release before it."""
    module = ast.parse(source)
    is_contract = any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "contract" for t in node.targets)
        for node in module.body
    )
    upgrade = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    if upgrade is None:
        return ["no upgrade()"]
    found = []
    calls = [n for n in ast.walk(upgrade) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    for call in sorted(calls, key=lambda call: call.lineno):
        operation, line = call.func.attr, f"line {call.lineno}"
        if operation in DESTRUCTIVE and not is_contract:
            found.append(f"{line}: {operation} outside a contract step")
        if operation == "alter_column" and not is_contract:
            for keyword in BREAKING_ALTERATIONS & {k.arg for k in call.keywords}:
                found.append(f"{line}: alter_column({keyword}=...) outside a contract step")
            if _is_false(_keyword(call, "nullable")):
                found.append(f"{line}: alter_column(nullable=False) outside a contract step")
        if operation == "add_column":
            for column in (a for a in call.args if isinstance(a, ast.Call)):
                if _is_false(_keyword(column, "nullable")) and _keyword(column, "server_default") is None:
                    found.append(f"{line}: a NOT NULL column added without a server_default")
    return found


def migration_files() -> list[Path]:
    return sorted((MIGRATIONS_DIR / "versions").glob("*.py")) + sorted(AHEAD.glob("*.py"))


@pytest.mark.parametrize("path", migration_files(), ids=lambda path: path.name)
def test_every_migration_keeps_the_previous_release_working(path: Path):
    assert violations(path.read_text()) == []


BAD = """
import sqlalchemy as sa
from alembic import op

def upgrade():
    op.add_column("notes", sa.Column("rank", sa.Integer(), nullable=False))
    op.drop_column("notes", "text")
    op.alter_column("notes", "name", new_column_name="title")
    with op.batch_alter_table("pads") as batch_op:
        batch_op.alter_column("name", nullable=False)
    op.drop_table("pads")
"""


def test_the_rule_catches_what_breaks_the_previous_release():
    assert violations(BAD) == [
        "line 6: a NOT NULL column added without a server_default",
        "line 7: drop_column outside a contract step",
        "line 8: alter_column(new_column_name=...) outside a contract step",
        "line 10: alter_column(nullable=False) outside a contract step",
        "line 11: drop_table outside a contract step",
    ]


def test_a_declared_contract_step_may_remove_what_nothing_uses_any_more():
    source = 'contract = "notes.text unused since release 42"\n' + BAD
    assert violations(source) == ["line 7: a NOT NULL column added without a server_default"]
