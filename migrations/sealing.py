"""What migrations that seal or hash older rows share: the keys they were given.

The sealing and hashing here are those of ``consultations.keys.Keyring`` when migrations
0023 and 0024 were written, kept as they were: a migration must go on writing what it wrote
then, whatever the code does later (a later format would come with a migration of its own).
``tests/storage/test_schema.py`` checks that the code reads what these write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import context
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Rows read and mended at a time.
BATCH = 500

#: How a keyed hash of a platform reference begins.
REFERENCE_PREFIX = "r:"
#: The outbox payload's fields kept sealed, and the key they are sealed under.
SEALED_FIELDS = ("reply_to", "replaces")
SEALED_KEY = "sealed_refs"


class Keys:
    """Keyed hashes of platform references, and sealing, derived from the pseudonym key."""

    def __init__(self, pseudonym_key: str) -> None:
        secret = pseudonym_key.encode("utf-8")
        self._aead = AESGCM(hmac.new(secret, b"engage sealing v1", hashlib.sha256).digest())
        self._reference = hmac.new(secret, b"engage reference v1", hashlib.sha256).digest()

    def reference(self, channel: str, platform_ref: str) -> str:
        """The keyed hash stored instead of a platform reference."""
        message = f"{channel}:{platform_ref}".encode()
        return (
            REFERENCE_PREFIX + hmac.new(self._reference, message, hashlib.sha256).hexdigest()[:48]
        )

    def seal(self, value: Any) -> str:
        """A JSON-serialisable value encrypted to a printable token."""
        nonce = os.urandom(12)
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, data, None)).decode()

    def unseal(self, token: str) -> Any:
        """The value of a token :meth:`seal` (or the code) made."""
        raw = base64.urlsafe_b64decode(token.encode())
        return json.loads(self._aead.decrypt(raw[:12], raw[12:], None))


def keyring() -> Keys:
    """The keys of the pseudonym key the migration was given (migrations/apply.py)."""
    key = context.config.attributes.get("pseudonym_key")
    if not key:
        raise RuntimeError(
            "ENGAGE_PSEUDONYM_KEY: needed to seal or hash platform references that older "
            "versions stored plain; run `engage db upgrade` with it set"
        )
    return Keys(key)


def in_batches(bind: Any, table: sa.TableClause, *where: Any) -> Iterator[list[Any]]:
    """The rows of ``table`` (those ``where`` selects) in id order, a batch at a time; each
    batch is read after the one before it was mended."""
    last = 0
    while rows := bind.execute(
        sa.select(table).where(table.c.id > last, *where).order_by(table.c.id).limit(BATCH)
    ).all():
        yield rows
        last = rows[-1].id
