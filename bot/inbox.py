"""The durable inbox: events are committed before the platform is told they arrived.

Adapters hand events to :meth:`Inbox.receive_many` (their :data:`channels.adapter.EventSink`);
a repeat of the same (channel, platform event id) is a no-op, so a platform that delivers
again stores nothing twice. :meth:`Inbox.run` then hands rows to the runtime in batches,
one transaction per batch. A batch that fails is handled again one row at a time, so one
bad event cannot hold up the others. Channels that answer within the request (the web
page) go through :class:`GroupCommit` instead: concurrent requests share one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.runtime import Admit, Outcome, Runtime
from bot.together import Together
from channels.events import EventKind, InboundEvent
from consultations import screening
from consultations.keys import Keyring
from storage import queries
from storage.db import is_unavailable, outage_reason, statements_on_loop
from storage.tables import InboxEntry, utcnow

log = logging.getLogger(__name__)


#: Inbox rows handled in one transaction at most. A batch's fixed cost (claiming, loading
#: the people's dialogues and consents, progress, the commit) is shared by its events:
#: 200 rather than 50 took the Telegram webhook benchmark from 1.28-1.48 to 1.19-1.22 ms
#: of CPU an update and from 684-791 to 818-853 updates stored a second (bench/README.md).
BATCH = 200
#: Events whose words are screened and analysed when stored (answers, replies, listened
#: posts, edits): what a batch would otherwise do on the event loop.
_WORDED = frozenset({EventKind.TEXT, EventKind.LISTEN, EventKind.EDIT})


class Inbox:
    """Stores inbound events durably and feeds them to the runtime.

    Args:
        sessionmaker: the store's session factory.
        keyring: seals each stored event (it carries platform ids until handled).
        runtime: handles each claimed batch.
        max_attempts: failures after which an event is held aside for an operator.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        runtime: Runtime,
        *,
        max_attempts: int = 3,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.runtime = runtime
        self.max_attempts = max_attempts
        self.wake = asyncio.Event()
        #: Seconds the processor waits, idle, before looking at the store again (a new
        #: row or a stop wakes it sooner).
        self.idle_turn = 0.5
        # Texts sent to the runtime's preparation processes as they arrive (receive_many).
        self._preparing: set[asyncio.Task[None]] = set()
        # Callers of receive_many share a commit, at most 200 callers a transaction; a
        # shared transaction that fails is tried again caller by caller, so one bad batch
        # fails alone.
        self._received: Together[list[dict[str, Any]], int] = Together(
            self._insert_received, limit=200, alone_on_failure=True
        )

    async def receive(self, event: InboundEvent) -> bool:
        """Store one event and commit; ``False`` if it was already there."""
        return await self.receive_many([event]) == 1

    async def receive_many(self, events: Sequence[InboundEvent]) -> int:
        """Store a batch durably; returns how many were new once they are committed.

        Call this before telling the platform the events arrived. Concurrent callers (a
        webhook's many connections) share one transaction: each still returns only
        after its own rows are committed, so acknowledged means stored.
        """
        rows = [
            {
                "channel": e.channel,
                "event_id": self.keyring.reference(e.channel, e.event_id),
                "payload": self.keyring.seal(e.to_json()),
                "sender": queries.inbox_sender(self.keyring, e.channel, e.sender),
            }
            for e in events
        ]
        if not rows:
            return 0
        # Nothing more is done before the commit: the texts are screened and analysed by
        # the batch that handles them (run), which sends a safety reply as it stores
        # the words that call for one, so a platform waiting for the acknowledgement
        # waits only for the write.
        new = await self._received(rows)
        if new:
            self._prepare(events)
            self.wake.set()
        return new

    def _prepare(self, events: Sequence[InboundEvent]) -> None:
        """Send the events' texts to the runtime's preparation processes, if it has them
        and they are ready, so that the batch that handles them finds each screened and
        analysed (:meth:`Runtime.prepare_ahead`) instead of doing it on the event loop.

        Only once they are committed, and without waiting: the acknowledgement waits for
        the write alone. They are prepared with the hints of the consultation the runtime
        screened for last (:attr:`Runtime.recent_hints`): a text of another is screened by
        its batch, as every text was before. They go after any web request's texts, a few
        at a time (:data:`bot.preparation.MOST_BEHIND`), so that no request waits long for
        them; whatever the processes have not returned by the time its batch comes is
        screened there too; nothing depends on them.
        """
        preparation = self.runtime.preparation
        if preparation is None or not preparation.ready:
            return
        texts = [e.text for e in events if e.text and e.kind in _WORDED]
        if not texts:
            return
        task = asyncio.create_task(self._prepare_texts(texts), name="inbox-prepare")
        self._preparing.add(task)
        task.add_done_callback(self._preparing.discard)

    async def _prepare_texts(self, texts: list[str]) -> None:
        try:
            await self.runtime.prepare_ahead(texts, self.runtime.recent_hints, behind=True)
        except Exception:
            # Left to the batch, which screens every text it was not given.
            log.warning("texts could not be prepared ahead; their batch screens them")

    async def _insert_received(self, batches: Sequence[Sequence[dict[str, Any]]]) -> list[int]:
        """Insert several callers' rows in one transaction; how many of each were new."""
        async with self.sessionmaker.begin() as session:
            new = await queries.insert_inbox_many(session, [r for rows in batches for r in rows])
        counts = []
        for rows in batches:
            mine = {(r["channel"], r["event_id"]) for r in rows} & new
            new -= mine  # a repeat in another caller's rows is not new for it too
            counts.append(len(mine))
        return counts

    async def process_pending(
        self, limit: int = 100, *, batch: int = BATCH, stopping: asyncio.Event | None = None
    ) -> int:
        """Handle inbox rows not yet handled; returns how many were handled.

        Rows are claimed in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers
        share the work) and handled together in one transaction. If that fails, the batch
        is handled again one row at a time: a row that fails alone counts an attempt and is
        held aside after :attr:`max_attempts`; the rows behind it go on.

        Once ``stopping`` is set no further batch (or row) is claimed: the one in hand is
        finished and the rest wait in the inbox for the next start.
        """
        handled = 0
        failed: set[int] = set()  # tried once in this call: left for the next one
        while handled < limit:
            if stopping is not None and stopping.is_set():
                break
            size = min(batch, limit - handled)
            try:
                claimed = await self._process_batch(size, failed)
            except Exception:
                log.warning("an inbox batch failed; handling its rows one at a time")
                ids = await self._pending_ids(size, failed)
                for entry_id in ids:
                    if stopping is not None and stopping.is_set():
                        break
                    if not await self._process_one(entry_id):
                        failed.add(entry_id)
                claimed = len(ids)
            if claimed == 0:
                break
            handled += claimed
        return handled

    async def run(
        self, stopping: asyncio.Event, on_handled: Callable[[], Any], *, linger: float = 0.02
    ) -> None:
        """Handle rows as they arrive until ``stopping`` is set (``on_handled`` after each).

        Stopping takes effect between batches: the batch in hand is finished (or, if the
        process is cut short, rolled back whole) and nothing more is claimed.

        Woken from idle, it waits ``linger`` seconds before claiming, so that events
        arriving just behind the first are handled in the same transaction instead of one
        each: a transaction per event costs more CPU than the event itself (with the
        outbox's own linger, the Telegram-only soak at 100 updates/s spent 6.3-6.4 ms of
        CPU per update instead of 7.6-8.0, the webhook's p50 unchanged).
        """
        while not stopping.is_set():
            try:
                handled = await self.process_pending(limit=BATCH, stopping=stopping)
            except Exception as exc:
                if is_unavailable(exc):
                    # Every half second while the store is down: one line, no traceback.
                    log.warning(
                        "inbox: the database is unavailable (%s); retrying", outage_reason(exc)
                    )
                else:
                    log.exception("inbox processing failed; retrying")
                handled = 0
            if handled:
                on_handled()
                continue
            self.wake.clear()
            # Woken by a new row or by stopping: a stop does not wait out the idle turn.
            waiters = [
                asyncio.ensure_future(self.wake.wait()),
                asyncio.ensure_future(stopping.wait()),
            ]
            await asyncio.wait(waiters, timeout=self.idle_turn, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if linger and self.wake.is_set() and not stopping.is_set():
                await asyncio.sleep(linger)

    @staticmethod
    def _claim(session: AsyncSession, size: int, skip: set[int]) -> Any:
        statement = _waiting(size, skip, InboxEntry.id, InboxEntry.payload)
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        return statement

    async def _pending_ids(self, size: int, skip: set[int]) -> list[int]:
        async with self.sessionmaker() as session:
            return list(await session.scalars(_waiting(size, skip, InboxEntry.id)))

    async def _process_batch(self, size: int, skip: set[int]) -> int:
        outcomes: list[Outcome] = []
        async with self.sessionmaker.begin() as session:
            # Ids and payloads only, and one UPDATE marks them all: no ORM objects for
            # rows that are read once and then emptied.
            # As Core on the session's connection: the ORM's handling of the statement
            # costs more than SQLite takes to run it.
            connection = await session.connection()
            entries = list((await connection.execute(self._claim(session, size, skip))).all())
            if not entries:
                return 0
            events = [
                InboundEvent.from_json(self.keyring.unseal(payload))
                for _, payload in entries
                if payload is not None
            ]
            outcomes = await self.runtime.handle_batch(session, events)
            await queries.mark_inbox_processed(session, [entry_id for entry_id, _ in entries])
        await self.runtime.after_commit(outcomes)
        return len(entries)

    async def _process_one(self, entry_id: int) -> bool:
        """Handle one row alone; ``False`` if its handling failed (an attempt counted)."""
        outcomes: list[Outcome] = []
        async with self.sessionmaker.begin() as session:
            statement = select(InboxEntry).where(
                InboxEntry.id == entry_id,
                InboxEntry.processed_at.is_(None),
                InboxEntry.failed_at.is_(None),
            )
            if session.get_bind().dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            entry = await session.scalar(statement)
            if entry is None:
                return True  # another worker has it, or it is done
            try:
                async with session.begin_nested():
                    if entry.payload is not None:
                        event = InboundEvent.from_json(self.keyring.unseal(entry.payload))
                        outcomes = await self.runtime.handle_batch(session, [event])
                await queries.mark_inbox_processed(session, [entry.id])
            except Exception as exc:
                if is_unavailable(exc):
                    # The store went away (an outage), not this event's fault: no attempt
                    # is counted, and the event waits for the store to come back.
                    raise
                # The type and message only: never the event's content (it names the sender).
                error = f"{type(exc).__name__}: {exc}"[:500]
                entry.attempts += 1
                entry.error = error
                if entry.attempts >= self.max_attempts:
                    entry.failed_at = utcnow()
                    log.error(
                        "inbox entry %s failed %d times; held aside (engage inbox failed)",
                        entry.id,
                        entry.attempts,
                    )
                else:
                    log.warning("inbox entry %s failed (attempt %d)", entry.id, entry.attempts)
                return False
        await self.runtime.after_commit(outcomes)
        return True


def _first_of_its_sender() -> Any:
    """Only a sender's earliest event still waiting may be claimed.

    Workers claim in id order, skipping rows another worker holds; without this, two
    workers could each take one of a person's events (their consent, then their answer)
    and handle them at once or in the wrong order. A person's next event waits until the
    one before it is handled; other people's events go on meanwhile. An event whose
    handling has failed holds nothing back: a STOP behind a reply that breaks the
    handling must still be obeyed.

    A row's ``sender`` is cleared when it is handled (and rows stored already handled
    never have one), so an earlier row with the same sender is one still waiting: the
    condition needs no ``processed_at IS NULL``. With it, PostgreSQL combined the sender
    index with the ``processed_at`` index (every unvacuumed handled row in it) for each
    waiting row: at a backlog of 11,002 events the claim took 22.7 s, without it 0.13 s.
    """
    earlier = aliased(InboxEntry)
    return ~exists().where(
        earlier.sender == InboxEntry.sender,
        earlier.id < InboxEntry.id,
        earlier.failed_at.is_(None),
        earlier.attempts == 0,
    )


_FIRST_OF_ITS_SENDER = _first_of_its_sender()


def _waiting(size: int, skip: set[int], *columns: Any) -> Any:
    """``columns`` of the first ``size`` rows that may be claimed now, oldest first.

    Read in order from the index of waiting rows (``ix_inbox_waiting``, whose condition
    these ``IS NULL`` tests repeat), so handled rows are never passed over.
    """
    return (
        select(*columns)
        .where(
            InboxEntry.processed_at.is_(None),
            InboxEntry.failed_at.is_(None),
            InboxEntry.id.not_in(skip),
            _FIRST_OF_ITS_SENDER,
        )
        .order_by(InboxEntry.id)
        .limit(size)
    )


async def held_aside(session: AsyncSession) -> list[InboxEntry]:
    """Events whose handling kept failing, oldest first."""
    rows = await session.scalars(
        select(InboxEntry).where(InboxEntry.failed_at.is_not(None)).order_by(InboxEntry.id)
    )
    return list(rows)


async def retry(session: AsyncSession, entry_id: int) -> bool:
    """Hand a held-aside event back to the runtime; ``False`` if there is no such event."""
    entry = await session.get(InboxEntry, entry_id)
    if entry is None or entry.failed_at is None:
        return False
    entry.failed_at = None
    entry.attempts = 0
    return True


class GroupCommit:
    """Handles the events of concurrent requests together: one transaction for many.

    A request waits while the batch before it commits, then goes in the next one; under
    load each commit carries many answers, and a lone request waits for nothing. Nothing
    is acknowledged before its batch has committed.

    With ``parallel`` above 1 (PostgreSQL, where writers do not wait for one another),
    that many batches may be in the database at once, so the worker builds the next
    while another waits for the server. A person's requests never go in two batches at
    once: a later one waits for the batch holding the earlier, so they commit in order
    and two transactions never write the same person's rows.

    Args:
        runtime: handles each batch (:meth:`Runtime.handle_groups`).
        max_batch: the most requests one transaction carries.
        admit: checks requests' tickets (the web forms' nonces) in the batch's own
            transaction, so a ticket is used exactly when its request commits and no
            request pays for a transaction of its own to claim it.
        parallel: batches in the database at once (1 on SQLite: one writer at a time).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_batch: int = 100,
        admit: Admit | None = None,
        parallel: int = 1,
    ) -> None:
        self.runtime = runtime
        self.max_batch = max_batch
        self.admit = admit
        self.parallel = max(1, parallel)
        self._queue: list[_Request] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        # Senders with a request in a batch now in the database, and how many.
        self._busy: Counter[tuple[str, str]] = Counter()

    async def submit(
        self,
        *events: InboundEvent,
        ticket: str | None = None,
        hints: screening.Hints = screening.NO_HINTS,
    ) -> Outcome:
        """Handle one request's events; returns once they are committed.

        With a ``ticket``, the events are handled only if ``admit`` takes it (else the
        outcome is ``refused``). ``hints`` are those of the events' consultation
        (:func:`consultations.screening.hints_for`), for screening their texts ahead.
        """
        # The texts' screening and analysis are done before the request joins a batch
        # (in a worker process where the runtime has them), while the batch before is
        # in the database: not inside the shared transaction. (A person's web requests
        # come one after another, so one waiting here is never overtaken by their next;
        # the inbox's receivers prepare on the loop, keeping their arrival order.)
        await self.runtime.prepare_ahead((e.text for e in events if e.text), hints)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        senders = frozenset((e.channel, e.sender) for e in events)
        self._queue.append(_Request(events, ticket, future, senders))
        self._idle.clear()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="group-commit")
        self._ready.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue and len(self._running) < self.parallel:
                batch = self._take()
                if not batch:
                    break  # what waits is a sender's whose earlier request is in a batch
                task = asyncio.create_task(self._commit(batch), name="group-commit-batch")
                self._running.add(task)
            if not self._queue and not self._running:
                self._idle.set()

    def _take(self) -> list[_Request]:
        """The next batch: requests in order, passing over those of busy senders."""
        if not self._busy:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        else:
            batch, left = [], []
            for request in self._queue:
                if len(batch) < self.max_batch and not any(
                    s in self._busy for s in request.senders
                ):
                    batch.append(request)
                else:
                    left.append(request)
            self._queue = left
        if self.parallel > 1:
            for request in batch:
                self._busy.update(request.senders)
        return batch

    async def _commit(self, batch: list[_Request]) -> None:
        # A batch's statements are short and indexed: on SQLite they run on the loop.
        statements_on_loop()
        try:
            await self._handle(batch)
        finally:
            if self.parallel > 1:
                for request in batch:
                    self._busy.subtract(request.senders)
                self._busy = +self._busy  # drop the senders no longer busy
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)
            self._ready.set()

    async def _handle(self, batch: list[_Request]) -> None:
        groups = [request.events for request in batch]
        tickets = [request.ticket for request in batch]
        try:
            if self.admit is not None and any(t is not None for t in tickets):
                outcomes = await self.runtime.handle_groups(
                    groups, tickets=tickets, admit=self.admit
                )
            else:
                outcomes = await self.runtime.handle_groups(groups)
        except Exception as exc:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        for request, outcome in zip(batch, outcomes, strict=True):
            if request.future.done():
                continue
            if isinstance(outcome, Exception):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    async def aclose(self, within: float | None = None) -> None:
        """Finish what is queued, then stop the worker.

        With ``within``, batches still in the database after that many seconds (waiting
        for a lock another process holds, say) are cut short: their transactions roll
        back and their requests are told so, as in an outage.
        """
        if self._worker is not None and not self._worker.done():
            try:
                async with asyncio.timeout(within):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("stopping: web answers still waiting for the database are cut short")
                for task in list(self._running):
                    task.cancel()
                for request in self._queue:
                    if not request.future.done():
                        request.future.cancel()
                self._queue.clear()
                await asyncio.gather(*self._running, return_exceptions=True)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker


@dataclass(frozen=True)
class _Request:
    """One request waiting for a group commit."""

    events: Sequence[InboundEvent]
    ticket: str | None
    future: asyncio.Future[Outcome]
    senders: frozenset[tuple[str, str]]
