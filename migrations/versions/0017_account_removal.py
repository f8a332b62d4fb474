"""dashboard accounts can be removed without losing the audit trail that names them:
``removed_at`` marks a removed account (it can no longer sign in, its sessions end), and
``last_login_at`` records the latest sign-in for ``engage user list`` and the dashboard

Revision ID: 0017_account_removal
Revises: 0016_case_erasure
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_account_removal"
down_revision: str | None = "0016_case_erasure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ("last_login_at", "removed_at")


def upgrade() -> None:
    # Added in place (SQLite too: a nullable column needs no copy of the table), so the
    # sessions signed in now carry on.
    for column in COLUMNS:
        op.add_column("user_account", sa.Column(column, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A removed account must not come back able to sign in without the column: its row
    # goes, and its sessions with it. The audit trail names accounts by email and id in
    # text, so it keeps every row.
    op.execute(
        sa.text(
            "DELETE FROM user_session WHERE user_id IN "
            "(SELECT id FROM user_account WHERE removed_at IS NOT NULL)"
        )
    )
    op.execute(sa.text("DELETE FROM user_account WHERE removed_at IS NOT NULL"))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _sqlite_version(bind) < (3, 35, 0):
        # No DROP COLUMN before SQLite 3.35: the table is copied, and the sessions go
        # with the old one (their foreign key cascades); everyone signs in again.
        with op.batch_alter_table("user_account") as batch:
            for column in reversed(COLUMNS):
                batch.drop_column(column)
        return
    for column in reversed(COLUMNS):
        op.drop_column("user_account", column)


def _sqlite_version(bind: sa.Connection) -> tuple[int, ...]:
    version = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
    return tuple(int(part) for part in str(version).split("."))
