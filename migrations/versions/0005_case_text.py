"""moderation cases for words that were not stored as an answer (a disclosure typed where a
choice or consent was asked): the redacted text and the person kept on the case

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("participant_id", BigId, nullable=True))
        batch.create_foreign_key(
            op.f("fk_moderation_case_participant_id_participant"),
            "participant",
            ["participant_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_moderation_case_participant_id"), ["participant_id"])


def downgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_index(op.f("ix_moderation_case_participant_id"))
        batch.drop_constraint(
            op.f("fk_moderation_case_participant_id_participant"), type_="foreignkey"
        )
        batch.drop_column("participant_id")
        batch.drop_column("text")
