"""Is the pseudonym key the one the store was made with? Checked at every start.

Pseudonyms, STOP, erasure and sealed addresses all hang on ``ENGAGE_PSEUDONYM_KEY``: with
another key every person who comes back is a stranger, people who said STOP no longer
match it and could be messaged again, ``participant erase`` finds no one, and nothing
sealed opens. So the store keeps a verifier of the key (a keyed hash of a fixed label,
:meth:`consultations.keys.Keyring.verifier`, never the key), written at the first start,
and a start whose key gives another verifier is refused with one line naming the variable.

A store from before the verifier (upgraded) gets one written, once the key is seen to
open what the store already holds sealed (a reply address, a post's reference): an
upgrade that silently made a new development key is refused too, not taken as the key.
The same is asked before migrations run (:func:`check_before_upgrade`): some seal or hash
what older versions stored plain, with the key they are given.
"""

from __future__ import annotations

import logging

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.console import UsageError
from consultations.keys import Keyring, constant_time_equal
from storage.tables import KeyCheck

log = logging.getLogger(__name__)

PSEUDONYM = "pseudonym"

MISMATCH = (
    "ENGAGE_PSEUDONYM_KEY: the database was made with another key; start with the key it "
    "was made with (with this one everyone in it would be a stranger, and STOP and "
    "erasure could not find them)"
)


async def check_keys(sessionmaker: async_sessionmaker[AsyncSession], keyring: Keyring) -> None:
    """Raise :class:`UsageError` when ``keyring`` is not the key the store was made with;
    write the verifier when the store has none yet."""
    verifier = keyring.verifier()
    async with sessionmaker() as session:
        stored = await _stored(session)
        if stored is None:
            if not await _opens_what_is_sealed(session, keyring):
                raise UsageError(MISMATCH)
            session.add(KeyCheck(name=PSEUDONYM, verifier=verifier))
            try:
                await session.commit()
            except IntegrityError:
                # Another worker starting at the same time wrote it first: compare with it.
                await session.rollback()
                stored = await _stored(session)
            else:
                log.info("the database now keeps a verifier of ENGAGE_PSEUDONYM_KEY")
                return
    if stored is None or not constant_time_equal(stored, verifier):
        raise UsageError(MISMATCH)


async def _stored(session: AsyncSession) -> str | None:
    return await session.scalar(select(KeyCheck.verifier).where(KeyCheck.name == PSEUDONYM))


async def _opens_what_is_sealed(
    db: AsyncSession | AsyncConnection,
    keyring: Keyring,
    columns: dict[str, set[str]] | None = None,
) -> bool:
    """Whether ``keyring`` opens one value of each kind the store holds sealed (true for a
    store that holds none). ``columns``: the store's, at an older revision (None: head)."""
    for table, column in SEALED:
        if columns is not None and column not in columns.get(table, set()):
            continue
        token = await db.scalar(
            text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1")
        )
        if token is not None and not _opens(keyring, token):
            return False
    return True


def _opens(keyring: Keyring, token: str) -> bool:
    try:
        keyring.unseal(token)
    except (ValueError, TypeError):
        return False
    return True


#: Where each revision keeps sealed values: (table, column), read as plain SQL.
SEALED = (("participant", "address"), ("publication", "sealed_ref"), ("outbox", "address"))


async def check_before_upgrade(engine: AsyncEngine, keyring: Keyring) -> None:
    """Raise :class:`UsageError` when the store, at whatever revision it is, was made with
    another key than ``keyring``'s: its verifier if it has one, else what it holds sealed.

    Run before migrations, which may seal and hash older rows with the key they are given:
    with another key those rows would be lost to the right one.
    """
    async with engine.connect() as connection:
        columns = await connection.run_sync(_columns)
        if "verifier" in columns.get("key_check", set()):
            stored = await connection.scalar(
                text("SELECT verifier FROM key_check WHERE name = :name"), {"name": PSEUDONYM}
            )
            if stored is not None:
                if not constant_time_equal(stored, keyring.verifier()):
                    raise UsageError(MISMATCH)
                return
        if not await _opens_what_is_sealed(connection, keyring, columns):
            raise UsageError(MISMATCH)


def _columns(connection: Connection) -> dict[str, set[str]]:
    """The columns of the tables the checks read, of those the store has."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in ("key_check", *(table for table, _ in SEALED))
        if table in present
    }
