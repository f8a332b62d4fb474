"""the store keeps a verifier of the pseudonym key (a keyed hash of a fixed label, never
the key), so that a start with another key is refused instead of taking every person for
a stranger and missing who said STOP

The table starts empty: the code writes the verifier at its next start, after checking
that the key opens what the store already holds sealed (bot/key_check.py).

Revision ID: 0026_key_check
Revises: 0025_publication_person
Create Date: 2026-12-05 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_key_check"
down_revision: str | None = "0025_publication_person"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_check",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("verifier", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_check")),
    )


def downgrade() -> None:
    # Only the verifier goes; the next upgrade's start writes it again.
    op.drop_table("key_check")
