"""What ``engage run`` does at its time: Delphi rounds, timed questions, listening purges.

Each tick looks at the open consultations and does what has fallen due. Every action is
claimed first with a unique ``timed_action`` row (``storage.over_time.claim_action``) so
that, whatever the number of workers sharing the database, it happens once. Time is a
parameter: the clock is injected, and tests call :meth:`Timeline.tick` directly.

- **Delphi rounds.** When round N of a poll opens (the consultation's opening time plus
  N-1 round gaps), every person who answered round N-1 on a channel that can reach them
  (Telegram private chat, Mastodon direct message) is asked again through the outbox,
  shown the group's answers and their own; people on the web page see the same when they
  return (the runtime asks it).
- **Timed questions.** At an item's ``at:`` time it is posted as Q1..Qn in the
  consultation's Telegram groups and Mastodon thread (adapters that are
  :class:`channels.adapter.QuestionPoster`). The claim is per channel and is given back
  if the post fails, so the next tick tries again; a crash between post and record loses
  the record rather than post twice. A channel whose adapter has not started yet (its
  platform unreachable at start) is left alone, unclaimed: its questions are posted at
  the tick its start wakes.
- **Listening retention.** Listening responses older than the spec's ``retention`` are
  deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import publishing
from channels.adapter import ChannelAdapter, PublishedPost, QuestionPoster
from channels.events import OutboundMessage
from consultations import rounds, service, timed_chat
from consultations.keys import Keyring
from consultations.spec import ConsultationSpec, Item
from storage import over_time, queries
from storage.lists import one_of
from storage.tables import (
    Consultation,
    Dialogue,
    OutboxEntry,
    Participant,
    Publication,
    TimedAction,
    utcnow,
)

log = logging.getLogger(__name__)

#: Seconds between the timeline's ticks when nothing wakes it sooner.
INTERVAL = 30.0

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class Tick:
    """What one tick did, for logs and tests."""

    invited: dict[str, int] = field(default_factory=dict)  # "consultation/item/round" -> n
    posted: dict[str, list[str]] = field(default_factory=dict)  # "consultation/item" -> chans
    purged: dict[str, int] = field(default_factory=dict)  # consultation -> responses


class Timeline:
    """Does what falls due, once across workers.

    Args:
        sessionmaker: the store.
        keyring: keys for platform references of the posts it records.
        adapters: the channels running here (those that can post timed questions do).
        clock: the current time (injected in tests).
        wake: called when outbox rows were added, so the sender looks at once.
        inline_channels: channels whose people see a new round when they return.
        waiting: channels whose adapter has not started yet: nothing is posted on them
            until it starts.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        adapters: Mapping[str, ChannelAdapter] | None = None,
        *,
        clock: Now = utc_now,
        wake: Callable[[], None] | None = None,
        inline_channels: frozenset[str] = frozenset({"web"}),
        waiting: Container[str] = frozenset(),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.adapters = dict(adapters or {})
        self.clock = clock
        self.wake = wake
        self.inline_channels = inline_channels
        self.waiting = waiting
        #: Set to tick now rather than at the end of the interval: an adapter has
        #: started, and a question that fell due while it waited is posted at once.
        self.woken = asyncio.Event()

    async def run(self, stopping: asyncio.Event, *, interval: float = INTERVAL) -> None:
        """Tick every ``interval`` seconds, or when woken (:attr:`woken`), until
        ``stopping`` is set."""
        while not stopping.is_set():
            # Cleared before the tick: woken during it, it ticks again at once.
            self.woken.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("the timeline's tick failed; trying again at the next")
            waiters = [
                asyncio.ensure_future(stopping.wait()),
                asyncio.ensure_future(self.woken.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def tick(self) -> Tick:
        """Do everything that has fallen due by now."""
        now = self.clock()
        done = Tick()
        async with self.sessionmaker() as session:
            rows = list(await queries.open_consultations(session, now))
        for row in rows:
            spec = service.spec_of(row)
            if not service.accepting(row, spec, now):
                continue  # not yet open (opens_at) or past closes_at: nothing is asked
            if row.opened_at is not None:
                for item in spec.items:
                    for number in range(2, item.rounds + 1):
                        opens = rounds.round_opens_at(item, row.opened_at, number)
                        if opens is not None and opens <= now:
                            invited = await self._open_round(spec, item, number, now)
                            if invited is not None:
                                done.invited[f"{spec.id}/{item.id}/{number}"] = invited
            for item in timed_chat.due_questions(spec, now):
                channels = await self._post_question(spec, item, now)
                if channels:
                    done.posted[f"{spec.id}/{item.id}"] = channels
        done.purged = await self.purge(now)
        if done.invited and self.wake is not None:
            self.wake()
        return done

    # -- Delphi rounds ---------------------------------------------------------------

    async def _open_round(
        self, spec: ConsultationSpec, item: Item, number: int, now: datetime
    ) -> int | None:
        """Invite round ``number - 1``'s respondents; ``None`` if it was opened already."""
        async with self.sessionmaker.begin() as session:
            claimed = await over_time.claim_action(
                session, spec.id, item.id, over_time.round_action(number), now=now
            )
            if not claimed:
                return None
            earlier, group = await rounds.last_round(session, spec, item, number - 1)
            people = (
                await session.scalars(
                    select(Participant).where(
                        one_of(Participant.id, list(earlier)), Participant.opted_out_at.is_(None)
                    )
                )
            ).all()
            dialogues = {
                d.participant_id: d
                for d in await session.scalars(
                    select(Dialogue).where(
                        Dialogue.consultation_id == spec.id,
                        one_of(Dialogue.participant_id, [p.id for p in people]),
                    )
                )
            }
            # Nobody asked for a round's question just now: like invitations and reminders
            # it never goes out in the quiet hours. A round that opens in them is due when
            # they end, and the row carries them so the sender checks again by its clock.
            held = spec.quiet_hours.ends_after(now, spec.timezone)
            quiet_hours = spec.quiet_hours.to_json(spec.timezone)
            invited = 0
            for person in people:
                dialogue = dialogues.get(person.id)
                if dialogue is None or dialogue.state in ("held", "stopped"):
                    continue  # a safety disclosure waits for a person; a refusal stands
                if person.channel in self.inline_channels or person.address is None:
                    continue  # the web page asks them when they come back
                message = OutboundMessage(
                    text=rounds.invitation_text(
                        item, number, group, earlier[person.id], spec.wording()
                    ),
                    language=spec.wording().language,
                    consultation_id=spec.id,
                    question=item.id,
                    question_type="poll",
                    options=item.options,
                    multiple=item.multiple,
                    kind="question",
                    round=number,
                )
                session.add(
                    OutboxEntry(
                        channel=person.channel,
                        idempotency_key=f"round:{spec.id}:{item.id}:{number}:{person.id}",
                        participant_id=person.id,
                        consultation_id=spec.id,
                        address=person.address,
                        payload=message.to_json(),
                        status="pending",
                        attempts=0,
                        # Out of the quiet hours, the sender's own clock decides when a
                        # row is due.
                        next_attempt_at=held if held > now else utcnow(),
                        created_at=utcnow(),
                        quiet_hours=quiet_hours,
                        # Sent to the whole panel on the service's initiative, as an
                        # invitation is: replies to people go first, and closing the
                        # consultation cancels what still waits.
                        bulk=True,
                    )
                )
                # A typed "2" or a label answers this round's question.
                dialogue.pending = item.id
                dialogue.state = "active"
                person.current_consultation_id = spec.id
                invited += 1
            log.info("%s: round %d of %s opened, %d invited", spec.id, number, item.id, invited)
            return invited

    # -- timed questions -------------------------------------------------------------

    async def _post_question(self, spec: ConsultationSpec, item: Item, now: datetime) -> list[str]:
        """Post a due question on each channel not yet done; the channels posted on."""
        posted: list[str] = []
        text = timed_chat.question_text(spec, item)
        for name in spec.channels:
            adapter = self.adapters.get(name)
            if not isinstance(adapter, QuestionPoster):
                continue
            if name in self.waiting:
                continue  # not claimed: the first tick after its adapter starts posts it
            action = f"post:{name}"
            async with self.sessionmaker.begin() as session:
                if await self._unpublished(session, spec.id, name):
                    # Its launch failed there: no introduction with the consent text, so
                    # no questions either until a launch succeeds.
                    continue
                if not await over_time.claim_action(session, spec.id, item.id, action, now=now):
                    continue
                earlier = await self._posts(session, spec.id, name)
            try:
                made = await adapter.post_question(spec, item.id, text, earlier)
            except Exception:
                log.exception("%s: posting %s on %s failed; trying again", spec.id, item.id, name)
                async with self.sessionmaker.begin() as session:
                    await session.execute(
                        delete(TimedAction).where(
                            TimedAction.consultation_id == spec.id,
                            TimedAction.item_id == item.id,
                            TimedAction.action == action,
                        )
                    )
                continue
            async with self.sessionmaker.begin() as session:
                known = {p.platform_ref for p in await self._posts(session, spec.id, name)}
                for post in made:
                    if post.platform_ref in known:
                        continue  # an "answers" place recorded with an earlier question
                    if post.kind == "answers":
                        held = await queries.publication_by_ref(
                            session, self.keyring, name, post.platform_ref
                        )
                        if held is not None:
                            # The chat's "A<n>" answers place, held by an earlier timed
                            # chat there: the one asking now takes it over.
                            held.consultation_id = spec.id
                            continue
                    session.add(
                        queries.new_publication(
                            self.keyring,
                            consultation_id=spec.id,
                            item_id=post.item_id,
                            channel=name,
                            platform_ref=post.platform_ref,
                            kind=post.kind,
                        )
                    )
            posted.append(name)
        return posted

    async def _unpublished(self, session: AsyncSession, consultation_id: str, channel: str) -> bool:
        """Whether the consultation's launch failed on ``channel`` (bot/publishing.py)."""
        kinds = await queries.publication_kinds(session, channel, [consultation_id])
        return (None, publishing.UNPUBLISHED) in kinds[consultation_id]

    async def _posts(
        self, session: AsyncSession, consultation_id: str, channel: str
    ) -> list[PublishedPost]:
        rows = await session.scalars(
            select(Publication)
            .where(Publication.consultation_id == consultation_id, Publication.channel == channel)
            .order_by(Publication.id)
        )
        return [
            PublishedPost(row.item_id, queries.publication_ref(self.keyring, row), row.kind)
            for row in rows
            if row.kind not in (publishing.UNPUBLISHED, publishing.PUBLISHING)
        ]

    # -- listening retention -----------------------------------------------------------

    async def purge(self, now: datetime) -> dict[str, int]:
        """Delete listening responses older than each consultation's retention."""
        purged: dict[str, int] = {}
        async with self.sessionmaker.begin() as session:
            rows = (await session.scalars(select(Consultation))).all()
            for row in rows:
                spec = service.spec_of(row)
                if spec.model != "listening" and not spec.mastodon.listen:
                    continue
                count = await over_time.purge_listening(session, spec.id, now - spec.retention)
                if count:
                    purged[spec.id] = count
        return purged
