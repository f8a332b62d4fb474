"""the inbox claim reads waiting rows in order from a partial index of waiting rows

The claim (bot/inbox.py) takes the first waiting rows in id order. Waiting rows sit among
handled ones (every web request is stored handled, and Telegram events are handled in
turn), and with the indexes there were PostgreSQL either walked the primary key from the
first row, passing over every handled row below the oldest waiting one (124,427 of them
for a batch of 50, 25 ms a claim on the 30-minute soak's store once analysed), or fetched
every waiting row and sorted it (170 to 300 ms at 48,062 waiting, unanalysed). This index
holds waiting rows only, in id order, so the claim reads its batch and stops (0.25 to
0.8 ms on the same store, either way). Both databases support partial indexes.

Revision ID: 0014_inbox_claim_index
Revises: 0013_outbox_claim_index
Create Date: 2026-12-02 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_inbox_claim_index"
down_revision: str | None = "0013_outbox_claim_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.tables.WAITING, written out: a migration never changes with the models.
WAITING = "processed_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_inbox_waiting",
        "inbox",
        ["id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_waiting", table_name="inbox")
