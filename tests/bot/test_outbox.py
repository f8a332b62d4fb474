"""The outbox sender: shared by several workers, and what a crash mid-send leaves."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.outbox import RESEND_PREFIX, OutboxSender, claim_statement
from bot.platform import Platform, create_platform
from channels.adapter import (
    Capabilities,
    CredentialsRejected,
    Delivery,
    Undeliverable,
    request_starting,
)
from channels.events import CONSENT, OutboundMessage
from storage import queries
from storage.tables import OutboxEntry, utcnow
from tests.bot.test_runtime import deliver, send_all
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.channel import FakeChannel, PacedChannel, Person, StuckChannel
from tests.helpers import engage, launch, query_plan, spec_data, statements_sent
from tests.waiting import PATIENCE, wait_until


async def test_two_workers_send_each_message_once_and_one_sender_per_channel(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"w{n}") for n in range(12)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    first, second = FakeChannel(), FakeChannel()
    senders = [
        OutboxSender(platform.sessionmaker, platform.keyring, {"telegram": channel})
        for channel in (first, second)
    ]
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(sender.run(stopping, idle=0.05)) for sender in senders]

    async def all_sent() -> bool:
        return len(first.sent) + len(second.sent) >= len(people)

    try:
        await wait_until(all_sent, what="every message sent")
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
    chats = sorted(address["chat"] for address, _ in first.sent + second.sent)
    assert chats == sorted(p.platform_id for p in people)
    if platform.engine.dialect.name == "postgresql":
        # the advisory lock makes one worker the only sender for the account
        assert not (first.sent and second.sent)


async def test_the_adapter_is_given_each_rows_idempotency_key_on_every_attempt(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("k1").starts("outpatient-booking"))
    channel = FakeChannel()
    channel.rate_limit(1, after=0.0)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, base_delay=0.0
    )
    async with asyncio.timeout(PATIENCE):
        while not channel.sent:
            await sender.run_once("telegram")
            await asyncio.sleep(0.05)
    async with platform.sessionmaker() as session:
        keys = list(await session.scalars(select(OutboxEntry.idempotency_key)))
    assert len(keys) == 1
    assert channel.keys == keys * 2  # the rate-limited attempt, then the one that went


def _sender(platform: Platform, channel: FakeChannel, *, concurrency: int = 32) -> OutboxSender:
    return OutboxSender(
        platform.sessionmaker,
        platform.keyring,
        {"telegram": channel},
        base_delay=0.01,
        concurrency=concurrency,
    )


async def _killed_mid_send(platform: Platform, *, concurrency: int) -> None:
    """Run a sender whose sends hang, then abandon it, as SIGKILL would: no clean-up."""
    stuck = StuckChannel()
    task = asyncio.create_task(
        _sender(platform, stuck, concurrency=concurrency).run_once("telegram")
    )
    async with asyncio.timeout(PATIENCE):
        # Every send that can start, started (each is marked ``sending`` in a commit of
        # its own first, which a busy database may take a while over), then a moment for
        # any that should not have started to show.
        while len(stuck.keys) < concurrency:
            await stuck.started.wait()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _statuses(platform: Platform) -> Counter[str]:
    async with platform.sessionmaker() as session:
        return Counter(await session.scalars(select(OutboxEntry.status)))


async def test_rows_claimed_but_not_started_are_sent_once_after_a_crash(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"c{n}") for n in range(6)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))

    await _killed_mid_send(platform, concurrency=2)
    # Only the sends that had started are in doubt; the queued rows never left.
    assert await _statuses(platform) == Counter({"sending": 2, "claimed": 4})

    channel = FakeChannel()
    restarted = _sender(platform, channel)
    assert await restarted.recover() == 2
    await restarted.drain("telegram", within=PATIENCE)
    chats = Counter(address["chat"] for address, _ in channel.sent)
    assert chats == Counter({p.platform_id: 1 for p in people})  # each person once
    repeats = [m for _, m in channel.sent if m.text.startswith(RESEND_PREFIX)]
    assert len(repeats) == 2  # the two questions in flight are asked again, recognisably
    assert await _statuses(platform) == Counter({"sent": 6})


async def test_rows_waiting_for_their_pace_are_not_in_doubt_after_a_crash(
    platform: Platform,
) -> None:
    """An adapter that announces its requests: only the one whose request began is in doubt.

    Thirty-two sends are under way at once, but the pace lets one through at a time;
    the others wait inside the adapter, and went nowhere.
    """
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"p{n}") for n in range(6)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    paced = PacedChannel()
    task = asyncio.create_task(_sender(platform, paced).run_once("telegram"))
    async with asyncio.timeout(PATIENCE):
        await paced.started.wait()
        await asyncio.sleep(0.05)
    task.cancel()  # killed: no clean-up
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(paced.keys) == 1
    assert await _statuses(platform) == Counter({"sending": 1, "claimed": 5})

    channel = FakeChannel()
    restarted = _sender(platform, channel)
    assert await restarted.recover() == 1
    await restarted.drain("telegram", within=PATIENCE)
    assert Counter(address["chat"] for address, _ in channel.sent) == Counter(
        {p.platform_id: 1 for p in people}
    )
    assert [m.text.startswith(RESEND_PREFIX) for _, m in channel.sent].count(True) == 1


async def test_a_question_in_doubt_is_asked_again_once_and_never_a_third_time(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("q1").starts("outpatient-booking"))

    await _killed_mid_send(platform, concurrency=1)
    assert await _sender(platform, FakeChannel()).recover() == 1
    async with platform.sessionmaker() as session:
        row = await session.scalar(select(OutboxEntry))
    assert row is not None and row.status == "pending" and row.last_error
    assert row.payload["text"].startswith(RESEND_PREFIX) and row.payload["text"].endswith("?")

    # The repeat is interrupted too: this time it is left unknown, not sent again.
    await _killed_mid_send(platform, concurrency=1)
    channel = FakeChannel()
    restarted = _sender(platform, channel)
    assert await restarted.recover() == 1
    await restarted.drain("telegram", within=PATIENCE)
    assert channel.sent == []
    async with platform.sessionmaker() as session:
        row = await session.scalar(select(OutboxEntry))
    assert row is not None and row.status == "unknown" and row.address is None
    assert row.attempts == 2


async def test_a_repeat_that_went_out_is_not_sent_again(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("q2").starts("outpatient-booking"))
    await _killed_mid_send(platform, concurrency=1)
    channel = FakeChannel()
    restarted = _sender(platform, channel)
    await restarted.recover()
    await restarted.drain("telegram", within=PATIENCE)
    [repeat] = channel.to({"chat": "q2"})
    assert repeat.text.startswith(RESEND_PREFIX) and repeat.kind == "question"
    assert await restarted.recover() == 0
    await restarted.drain("telegram", within=PATIENCE)
    assert len(channel.sent) == 1


async def test_no_one_who_left_since_is_asked_again(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("q3").starts("outpatient-booking"))
    await _killed_mid_send(platform, concurrency=1)
    async with platform.sessionmaker.begin() as session:
        row = await session.scalar(select(OutboxEntry))
        assert row is not None and row.participant_id is not None
        await queries.opt_out(session, row.participant_id)
    channel = FakeChannel()
    restarted = _sender(platform, channel)
    assert await restarted.recover() == 1
    await restarted.drain("telegram", within=PATIENCE)
    assert channel.sent == []
    assert await _statuses(platform) == Counter({"unknown": 1})


async def test_a_stop_cancels_rows_claimed_but_not_started(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("s1").starts("outpatient-booking"))
    async with platform.sessionmaker.begin() as session:
        participant_id = await session.scalar(select(OutboxEntry.participant_id))
        assert participant_id is not None
        for n in range(2):
            await queries.add_outbox(
                session,
                channel="telegram",
                key=f"later-{n}",
                payload=OutboundMessage(text=f"Later {n}").to_json(),
                address=platform.keyring.seal({"chat": "s1"}),
                participant_id=participant_id,
            )
    channel = FakeChannel()
    sender = _sender(platform, channel)
    rows = await sender._claim("telegram")
    assert len(rows) == 3
    async with platform.sessionmaker.begin() as session:
        await queries.opt_out(session, participant_id)
    assert await sender._send_one(channel, rows[0]) is not None
    assert channel.sent == []
    assert await _statuses(platform) == Counter({"cancelled": 3})


async def _crash_with_a_plain_message_in_flight(settings: Settings) -> int:
    """Queue a plain message, kill the sender mid-send, restart; returns the row's id."""
    platform = create_platform(settings)
    try:
        await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
        async with platform.sessionmaker.begin() as session:
            await queries.add_outbox(
                session,
                channel="telegram",
                key="thanks-1",
                payload=OutboundMessage(text="Thank you, that is all.").to_json(),
                address=platform.keyring.seal({"chat": "u1"}),
                consultation_id="outpatient-booking",
            )
        await _killed_mid_send(platform, concurrency=1)
        channel = FakeChannel()
        restarted = _sender(platform, channel)
        assert await restarted.recover() == 1
        await restarted.drain("telegram", within=PATIENCE)
        assert channel.sent == []  # not a question: never repeated
        async with platform.sessionmaker() as session:
            row = await session.scalar(select(OutboxEntry))
        assert row is not None and row.status == "unknown" and row.address is None
        return row.id
    finally:
        await platform.aclose()


