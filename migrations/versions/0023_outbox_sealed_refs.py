"""outbox rows written before platform references were sealed no longer hold them plain:
the post a message answers or replaces moves into the payload's sealed references
(``OutboundMessage.stored``), a sent message's reference becomes its keyed hash, and an
idempotency key naming the event that caused the message names its keyed hash instead,
as the code writes them now

Sealing needs the pseudonym key: ``engage db upgrade`` and ``engage run`` pass it. A
database with such rows, migrated without the key, stops here saying so.

Revision ID: 0023_outbox_sealed_refs
Revises: 0022_publication_round
Create Date: 2026-12-04 21:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from migrations.sealing import (
    REFERENCE_PREFIX,
    SEALED_FIELDS,
    SEALED_KEY,
    Keys,
    in_batches,
    keyring,
)

revision: str = "0023_outbox_sealed_refs"
down_revision: str | None = "0022_publication_round"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("payload", sa.JSON),
    sa.column("platform_ref", sa.String),
)


def sealed_payload(keys: Keys, payload: dict[str, Any]) -> dict[str, Any] | None:
    """``payload`` with its plain references sealed, or ``None`` if it holds none."""
    plain = {name: payload[name] for name in SEALED_FIELDS if payload.get(name) is not None}
    if not plain:
        return None
    refs = keys.unseal(payload[SEALED_KEY]) if payload.get(SEALED_KEY) else {}
    return {**payload, **dict.fromkeys(plain), SEALED_KEY: keys.seal({**refs, **plain})}


def hashed_key(keys: Keys, channel: str, key: str) -> str | None:
    """An idempotency key ``channel:event:suffix`` with the event plain, hashed; else None.

    Keys of the service's own sends (``invite:``, ``reminder:``, ``round:``) name no
    platform id and are left alone.
    """
    prefix = f"{channel}:"
    if not key.startswith(prefix) or key[len(prefix) :].startswith(REFERENCE_PREFIX):
        return None
    event, _, suffix = key[len(prefix) :].rpartition(":")
    if not event:
        return None
    return f"{prefix}{keys.reference(channel, event)}:{suffix}"


def upgrade() -> None:
    bind = op.get_bind()
    keys: Keys | None = None
    for rows in in_batches(bind, outbox):
        for row in rows:
            if not _plain(row):
                continue
            keys = keys or keyring()
            values: dict[str, Any] = {}
            if isinstance(row.payload, dict):
                payload = sealed_payload(keys, row.payload)
                if payload is not None:
                    values["payload"] = payload
            ref = row.platform_ref
            if ref is not None and not ref.startswith(REFERENCE_PREFIX):
                values["platform_ref"] = keys.reference(row.channel, ref)
            new_key = hashed_key(keys, row.channel, row.idempotency_key)
            if new_key is not None:
                values["idempotency_key"] = _free_key(bind, new_key)
            bind.execute(sa.update(outbox).where(outbox.c.id == row.id).values(**values))


def _plain(row: Any) -> bool:
    """Whether the row holds a platform reference in the clear (no key needed to tell)."""
    payload = row.payload if isinstance(row.payload, dict) else {}
    prefix = f"{row.channel}:"
    key = row.idempotency_key
    return (
        any(payload.get(name) is not None for name in SEALED_FIELDS)
        or (row.platform_ref is not None and not row.platform_ref.startswith(REFERENCE_PREFIX))
        or (
            key.startswith(prefix)
            and ":" in key[len(prefix) :]
            and not key[len(prefix) :].startswith(REFERENCE_PREFIX)
        )
    )


def _free_key(bind: Any, key: str) -> str:
    """``key``, or a variant of it if a row written since already holds it (the same
    event handled again after the code began hashing it)."""
    candidate, n = key, 0
    while bind.execute(sa.select(outbox.c.id).where(outbox.c.idempotency_key == candidate)).first():
        n += 1
        candidate = f"{key}:before-{n}"
    return candidate


def downgrade() -> None:
    # Nothing to undo: the code of 0022 reads sealed references and hashed keys too.
    pass
