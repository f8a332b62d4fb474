"""Leases: one holder at a time among workers, and a successor when the holder is gone."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.leases import Lease, LeaseLost, Leases
from bot.platform import Platform
from storage.db import create_engine, create_sessionmaker
from tests.waiting import wait_until


def _worker(database_url: str) -> Leases:
    """The leases of another worker: its own engine over the same database."""
    return Leases(create_sessionmaker(create_engine(database_url)))


async def _backend_of(lease: Lease) -> int:
    async with lease.fenced() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_only_one_worker_holds_a_lease_and_another_takes_it_when_released(
    platform: Platform, database_url: str
) -> None:
    other = _worker(database_url)
    try:
        mine = platform.leases.lease("outbox test", retry_every=0.0)
        theirs = other.lease("outbox test", retry_every=0.0)
        assert await mine.try_acquire()
        # SQLite: one process owns the database, and within it one holder at a time;
        # PostgreSQL: one worker at a time.
        assert not await theirs.try_acquire()
        assert await mine.check()
        # A lease of another name is independent.
        assert await other.lease("outbox mastodon", retry_every=0.0).try_acquire()
        await mine.release()
        assert not mine.held
        assert await theirs.try_acquire()
        assert not await mine.try_acquire()
    finally:
        await other.aclose()
        await other.engine.dispose()


async def test_a_holder_whose_connection_dies_loses_the_lease_and_cannot_write_fenced(
    platform: Platform, database_url: str
) -> None:
    other = _worker(database_url)
    try:
        mine = platform.leases.lease("telegram poller 1", retry_every=0.0)
        theirs = other.lease("telegram poller 1", retry_every=0.0)
        assert await mine.try_acquire()
        if platform.leases.sole:
            # SQLite: one process, no connection to lose; fenced work is a transaction.
            async with mine.fenced() as session:
                assert await session.scalar(text("SELECT 1")) == 1
            await mine.release()
            assert not await mine.check()
            assert await theirs.try_acquire()  # the next holder in the process
            return
        backend = await _backend_of(mine)
        # What the server does when the holder's process is killed: it ends the session.
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        # The lock went with the session: another worker takes it at its next try.
        await wait_until(theirs.try_acquire, what="the lease passing on")
        # The old holder cannot act as holder any more: its fenced writes fail...
        with pytest.raises(DBAPIError):
            async with mine.fenced() as session:
                await session.execute(text("SELECT 1"))
        # ...its check says the lease is gone, and fenced work is refused outright.
        await asyncio.sleep(1.1)
        assert not await mine.check()
        with pytest.raises(LeaseLost):
            async with mine.fenced():
                pass
        assert not await mine.try_acquire()
    finally:
        await other.aclose()
        await other.engine.dispose()
