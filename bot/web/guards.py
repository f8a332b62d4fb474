"""What keeps one client from stuffing the web channel.

Three pieces, each shared by every worker through the database:

- :class:`FormNonces`: every page with forms carries a nonce the server signed; a post
  is taken only if its nonce is signed, fresh and not yet used, claimed with one INSERT
  that a second use cannot repeat, so a replayed form or a nonce the client made up
  stores nothing, and two workers never both accept one. Showing a page writes nothing;
  only a keyed hash of each used nonce is stored.
- :class:`RateWindows`: counts in fixed one-minute windows per key (a client address, a
  participant), with one atomic upsert. Keys are keyed hashes: no address in the clear.
- :class:`ClientAddress`: the client's address, believing ``X-Forwarded-For`` only
  from the configured reverse proxies.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web
from sqlalchemy import String, Table, bindparam, case, delete, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consultations.keys import KeyedSha256
from storage.db import json_text
from storage.lists import one_of
from storage.tables import FormNonce, RateWindow, UTCDateTime, utcnow

#: How long an issued form nonce may be used (a page left open overnight still works).
NONCE_LIFETIME = timedelta(days=1)
# How far ahead of this worker's clock another's may be when it issues a nonce.
CLOCK_SKEW = timedelta(minutes=5)
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
        key = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
        self._keyed = KeyedSha256(key)

    def __call__(self, text: str) -> str:
        """The 64-character hex digest of ``text`` (any text, odd characters included)."""
        return self._keyed.hexdigest(text.encode("utf-8", "surrogatepass"))


class FormNonces:
    """Issues signed single-use form nonces and claims them, storing only used ones.

    A nonce is ``ISSUED.RANDOM.MAC``: when it was issued (whole seconds since the epoch),
    random text, and a keyed MAC of both. Issuing writes nothing, so a page fetched in a
    loop, with or without its cookie, adds no row however often it is fetched. A post's
    nonce must carry a good MAC and be under a day old; it is then claimed by inserting
    its keyed hash with ON CONFLICT DO NOTHING, so of two uses (a double click, a replay,
    two workers at once) the database lets exactly one insert it. Used nonces are kept a
    day and then pruned: the table holds at most one row per form taken in a day.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        secret_key: str,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self._hash = KeyedHash(secret_key, "engage web form nonce")
        self._mac = KeyedHash(secret_key, "engage web form nonce signature")
        self._clock = clock
        self._pruned_at: float | None = None

    def issue(self) -> str:
        """A new nonce for a page's forms (nothing is written)."""
        body = f"{int(self._clock().timestamp())}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac(body)[:_MAC_LENGTH]}"

    def _signed(self, nonce: str, now: datetime) -> bool:
        """Whether ``nonce`` is one this server issued, less than a lifetime ago."""
        issued, _, rest = nonce.partition(".")
        random, _, mac = rest.partition(".")
        if not (issued.isascii() and issued.isdigit() and len(issued) <= 12 and random and mac):
            return False
        expected = self._mac(f"{issued}.{random}")[:_MAC_LENGTH].encode()
        if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), expected):
            return False
        at = datetime.fromtimestamp(int(issued), UTC)
        # A worker's clock a little ahead of another's is no reason to refuse a form.
        return now - NONCE_LIFETIME < at <= now + CLOCK_SKEW

    async def claim(self, nonce: str) -> bool:
        """Whether ``nonce`` was issued, is fresh and unused; it is used from now on."""
        async with self.sessionmaker.begin() as session:
            return (await self.admit(session, [nonce]))[0]

    async def admit(self, session: AsyncSession, nonces: Sequence[str | None]) -> list[bool]:
        """Claim many nonces in the caller's transaction; which were taken.

        The group commit calls this (:data:`bot.runtime.Admit`), so a nonce is used if and
        only if its request's answers commit, and a batch of requests pays for one
        statement. A nonce given twice in one batch is taken by the first only.
        """
        now = self._clock()
        hashes: list[str | None] = []
        signed: set[str] = set()
        earlier: set[str] = set()
        for given in nonces:
            if not given:
                hashes.append(None)
                continue
            nonce: str = given
            digest = self._hash(nonce)
            hashes.append(digest)
            if self._signed(nonce, now):
                signed.add(digest)
            elif _EARLIER_NONCE.fullmatch(nonce):
                earlier.add(digest)
        taken: set[str] = set()
        connection = await session.connection()
        if signed:
            postgresql = connection.dialect.name == "postgresql"
            listed = sorted(signed)
            result = await connection.execute(
                _used_insert(postgresql),
                {"nonces": listed if postgresql else json_text(listed), "now": now},
            )
            taken.update(result.scalars().all())
        if earlier:
            # A page shown before nonces were signed (its row written when it was shown):
            # claimed as then, by one conditional UPDATE.
            result = await connection.execute(
                _CLAIM_EARLIER,
                {"nonces": sorted(earlier), "claimed_at": now, "oldest": now - NONCE_LIFETIME},
            )
            taken.update(result.scalars())
        await self._maybe_prune(session, now)
        admitted = []
        for claimed in hashes:
            admitted.append(claimed is not None and claimed in taken)
            taken.discard(claimed or "")
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


# Hex digits of the MAC a nonce carries (128 bits): the nonce stays within the 64
# characters a form's nonce may have.
_MAC_LENGTH = 32
# The nonces issued before they were signed: random text, a row each written when issued.
_EARLIER_NONCE = re.compile(r"[A-Za-z0-9_-]{24}")


@functools.cache
def _used_insert(postgresql: bool) -> Any:
    """The INSERT ... ON CONFLICT DO NOTHING that claims signed nonces, per dialect.

    The nonces' hashes travel as one parameter (an array on PostgreSQL, a JSON list on
    SQLite): one statement text however many a batch claims. A used nonce's row is
    stamped with when it was used, as ``issued_at`` and ``used_at``: it is pruned a
    lifetime after that, by which time the nonce has expired anyway.
    """
    if postgresql:
        hashes = "SELECT h, :now, :now FROM unnest(:nonces) AS r(h)"
        listed = bindparam("nonces", type_=ARRAY(String()))
    else:
        # WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
        hashes = "SELECT value, :now, :now FROM json_each(:nonces) WHERE true"
        listed = bindparam("nonces", type_=String())
    return (
        text(
            f"INSERT INTO form_nonce (id, issued_at, used_at) {hashes} "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        )
        .bindparams(bindparam("now", type_=UTCDateTime()), listed)
        .columns(id=String())
    )


# Built once: the nonces are one list parameter, so one statement text (and on PostgreSQL
# one prepared statement) whatever the batch's size, where an IN list has one per size.
_CLAIM_EARLIER = (
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
