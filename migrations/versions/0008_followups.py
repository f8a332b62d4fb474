"""engagement over time: follow-up invitations (one per person per follow-up), scheduled
actions done once across workers, and quiet hours carried by outbox rows

Revision ID: 0008_followups
Revises: 0007_rounds_chats_listening
Create Date: 2026-12-01 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_followups"
down_revision: str | None = "0007_rounds_chats_listening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.JSON(), nullable=True))
    op.create_table(
        "invitation",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("consultation_id", sa.String(64), nullable=False),
        sa.Column("participant_id", BigId, nullable=False),
        sa.Column("earlier_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outbox_key", sa.String(160), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_invitation_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_invitation_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint(
            "consultation_id",
            "participant_id",
            name=op.f("uq_invitation_consultation_id_participant_id"),
        ),
    )
    op.create_index(op.f("ix_invitation_consultation_id"), "invitation", ["consultation_id"])
    op.create_index(op.f("ix_invitation_participant_id"), "invitation", ["participant_id"])
    op.create_table(
        "scheduled_action",
        sa.Column("consultation_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_scheduled_action_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consultation_id", "action", name=op.f("pk_scheduled_action")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_action")
    op.drop_index(op.f("ix_invitation_participant_id"), table_name="invitation")
    op.drop_index(op.f("ix_invitation_consultation_id"), table_name="invitation")
    op.drop_table("invitation")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("quiet_hours")
