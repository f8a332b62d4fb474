"""the outbox claim reads its rows in order from a partial index of pending rows

The claim (bot/outbox.py) takes a channel's first due rows in the order safety replies,
other replies, invitations and reminders, each oldest first. With only the
(channel, status, next_attempt_at) index, PostgreSQL fetched every due row of the channel
and sorted it before taking the batch: 50 ms a claim at 18,823 pending rows in the soak.
This index holds pending rows only, in the claim's order, so the claim reads its batch
and stops. Both databases support partial indexes.

Revision ID: 0013_outbox_claim_index
Revises: 0012_queue_autovacuum
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_outbox_claim_index"
down_revision: str | None = "0012_queue_autovacuum"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.tables.CLAIMABLE, written out: a migration never changes with the models.
CLAIMABLE = "status = 'pending'"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_claim",
        "outbox",
        ["channel", "bulk", sa.text("urgent DESC"), "id", "next_attempt_at"],
        postgresql_where=sa.text(CLAIMABLE),
        sqlite_where=sa.text(CLAIMABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_claim", table_name="outbox")
