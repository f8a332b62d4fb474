"""a safety case records what the person who wrote it was sent: ``person_sent`` is
``held`` (the safety reply, and no more questions until someone follows up),
``check-in`` (the helplines as a check-in, and their questions went on),
``safety-reply`` (the safety reply where no questions were under way) or ``nothing``
(an import, a public post not addressed to the platform), so that a moderator knows
whether someone is waiting before they read the case

Revision ID: 0020_case_person_sent
Revises: 0019_case_flagged_by
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_case_person_sent"
down_revision: str | None = "0019_case_flagged_by"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place (a nullable column needs no copy of the table). Cases opened before
    # are left NULL: what their person was sent was not kept, and is not guessed.
    op.add_column("moderation_case", sa.Column("person_sent", sa.String(16), nullable=True))


def downgrade() -> None:
    # The cases stay; only what each person was sent is lost.
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_column("person_sent")
