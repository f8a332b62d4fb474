"""safety replies in the outbox are marked, so they are claimed before every other row

Revision ID: 0010_outbox_urgent
Revises: 0009_outbox_bulk
Create Date: 2026-12-01 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_outbox_urgent"
down_revision: str | None = "0009_outbox_bulk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Rows queued before this revision are claimed as before (not urgent).


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("urgent")
