"""The outbox sender: delivers queued messages within platform limits.

A row moves ``pending`` -> ``claimed`` -> ``sending`` -> ``sent`` (or back to
``pending`` for a retry, or to ``failed`` / ``cancelled``). Due rows are claimed in
one UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers can share the
work); a claimed row has not been handed to the platform yet. Each row is marked
``sending`` in a committed UPDATE immediately before the adapter's request starts, so at
most ``concurrency`` rows per channel are ``sending`` at any moment. Rows whose requests
are about to start while such an UPDATE is being committed are marked together by the
next one (one statement for all of them), and each request still waits for its own
row's commit; rows delivered meanwhile are likewise marked ``sent`` together.

After a crash, :meth:`OutboxSender.recover` puts ``claimed`` rows back to ``pending``:
they never left. A row found ``sending`` may or may not have reached the person. A
question or a safety message (helplines must arrive) is asked again once, its text
opened with :data:`RESEND_PREFIX` so the person can tell it is a repeat; a row that
already carries that prefix is never sent a third time. Any other row in doubt becomes
``unknown`` and is listed by ``engage outbox unknown``. Retries use exponential backoff
with full jitter and honour the platform's "retry after".

Several workers may run a sender; each channel account is sent by the one holding its
lease (:mod:`bot.leases`, an advisory lock on PostgreSQL). The holder claims rows and
marks them ``sending`` in transactions fenced by that lease, so a worker that lost it
(its database connection died, and with it the lock) can no longer start a send while
its successor settles what it left.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.leases import Lease, Leases
from bot.together import Together
from channels.adapter import (
    ChannelAdapter,
    CredentialsRejected,
    RetryLater,
    Undeliverable,
    let_go_of_erased,
    requests_announced_to,
)
from channels.events import OutboundMessage
from consultations import moderation, screening
from consultations.followups import INVITATION_KIND
from consultations.keys import Keyring
from consultations.spec.outreach import held_until
from consultations.texts import ENGLISH, texts_for
from storage import queries
from storage.db import is_unavailable, outage_reason
from storage.lists import one_of
from storage.tables import (
    CLAIMABLE,
    Consultation,
    Invitation,
    ModerationCase,
    OutboxEntry,
    Participant,
    utcnow,
)

log = logging.getLogger(__name__)

OUTBOX = cast(Table, OutboxEntry.__table__)

RESEND_PREFIX = ENGLISH("resend_note") + " "
"""Opens the text of a message asked again after an interrupted send; also its marker."""

RESENT_NOTE = "interrupted while sending; asked again once"
INTERRUPTED_NOTE = "interrupted while sending"

# Kinds of message worth repeating when it is unknown whether they arrived: a person
# left without their next question waits forever, and helplines must arrive.
RESEND_KINDS = frozenset({"question", "safety"})


class _Result(enum.Enum):
    DONE = "done"  # sent, or given up for good
    RETRY = "retry"  # to be tried again later
    OPTED_OUT = "opted-out"  # the person is gone: send them nothing more


class _Withdrawn(Exception):
    """A claimed row was cancelled (STOP) or handed back before its request started."""


@dataclass
class SendCounts:
    """Failed send attempts and platform rate-limit refusals, per channel, since start.

    Kept by the process that sends, read by ``/metrics`` (counters, in Prometheus terms).
    ``errors`` counts every attempt that did not deliver (retried or given up);
    ``throttled`` the attempts the platform refused with its rate limit (429).
    """

    errors: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)


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
        batch: most rows claimed at once per channel.
        counts: where failed attempts and 429s are counted (for ``/metrics``).
        off: channels not sent on (their platform refused the credentials); their rows
            stay pending for a restart with good ones.
        waiting: channels whose adapter has not started yet (its platform unreachable at
            start, tried again meanwhile): nothing is tried on them, and their rows stay
            pending, no attempt counted, until it starts; another worker whose adapter
            has started may send them meanwhile.
        refused: told when a send finds the platform refusing the credentials (a token
            revoked while running); it should add the channel to ``off``. Without it the
            sender logs that and leaves the channel off itself.
        clock: the current time (UTC), injected so tests can move it; rows carrying
            quiet hours (invitations, reminders) are held until those hours end.
        leases: where the per-channel leases come from (one set per process); by
            default the sender makes its own.
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
        clock: Callable[[], datetime] = utcnow,
        counts: SendCounts | None = None,
        leases: Leases | None = None,
        off: Container[str] | None = None,
        waiting: Container[str] = frozenset(),
        refused: Callable[[str, CredentialsRejected], None] | None = None,
    ) -> None:
        self.clock = clock
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.adapters = dict(adapters)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.concurrency = concurrency
        self.batch = batch
        self.counts = counts or SendCounts()
        own_off: set[str] = set()
        self.off: Container[str] = own_off if off is None else off
        self.waiting = waiting

        def leave_off(channel: str, error: CredentialsRejected) -> None:
            if channel not in own_off:
                log.error("%s: %s; nothing more is sent on %s", error.setting, error, channel)
                own_off.add(channel)

        self.refused = refused or leave_off
        self.wake = asyncio.Event()
        # Set by ``run``'s caller when the process stops: rows claimed but not started
        # then go back to pending instead of being sent.
        self._stopping = asyncio.Event()
        # Rows are marked ``sending`` one at a time per channel, in the order their sends
        # queued up, and each is handed to the adapter before the next is marked: messages
        # to one chat that are not tied to a participant still reach the adapter in order.
        # Channels have a lock each: order matters within a chat, never across channels,
        # and one channel's commits need not wait for another's.
        self._starting: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.leases = leases or Leases(sessionmaker)
        # The channels whose lease this sender holds, as taken in ``run``. A sender used
        # without ``run`` (tests, ``drain``) writes in plain transactions.
        self._held: dict[str, Lease] = {}
        # Rows of each channel marked ``sending`` (fenced by its lease) and ``sent``
        # together when they arrive at once.
        self._starts: dict[str, Together[int, bool]] = {}
        self._sents: Together[tuple[OutboxEntry, str | None, int | None], None] = Together(
            self._mark_sent
        )

    @contextlib.asynccontextmanager
    async def _transaction(self, channel: str) -> AsyncIterator[AsyncSession]:
        """A transaction fenced by the channel's lease when ``run`` holds one."""
        lease = self._held.get(channel)
        if lease is None:
            async with self.sessionmaker.begin() as session:
                yield session
            return
        async with lease.fenced() as session:
            yield session

    async def recover(self, channel: str | None = None) -> int:
        """Settle rows a stopped process left ``claimed`` or ``sending``.

        ``claimed`` rows were never handed to the platform: they go back to ``pending``
        and are sent as usual. ``sending`` rows are in doubt: a question or a safety
        message not yet repeated goes back to ``pending`` once, its text opened with
        :data:`RESEND_PREFIX`; anything else becomes ``unknown`` and is not sent again.

        Returns how many rows were in doubt (``sending``).
        """
        transaction = (
            self._transaction(channel) if channel is not None else self.sessionmaker.begin()
        )
        async with transaction as session:
            requeue = update(OutboxEntry).where(OutboxEntry.status == "claimed")
            if channel is not None:
                requeue = requeue.where(OutboxEntry.channel == channel)
            requeued = await session.execute(requeue.values(status="pending"))
            doubtful = select(OutboxEntry).where(OutboxEntry.status == "sending")
            if channel is not None:
                doubtful = doubtful.where(OutboxEntry.channel == channel)
            rows = list(await session.scalars(doubtful.order_by(OutboxEntry.id)))
            # Someone who left since (STOP, a block) is not asked again.
            gone = set(
                await session.scalars(
                    select(Participant.id).where(
                        one_of(
                            Participant.id,
                            {row.participant_id for row in rows if row.participant_id is not None},
                        ),
                        Participant.opted_out_at.is_not(None),
                    )
                )
            )
            resent = 0
            for row in rows:
                again = None if row.participant_id in gone else _asked_again(row.payload)
                if again is not None:
                    values: dict[str, Any] = {
                        "status": "pending",
                        "payload": again,
                        "last_error": RESENT_NOTE,
                        "next_attempt_at": utcnow(),
                    }
                    resent += 1
                else:
                    values = {"status": "unknown", "last_error": INTERRUPTED_NOTE, "address": None}
                await session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id == row.id, OutboxEntry.status == "sending")
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        count = int(requeued.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            log.info(
                "%d claimed messages had not been sent when the process stopped; queued", count
            )
        if rows:
            log.warning(
                "%d messages were being sent when the process stopped: %d asked again once, "
                "%d left unknown (engage outbox unknown)",
                len(rows),
                resent,
                len(rows) - resent,
            )
        return len(rows)

    async def _claim(self, channel: str) -> list[OutboxEntry]:
        """Mark due rows ``claimed`` and return them: each row goes to one claimer only.

        Safety replies come first, then other replies to people, then bulk rows
        (invitations, reminders), each in the order they were queued: signposting never
        waits behind a busy hour's replies, and a person who answers does not wait behind
        a follow-up's thousands of invitations.

        The claim is one UPDATE that rechecks ``status = 'pending'``, so two claimers can
        never both get a row, whatever the database's isolation (SQLite serialises the
        writes; PostgreSQL also skips rows another worker has locked).
        """
        async with self._transaction(channel) as session:
            statement = claim_statement(
                channel, self.clock(), self.batch, session.get_bind().dialect.name
            )
            result = await session.scalars(statement)
            rows = sorted(result.all(), key=lambda row: (row.bulk, not row.urgent, row.id))
        return rows

    async def run_once(self, channel: str) -> int:
        """Send what is due on one channel; returns how many rows were attempted."""
        adapter = self.adapters[channel]
        if channel in self.off or channel in self.waiting:
            return 0
        rows = await self._claim(channel)
        if not rows:
            return 0
        claimed = len(rows)
        rows = await self._without_closed(rows)
        rows = await self._without_disclosed(rows)
        if not rows:
            return claimed
        # One person's messages go in order; different people's go side by side, started
        # in claim order (a person with a safety reply first).
        queues: dict[Any, list[OutboxEntry]] = defaultdict(list)
        for row in rows:
            queues[
                row.participant_id if row.participant_id is not None else ("row", row.id)
            ].append(row)
        for queue in queues.values():
            queue.sort(key=lambda row: row.id)
        limit = asyncio.Semaphore(self.concurrency)
        # Rows not started when the process began stopping: they go back to pending.
        left: list[OutboxEntry] = []

        async def drain(queue: list[OutboxEntry]) -> None:
            for index, row in enumerate(queue):
                async with limit:
                    if self._stopping.is_set() or channel in self.off:
                        left.extend(queue[index:])
                        return
                    result = await self._send_one(adapter, row)
                if result is _Result.RETRY:
                    # Keep order: later messages to this person wait for this one.
                    await self._postpone(queue[index + 1 :], row)
                    return
                if result is _Result.OPTED_OUT:
                    await self._cancel(queue[index + 1 :])
                    return

        # Every drain finishes before a failure is raised: a row still being sent must not
        # be mistaken for one left behind by the recovery that follows a failed round.
        outcomes = await asyncio.gather(
            *(drain(queue) for queue in queues.values()), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await self._hand_back(left)
        return len(rows)

    async def _without_closed(self, rows: list[OutboxEntry]) -> list[OutboxEntry]:
        """Cancel invitations and reminders of consultations closed since they were
        queued (closing cancels those waiting; this catches one claimed as it closed)."""
        bulk = {row.consultation_id for row in rows if row.bulk and row.consultation_id}
        if not bulk:
            return rows
        async with self.sessionmaker() as session:
            closed = set(
                await session.scalars(
                    select(Consultation.id).where(
                        one_of(Consultation.id, sorted(bulk)), Consultation.state == "closed"
                    )
                )
            )
        if not closed:
            return rows
        dropped = [row for row in rows if row.bulk and row.consultation_id in closed]
        await self._cancel(dropped)
        return [row for row in rows if not (row.bulk and row.consultation_id in closed)]

    async def _without_disclosed(self, rows: list[OutboxEntry]) -> list[OutboxEntry]:
        """Withdraw invitations to someone whose safety disclosure waits for a moderator.

        A follow-up invites nobody with such a case (bot/followups.py); this catches one
        made after the invitation was queued (held for the morning, or paced behind
        thousands): the first contact after a disclosure is a person's. The invitation
        is withdrawn, not only left unsent, so that launching the follow-up again once
        the case is resolved invites them.
        """
        people = {
            row.participant_id
            for row in rows
            if row.participant_id is not None and row.payload.get("kind") == INVITATION_KIND
        }
        if not people:
            return rows
        async with self.sessionmaker.begin() as session:
            waiting = set(
                await session.scalars(
                    select(Participant.id).where(
                        one_of(Participant.id, sorted(people)),
                        select(ModerationCase.id)
                        .where(
                            queries.cases_of(Participant.id),
                            ModerationCase.reason == screening.SAFETY,
                            ModerationCase.status.in_(moderation.OPEN_STATES),
                        )
                        .exists(),
                    )
                )
            )
            dropped = [
                row
                for row in rows
                if row.participant_id in waiting and row.payload.get("kind") == INVITATION_KIND
            ]
            if not dropped:
                return rows
            keys = [row.idempotency_key for row in dropped]
            await session.execute(delete(Invitation).where(one_of(Invitation.outbox_key, keys)))
            await session.execute(
                delete(OutboxEntry).where(
                    one_of(OutboxEntry.id, [row.id for row in dropped]),
                    OutboxEntry.status == "claimed",
                )
            )
        gone = {row.id for row in dropped}
        return [row for row in rows if row.id not in gone]

    async def _hand_back(self, rows: list[OutboxEntry]) -> None:
        """Put claimed rows back to pending as they were (no attempt was made)."""
        if not rows:
            return
        async with self._transaction(rows[0].channel) as session:
            await session.execute(_still_claimed(rows).values(status="pending"))

    async def _start(self, row: OutboxEntry) -> bool:
        """Mark a claimed row ``sending`` and count the attempt, committed before returning.

        Conditional on ``claimed``: a row cancelled meanwhile (the person said STOP) or
        handed back by :meth:`recover` is left alone, and ``False`` is returned.
        ``next_attempt_at`` becomes the time this attempt started. Rows of the channel
        starting while another start commits are marked together by the next commit.
        """
        starts = self._starts.get(row.channel)
        if starts is None:
            starts = self._starts[row.channel] = Together(
                functools.partial(self._mark_sending, row.channel)
            )
        if not await starts(row.id):
            return False
        row.attempts += 1
        return True

    async def _mark_sending(self, channel: str, ids: list[int]) -> list[bool]:
        """One UPDATE marking the rows ``sending``; for each, whether it was still claimed."""
        async with self._transaction(channel) as session:
            started = set(
                await session.scalars(
                    update(OutboxEntry)
                    .where(one_of(OutboxEntry.id, ids), OutboxEntry.status == "claimed")
                    .values(
                        status="sending",
                        attempts=OutboxEntry.attempts + 1,
                        next_attempt_at=self.clock(),
                    )
                    .returning(OutboxEntry.id)
                    .execution_options(synchronize_session=False)
                )
            )
        return [row_id in started for row_id in ids]

    async def _mark_sent(
        self, sent: list[tuple[OutboxEntry, str | None, int | None]]
    ) -> list[None]:
        """Rows delivered, with their sealed platform references: one statement for all.

        The confirmation of an erasure is deleted instead: the person is no longer held,
        so once it is delivered nothing of it is kept either. The third of each triple is
        the moderation case of a safety reply delivered only as its general note: the
        case says so in the same transaction (:data:`moderation.SENT_GENERAL_NOTE`).
        """
        forget = [row.id for row, _, _ in sent if row.payload.get("forget_after_sending")]
        marks = [
            {"row_id": row.id, "sent": self.clock(), "ref": ref}
            for row, ref, _ in sent
            if not row.payload.get("forget_after_sending")
        ]
        noted = [case for _, _, case in sent if case is not None]
        async with self.sessionmaker.begin() as session:
            if noted:
                await session.execute(
                    update(ModerationCase)
                    .where(one_of(ModerationCase.id, noted))
                    .values(person_sent=moderation.SENT_GENERAL_NOTE)
                    .execution_options(synchronize_session=False)
                )
            if forget:
                await session.execute(delete(OutboxEntry).where(one_of(OutboxEntry.id, forget)))
            if marks:
                await session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("row_id"))
                    .values(
                        status="sent",
                        sent_at=bindparam("sent"),
                        address=None,
                        platform_ref=bindparam("ref"),
                        last_error=None,
                    ),
                    marks,
                )
        return [None] * len(sent)

    async def _send_one(self, adapter: ChannelAdapter, row: OutboxEntry) -> _Result:
        """Send one claimed row, marking it ``sending`` just before its request starts.

        An adapter that announces its requests (``Capabilities.announces_requests``) is
        told how to mark the row and does so after its own pacing, right before the
        request; otherwise the row is marked here, just before the adapter is called.
        """
        message = OutboundMessage.from_stored(row.payload, self.keyring.unseal)
        address = self.keyring.unseal(row.address) if row.address else None
        wait_until = held_until(row.quiet_hours, self.clock())
        if wait_until is not None:
            # Nobody asked for this just now: it waits for the quiet hours to end, and
            # this person's later messages wait behind it.
            await self._hold_until(row, wait_until)
            return _Result.RETRY
        started = False

        async def starting() -> None:
            nonlocal started
            if started:
                return  # a later part of the same message
            if not await self._start(row):
                raise _Withdrawn
            started = True

        if not adapter.capabilities.announces_requests:
            async with self._starting[row.channel]:
                if not await self._start(row):
                    return _Result.DONE
            started = True
        # No await between the lock's release and the request: see ``_starting``.
        try:
            with requests_announced_to(starting):
                delivery = await adapter.send(address, message, key=row.idempotency_key)
        except _Withdrawn:
            return _Result.DONE
        except CredentialsRejected as exc:
            # Not delivered, and nothing on this channel will be until the setting is put
            # right and engage restarted: the row waits as it was, its attempt uncounted.
            await self._keep_for_restart(row, started)
            self.refused(row.channel, exc)
            return _Result.RETRY
        except RetryLater as exc:
            if started:
                self._count(row.channel, throttled=exc.throttled)
            await self._retry(row, str(exc), exc.after)
            return _Result.RETRY
        except Undeliverable as exc:
            self._count(row.channel)
            await self._fail(row, str(exc), opted_out=exc.opted_out)
            await self._after_erasure(adapter, row)
            return _Result.OPTED_OUT if exc.opted_out else _Result.DONE
        except Exception as exc:  # a network error or a platform outage: try again later
            self._count(row.channel)
            log.warning("sending outbox row %s failed: %s", row.id, exc)
            await self._retry(row, f"{type(exc).__name__}: {exc}", None)
            return _Result.RETRY
        await self._sents(
            (
                row,
                self.keyring.reference(row.channel, delivery.platform_ref)
                if delivery.platform_ref is not None
                else None,
                message.case if delivery.note_instead else None,
            )
        )
        await self._after_erasure(adapter, row)
        return _Result.DONE

    @staticmethod
    async def _after_erasure(adapter: ChannelAdapter, row: OutboxEntry) -> None:
        """Once an erasure's confirmation is done with, the adapter's memory of the
        person (their chat's pacing, a message sent part way) goes too, as their rows
        did: that sending was the last thing to name them."""
        if row.payload.get("forget_after_sending"):
            await let_go_of_erased(adapter)

    async def _keep_for_restart(self, row: OutboxEntry, started: bool) -> None:
        """Put a row back to pending, due now, its attempt (if started) not counted."""
        if started:
            row.attempts -= 1
        async with self._transaction(row.channel) as session:
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row.id, OutboxEntry.status.in_(("claimed", "sending")))
                .values(status="pending", attempts=row.attempts, next_attempt_at=self.clock())
            )

    async def _hold_until(self, row: OutboxEntry, until: datetime) -> None:
        """Put a claimed row back, due when its quiet hours end (no attempt counted)."""
        async with self.sessionmaker.begin() as session:
            await session.execute(
                _still_claimed([row]).values(status="pending", next_attempt_at=until)
            )

    def _count(self, channel: str, *, throttled: bool = False) -> None:
        self.counts.errors[channel] += 1
        if throttled:
            self.counts.throttled[channel] += 1

    async def _cancel(self, rows: list[OutboxEntry]) -> None:
        """Drop claimed messages to someone who has left (or blocked us)."""
        if not rows:
            return
        async with self.sessionmaker.begin() as session:
            await session.execute(_still_claimed(rows).values(status="cancelled", address=None))

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
                _alert_if_safety(session, row)
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
                _still_claimed(rows).values(status="pending", next_attempt_at=due)
            )

    async def _fail(self, row: OutboxEntry, error: str, *, opted_out: bool) -> None:
        async with self.sessionmaker.begin() as session:
            if row.payload.get("forget_after_sending"):  # an erasure's confirmation
                await session.execute(delete(OutboxEntry).where(OutboxEntry.id == row.id))
                return
            await session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == row.id)
                .values(status="failed", last_error=error, address=None)
            )
            _alert_if_safety(session, row)
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

    async def run(
        self, stopping: asyncio.Event, *, idle: float = 0.5, linger: float = 0.02
    ) -> None:
        """Send on every channel whose lease this worker holds, until ``stopping`` is set.

        Woken from idle (a message queued), it waits ``linger`` seconds before claiming,
        so that messages queued just behind the first are claimed, marked ``sending`` and
        marked ``sent`` with it, a few statements for all instead of for each.

        Several workers may run this: each channel is sent by the one worker holding its
        lease, so the platform's rate limits hold across workers and rows left
        ``claimed`` or ``sending`` can only belong to a worker that died (or lost its
        connection, and with it the lease). The others try the lease every few seconds;
        whoever takes it first settles those rows (:meth:`recover`) and sends on.
        """
        leases = {channel: self.leases.lease(f"outbox {channel}") for channel in self.adapters}
        self._stopping = stopping
        try:
            while not stopping.is_set():
                sent = 0
                for channel, lease in leases.items():
                    # Not started yet: the lease is left to a worker whose adapter has.
                    if channel in self.off or channel in self.waiting:
                        continue
                    try:
                        if not await self._hold(channel, lease):
                            continue
                        sent += await self.run_once(channel)
                    except Exception as exc:
                        # The store may have gone away mid-round (an outage): rows this
                        # round claimed or started are settled by taking the channel
                        # afresh, which recovers them, once the store answers again.
                        if is_unavailable(exc):
                            log.warning(
                                "outbox sender on %s: the database is unavailable (%s)",
                                channel,
                                outage_reason(exc),
                            )
                        else:
                            log.exception("outbox sender failed on %s; carrying on", channel)
                        if not await lease.check():
                            self._held.pop(channel, None)
                if sent == 0:
                    self.wake.clear()
                    waiters = [
                        asyncio.ensure_future(stopping.wait()),
                        asyncio.ensure_future(self.wake.wait()),
                    ]
                    await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
                    if linger and self.wake.is_set() and not stopping.is_set():
                        await asyncio.sleep(linger)
        finally:
            self._held.clear()
            for lease in leases.values():
                await lease.release()

    async def _hold(self, channel: str, lease: Lease) -> bool:
        """Whether this worker is the channel's sender now; settles a new holding first."""
        if channel in self._held:
            if await lease.check():
                return True
            del self._held[channel]
            log.warning("outbox %s: lease lost; another worker will send", channel)
            return False
        if not await lease.try_acquire():
            return False
        self._held[channel] = lease
        try:
            await self.recover(channel)
        except BaseException:
            del self._held[channel]
            await lease.release()
            raise
        return True