def test_a_plain_message_in_doubt_is_unknown_and_listed_for_operators(
    env: object, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY)
    row_id = asyncio.run(_crash_with_a_plain_message_in_flight(settings))

    code, out, _ = engage(capsys, "outbox", "unknown", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert listed["id"] == row_id
    assert listed["channel"] == "telegram"
    assert listed["consultation"] == "outpatient-booking"
    assert listed["kind"] == "message"
    assert listed["created_at"] and listed["attempted_at"]
    assert "Thank you" not in out and "u1" not in out  # never the text or the address

    code, out, _ = engage(capsys, "outbox", "unknown")
    assert code == 0 and "telegram" in out and "outpatient-booking" in out
    assert "Thank you" not in out


class RefusesSafety(FakeChannel):
    """A channel that delivers everything but the safety message (say, a blocked bot)."""

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        if message.kind == "safety":
            raise Undeliverable("Forbidden: bot was blocked by the user")
        return await super().send(address, message, key=key)


async def test_a_safety_message_that_cannot_be_delivered_alerts_the_moderators(
    platform: Platform,
) -> None:
    from consultations import moderation

    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    person = Person("s1")
    for event in (
        person.starts("outpatient-booking"),
        person.answers("@consent", "Yes, I agree"),
        person.answers("@recontact", "No, please don't"),
        person.answers("ease", "Easy"),
        person.says("I have decided to end my life this weekend"),
    ):
        await deliver(platform, event)
    channel = RefusesSafety()
    sender = _sender(platform, channel)
    await sender.drain("telegram", within=PATIENCE)
    async with platform.sessionmaker() as session:
        cases = await moderation.open_cases(session)
        failed = list(
            await session.scalars(select(OutboxEntry).where(OutboxEntry.status == "failed"))
        )
    assert [OutboundMessage.from_json(r.payload).kind for r in failed] == ["safety"]
    undelivered = [c for c in cases if c.reason == "undelivered"]
    assert len(undelivered) == 1 and undelivered[0].urgent
    assert "could not be delivered on telegram" in (undelivered[0].text or "")


async def test_a_safety_reply_is_sent_before_the_replies_queued_ahead_of_it(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    eve = Person("u-eve")
    await deliver(
        platform,
        eve.starts("outpatient-booking"),
        eve.answers(CONSENT, "yes"),
        eve.answers("ease", "Hard"),
    )
    await send_all(platform, FakeChannel())  # Eve has been asked her free-text question
    busy = [Person(f"u-busy-{n}") for n in range(30)]
    await deliver(platform, *(person.starts("outpatient-booking") for person in busy))
    await deliver(platform, eve.says("I keep thinking about killing myself"))
    channel = FakeChannel()
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, batch=5, concurrency=1
    )
    assert await sender.run_once("telegram") == 5
    # thirty consent questions were queued first; the signposting still goes first
    address, first = channel.sent[0]
    assert (address, first.kind) == ({"chat": "u-eve"}, "safety")
    await sender.drain("telegram", within=PATIENCE)
    assert len(channel.sent) == 31
    assert [m.kind for m in channel.to({"chat": "u-eve"})].count("safety") == 1


@dataclass
class _AnnouncingChannel(FakeChannel):
    """Announces each request without a pace, so many sends start at the same moment."""

    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(buttons=True, announces_requests=True)
    )

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        await request_starting()
        await asyncio.sleep(0.01)  # the request takes a while; others start meanwhile
        return await super().send(address, message, key=key)


