"""publications: the platform reference kept as a keyed hash, the reference itself sealed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this keep their reference in platform_ref and no sealed copy;
    # the code reads both (storage/queries.py, publication_ref).
    with op.batch_alter_table("publication") as batch:
        batch.add_column(sa.Column("sealed_ref", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("publication") as batch:
        batch.drop_column("sealed_ref")
