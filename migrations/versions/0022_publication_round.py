"""a poll sent privately for a question asked in Delphi rounds records the round it
asks, so that a vote on it is kept to that round (a vote on an earlier round's poll,
still in the person's chat, must not change the round open now)

Revision ID: 0022_publication_round
Revises: 0021_ids_never_reused
Create Date: 2026-12-04 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_publication_round"
down_revision: str | None = "0021_ids_never_reused"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place (a nullable column needs no copy of the table). Polls sent before
    # are left NULL: which round they asked was not kept, and is not guessed.
    op.add_column("publication", sa.Column("round", sa.Integer(), nullable=True))


def downgrade() -> None:
    # The polls stay; only the round each asked is lost.
    with op.batch_alter_table("publication") as batch:
        batch.drop_column("round")
