"""What keeps one client from stuffing the web channel.

Three pieces, each shared by every worker through the database:

- :class:`FormNonces`: every page with forms carries a nonce the server issued; a post
  is taken only if it claims an issued, unused nonce, with one conditional UPDATE, so
  a replayed form or a nonce the client made up stores nothing, and two workers never
  both accept one. Only a keyed hash of the nonce is stored.
- :class:`RateWindows`: counts in fixed one-minute windows per key (a client address, a
  participant), with one atomic upsert. Keys are keyed hashes: no address in the clear.
- :class:`ClientAddress`: the client's address, believing ``X-Forwarded-For`` only
  from the configured reverse proxies.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from aiohttp import web
from sqlalchemy import Table, bindparam, case, delete, insert, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.together import Together
from storage.lists import one_of
from storage.tables import FormNonce, RateWindow, utcnow

#: How long an issued form nonce may be used (a page left open overnight still works).
NONCE_LIFETIME = timedelta(days=1)
RATE_WINDOW = timedelta(minutes=1)
# Windows older than this are finished with; their rows are only clutter.
RATE_ROW_LIFETIME = timedelta(hours=1)
# Each worker prunes at most this often: one indexed DELETE now and then, not per request.
PRUNE_EVERY_SECONDS = 300.0

Clock = Callable[[], datetime]


NONCES = cast(Table, FormNonce.__table__)


class KeyedHash:
    """A keyed hash (HMAC-SHA256, hex) under a key derived from the secret for one purpose."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._key = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()

    def __call__(self, text: str) -> str:
        """The 64-character hex digest of ``text`` (any text, odd characters included)."""
        data = text.encode("utf-8", "surrogatepass")
        # hmac.digest: the one-shot form, the same value as hmac.new(...).hexdigest().
        return hmac.digest(self._key, data, "sha256").hex()


