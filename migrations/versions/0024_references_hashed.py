"""rows written before platform references were kept as keyed hashes no longer hold them
plain: a response's platform reference (a private chat's id and message number), an inbox
row's event id (on Mastodon the id of a person's direct message or reply) and a publication's
reference (a group's chat id; sealed too, as the code keeps it since 0004) become what
the code writes now

Hashing needs the pseudonym key: ``engage db upgrade`` and ``engage run`` pass it. A
database with such rows, migrated without the key, stops here saying so.

Revision ID: 0024_references_hashed
Revises: 0023_outbox_sealed_refs
Create Date: 2026-12-04 22:20:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from migrations.sealing import REFERENCE_PREFIX, Keys, in_batches, keyring

revision: str = "0024_references_hashed"
down_revision: str | None = "0023_outbox_sealed_refs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

response = sa.table(
    "response",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("platform_ref", sa.String),
)
inbox = sa.table(
    "inbox",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("event_id", sa.String),
)
publication = sa.table(
    "publication",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("platform_ref", sa.String),
    sa.column("sealed_ref", sa.Text),
)


def _each(
    table: sa.TableClause, column: sa.ColumnClause[Any], fix: Callable[..., None], *where: Any
) -> None:
    """``fix(bind, keys, row)`` for every row (of those ``where`` selects) whose ``column``
    holds a plain reference, a batch at a time."""
    bind = op.get_bind()
    keys: Keys | None = None
    plain = (column.is_not(None), sa.not_(column.startswith(REFERENCE_PREFIX)))
    for rows in in_batches(bind, table, *plain, *where):
        keys = keys or keyring()
        for row in rows:
            fix(bind, keys, row)


def _response(bind: Any, keys: Keys, row: Any) -> None:
    hashed = keys.reference(row.channel, row.platform_ref)
    bind.execute(sa.update(response).where(response.c.id == row.id).values(platform_ref=hashed))


def _inbox(bind: Any, keys: Keys, row: Any) -> None:
    hashed = keys.reference(row.channel, row.event_id)
    taken = bind.execute(
        sa.select(inbox.c.id).where(inbox.c.channel == row.channel, inbox.c.event_id == hashed)
    ).first()
    if taken is not None:
        # The same event stored again since, under its hash: that row records it.
        bind.execute(sa.delete(inbox).where(inbox.c.id == row.id))
        return
    bind.execute(sa.update(inbox).where(inbox.c.id == row.id).values(event_id=hashed))


def _publication(bind: Any, keys: Keys, row: Any) -> None:
    values = {"platform_ref": keys.reference(row.channel, row.platform_ref)}
    if row.sealed_ref is None:
        values["sealed_ref"] = keys.seal(row.platform_ref)
    bind.execute(sa.update(publication).where(publication.c.id == row.id).values(**values))


def upgrade() -> None:
    _each(response, response.c.platform_ref, _response)
    # Telegram's event ids name an update of the bot's, not a person ("bot:update"), and
    # its group polls' totals are still recorded under them plain (channel_store).
    _each(inbox, inbox.c.event_id, _inbox, inbox.c.channel != "telegram")
    _each(publication, publication.c.platform_ref, _publication)


def downgrade() -> None:
    # Nothing to undo: the code of 0023 reads hashed references and sealed publications.
    pass
