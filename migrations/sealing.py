"""What migrations that seal or hash older rows share: the keyring they were given."""

from __future__ import annotations

from alembic import context

from consultations.keys import Keyring

#: How a keyed hash of a platform reference begins (:meth:`Keyring.reference`).
REFERENCE_PREFIX = "r:"


def keyring() -> Keyring:
    """The keyring of the pseudonym key the migration was given (migrations/apply.py)."""
    key = context.config.attributes.get("pseudonym_key")
    if not key:
        raise RuntimeError(
            "ENGAGE_PSEUDONYM_KEY: needed to seal or hash platform references that older "
            "versions stored plain; run `engage db upgrade` with it set"
        )
    return Keyring(key)
