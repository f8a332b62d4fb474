"""The inbox and group commit, on the real runtime and the real stores.

Failures come from real inputs: a payload sealed with another key, or a reply the intake
analysis cannot take. ``HeldRuntime`` is the real runtime with a gate in front of each
group commit, so a test can look at what was acknowledged while a batch is in flight.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.inbox import GroupCommit, Inbox
from bot.platform import Platform
from bot.runtime import Outcome, Runtime, no_analysis
from channels.events import CONSENT, InboundEvent
from consultations.keys import Keyring
from storage import queries
from storage.tables import InboxEntry, OutboxEntry, Participant, Response, utcnow
from tests.fakes.channel import Person
from tests.helpers import launch, query_plan, spec_data
from tests.waiting import wait_until

CID = "outpatient-booking"
# Straight to the items: consent (no recontact question), the poll, then the prompt.
SPEC = spec_data(segments=[], consent={"text": "We listen. Reply STOP to leave."})
UNREADABLE = "a reply the analysis cannot take"


def analyse_or_fail(text: str) -> tuple[float | None, dict[str, Any] | None]:
    """Intake analysis that fails on one reply, as a broken model would."""
    if text == UNREADABLE:
        raise ValueError("the analysis failed on this reply")
    return no_analysis(text)


class HeldRuntime(Runtime):
    """The real runtime; each group commit waits for ``gate`` and is counted in ``batches``."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.sessionmaker, platform.keyring, analyse=analyse_or_fail)
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[int] = []

    async def handle_groups(
        self, groups: Sequence[Sequence[InboundEvent]]
    ) -> list[Outcome | Exception]:
        self.batches.append(len(groups))
        await self.gate.wait()
        return await super().handle_groups(groups)


def stored_id(platform: Platform, event: InboundEvent) -> str:
    """An event's id as the inbox keeps it (a keyed hash)."""
    return platform.keyring.reference(event.channel, event.event_id)


async def inbox_rows(platform: Platform, *where: Any) -> list[InboxEntry]:
    async with platform.sessionmaker() as session:
        statement = select(InboxEntry).where(*where).order_by(InboxEntry.id)
        return list((await session.scalars(statement)).all())


async def count(platform: Platform, table: Any, *where: Any) -> int:
    async with platform.sessionmaker() as session:
        found = await session.scalar(select(func.count()).select_from(table).where(*where))
        return int(found or 0)


async def at_the_prompt(runtime: Runtime, *people: Person) -> None:
    """Take each person through consent and the poll, to the free-text prompt."""
    for person in people:
        await runtime.handle_now(person.starts(CID))
        await runtime.handle_now(person.answers(CONSENT, "Yes, I agree"))
        outcome = await runtime.handle_now(person.answers("ease", "Easy"))
        assert [m.question for m in outcome.messages] == ["one-thing"]


def web_people(*names: str) -> list[Person]:
    return [Person(name, channel="web") for name in names]


# -- group commit -----------------------------------------------------------------------------


