"""a password someone else set is for one sign-in: ``must_change_password`` marks an
account whose password was set on the command line or reset by an admin, so the dashboard
asks its owner to choose their own before anything else

Revision ID: 0018_password_change
Revises: 0017_account_removal
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_password_change"
down_revision: str | None = "0017_account_removal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place (SQLite too: a column with a constant default needs no copy of the
    # table), so the sessions signed in now carry on. Passwords set before this are
    # taken as their owners' own: nobody is stopped at their next sign-in.
    op.add_column(
        "user_account",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Without the column, a password an admin set and its owner has not yet replaced
    # works as any other: reset those accounts again after upgrading once more.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _sqlite_version(bind) < (3, 35, 0):
        # No DROP COLUMN before SQLite 3.35: the table is copied, and the sessions go
        # with the old one (their foreign key cascades); everyone signs in again.
        with op.batch_alter_table("user_account") as batch:
            batch.drop_column("must_change_password")
        return
    op.drop_column("user_account", "must_change_password")


def _sqlite_version(bind: sa.Connection) -> tuple[int, ...]:
    version = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
    return tuple(int(part) for part in str(version).split("."))
