"""a poll sent in a person's private chat names that person (``participant_id``), so that
its row goes with their erasure; it held only the poll's id, but it was a row about their
conversation, left behind by ``participant erase``

Revision ID: 0025_publication_person
Revises: 0024_references_hashed
Create Date: 2026-12-05 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_publication_person"
down_revision: str | None = "0024_references_hashed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Polls sent before are left without a person: whose chat each was in was never kept.
    with op.batch_alter_table("publication") as batch:
        batch.add_column(sa.Column("participant_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_publication_participant_id_participant"),
            "participant",
            ["participant_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_publication_participant_id"), ["participant_id"], unique=False)


def downgrade() -> None:
    # The polls stay; only whose chat each was in is lost.
    with op.batch_alter_table("publication") as batch:
        batch.drop_index(op.f("ix_publication_participant_id"))
        batch.drop_constraint(op.f("fk_publication_participant_id_participant"), type_="foreignkey")
        batch.drop_column("participant_id")
