"""engagement over time: the Delphi round of a response and the once-only record of timed
actions (round invitations, timed questions, purges)

Revision ID: 0007_rounds_chats_listening
Revises: 0006_statements
Create Date: 2026-12-01 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_rounds_chats_listening"
down_revision: str | None = "0006_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # The item and response type columns were widened to 16 by 0006_statements.
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=True))
    op.create_table(
        "timed_action",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consultation_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_timed_action_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timed_action")),
        sa.UniqueConstraint(
            "consultation_id",
            "item_id",
            "action",
            name=op.f("uq_timed_action_consultation_id_item_id_action"),
        ),
    )


def downgrade() -> None:
    op.drop_table("timed_action")
    with op.batch_alter_table("response") as batch:
        batch.drop_column("round")