def _still_claimed(rows: Sequence[OutboxEntry]) -> Any:
    """An UPDATE of those of ``rows`` still ``claimed`` (a row another worker settled
    meanwhile, after a lost lease, is left as it is)."""
    return update(OutboxEntry).where(
        one_of(OutboxEntry.id, [row.id for row in rows]), OutboxEntry.status == "claimed"
    )


def claim_statement(channel: str, now: datetime, batch: int, dialect: str) -> Any:
    """The UPDATE that claims up to ``batch`` of ``channel``'s rows due at ``now``.

    Safety replies first, other replies next, invitations and reminders last, each in
    the order they were queued. The claim index (``ix_outbox_claim``) holds pending
    rows in this order, so the claim reads its batch from it and sorts nothing. The
    pending condition is the index's own text (``storage.tables.CLAIMABLE``), not a
    bound value: the generic plan PostgreSQL may give a prepared statement (asyncpg
    prepares and caches them) cannot use a partial index on a value it does not know.
    """
    pending = text(CLAIMABLE)
    due = (
        select(OutboxEntry.id)
        .where(
            OutboxEntry.channel == channel,
            pending,
            OutboxEntry.next_attempt_at <= now,
        )
        .order_by(OutboxEntry.bulk, OutboxEntry.urgent.desc(), OutboxEntry.id)
        .limit(batch)
    )
    return (
        update(OutboxEntry)
        .where(OutboxEntry.id.in_(queries.claimable(due, dialect)), pending)
        .values(status="claimed")
        .returning(OutboxEntry)
        .execution_options(synchronize_session=False)
    )


