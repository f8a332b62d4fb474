"""responses, moderation cases and statements never take an id used before, on SQLite too

SQLite gives a new row the largest id plus one, so when `participant erase` deleted the
newest cases, statements or responses, the next took the same number: an audit line, a
note or a dashboard form left open on the old case named the new one, and a thread reply
to an erased post seemed to answer the next post (`response:N`). AUTOINCREMENT makes
SQLite remember the largest id it ever gave. Each table is copied into a new one with it,
under foreign keys switched off (migrations/env.py), so the old table's drop cascades to
nothing; PostgreSQL's sequences never go back, and nothing changes there.

Revision ID: 0021_ids_never_reused
Revises: 0020_case_person_sent
Create Date: 2026-12-04 11:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_ids_never_reused"
down_revision: str | None = "0020_case_person_sent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("moderation_case", "statement", "response")


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    # The rows and their ids stay; only SQLite's memory of ids no longer held goes.
    _recreate(False)
