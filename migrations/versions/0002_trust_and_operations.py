"""inbox events held aside, public responses, moderation workflow, shared dashboard sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("response") as batch:
        batch.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Before this column, the web page's thread posts were its only public ones it showed;
    # replies given where posting is public counted as consent given by replying.
    op.execute("UPDATE response SET public = true WHERE item_type = 'thread' AND channel = 'web'")
    op.execute(
        "UPDATE response SET public = true WHERE channel <> 'web' AND EXISTS ("
        " SELECT 1 FROM consent WHERE consent.participant_id = response.participant_id"
        " AND consent.consultation_id = response.consultation_id"
        " AND consent.method IN ('public-reply', 'public-vote'))"
    )
    with op.batch_alter_table("moderation_case") as batch:
        batch.add_column(sa.Column("categories", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("response_id", existing_type=BigId, nullable=True)
    op.create_index(op.f("ix_moderation_case_status"), "moderation_case", ["status"])
    op.create_table(
        "audit_event",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index(op.f("ix_audit_event_at"), "audit_event", ["at"])
    op.create_table(
        "user_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
    )
    op.create_index(op.f("ix_user_session_user_id"), "user_session", ["user_id"])
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttle")
    op.drop_index(op.f("ix_user_session_user_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_index(op.f("ix_audit_event_at"), table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index(op.f("ix_moderation_case_status"), table_name="moderation_case")
    op.execute("DELETE FROM moderation_case WHERE response_id IS NULL")
    with op.batch_alter_table("moderation_case") as batch:
        batch.alter_column("response_id", existing_type=BigId, nullable=False)
        for column in (
            "alerted_at",
            "note",
            "resolved_by",
            "acknowledged_by",
            "acknowledged_at",
            "due_at",
            "urgent",
            "categories",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("response") as batch:
        batch.drop_column("public")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("attempts")