def _asked_again(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payload to send once more after an interrupted send, or ``None`` if not to.

    Only questions and safety messages are repeated, and only once: the repeat's text
    opens with :data:`RESEND_PREFIX`, which is also how a repeat is recognised.
    """
    text_ = payload.get("text")
    if payload.get("kind") not in RESEND_KINDS or not isinstance(text_, str):
        return None
    language = payload.get("language")
    # In the message's language (consultations/texts), the English form understood too.
    prefix = texts_for(language if isinstance(language, str) else "en")("resend_note") + " "
    if text_.startswith((RESEND_PREFIX, prefix)):
        return None
    return {**payload, "text": prefix + text_}


async def in_doubt(session: AsyncSession) -> list[OutboxEntry]:
    """Rows marked ``unknown``: interrupted mid-send and not repeated; oldest first."""
    return list(
        await session.scalars(
            select(OutboxEntry).where(OutboxEntry.status == "unknown").order_by(OutboxEntry.id)
        )
    )


def _alert_if_safety(session: AsyncSession, row: OutboxEntry) -> None:
    """A safety message that could not be delivered is never left to fail quietly.

    It opens an urgent case, so the moderators' alert fires at once: a person must reach
    the one who disclosed some other way.
    """
    if row.payload.get("kind") != "safety" or row.consultation_id is None:
        return
    moderation.open_case(
        session,
        consultation_id=row.consultation_id,
        response_id=None,
        reason="undelivered",
        urgent=True,
        text=f"The safety message could not be delivered on {row.channel}.",
        participant_id=row.participant_id,
    )
