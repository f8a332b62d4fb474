"""inbox rows carry a keyed hash of their sender while they wait, so one person's events
are handled in order, one worker at a time

Revision ID: 0011_inbox_sender
Revises: 0010_outbox_urgent
Create Date: 2026-12-01 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_inbox_sender"
down_revision: str | None = "0010_outbox_urgent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("sender", sa.String(64), nullable=True))
        batch.create_index("ix_inbox_sender", ["sender", "id"])
    # Rows already waiting have no sender and are claimed as before.


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_sender")
        batch.drop_column("sender")
