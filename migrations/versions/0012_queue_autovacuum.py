"""PostgreSQL vacuums and analyses the inbox and outbox after a small share of changes

Both are queues: every row is inserted, updated a few times while it waits and then left
handled, so a busy hour leaves tens of thousands of dead row versions behind. With the
default thresholds (a fifth of the table changed before a vacuum, a tenth before an
analyse) the planner's statistics went stale during the soak (a claim estimated 1 due row
where 18,823 waited) and the indexes filled with handled rows (86,108 index entries for
11,002 waiting events), which made the claims slow. Per-table settings; SQLite has none.

Revision ID: 0012_queue_autovacuum
Revises: 0011_inbox_sender
Create Date: 2026-12-01 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_queue_autovacuum"
down_revision: str | None = "0011_inbox_sender"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUES = ("inbox", "outbox")
SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000"
)
NAMES = (
    "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
    "autovacuum_analyze_scale_factor, autovacuum_analyze_threshold"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in QUEUES:
        op.execute(f"ALTER TABLE {table} SET ({SETTINGS})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in QUEUES:
        op.execute(f"ALTER TABLE {table} RESET ({NAMES})")