async def test_rows_starting_together_are_marked_sending_and_sent_in_few_statements(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"g{n}") for n in range(40)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    with statements_sent(platform.engine) as sent:
        channel = _AnnouncingChannel()
        await _sender(platform, channel).drain("telegram", within=PATIENCE)
    statements = [s for s, _ in sent if s.lstrip().upper().startswith("UPDATE OUTBOX")]
    assert Counter(address["chat"] for address, _ in channel.sent) == Counter(
        {p.platform_id: 1 for p in people}
    )
    async with platform.sessionmaker() as session:
        rows = list(await session.scalars(select(OutboxEntry)))
    assert len(rows) == 40
    assert all(r.status == "sent" and r.attempts == 1 and r.address is None for r in rows)
    assert all(r.platform_ref and r.sent_at for r in rows)
    assert len({r.platform_ref for r in rows}) == 40  # each row its own reference
    starts = [s for s in statements if "attempts" in s and "sent_at" not in s]
    sents = [s for s in statements if "sent_at" in s]
    # One claim, then far fewer writes than rows: those arriving together share one.
    assert 1 <= len(starts) < 20
    assert 1 <= len(sents) < 20


async def test_a_row_stopped_while_others_start_together_is_not_sent(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"h{n}") for n in range(5)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    sender = _sender(platform, _AnnouncingChannel())
    rows = await sender._claim("telegram")
    assert len(rows) == 5
    async with platform.sessionmaker.begin() as session:
        await queries.opt_out(session, rows[2].participant_id or 0)
    started = await asyncio.gather(*(sender._start(row) for row in rows))
    assert started == [True, True, False, True, True]
    assert await _statuses(platform) == Counter({"sending": 4, "cancelled": 1})


