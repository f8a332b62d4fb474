"""moderation alerts are claimed until a time: a claim whose sending never started is
given back (on a stop at once, after a crash once the time has passed), so a stopped
checker no longer loses the alerts it had claimed but not yet sent

Revision ID: 0015_alert_claims
Revises: 0014_inbox_claim_index
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_alert_claims"
down_revision: str | None = "0014_inbox_claim_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.add_column(
            sa.Column("alert_claimed_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_column("alert_claimed_until")
