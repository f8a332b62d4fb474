"""The outbox sender: delivers queued messages exactly once, within platform limits.

Rows are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers can
share the work), marked ``sending`` and committed *before* the platform is called.
A row found still ``sending`` after a crash may or may not have reached the person,
so it is marked ``unknown`` and never sent again: a lost reply is better than the
same question twice. Retries use exponential backoff with full jitter and honour the
platform's "retry after".
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from channels.adapter import ChannelAdapter, RetryLater, Undeliverable
from channels.events import OutboundMessage
from consultations.keys import Keyring
from storage import queries
from storage.tables import OutboxEntry, utcnow

log = logging.getLogger(__name__)


class _Result(enum.Enum):
    DONE = "done"  # sent, or given up for good
    RETRY = "retry"  # to be tried again later
    OPTED_OUT = "opted-out"  # the person is gone: send them nothing more


class OutboxSender:
    """Sends pending outbox rows through each channel's adapter.

    Args:
        sessionmaker: the store's session factory.
        keyring: opens sealed addresses.
        adapters: the channels to send on, by name.
        max_attempts: attempts before a message is given up as failed.
        base_delay: first retry delay in seconds; doubles per attempt, with jitter.
        max_delay: cap on the retry delay.
        concurrency: messages in flight at once per channel (different people).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        adapters: Mapping[str, ChannelAdapter],
        *,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        concurrency: int = 32,
        batch: int = 200,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.adapters = dict(adapters)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.concurrency = concurrency
        self.batch = batch
        self.wake = asyncio.Event()

    async def recover(self, channel: str | None = None) -> int:
        """Mark rows left ``sending`` by a crashed process as ``unknown``; returns how many."""
        async with self.sessionmaker.begin() as session:
            statement = update(OutboxEntry).where(OutboxEntry.status == "sending")
            if channel is not None:
                statement = statement.where(OutboxEntry.channel == channel)
            result = await session.execute(
                statement.values(
                    status="unknown", last_error="interrupted while sending", address=None
                )
            )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.warning("%d messages were being sent when the process stopped; not resent", count)
        return count

    async def _claim(self, channel: str) -> list[OutboxEntry]:
        """Mark due rows ``sending`` and return them: each row goes to one claimer only.

        The claim is one UPDATE that rechecks ``status = 'pending'``, so two claimers can
        never both get a row, whatever the database's isolation (SQLite serialises the
        writes; PostgreSQL also skips rows another worker has locked).
        """
        async with self.sessionmaker.begin() as session:
            due = (
                select(OutboxEntry.id)
                .where(
                    OutboxEntry.channel == channel,
                    OutboxEntry.status == "pending",
                    OutboxEntry.next_attempt_at <= utcnow(),
                )
                .order_by(OutboxEntry.id)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            result = await session.scalars(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_(due.scalar_subquery()), OutboxEntry.status == "pending")
                .values(status="sending", attempts=OutboxEntry.attempts + 1)
                .returning(OutboxEntry)
                .execution_options(synchronize_session=False)
            )
            rows = sorted(result.all(), key=lambda row: row.id)
        return rows

    async def run_once(self, channel: str) -> int:
        """Send what is due on one channel; returns how many rows were attempted."""
        adapter = self.adapters[channel]
        rows = await self._claim(channel)
        if not rows:
            return 0
        # One person's messages go in order; different people's go side by side.
        queues: dict[Any, list[OutboxEntry]] = defaultdict(list)
        for row in rows:
            queues[
                row.participant_id if row.participant_id is not None else ("row", row.id)
            ].append(row)
        limit = asyncio.Semaphore(self.concurrency)

        async def drain(queue: list[OutboxEntry]) -> None:
            for index, row in enumerate(queue):
                async with limit:
                    result = await self._send_one(adapter, row)
                if result is _Result.RETRY:
                    # Keep order: later messages to this person wait for this one.
                    await self._postpone(queue[index + 1 :], row)
                    return
                if result is _Result.OPTED_OUT:
                    await self._cancel(queue[index + 1 :])
                    return

        await asyncio.gather(*(drain(queue) for queue in queues.values()))
        return len(rows)

    async def _send_one(self, adapter: ChannelAdapter, row: OutboxEntry) -> _Result:
        message = OutboundMessage.from_json(row.payload)
        address = self.keyring.unseal(row.address) if row.address else None
        try:
            delivery = await adapter.send(address, message, key=row.idempotency_key)
        except RetryLater as exc:
            await self._retry(row, str(exc), exc.after)
            return _Result.RETRY
        except Undeliverable as exc:
            await self._fail(row, str(exc), opted_out=exc.opted_out)
            return _Result.OPTED_OUT if exc.opted_out else _Result.DONE
        except Exception as exc:  # a network error or a platform outage: try again later
            log.warning("sending outbox row %s failed: %s", row.id, exc)
            await self._retry(row, f"{type(exc).__name__}: {exc}", None)
            return _Result.RETRY
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row.id)
                .values(
                    status="sent",
                    sent_at=utcnow(),
                    address=None,
                    platform_ref=(
                        self.keyring.reference(row.channel, delivery.platform_ref)
                        if delivery.platform_ref is not None
                        else None
                    ),
                    last_error=None,
                )
            )
        return _Result.DONE

    async def _cancel(self, rows: list[OutboxEntry]) -> None:
        """Drop claimed messages to someone who has left (or blocked us)."""
        if not rows:
            return
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id.in_([row.id for row in rows]))
                .values(status="cancelled", address=None)
            )

    def _delay(self, attempts: int, after: float | None) -> float:
        if after is not None:
            # The platform said how long; a little jitter stops every worker waking at once.
            return max(after, 0.0) + random.uniform(0, 0.25)
        backoff = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return random.uniform(backoff / 2, backoff)

    async def _retry(self, row: OutboxEntry, error: str, after: float | None) -> None:
        async with self.sessionmaker.begin() as session:
            if row.attempts >= self.max_attempts and after is None:
                await session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id == row.id)
                    .values(status="failed", last_error=error, address=None)
                )
                return
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row.id)
                .values(
                    status="pending",
                    last_error=error,
                    next_attempt_at=utcnow() + timedelta(seconds=self._delay(row.attempts, after)),
                )
            )

    async def _postpone(self, rows: list[OutboxEntry], blocker: OutboxEntry) -> None:
        """Put claimed rows back, due no sooner than the message they follow."""
        if not rows:
            return
        async with self.sessionmaker.begin() as session:
            blocked = await session.get(OutboxEntry, blocker.id)
            due = blocked.next_attempt_at if blocked is not None else utcnow()
            await session.execute(
                update(OutboxEntry)
                .where(
                    OutboxEntry.id.in_([row.id for row in rows]), OutboxEntry.status == "sending"
                )
                .values(status="pending", attempts=OutboxEntry.attempts - 1, next_attempt_at=due)
            )

    async def _fail(self, row: OutboxEntry, error: str, *, opted_out: bool) -> None:
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row.id)
                .values(status="failed", last_error=error, address=None)
            )
            if opted_out and row.participant_id is not None:
                await queries.opt_out(session, row.participant_id)

    async def drain(self, channel: str, *, within: float = 60.0) -> None:
        """Send until nothing on ``channel`` is due (waiting for retries), or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            await self.run_once(channel)
            async with self.sessionmaker() as session:
                row = await session.scalar(
                    select(OutboxEntry.next_attempt_at)
                    .where(OutboxEntry.channel == channel, OutboxEntry.status == "pending")
                    .order_by(OutboxEntry.next_attempt_at)
                    .limit(1)
                )
            if row is None:
                return
            wait = (row - utcnow()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.01), max(0.0, deadline - loop.time())))
        raise TimeoutError(f"{channel}: outbox not drained within {within:.0f} s")

    async def run(self, stopping: asyncio.Event, *, idle: float = 0.5) -> None:
        """Send on every channel until ``stopping`` is set.

        On PostgreSQL several workers may run this: each channel is sent by the one worker
        holding that channel's advisory lock, so the platform's rate limits hold across
        workers and rows left ``sending`` can only belong to a worker that died.
        """
        locks: dict[str, AsyncConnection | None] = {}
        try:
            while not stopping.is_set():
                sent = 0
                for channel in self.adapters:
                    try:
                        if channel not in locks:
                            if not await self._take_channel(channel, locks):
                                continue
                            await self.recover(channel)
                        sent += await self.run_once(channel)
                    except Exception:
                        log.exception("outbox sender failed on %s; carrying on", channel)
                if sent == 0:
                    self.wake.clear()
                    waiters = [
                        asyncio.ensure_future(stopping.wait()),
                        asyncio.ensure_future(self.wake.wait()),
                    ]
                    await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            for connection in locks.values():
                if connection is not None:
                    await connection.close()  # closing the connection releases its lock

    async def _take_channel(self, channel: str, locks: dict[str, AsyncConnection | None]) -> bool:
        """Become the sender for a channel (always, on SQLite: one process)."""
        engine: AsyncEngine = self.sessionmaker.kw["bind"]
        if engine.dialect.name != "postgresql":
            locks[channel] = None
            return True
        connection = await engine.connect()
        key = int.from_bytes(
            hashlib.sha256(f"engage outbox {channel}".encode()).digest()[:8], "big", signed=True
        )
        held = await connection.scalar(text("select pg_try_advisory_lock(:key)"), {"key": key})
        await connection.commit()
        if not held:
            await connection.close()
            return False
        locks[channel] = connection
        return True