async def test_concurrent_requests_share_one_commit_and_get_their_own_outcomes(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    intake = GroupCommit(runtime)
    people = web_people("ann", "ben", "cat", "dev")
    starts = [person.starts(CID) for person in people]

    outcomes = await asyncio.gather(*(intake.submit(event) for event in starts))
    await intake.aclose()

    assert runtime.batches == [4]
    pseudonyms = [platform.keyring.pseudonym("web", p.platform_id) for p in people]
    assert [o.participant for o in outcomes] == pseudonyms
    assert all(not o.duplicate for o in outcomes)
    assert [[m.question for m in o.messages] for o in outcomes] == [[CONSENT]] * 4
    rows = await inbox_rows(platform)
    assert sorted(r.event_id for r in rows) == sorted(stored_id(platform, e) for e in starts)
    # One transaction: every row carries the one commit's time.
    assert len({r.processed_at for r in rows}) == 1


async def test_a_repeated_request_in_one_batch_is_handled_once(platform: Platform) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    [ann] = web_people("ann")
    await at_the_prompt(runtime, ann)
    intake = GroupCommit(runtime)
    runtime.batches.clear()
    reply = ann.says("Evening slots")  # a double click: the same submission twice

    first, again = await asyncio.gather(intake.submit(reply), intake.submit(reply))
    await intake.aclose()

    assert runtime.batches == [2]
    assert await count(platform, Response, Response.text == "Evening slots") == 1
    assert (first.duplicate, again.duplicate) == (False, True)


async def test_texts_are_analysed_once_ahead_of_the_batch_for_every_request_carrying_them(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    analysed: list[str] = []

    def analyse(text: str) -> tuple[float | None, dict[str, Any] | None]:
        analysed.append(text)
        return 0.5, {"words": text.split()}

    runtime.analyse = analyse
    ann, ben, cat = web_people("ann", "ben", "cat")
    await at_the_prompt(runtime, ann, ben, cat)
    intake = GroupCommit(runtime)
    runtime.batches.clear()
    runtime.gate.clear()  # the batch waits: every request prepares before it starts
    replies = [ann.says("Evening slots"), ben.says("Evening slots"), cat.says("Call me back")]
    waiting = [asyncio.ensure_future(intake.submit(event)) for event in replies]
    await asyncio.sleep(0)
    assert sorted(analysed) == ["Call me back", "Evening slots"]
    runtime.gate.set()
    outcomes = await asyncio.gather(*waiting)
    await intake.aclose()

    # Each distinct text once, ahead; the batch took the results and analysed nothing.
    assert sorted(analysed) == ["Call me back", "Evening slots"]
    assert [[r.text for r in o.stored] for o in outcomes] == [
        ["Evening slots"],
        ["Evening slots"],
        ["Call me back"],
    ]
    async with platform.sessionmaker() as session:
        stored = (
            await session.execute(
                select(Response.text, Response.sentiment, Response.analysis).where(
                    Response.text.is_not(None)
                )
            )
        ).all()
    assert sorted(stored) == [
        ("Call me back", 0.5, {"words": ["Call", "me", "back"]}),
        ("Evening slots", 0.5, {"words": ["Evening", "slots"]}),
        ("Evening slots", 0.5, {"words": ["Evening", "slots"]}),
    ]


async def test_a_repeated_request_in_a_later_batch_is_a_duplicate(platform: Platform) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    [ann] = web_people("ann")
    await at_the_prompt(runtime, ann)
    intake = GroupCommit(runtime)
    reply = ann.says("Evening slots")

    first = await intake.submit(reply)
    again = await intake.submit(reply)
    await intake.aclose()

    assert (first.duplicate, again.duplicate) == (False, True)
    assert [r.text for r in first.stored] == ["Evening slots"] and again.stored == []
    assert again.messages == []
    assert await count(platform, Response, Response.text == "Evening slots") == 1


async def test_a_failing_request_alone_fails_and_leaves_nothing_behind(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    [ann] = web_people("ann")
    await at_the_prompt(runtime, ann)
    intake = GroupCommit(runtime)
    failing = ann.says(UNREADABLE)

    with pytest.raises(ValueError, match="the analysis failed on this reply"):
        await intake.submit(failing)
    # Nothing of it was kept, so the same submission can come again and be handled.
    assert await inbox_rows(platform, InboxEntry.event_id == stored_id(platform, failing)) == []
    runtime.analyse = no_analysis
    retried = await intake.submit(failing)
    await intake.aclose()

    assert not retried.duplicate
    assert [r.text for r in retried.stored] == [UNREADABLE]


async def test_a_failing_request_fails_alone_and_the_others_commit(platform: Platform) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    ann, ben, cat = web_people("ann", "ben", "cat")
    await at_the_prompt(runtime, ann, ben, cat)
    intake = GroupCommit(runtime)
    runtime.batches.clear()
    replies = [ann.says("Evening slots"), ben.says(UNREADABLE), cat.says("Text reminders")]

    results = await asyncio.gather(
        *(intake.submit(event) for event in replies), return_exceptions=True
    )
    await intake.aclose()

    assert runtime.batches == [3]
    first, failed, last = results
    assert isinstance(failed, ValueError) and str(failed) == "the analysis failed on this reply"
    assert isinstance(first, Outcome) and isinstance(last, Outcome)
    assert [r.text for r in first.stored] == ["Evening slots"]
    assert [r.text for r in last.stored] == ["Text reminders"]
    async with platform.sessionmaker() as session:
        texts = set(
            (await session.scalars(select(Response.text).where(Response.text.is_not(None)))).all()
        )
    assert texts == {"Evening slots", "Text reminders"}
    # The failed request left nothing behind: sent again, it is not taken for a repeat.
    assert await inbox_rows(platform, InboxEntry.event_id == stored_id(platform, replies[1])) == []
    handled = await inbox_rows(
        platform,
        InboxEntry.event_id.in_([stored_id(platform, replies[0]), stored_id(platform, replies[2])]),
    )
    assert len(handled) == 2


async def test_nothing_is_acknowledged_before_its_commit(platform: Platform) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    intake = GroupCommit(runtime)
    ann, ben, cat, dev = web_people("ann", "ben", "cat", "dev")

    runtime.gate.clear()
    start = ann.starts(CID)
    first = asyncio.create_task(intake.submit(start))

    async def first_batch_in_flight() -> bool:
        return runtime.batches == [1]

    await wait_until(first_batch_in_flight, what="the first batch")
    # Requests arriving while a batch commits wait for the next one.
    later = [asyncio.create_task(intake.submit(p.starts(CID))) for p in (ben, cat, dev)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *later])
    assert await count(platform, InboxEntry) == 0

    runtime.gate.set()
    outcome = await first
    # Acknowledged: its row is committed, seen from another session.
    assert outcome.participant is not None
    [row] = await inbox_rows(platform, InboxEntry.event_id == stored_id(platform, start))
    assert row.processed_at is not None
    await asyncio.gather(*later)
    await intake.aclose()

    assert runtime.batches == [1, 3]
    assert await count(platform, InboxEntry) == 4
    assert await count(platform, Participant) == 4


async def test_aclose_finishes_what_is_queued(platform: Platform) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    intake = GroupCommit(runtime, max_batch=2)
    people = web_people("ann", "ben", "cat", "dev", "eve")

    runtime.gate.clear()
    submits = [asyncio.create_task(intake.submit(p.starts(CID))) for p in people]

    async def first_batch_in_flight() -> bool:
        return runtime.batches == [2]

    await wait_until(first_batch_in_flight, what="the first batch")
    closing = asyncio.create_task(intake.aclose())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closing.done()
    assert not any(task.done() for task in submits)

    runtime.gate.set()
    await closing

    assert all(task.done() for task in submits)
    assert all(not task.result().duplicate for task in submits)
    assert runtime.batches == [2, 2, 1]
    assert await count(platform, InboxEntry) == 5


# -- the inbox ----------------------------------------------------------------------------------


async def test_an_event_that_cannot_be_opened_does_not_block_the_rows_behind_it(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    ann, ben, cat = Person("2001"), Person("2002"), Person("2003")
    await platform.inbox.receive(ann.starts(CID))
    # Sealed with another key (say, before a key change): it can never be opened here.
    other = Keyring("another-pseudonym-key-0123456789-abcdefghijklmn")
    unreadable = ben.starts(CID)
    async with platform.sessionmaker.begin() as session:
        await queries.insert_inbox_many(
            session,
            [
                {
                    "channel": unreadable.channel,
                    "event_id": unreadable.event_id,
                    "payload": other.seal(unreadable.to_json()),
                }
            ],
        )
    await platform.inbox.receive(cat.starts(CID))

    assert await platform.inbox.process_pending() == 3

    first, failed, last = await inbox_rows(platform)
    assert failed.event_id == unreadable.event_id
    # Kept, with its error and one attempt counted, to be tried again.
    assert failed.processed_at is None and failed.payload is not None
    assert failed.error == "ValueError: sealed value could not be opened with this key"
    assert (failed.attempts, failed.failed_at) == (1, None)
    for row in (first, last):
        assert row.processed_at is not None and row.payload is None and row.error is None
    # Ann and Cat were asked for consent; Ben's event was never handled.
    assert await count(platform, Participant) == 2
    assert await count(platform, OutboxEntry) == 2

    # Tried again in the next rounds, beside what is new, then held aside after three.
    dev = Person("2004")
    await platform.inbox.receive(dev.starts(CID))
    assert await platform.inbox.process_pending() == 2
    assert await platform.inbox.process_pending() == 1
    [again] = await inbox_rows(platform, InboxEntry.id == failed.id)
    assert again.processed_at is None and again.attempts == 3 and again.failed_at is not None
    assert await platform.inbox.process_pending() == 0
    assert await count(platform, Participant) == 3


async def test_an_event_whose_handling_raises_is_recorded_with_its_error(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = Runtime(platform.sessionmaker, platform.keyring, analyse=analyse_or_fail)
    inbox = Inbox(platform.sessionmaker, platform.keyring, runtime)
    ann, ben = Person("3001"), Person("3002")
    for person in (ann, ben):
        await inbox.receive_many([person.starts(CID), person.answers(CONSENT, "Yes, I agree")])
        await inbox.receive(person.answers("ease", "Easy"))
    assert await inbox.process_pending() == 6

    # Ann's reply breaks the analysis; the rows behind it are handled all the same.
    failing = ann.says(UNREADABLE)
    await inbox.receive_many([failing, ben.says("Evening slots"), ann.says("STOP")])
    assert await inbox.process_pending() == 3

    [failed] = await inbox_rows(platform, InboxEntry.event_id == stored_id(platform, failing))
    assert failed.processed_at is None and failed.attempts == 1
    assert failed.error == "ValueError: the analysis failed on this reply"
    async with platform.sessionmaker() as session:
        texts = list(
            (await session.scalars(select(Response.text).where(Response.text.is_not(None)))).all()
        )
        opted_out = await session.scalar(
            select(Participant.opted_out_at).where(
                Participant.pseudonym == platform.keyring.pseudonym("telegram", ann.platform_id)
            )
        )
    assert texts == ["Evening slots"]  # nothing of the failed reply was kept
    assert opted_out is not None  # Ann's STOP, behind the failed reply, was handled
    assert [r.id for r in await inbox_rows(platform, InboxEntry.error.is_not(None))] == [failed.id]
    # Tried again in the next round: Ann has left meanwhile (her STOP was handled), so
    # nothing of the reply is stored and nothing more is asked of her.
    assert await inbox.process_pending() == 1
    [again] = await inbox_rows(platform, InboxEntry.id == failed.id)
    assert again.processed_at is not None and again.failed_at is None
    assert await count(platform, Response, Response.text == UNREADABLE) == 0
    assert await inbox.process_pending() == 0


@pytest.mark.parametrize("batch", [1, 50])
async def test_rows_are_handled_in_order_whatever_the_batch(platform: Platform, batch: int) -> None:
    await launch(platform, SPEC)
    ann = Person("4001")
    await platform.inbox.receive_many(
        [ann.starts(CID), ann.answers(CONSENT, "Yes, I agree"), ann.answers("ease", "Hard")]
    )
    assert await platform.inbox.process_pending(batch=batch) == 3
    async with platform.sessionmaker() as session:
        choices = list((await session.scalars(select(Response.choices))).all())
    assert choices == [["Hard"]]


async def test_two_answers_to_one_prompt_in_one_batch_keep_only_the_later(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = HeldRuntime(platform)
    runtime.inline_channels = frozenset({"web"})
    intake = GroupCommit(runtime)
    (ann,) = web_people("ann")
    await intake.submit(ann.starts(CID), ann.answers(CONSENT, "yes"))
    await intake.submit(ann.says("An earlier answer", item_id="one-thing", consultation_id=CID))

    # A second click and a third, with different words, land in one batch.
    runtime.gate.clear()
    before = len(runtime.batches)
    blocker = asyncio.create_task(intake.submit(web_people("ben")[0].starts(CID)))
    await wait_until(lambda: _true(len(runtime.batches) > before), what="a batch in flight")
    second = asyncio.create_task(
        intake.submit(ann.says("Evening slots", item_id="one-thing", consultation_id=CID))
    )
    third = asyncio.create_task(
        intake.submit(ann.says("Text reminders", item_id="one-thing", consultation_id=CID))
    )
    for _ in range(5):
        await asyncio.sleep(0)
    runtime.gate.set()
    await asyncio.gather(blocker, second, third)
    await intake.aclose()

    assert runtime.batches[-1] == 2  # both answers in one transaction
    async with platform.sessionmaker() as session:
        texts = list(
            await session.scalars(select(Response.text).where(Response.item_id == "one-thing"))
        )
    assert texts == ["Text reminders"]


async def test_concurrent_receivers_share_a_commit_and_a_repeat_counts_once(
    platform: Platform,
) -> None:
    inbox = Inbox(
        platform.sessionmaker, platform.keyring, Runtime(platform.sessionmaker, platform.keyring)
    )
    people = [Person(f"r{n}") for n in range(20)]
    events = [p.says("hello") for p in people]
    again = events[3]
    counts = await asyncio.gather(*(inbox.receive_many([e]) for e in [*events, again]))
    # Every caller returned after its commit: all rows are there, the repeat counted once.
    assert sum(counts) == 20
    assert await count(platform, InboxEntry) == 20
    assert sorted(counts[:3] + counts[4:20]) == [1] * 19
    assert counts[3] + counts[20] == 1


async def _true(value: bool) -> bool:
    return value


class GatedRuntime(Runtime):
    """The real runtime; a batch carrying a text in ``held`` waits for ``gate``."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(
            platform.sessionmaker, platform.keyring, inline_channels=frozenset({"web"})
        )
        self.gate = asyncio.Event()
        self.held: set[str] = set()
        self.batches: list[list[str]] = []

    async def handle_groups(
        self, groups: Sequence[Sequence[InboundEvent]], **kwargs: Any
    ) -> list[Outcome | Exception]:
        texts = [e.text or e.kind.value for g in groups for e in g]
        self.batches.append(texts)
        if self.held & set(texts):
            await self.gate.wait()
        return await super().handle_groups(groups, **kwargs)


async def test_parallel_batches_commit_apart_but_a_person_waits_for_their_earlier_request(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)
    runtime = GatedRuntime(platform)
    intake = GroupCommit(runtime, parallel=2)
    ann, ben = web_people("ann", "ben")
    for person in (ann, ben):
        await intake.submit(person.starts(CID), person.answers(CONSENT, "yes"))
    runtime.batches.clear()
    runtime.held = {"An earlier answer"}

    earlier = asyncio.create_task(
        intake.submit(ann.says("An earlier answer", item_id="one-thing", consultation_id=CID))
    )
    await wait_until(lambda: _true(len(runtime.batches) == 1), what="ann's batch in flight")
    later = asyncio.create_task(
        intake.submit(ann.says("A later answer", item_id="one-thing", consultation_id=CID))
    )
    other = await intake.submit(ben.says("Evening slots", item_id="one-thing", consultation_id=CID))

    # Ben's answer committed beside ann's held batch; ann's later one waited for it.
    assert [r.text for r in other.stored] == ["Evening slots"]
    assert runtime.batches == [["An earlier answer"], ["Evening slots"]]
    assert not earlier.done() and not later.done()
    runtime.gate.set()
    await asyncio.gather(earlier, later)
    await intake.aclose()

    assert runtime.batches[-1] == ["A later answer"]
    async with platform.sessionmaker() as session:
        stored = list(
            await session.scalars(
                select(Response.text).where(Response.item_id == "one-thing").order_by(Response.id)
            )
        )
    assert stored == ["Evening slots", "A later answer"]


async def test_a_persons_next_event_is_not_claimed_while_their_earlier_one_waits(
    platform: Platform,
) -> None:
    # Two workers claim in id order, each skipping what the other holds; a person's second
    # event must not go to one worker while the first is still with the other.
    xena, yuri = Person("x-1"), Person("y-1")
    first, second, other = xena.starts("outpatient-booking"), xena.says("hi"), yuri.says("hi")
    assert await platform.inbox.receive_many([first, second, other]) == 3
    async with platform.sessionmaker() as session:
        rows = dict((await session.execute(select(InboxEntry.event_id, InboxEntry.id))).all())
        senders = set(await session.scalars(select(InboxEntry.sender)))
    assert len(senders) == 2 and all(s and "x-1" not in s for s in senders)
    first_id, second_id, other_id = (
        rows[platform.keyring.reference("telegram", event.event_id)]
        for event in (first, second, other)
    )
    if platform.engine.dialect.name == "postgresql":
        async with platform.sessionmaker.begin() as holding:
            held = (await holding.execute(Inbox._claim(holding, 1, set()))).all()
            assert [entry_id for entry_id, _ in held] == [first_id]
            async with platform.sessionmaker.begin() as another:
                claimed = (await another.execute(Inbox._claim(another, 10, set()))).all()
            assert [entry_id for entry_id, _ in claimed] == [other_id]
    async with platform.sessionmaker.begin() as session:
        claimed = (await session.execute(Inbox._claim(session, 10, set()))).all()
    # each person's earliest waiting event only: Xena's "hi" waits for her start
    assert [entry_id for entry_id, _ in claimed] == [first_id, other_id]
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    assert await platform.inbox.process_pending() == 3
    async with platform.sessionmaker() as session:
        left = (await session.execute(select(InboxEntry.sender, InboxEntry.payload))).all()
    assert left == [(None, None)] * 3  # nothing of who sent it stays once handled
    assert second_id > first_id


async def test_messages_a_batch_queued_before_a_stop_in_it_are_cancelled_and_in_order(
    platform: Platform,
) -> None:
    # A batch's messages go to the outbox together at its end; a STOP (or erasure) in
    # the same batch must still meet the ones queued before it, as rows already stored.
    await launch(platform, SPEC)
    ann, ben = Person("4001"), Person("4002")
    await platform.runtime.handle_now(
        ann.starts(CID), ann.answers(CONSENT, "Yes, I agree"), ben.starts(CID), ann.says("STOP")
    )
    async with platform.sessionmaker() as session:
        rows = list(await session.execute(select(OutboxEntry).order_by(OutboxEntry.id)))
        ann_id, ben_id = [
            await session.scalar(
                select(Participant.id).where(
                    Participant.pseudonym == platform.keyring.pseudonym("telegram", who)
                )
            )
            for who in ("4001", "4002")
        ]
    sent = [(row.participant_id, row.status, row.payload["text"]) for (row,) in rows]
    assert [status for who, status, _ in sent if who == ann_id] == ["cancelled"] * 2 + ["pending"]
    assert "STOP" in sent[0][2]  # the consent question, first
    assert [status for who, status, _ in sent if who == ben_id] == ["pending"]


async def _claim_plan(platform: Platform, *, prepared: bool) -> list[str]:
    """The plan lines of the inbox claim, as the database would run it now."""
    async with platform.sessionmaker() as session:
        statement = Inbox._claim(session, 50, set())
    return await query_plan(platform, statement, prepared=prepared)


@pytest.mark.parametrize("prepared", [False, True], ids=["planned", "prepared"])
async def test_the_claim_reads_waiting_rows_in_order_from_the_claim_index(
    platform: Platform, prepared: bool
) -> None:
    # On the 30-minute soak's store the claim walked the primary key past 124,427
    # handled rows to find 50 waiting ones (25 ms a claim), or sorted all 48,062
    # waiting. Here handled rows (web requests are stored handled) come before and
    # among the waiting ones, and a few are held aside, as in a busy store.
    now = utcnow()

    def handled(n: int) -> bool:
        return n < 4_000 or n % 3 == 0

    async with platform.sessionmaker.begin() as session:
        for done, run in itertools.groupby(range(5_000), key=handled):
            rows = [
                {
                    "channel": "telegram" if n % 3 else "web",
                    "event_id": f"plan-{n}",
                    "payload": None if done else "sealed",
                    "sender": None if done else f"sender-{n}",
                }
                for n in run
            ]
            await queries.insert_inbox_many(session, rows, processed=done)
        held = select(InboxEntry.id).where(InboxEntry.event_id.in_(["plan-4001", "plan-4003"]))
        await session.execute(
            update(InboxEntry)
            .where(InboxEntry.id.in_(held.scalar_subquery()))
            .values(failed_at=now, attempts=3)
        )
    async with platform.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    plan = "\n".join(await _claim_plan(platform, prepared=prepared))
    if platform.engine.dialect.name == "postgresql":
        assert "Index Scan using ix_inbox_waiting on inbox " in plan, plan
        assert "Sort" not in plan, plan
    else:
        # SQLite keeps the processed_at index's NULL entries in id order, so either
        # index gives it the waiting rows in order: it must search one, never sort.
        assert "SEARCH inbox USING INDEX" in plan, plan
        assert "SCAN inbox " not in plan and "TEMP B-TREE" not in plan, plan
    # And it claims the oldest waiting rows, in order, passing over those held aside.
    async with platform.sessionmaker() as session:
        claimed = await platform.inbox._pending_ids(50, set())
        by_id = dict((await session.execute(select(InboxEntry.id, InboxEntry.event_id))).all())
    waiting = [
        f"plan-{n}"
        for n in range(4_000, 5_000)
        if n % 3 and f"plan-{n}" not in ("plan-4001", "plan-4003")
    ]
    assert [by_id[i] for i in claimed] == waiting[:50]


async def test_an_erasure_takes_the_events_still_waiting_before_it(platform: Platform) -> None:
    """Handled after the erasure, they would bring the person back: a new participant,
    their words stored, messages sent to them. What they send afterwards is theirs to
    send, and another person's events are left alone."""
    from channels.events import EventKind

    await launch(platform, SPEC)
    runtime = Runtime(platform.sessionmaker, platform.keyring, analyse=no_analysis)
    inbox = Inbox(platform.sessionmaker, platform.keyring, runtime)
    ann, ben = Person("3101"), Person("3102")
    for person in (ann, ben):
        await inbox.receive_many([person.starts(CID), person.answers(CONSENT, "Yes, I agree")])
    assert await inbox.process_pending() == 4
    waiting = ann.says("Call me on 0412 345 678 about my referral")
    await inbox.receive_many([waiting, ben.says("Evening slots")])
    # Ann's erasure is handled first (her earlier message stuck, say, behind a lock).
    erase = ann.event(EventKind.ERASE)
    async with platform.sessionmaker.begin() as session:
        await runtime.handle_batch(session, [erase])
    async with platform.sessionmaker() as session:
        refs = set(
            await session.scalars(
                select(InboxEntry.event_id).where(InboxEntry.processed_at.is_(None))
            )
        )
    assert runtime.reference(waiting) not in refs
    assert await inbox.process_pending() == 1  # Ben's alone
    async with platform.sessionmaker() as session:
        ann_rows = await session.scalar(
            select(func.count(Participant.id)).where(
                Participant.pseudonym == platform.keyring.pseudonym("telegram", "3101")
            )
        )
    assert ann_rows == 0


async def test_an_idle_inbox_stops_as_soon_as_it_is_asked(platform: Platform) -> None:
    """Nothing waiting: the processor sleeps until a row arrives or for its idle turn,
    whichever is first; asked to stop meanwhile, it stops then, not at the end of it.
    The turn is made a minute long, so stopping within it cannot be the turn's end."""
    platform.inbox.idle_turn = 60.0
    stopping = asyncio.Event()
    running = asyncio.create_task(platform.inbox.run(stopping, lambda: None))
    await asyncio.sleep(0.2)  # the store found empty: into the idle wait
    assert not running.done()
    stopping.set()
    await asyncio.wait_for(running, 30.0)
