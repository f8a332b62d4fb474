"""outbox rows sent to many people on the service's initiative (invitations, reminders)
are marked, so replies to people are claimed before them

Revision ID: 0009_outbox_bulk
Revises: 0008_followups
Create Date: 2026-12-01 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_outbox_bulk"
down_revision: str | None = "0008_followups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Rows queued before this revision are claimed in order as before (not bulk).


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("bulk")