class FormNonces:
    """Issues single-use form nonces and claims them, keeping only their keyed hashes."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        secret_key: str,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self._hash = KeyedHash(secret_key, "engage web form nonce")
        self._clock = clock
        self._pruned_at: float | None = None
        # Pages shown at once record their nonces in one INSERT (bot/together.py).
        self._issued: Together[tuple[str, datetime], None] = Together(self._record)

    async def issue(self) -> str:
        """A new nonce for a page's forms, recorded as issued (committed) on return."""
        nonce = secrets.token_urlsafe(18)
        await self._issued((self._hash(nonce), self._clock()))
        return nonce

    async def _record(self, issued: list[tuple[str, datetime]]) -> list[None]:
        """Nonces issued together: one INSERT of all their keyed hashes."""
        async with self.sessionmaker.begin() as session:
            await session.execute(
                insert(NONCES), [{"id": digest, "issued_at": at} for digest, at in issued]
            )
            await self._maybe_prune(session, max(at for _, at in issued))
        return [None] * len(issued)

    async def claim(self, nonce: str) -> bool:
        """Whether ``nonce`` was issued, is fresh and unused; it is used from now on.

        One conditional UPDATE decides: of two workers given the same nonce at once,
        the database lets exactly one of them change the row.
        """
        now = self._clock()
        async with self.sessionmaker.begin() as session:
            result = await session.execute(
                update(FormNonce)
                .where(
                    FormNonce.id == self._hash(nonce),
                    FormNonce.used_at.is_(None),
                    FormNonce.issued_at > now - NONCE_LIFETIME,
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def admit(self, session: AsyncSession, nonces: Sequence[str | None]) -> list[bool]:
        """Claim many nonces in the caller's transaction with one UPDATE; which were taken.

        The group commit calls this (:data:`bot.runtime.Admit`), so a nonce is used if and
        only if its request's answers commit, and a batch of requests pays for one
        statement. A nonce given twice in one batch is taken by the first only.
        """
        now = self._clock()
        hashes = [self._hash(n) if n else None for n in nonces]
        wanted = {h for h in hashes if h is not None}
        taken: set[str] = set()
        if wanted:
            # A Core statement built once, on the session's connection: the ORM's
            # handling of an UPDATE costs more than the database takes to run it.
            connection = await session.connection()
            result = await connection.execute(
                _CLAIM,
                {"nonces": sorted(wanted), "claimed_at": now, "oldest": now - NONCE_LIFETIME},
            )
            taken = set(result.scalars())
        admitted = []
        for digest in hashes:
            admitted.append(digest is not None and digest in taken)
            taken.discard(digest or "")
        return admitted

    async def _maybe_prune(self, session: AsyncSession, now: datetime) -> None:
        """Delete expired nonces and finished rate windows, at most every few minutes."""
        tick = time.monotonic()
        if self._pruned_at is not None and tick - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = tick
        # issued_at is indexed, so this touches only the rows it deletes.
        await session.execute(delete(FormNonce).where(FormNonce.issued_at < now - NONCE_LIFETIME))
        await session.execute(
            delete(RateWindow).where(RateWindow.window_start < now - RATE_ROW_LIFETIME)
        )


# Built once: the nonces are one list parameter, so one statement text (and on PostgreSQL
# one prepared statement) whatever the batch's size, where an IN list has one per size.
_CLAIM = (
    update(NONCES)
    .where(
        one_of(NONCES.c.id, name="nonces"),
        NONCES.c.used_at.is_(None),
        NONCES.c.issued_at > bindparam("oldest"),
    )
    .values(used_at=bindparam("claimed_at"))
    .returning(NONCES.c.id)
)


class RateWindows:
    """Counts events per key in fixed one-minute windows shared by every worker."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        secret_key: str,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self._hash = KeyedHash(secret_key, "engage web rate window")
        self._clock = clock

    async def hit(self, kind: str, subject: str, limit: int) -> int | None:
        """Count one event of ``kind`` for ``subject``.

        Returns None while the window holds at most ``limit`` events, else the seconds
        until the window ends (for ``Retry-After``). ``limit`` 0 turns the count off.
        The key is ``kind`` and a keyed hash of ``subject``: an address or a cookie is
        never stored.
        """
        if limit <= 0:
            return None
        now = self._clock()
        key = f"{kind}:{self._hash(subject)}"
        async with self.sessionmaker.begin() as session:
            count, started = await _upsert(session, key, now)
        if count <= limit:
            return None
        left = (started + RATE_WINDOW - now).total_seconds()
        return max(1, math.ceil(left))


async def _upsert(session: AsyncSession, key: str, now: datetime) -> tuple[int, datetime]:
    """Add one to ``key``'s window, starting a new window if the old one has ended.

    One INSERT ... ON CONFLICT DO UPDATE, atomic on SQLite and PostgreSQL alike; both
    compute every SET expression from the row as it was, so the two CASEs agree.
    """
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(RateWindow).values(key=key, window_start=now, count=1)
    ended = RateWindow.window_start <= now - RATE_WINDOW
    statement = statement.on_conflict_do_update(
        index_elements=[RateWindow.key],
        set_={
            "count": case((ended, 1), else_=RateWindow.count + 1),
            "window_start": case(
                (ended, statement.excluded.window_start), else_=RateWindow.window_start
            ),
        },
    ).returning(RateWindow.count, RateWindow.window_start)
    row = (await session.execute(statement)).one()
    return int(row[0]), row[1]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The address a request came from, believing only trusted proxies' forwarding."""

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )

    def of(self, request: web.Request) -> str:
        """The client's address, as a key for counting (an IPv6 client by its /64)."""
        return _grouped(self.address(request))

    def address(self, request: web.Request) -> str:
        """The client's address as it is.

        When the peer is a trusted proxy, ``X-Forwarded-For`` is read from the right and
        the first address that is not a trusted proxy is the client: entries further
        left were written by the client and prove nothing.
        """
        address = request.remote or ""
        if self._trusted and self._is_trusted(address):
            hops = [
                hop.strip()
                for line in request.headers.getall("X-Forwarded-For", [])
                for hop in line.split(",")
                if hop.strip()
            ]
            for hop in reversed(hops):
                address = hop
                if not self._is_trusted(hop):
                    break
        return address

    def is_loopback(self, request: web.Request) -> bool:
        """Whether the client itself (not merely a proxy on this machine) is on loopback."""
        try:
            address = ipaddress.ip_address(self.address(request))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback

    def _is_trusted(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)


def _grouped(text: str) -> str:
    """An IPv6 address as its /64 (one household or device's usual share), else as is."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text  # not an address (a test transport, a garbled header): a key all the same
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