async def _claim_plan(platform: Platform, *, prepared: bool) -> list[str]:
    """The plan lines of the claim statement, as the database would run it now."""
    statement = claim_statement("telegram", utcnow(), 200, platform.engine.dialect.name)
    return await query_plan(platform, statement, prepared=prepared)


@pytest.mark.parametrize("prepared", [False, True], ids=["planned", "prepared"])
async def test_the_claim_reads_its_batch_in_order_from_the_claim_index(
    platform: Platform, prepared: bool
) -> None:
    # The soak's claim sorted every due row of the channel first: 50 ms at 18,823
    # pending rows. Rows sent, rows of another channel and rows not yet due are there
    # as in a busy store.
    now = utcnow()
    rows = [
        queries.outbox_row(
            channel="mastodon" if n % 7 == 0 else "telegram",
            key=f"plan-{n}",
            payload={"text": "hello"},
            address=None,
            due=now + timedelta(hours=1) if n % 11 == 0 else now - timedelta(seconds=1),
            bulk=n % 5 == 0,
            now=now,
        )
        | {"urgent": n % 97 == 0, "status": "sent" if n % 4 == 0 else "pending"}
        for n in range(5_000)
    ]
    async with platform.sessionmaker.begin() as session:
        await queries.add_outbox_rows(session, rows)
    async with platform.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    plan = await _claim_plan(platform, prepared=prepared)
    text_ = "\n".join(plan)
    if platform.engine.dialect.name == "postgresql":
        assert "Index Scan using ix_outbox_claim" in text_, text_
        assert "Sort" not in text_, text_
    else:
        assert "USING INDEX ix_outbox_claim" in text_, text_
        assert "TEMP B-TREE" not in text_, text_
    # And it claims what the order says: safety replies, other replies, then bulk rows.
    sender = OutboxSender(platform.sessionmaker, platform.keyring, {}, batch=100)
    claimed = await sender._claim("telegram")
    due = sorted(
        (r for r in rows if r["channel"] == "telegram" and r["status"] == "pending"),
        key=lambda r: (r["bulk"], not r["urgent"], int(r["idempotency_key"].split("-")[1])),
    )
    assert len(claimed) == 100
    assert [(r.bulk, r.urgent) for r in claimed] == [
        (r["bulk"], r["urgent"]) for r in due if r["next_attempt_at"] <= now
    ][:100]


async def test_a_token_refused_while_sending_keeps_the_channels_rows_pending(
    platform: Platform,
) -> None:
    """A revoked token is no failure of the message: it waits, its attempt uncounted,
    nothing more is tried on the channel, and a restart with a good token sends it."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    person = Person("r1")
    await deliver(
        platform, person.starts("outpatient-booking"), person.answers("@consent", "Yes, I agree")
    )
    queued = await _statuses(platform)
    assert queued["pending"] >= 2
    channel = FakeChannel()
    channel.failures.append(CredentialsRejected("TELEGRAM_BOT_TOKEN", "token refused"))
    off: dict[str, str] = {}
    told: list[tuple[str, str, str]] = []

    def refused(name: str, error: CredentialsRejected) -> None:
        told.append((name, error.setting, str(error)))
        off[name] = str(error)

    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, off=off, refused=refused
    )
    await sender.run_once("telegram")
    await sender.run_once("telegram")  # the channel is off: nothing is tried
    assert told == [("telegram", "TELEGRAM_BOT_TOKEN", "token refused")]
    assert len(channel.keys) == 1 and not channel.sent
    async with platform.sessionmaker() as session:
        rows = list(await session.scalars(select(OutboxEntry)))
    assert {(row.status, row.attempts) for row in rows} == {("pending", 0)}
    assert len(rows) == sum(queued.values())

    # Restarted with the token put right: every message goes, in order.
    await send_all(platform, FakeChannel())
    assert await _statuses(platform) == Counter(sent=len(rows))
