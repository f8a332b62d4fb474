"""a safety case records how the screen flagged its text: ``flagged_by`` is ``phrase``
(a listed phrase matched) or ``model`` (the screen's statistical model alone), so that
moderators see which before they read it; never the phrase itself

Revision ID: 0019_case_flagged_by
Revises: 0018_password_change
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_case_flagged_by"
down_revision: str | None = "0018_password_change"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place (SQLite too: a nullable column needs no copy of the table). Cases
    # opened before are left NULL: how they were flagged was not kept, and is not guessed.
    op.add_column("moderation_case", sa.Column("flagged_by", sa.String(8), nullable=True))


def downgrade() -> None:
    # The cases stay; only how each was flagged is lost.
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_column("flagged_by")
