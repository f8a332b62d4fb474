"""web channel: server-issued single-use form nonces, rate-limit windows shared by workers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_nonce",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_nonce")),
    )
    op.create_index(op.f("ix_form_nonce_issued_at"), "form_nonce", ["issued_at"])
    op.create_table(
        "rate_window",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_window")),
    )


def downgrade() -> None:
    op.drop_table("rate_window")
    op.drop_index(op.f("ix_form_nonce_issued_at"), table_name="form_nonce")
    op.drop_table("form_nonce")
