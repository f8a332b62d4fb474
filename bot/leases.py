"""Leases: loops that must run in one worker only, however many workers share the database.

Several ``engage run`` processes may serve one PostgreSQL database. Most work is shared
row by row (``FOR UPDATE SKIP LOCKED``), but some loops must run exactly once: the outbox
sender of a channel account (the platform's rate limits are per account, and rows left
``sending`` by a dead worker must be settled by the one that replaces it) and a
Telegram bot's ``getUpdates`` poller. Each such loop holds a :class:`Lease`.

On PostgreSQL a lease is a session-level advisory lock (``pg_try_advisory_lock``) taken
on a connection of its own, outside the pool, so the lock lives exactly as long as that
connection:

- The holder keeps the connection and checks it (``SELECT 1``, at most once a
  second); anyone else tries the lock every few seconds and never blocks.
- A holder killed with SIGKILL has its socket closed by the kernel; the server sees the
  end of the stream at once, ends the session and frees the lock, and the next try of
  another worker (within ``retry_every`` seconds) takes it over. A holder whose machine
  vanished without closing the socket is noticed by the server's TCP keepalives, set
  short on this connection (``tcp_keepalives_*``), within about ten seconds.
- A holder that loses its connection (the database restarted) loses the lock with it;
  :meth:`Lease.check` then says so and the loop stops until it wins the lock again.
- Writes that must not happen after the lease has passed to someone else run in
  :meth:`Lease.fenced`: a transaction on the lease's own connection, so it can commit
  only while the lock is held. The outbox claims rows and marks them ``sending`` that
  way: a worker that lost the lease cannot start a send behind its successor's back.

On SQLite there is one process: a lease is held by the first of that process's holders
to ask for it (until it releases it), and ``fenced`` is an ordinary transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

#: Seconds between tries of a lease someone else holds: the failover time's main part.
RETRY_EVERY = 2.0
#: Seconds between checks that a held lease's connection is alive.
CHECK_EVERY = 1.0
#: How long a check may take before the connection is taken for dead.
CHECK_TIMEOUT = 5.0
# The server's keepalives on the lease connection: a peer gone silent is dropped after
# idle + interval * count seconds (https://www.postgresql.org/docs/current/
# runtime-config-connection.html#GUC-TCP-KEEPALIVES-IDLE).
KEEPALIVES = {
    "tcp_keepalives_idle": "4",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "2",
}


class LeaseLost(Exception):
    """Work that needs the lease was attempted without it."""


def lock_key(name: str) -> int:
    """The advisory lock key of a lease name: a signed 64-bit number, stable everywhere."""
    digest = hashlib.sha256(f"engage lease {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# On SQLite, who in this process holds each lease, by database and name: one process owns
# the database, and within it one holder at a time (two outbox senders in one process
# would otherwise each settle the rows the other is sending).
_SOLE_HOLDERS: dict[tuple[str, str], Lease] = {}


class Lease:
    """One named lease (see the module docstring).

    Args:
        name: what it is for, e.g. ``outbox telegram``; workers agree on it by name.
        leases: the factory that made it (the database and the lease engine).
        retry_every: seconds between tries while another worker holds it.
    """

    def __init__(self, name: str, leases: Leases, *, retry_every: float = RETRY_EVERY) -> None:
        self._name = name
        self._leases = leases
        self.key = lock_key(name)
        self.retry_every = retry_every
        self._connection: AsyncConnection | None = None
        self._held = False
        self._next_try = 0.0
        self._checked_at = 0.0
        self._using = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def _sole_key(self) -> tuple[str, str]:
        return (str(self._leases.engine.url), self._name)

    @property
    def held(self) -> bool:
        return self._held

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; at most one real try per ``retry_every`` seconds."""
        if self._leases.sole:
            holder = _SOLE_HOLDERS.setdefault(self._sole_key, self)
            self._held = holder is self
            return self._held
        if self._held:
            return await self.check()
        now = time.monotonic()
        if now < self._next_try:
            return False
        self._next_try = now + self.retry_every
        connection: AsyncConnection | None = None
        try:
            connection = await self._leases.lease_engine().connect()
            got = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
            await connection.commit()
        except Exception as exc:
            log.warning("lease %s: could not try the lock: %s", self._name, exc)
            await _close_quietly(connection)
            return False
        if not got:
            await _close_quietly(connection)
            return False
        self._connection = connection
        self._held = True
        self._checked_at = time.monotonic()
        log.info("lease %s: held by this worker", self._name)
        return True

    async def check(self) -> bool:
        """Whether the lease is still held; pings its connection at most once a second."""
        if self._leases.sole:
            return _SOLE_HOLDERS.get(self._sole_key) is self
        if not self._held or self._connection is None:
            return False
        if self._connection.invalidated:
            # The driver saw the connection break. SQLAlchemy would quietly open a new
            # one on next use, a session that holds no lock: never use it again.
            log.warning("lease %s: lost with its connection", self._name)
            await self._drop()
            return False
        if time.monotonic() - self._checked_at < CHECK_EVERY:
            return True
        try:
            async with self._using, asyncio.timeout(CHECK_TIMEOUT):
                await self._connection.scalar(text("SELECT 1"))
                await self._connection.commit()
        except Exception as exc:
            log.warning("lease %s: lost with its connection: %s", self._name, exc)
            await self._drop()
            return False
        self._checked_at = time.monotonic()
        return True

    async def release(self) -> None:
        """Give the lease up (closing its connection ends the lock with the session)."""
        if self._leases.sole:
            if _SOLE_HOLDERS.get(self._sole_key) is self:
                del _SOLE_HOLDERS[self._sole_key]
            self._held = False
            return
        if self._held:
            log.info("lease %s: released", self._name)
        await self._drop()

    @contextlib.asynccontextmanager
    async def fenced(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits only while the lease is held.

        On PostgreSQL it runs on the lease's own connection: if that connection is gone,
        so is the lock, and the transaction fails instead of acting for a worker that is
        no longer the holder. Calls are serialised (one connection).

        Raises:
            LeaseLost: the lease is not held.
        """
        if self._leases.sole:
            async with self._leases.sessionmaker.begin() as session:
                yield session
            return
        async with self._using:
            if not self._held or self._connection is None or self._connection.invalidated:
                raise LeaseLost(self._name)
            try:
                async with (
                    AsyncSession(bind=self._connection, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    yield session
            except Exception:
                # Whatever failed, make the next check ask the server (or see the break).
                self._checked_at = 0.0
                raise

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._held = False
        await _close_quietly(connection)


class Leases:
    """Makes the leases of one process, over the platform's database.

    Args:
        sessionmaker: the store's session factory (its engine names the database).
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        engine: AsyncEngine = sessionmaker.kw["bind"]
        self.engine = engine
        #: One process owns the database (SQLite): every lease is always held.
        self.sole = engine.dialect.name != "postgresql"
        self._lease_engine: AsyncEngine | None = None
        self._made: list[Lease] = []

    def lease(self, name: str, *, retry_every: float = RETRY_EVERY) -> Lease:
        """The lease called ``name`` (not yet tried)."""
        made = Lease(name, self, retry_every=retry_every)
        self._made.append(made)
        return made

    def lease_engine(self) -> AsyncEngine:
        """Connections for locks: never pooled, so closing one really ends its session."""
        if self._lease_engine is None:
            # The process id in the connection's name tells operators (pg_stat_activity)
            # which worker holds what.
            settings = {**KEEPALIVES, "application_name": f"engage lease {os.getpid()}"}
            connect_args: dict[str, Any] = {"server_settings": settings}
            self._lease_engine = create_async_engine(
                self.engine.url, poolclass=NullPool, connect_args=connect_args
            )
        return self._lease_engine

    async def aclose(self) -> None:
        """Release every lease this process holds."""
        for made in self._made:
            await made.release()
        if self._lease_engine is not None:
            await self._lease_engine.dispose()
            self._lease_engine = None


async def _close_quietly(connection: AsyncConnection | None) -> None:
    if connection is None:
        return
    try:
        await connection.close()
    except Exception as exc:  # already broken: the server has ended the session anyway
        log.debug("closing a lease connection: %s", exc)
        with contextlib.suppress(Exception):
            await connection.invalidate()
