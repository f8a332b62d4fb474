"""a person's erasure keeps their unresolved safety cases: a case no longer goes with its
response or person (SET NULL instead of CASCADE), and ``erased_at`` marks a case whose
person had their data erased

Revision ID: 0016_case_erasure
Revises: 0015_alert_claims
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_case_erasure"
down_revision: str | None = "0015_alert_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = (("response_id", "response"), ("participant_id", "participant"))


def _references(ondelete: str) -> None:
    with op.batch_alter_table("moderation_case") as batch:
        for column, table in REFERENCES:
            name = op.f(f"fk_moderation_case_{column}_{table}")
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _references("SET NULL")
    with op.batch_alter_table("moderation_case") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_column("erased_at")
    _references("CASCADE")
