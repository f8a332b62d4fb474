"""Time-driven work of ``engage run``: opening and closing on time, and reminders.

Every worker runs a :class:`Scheduler`; each action still happens once. Opening and
closing a consultation are claimed by inserting a ``scheduled_action`` row keyed by
(consultation, action): whoever inserts it first does the work, the others' inserts do
nothing, so no lock is held and PostgreSQL workers need not agree on a leader. A claim
whose worker died before finishing (no ``done_at`` after ``lease``) may be claimed again
by one conditional update; opening and closing are themselves repeat-safe (a channel
already published is not published again, a closed consultation stays closed).

Reminders are outbox rows keyed ``reminder:CONSULTATION:PERSON``: one per person per
consultation, whoever queues it, and never for someone who said STOP (their dialogue
is stopped and they are marked opted out). Invitations and reminders carry the spec's
quiet hours; the outbox sender holds them until those hours end.

A channel whose adapter has not started yet (its platform unreachable at start, tried
again in the background) is not called. An opening due meanwhile publishes on the other
channels and leaves that one marked unpublished, with an ``open:CHANNEL`` action for it;
with such a channel to come it stands even if every other channel failed. A closing
leaves a ``close:CHANNEL`` action where the channel has native polls still to close (a
channel with nothing of the consultation is left nothing). Either is done, once, by the
first worker whose adapter for that channel has started (woken as the adapter starts,
not at its next pass). An opening whose every channel is waiting is not claimed until
one of them starts. A launch or a close from the dashboard is the same opening or
closing (:func:`launch`, :func:`close`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import followups as follow_up_invitations
from bot import publishing
from channels.adapter import ChannelAdapter
from channels.events import OutboundMessage
from consultations import followups, service
from consultations.spec import ConsultationSpec
from storage.queries import ReferenceKeys, add_outbox_rows, dialect_insert, outbox_row
from storage.tables import (
    Consent,
    Consultation,
    Dialogue,
    Participant,
    ScheduledAction,
    utcnow,
)

log = logging.getLogger(__name__)

OPEN, CLOSE = "open", "close"
#: How long a claimed action may stay unfinished before another worker takes it over.
LEASE = timedelta(minutes=10)
#: Seconds between the scheduler's passes when nothing wakes it sooner.
INTERVAL = 15.0


def on_channel(action: str, channel: str) -> str:
    """The action left for ``channel`` while its adapter had not started: ``open:telegram``."""
    return f"{action}:{channel}"


async def leave_for_adapter(
    session: AsyncSession,
    consultation_id: str,
    action: str,
    channel: str,
    *,
    now: datetime,
    lease: timedelta = LEASE,
) -> None:
    """Leave ``action`` (:data:`OPEN`: publish, :data:`CLOSE`: close the polls) on
    ``channel`` for the first worker whose adapter there has started: its claim is free
    at once (taken as if its lease had run out). Left again after it was done (a launch
    again, its publishing there having failed), it is to be done again."""
    free = now - lease - timedelta(seconds=1)
    waiting = f"waiting for the {channel} adapter to start"
    await session.execute(
        dialect_insert(session, ScheduledAction)
        .values(
            consultation_id=consultation_id,
            action=on_channel(action, channel),
            claimed_at=free,
            outcome=waiting,
        )
        .on_conflict_do_update(
            index_elements=["consultation_id", "action"],
            set_={"claimed_at": free, "done_at": None, "outcome": waiting},
        )
    )


async def launch(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, ChannelAdapter],
    spec: ConsultationSpec,
    channels: list[str],
    *,
    keys: ReferenceKeys,
    now: datetime,
    waiting: Container[str] = frozenset(),
    lease: timedelta = LEASE,
    refused: publishing.Refused | None = None,
) -> publishing.Launch:
    """Open ``spec`` and publish it on ``channels``: the one opening of a launch from the
    dashboard and of one on time (:class:`Scheduler`).

    A channel in ``waiting`` (its adapter not started yet) is not called: as it opens,
    it is marked unpublished and an ``open:CHANNEL`` action left for it, in the same
    transaction, so the first worker whose adapter there starts publishes it. So is a
    channel whose platform refuses the adapter's credentials as it publishes (a token
    revoked while running), ``refused`` told so that the adapter is turned off until the
    restart. With such a channel to come the opening stands, even if every other channel
    failed; one that published nowhere and has none to come is a draft again (``undone``).

    Raises as :func:`bot.publishing.launch` does.
    """

    async def leave(session: AsyncSession, channel: str) -> None:
        await leave_for_adapter(session, spec.id, OPEN, channel, now=now, lease=lease)

    return await publishing.launch(
        sessionmaker,
        adapters,
        spec,
        channels,
        keys=keys,
        now=now,
        waiting=waiting,
        leave=leave,
        refused=refused,
    )


async def close(
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Mapping[str, ChannelAdapter],
    spec: ConsultationSpec,
    *,
    keys: ReferenceKeys,
    now: datetime,
    waiting: Container[str] = frozenset(),
    lease: timedelta = LEASE,
) -> publishing.ChannelResults:
    """Close ``spec`` and its native polls: the one closing of a close from the dashboard
    and of one on time (:class:`Scheduler`).

    A channel in ``waiting`` is not called: a ``close:CHANNEL`` action is left for it
    when it has posts to close (named in the results' ``later``), and none when it has
    nothing of this consultation.

    Raises :class:`consultations.service.LifecycleError` for a draft (never launched).
    """
    async with sessionmaker.begin() as session:
        await service.close(session, spec.id)

    async def leave(session: AsyncSession, channel: str) -> None:
        await leave_for_adapter(session, spec.id, CLOSE, channel, now=now, lease=lease)

    return await publishing.close(
        sessionmaker, adapters, spec, keys=keys, waiting=waiting, leave=leave
    )


def reminder_key(consultation_id: str, participant_id: int) -> str:
    """The outbox idempotency key of one person's reminder for one consultation."""
    return f"reminder:{consultation_id}:{participant_id}"


@dataclass
class Done:
    """What one pass of the scheduler did (for logs and tests)."""

    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    reminded: dict[str, int] = field(default_factory=dict)
    # "consultation/channel": published once the channel's adapter started.
    published: list[str] = field(default_factory=list)


class Scheduler:
    """Opens, closes and reminds on time.

    Args:
        sessionmaker: the store's session factory.
        keys: seals and opens addresses and references.
        adapters: the channels configured in this process (launches publish on them).
        clock: the current time, UTC (tests move it instead of sleeping).
        lease: how long a claimed action may stay unfinished before another worker
            takes it over.
        interval: seconds between passes in :meth:`run`.
        waiting: channels whose adapter has not started yet: not called, their part of
            an opening or closing left for when they start (see the module docstring).
        refused: told when a channel's platform refuses its adapter's credentials as an
            opening publishes there (the process turns that adapter off).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keys: ReferenceKeys,
        adapters: Mapping[str, ChannelAdapter],
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = LEASE,
        interval: float = INTERVAL,
        waiting: Container[str] = frozenset(),
        refused: publishing.Refused | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keys = keys
        self.refused = refused
        self.adapters = dict(adapters)
        self.clock = clock
        self.lease = lease
        self.interval = interval
        self.waiting = waiting
        #: Set to pass now rather than at the end of the interval: an adapter has
        #: started, and what waited for it is done at once.
        self.wake = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        """Pass every ``interval`` seconds, or when woken, until ``stopping`` is set."""
        while not stopping.is_set():
            # Cleared before the pass: woken during it, it passes again at once.
            self.wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("the scheduler failed; trying again at the next pass")
            waiters = [
                asyncio.ensure_future(stopping.wait()),
                asyncio.ensure_future(self.wake.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def run_once(self) -> Done:
        """One pass: open what is due, close what is due, queue reminders that are due."""
        now = self.clock()
        done = Done()
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(Consultation).where(
                        Consultation.state.in_([service.DRAFT, service.OPEN])
                    )
                )
            ).all()
            finished = set(
                (
                    await session.execute(
                        select(ScheduledAction.consultation_id, ScheduledAction.action).where(
                            ScheduledAction.done_at.is_not(None)
                        )
                    )
                ).all()
            )
        for row in rows:
            spec = service.spec_of(row)
            due_to_open = (
                row.state == service.DRAFT
                and spec.opens_at is not None
                and spec.opens_at <= now
                and (row.id, OPEN) not in finished
            )
            if due_to_open and spec.closes_at is not None and spec.closes_at <= now:
                # Its whole time went by before the opening ran (no worker was running):
                # it is not opened, and why is noted where `consultation show` reads it.
                # Noted again after each lease, so a spec stored again with a later
                # closes_at opens then.
                if await self._claim(row.id, OPEN, now):
                    await self._not_opened(spec, now)
            elif (
                due_to_open and not self._all_waiting(spec) and await self._claim(row.id, OPEN, now)
            ):
                if await self._open(spec):
                    done.opened.append(row.id)
            elif (
                row.state == service.OPEN
                and spec.closes_at is not None
                and spec.closes_at <= now
                and (row.id, CLOSE) not in finished
                and await self._claim(row.id, CLOSE, now)
            ):
                await self._close(spec)
                done.closed.append(row.id)
            elif spec.reminder is not None and service.accepting(row, spec, now):
                count = await self.remind(spec, now)
                if count:
                    done.reminded[row.id] = count
        await self._left_for_channels(now, done)
        return done

    def _all_waiting(self, spec: ConsultationSpec) -> bool:
        """Whether every channel of ``spec`` configured here waits for its adapter: its
        opening waits too (for this worker), rather than publish nowhere."""
        here = [name for name in spec.channels if name in self.adapters]
        return bool(here) and all(name in self.waiting for name in here)

    async def _left_for_channels(self, now: datetime, done: Done) -> None:
        """Publish, or close the polls, on channels whose adapter has started since."""
        async with self.sessionmaker() as session:
            left = (
                await session.execute(
                    select(ScheduledAction.consultation_id, ScheduledAction.action).where(
                        ScheduledAction.done_at.is_(None),
                        or_(
                            ScheduledAction.action.like(f"{OPEN}:%"),
                            ScheduledAction.action.like(f"{CLOSE}:%"),
                        ),
                    )
                )
            ).all()
        for consultation_id, action in left:
            kind, _, channel = action.partition(":")
            adapter = self.adapters.get(channel)
            if adapter is None or channel in self.waiting:
                continue
            if not await self._claim(consultation_id, action, now):
                continue
            async with self.sessionmaker() as session:
                row = await session.get(Consultation, consultation_id)
            if row is None:
                continue
            spec = service.spec_of(row)
            if kind == CLOSE:
                results = await publishing.close(
                    self.sessionmaker, {channel: adapter}, spec, keys=self.keys
                )
                failed = results.failed.get(channel)
                if failed:
                    log.error("%s: closing polls on %s failed: %s", spec.id, channel, failed)
                await self._finish(
                    consultation_id, action, f"polls not closed: {failed}" if failed else "closed"
                )
                continue
            if row.state == service.DRAFT:
                # Its opening did not go through (tried again after the lease): left for it.
                await self._note(consultation_id, action, f"waiting for {spec.id} to open")
                continue
            if row.state != service.OPEN:
                await self._finish(consultation_id, action, f"not published: {row.state}")
                continue
            published = await publishing.publish(
                self.sessionmaker, {channel: adapter}, spec, [channel], keys=self.keys
            )
            if channel in published.failed:
                why = published.failed[channel]
                log.error("%s: publishing on %s failed: %s", spec.id, channel, why)
                await self._finish(consultation_id, action, f"not published: {why}")
                continue
            invited = {}
            if spec.follow_up is not None:
                # Invited only where it is now published, as a launch does.
                async with self.sessionmaker.begin() as session:
                    invited = await follow_up_invitations.invite(
                        session, self.keys, spec, channels=[channel]
                    )
            log.info("%s: published on %s, its adapter started", spec.id, channel)
            await self._finish(
                consultation_id,
                action,
                "published" + (f"; invited {invited[channel]}" if invited.get(channel) else ""),
            )
            done.published.append(f"{consultation_id}/{channel}")

    # -- claims ------------------------------------------------------------------

    async def _claim(self, consultation_id: str, action: str, now: datetime) -> bool:
        """Whether this worker is the one to do ``action`` now (see the module docstring)."""
        async with self.sessionmaker.begin() as session:
            inserted = await session.execute(
                dialect_insert(session, ScheduledAction)
                .values(consultation_id=consultation_id, action=action, claimed_at=now)
                .on_conflict_do_nothing(index_elements=["consultation_id", "action"])
                .returning(ScheduledAction.action)
            )
            if inserted.first() is not None:
                return True
            retaken = await session.execute(
                update(ScheduledAction)
                .where(
                    ScheduledAction.consultation_id == consultation_id,
                    ScheduledAction.action == action,
                    ScheduledAction.done_at.is_(None),
                    ScheduledAction.claimed_at < now - self.lease,
                )
                .values(claimed_at=now)
                .returning(ScheduledAction.action)
            )
            return retaken.first() is not None

    async def _finish(self, consultation_id: str, action: str, outcome: str) -> None:
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(ScheduledAction)
                .where(
                    ScheduledAction.consultation_id == consultation_id,
                    ScheduledAction.action == action,
                )
                .values(done_at=self.clock(), outcome=outcome)
            )

    async def _note(self, consultation_id: str, action: str, outcome: str) -> None:
        """Record why an action is not finished; it is tried again once the lease ends."""
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(ScheduledAction)
                .where(
                    ScheduledAction.consultation_id == consultation_id,
                    ScheduledAction.action == action,
                )
                .values(outcome=outcome)
            )

    # -- actions -----------------------------------------------------------------

    async def _open(self, spec: ConsultationSpec) -> bool:
        """Open ``spec`` on time; whether it opened."""
        channels = [name for name in spec.channels if name in self.adapters]
        try:
            # Its closes_at is checked as it opens (the pass may have begun before it).
            launched = await launch(
                self.sessionmaker,
                self.adapters,
                spec,
                channels,
                keys=self.keys,
                now=self.clock(),
                waiting=self.waiting,
                lease=self.lease,
                refused=self.refused,
            )
        except service.LifecycleError as exc:
            await self._finish(spec.id, OPEN, f"not opened: {exc}")
            return False
        except publishing.Unfinished as exc:
            # Tried again once the lease ends: a draft stored again may be finished then.
            log.error("%s: not opened on time: %s", spec.id, exc.problems[0])
            await self._note(spec.id, OPEN, f"not opened: {exc.problems[0]}")
            return False
        failed = launched.results.failed
        if launched.undone:
            why = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
            log.error("%s: opening on time failed everywhere (%s); will try again", spec.id, why)
            await self._note(spec.id, OPEN, f"failed: {why}")
            return False
        notes = [f"invited {n} on {c}" for c, n in launched.invited.items()]
        notes += [f"{name} failed: {reason}" for name, reason in failed.items()]
        notes += [f"{name} once its adapter starts" for name in launched.results.later]
        invited = ", ".join(notes)
        log.info("%s opened on time%s", spec.id, f" ({invited})" if invited else "")
        await self._finish(spec.id, OPEN, "opened" + (f"; {invited}" if invited else ""))
        return True

    async def _not_opened(self, spec: ConsultationSpec, now: datetime) -> None:
        """A due opening whose closes_at had passed: left a draft, and why noted."""
        problem = publishing.closed_already(spec, now)
        assert problem is not None
        log.error("%s: not opened on time: %s", spec.id, problem)
        await self._note(spec.id, OPEN, f"not opened: {problem}")

    async def _close(self, spec: ConsultationSpec) -> None:
        results = await close(
            self.sessionmaker,
            self.adapters,
            spec,
            keys=self.keys,
            now=self.clock(),
            waiting=self.waiting,
            lease=self.lease,
        )
        failed = "; ".join(f"{name}: {why}" for name, why in results.failed.items())
        if failed:
            log.error("%s closed on time, but closing polls failed: %s", spec.id, failed)
        outcome = "closed" + (f"; polls not closed: {failed}" if failed else "")
        if results.later:
            outcome += "; " + ", ".join(f"{name} once its adapter starts" for name in results.later)
        await self._finish(spec.id, CLOSE, outcome)

    async def remind(self, spec: ConsultationSpec, now: datetime) -> int:
        """Queue the one reminder of each person who started ``spec`` and stopped answering.

        Started: consented, and left on a question for at least ``reminder.after``.
        Only private conversations (a sealed address to write to) on channels that send
        through the outbox; never someone who opted out or whose dialogue ended, nor
        someone who has since gone on to another consultation in the same conversation
        (their reply would answer that one's question, not this reminder's).
        Returns how many reminders were newly queued.
        """
        assert spec.reminder is not None
        inline = {name for name, a in self.adapters.items() if a.capabilities.inline_replies}
        async with self.sessionmaker.begin() as session:
            rows = (
                await session.execute(
                    select(
                        Participant.id, Participant.channel, Participant.address, Dialogue.pending
                    )
                    .join(Dialogue, Dialogue.participant_id == Participant.id)
                    .join(
                        Consent,
                        (Consent.participant_id == Participant.id)
                        & (Consent.consultation_id == Dialogue.consultation_id),
                    )
                    .where(
                        Dialogue.consultation_id == spec.id,
                        Dialogue.state == "active",
                        Dialogue.pending.is_not(None),
                        Dialogue.updated_at <= now - spec.reminder.after,
                        Consent.purpose == "consultation",
                        Consent.given.is_(True),
                        Consent.withdrawn_at.is_(None),
                        Participant.opted_out_at.is_(None),
                        Participant.address.is_not(None),
                        Participant.channel.not_in(inline or {"web"}),
                        or_(
                            Participant.current_consultation_id.is_(None),
                            Participant.current_consultation_id == spec.id,
                        ),
                    )
                )
            ).all()
            # Due in the quiet hours: due when they end (the sender checks again).
            due = spec.quiet_hours.ends_after(now, spec.timezone)
            values = []
            for pid, channel, address, pending in rows:
                question = followups.pending_question(spec, pending)
                if question is None:
                    continue
                asked = OutboundMessage.asking(question)
                message = replace(
                    asked,
                    text=f"{followups.reminder_text(spec)}\n\n{asked.text}",
                    kind=followups.REMINDER_KIND,
                    language=spec.wording().language,
                )
                values.append(
                    outbox_row(
                        channel=channel,
                        key=reminder_key(spec.id, pid),
                        payload=message.to_json(),
                        address=address,
                        participant_id=pid,
                        consultation_id=spec.id,
                        due=due,
                        quiet_hours=spec.quiet_hours.to_json(spec.timezone),
                        bulk=message.bulk,
                        now=now,
                    )
                )
            return await add_outbox_rows(session, values)
