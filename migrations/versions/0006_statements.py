"""statement voting: the statements of a ``statements`` item (seeded or added by people),
item types and response types long enough for ``statements``, ``statement`` and ``vote``,
and the statements items a person has finished in a dialogue

Revision ID: 0006_statements
Revises: 0005
Create Date: 2026-12-01 02:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_statements"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _widen(table: str, column: str, old: int, new: int) -> None:
    # A plain ALTER on PostgreSQL; SQLite copies the table (it keeps the declared length).
    with op.batch_alter_table(table) as batch:
        batch.alter_column(column, type_=sa.String(new), existing_type=sa.String(old))


def upgrade() -> None:
    _widen("item", "type", 8, 16)
    _widen("response", "item_type", 8, 16)
    op.create_table(
        "statement",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("consultation_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("response_id", BigId, nullable=True),
        sa.Column("participant_id", BigId, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("seed", sa.Boolean(), nullable=False),
        sa.Column("agrees", sa.Integer(), nullable=False),
        sa.Column("disagrees", sa.Integer(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("split", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id", "item_id"],
            ["item.consultation_id", "item.id"],
            name=op.f("fk_statement_consultation_id_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["response.id"],
            name=op.f("fk_statement_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_statement_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement")),
    )
    op.create_index("ix_statement_consultation_item", "statement", ["consultation_id", "item_id"])
    op.create_index(op.f("ix_statement_response_id"), "statement", ["response_id"])
    op.create_index(op.f("ix_statement_participant_id"), "statement", ["participant_id"])
    with op.batch_alter_table("dialogue") as batch:
        batch.add_column(sa.Column("finished_items", sa.JSON(), nullable=True))
    # Votes are found by the statement they answer (``in_reply_to``) within an item.
    op.create_index("ix_response_reply", "response", ["consultation_id", "item_id", "in_reply_to"])


def downgrade() -> None:
    op.drop_index("ix_response_reply", table_name="response")
    with op.batch_alter_table("dialogue") as batch:
        batch.drop_column("finished_items")
    op.drop_index(op.f("ix_statement_participant_id"), table_name="statement")
    op.drop_index(op.f("ix_statement_response_id"), table_name="statement")
    op.drop_index("ix_statement_consultation_item", table_name="statement")
    op.drop_table("statement")
    _widen("response", "item_type", 16, 8)
    _widen("item", "type", 16, 8)
