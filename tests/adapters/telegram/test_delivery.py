"""Messages out: paced, retried on flood control, delivered once, and never to a blocker."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer, unused_port
from sqlalchemy import select

from adapters.telegram.adapter import TelegramAdapter
from bot.outbox import OutboxSender
from bot.platform import Platform
from bot.web import operations
from bot.web.app import create_app
from channels.adapter import RetryLater
from channels.events import OutboundMessage
from storage import queries
from storage.tables import Consent, OutboxEntry, Participant
from tests.adapters.telegram.conftest import TOKEN, Running, make_adapter, unreachable_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import launch, spec_data
from tests.waiting import PATIENCE, wait_until


async def queue(
    platform: Platform, chat: int, text: str, *, key: str, participant_id: int | None = None
) -> None:
    async with platform.sessionmaker.begin() as session:
        await queries.add_outbox(
            session,
            channel="telegram",
            key=key,
            payload=OutboundMessage(text=text).to_json(),
            address=platform.keyring.seal({"chat": chat}),
            participant_id=participant_id,
        )


def sender(platform: Platform, adapter: TelegramAdapter) -> OutboxSender:
    return OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": adapter}, base_delay=0.05
    )


async def test_a_burst_of_429s_ends_with_every_message_delivered_once(
    fake: FakeTelegram, platform: Platform
) -> None:
    people = [fake.user(3000 + n, f"P{n}") for n in range(12)]
    for person in people:
        await queue(platform, person.id, f"Hello {person.first_name}", key=f"k{person.id}")
    fake.inject_429(count=8, retry_after=1)
    adapter = make_adapter(fake, platform)
    try:
        await sender(platform, adapter).drain("telegram", within=PATIENCE)
    finally:
        await adapter.stop()
    assert fake.rate_limited_count == 8
    assert sorted(m.chat_id for m in fake.sent) == [p.id for p in people]  # once each
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(OutboxEntry))).all()
    assert {r.status for r in rows} == {"sent"}
    # Kept as keyed hashes: the chat id inside a message reference is never stored.
    assert all(r.platform_ref and r.platform_ref.startswith("r:") for r in rows)
    assert sum(r.attempts for r in rows) == 12 + 8


async def test_sending_keeps_telegrams_limits_without_being_told(
    fake: FakeTelegram, platform: Platform
) -> None:
    fake.enforce_rate_limits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    alice = fake.user(1001, "Alice")
    group = fake.group(-100200, "Group")
    for n in range(3):
        await queue(platform, alice.id, f"Message {n}", key=f"a{n}")
    for n in range(4):
        await queue(platform, group.id, f"Group post {n}", key=f"g{n}")
    adapter = make_adapter(fake, platform, chat_interval=1.0)
    try:
        await sender(platform, adapter).drain("telegram", within=PATIENCE)
    finally:
        await adapter.stop()
    # The fake answers 429 to a second message in a chat within a second, or to a 21st in
    # a group within a minute: none refused, and each sent at its first attempt.
    assert fake.rate_limited_count == 0
    assert len(fake.calls_to("sendMessage")) == 7
    assert [m.text for m in fake.messages_to(alice)] == [f"Message {n}" for n in range(3)]
    assert [m.text for m in fake.messages_to(group)] == [f"Group post {n}" for n in range(4)]


async def test_a_long_message_is_split_at_paragraphs(
    fake: FakeTelegram, platform: Platform
) -> None:
    alice = fake.user(1001, "Alice")
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 150 for n in range(8))
    await queue(platform, alice.id, text, key="long")
    adapter = make_adapter(fake, platform)
    try:
        await sender(platform, adapter).drain("telegram")
    finally:
        await adapter.stop()
    pieces = [m.text or "" for m in fake.messages_to(alice)]
    assert len(pieces) == 2 and all(len(p) <= 4096 for p in pieces)
    assert pieces[1].startswith("Paragraph")
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


@pytest.mark.parametrize("mode", ["webhook"])
async def test_a_blocked_user_is_opted_out_without_retries(running: Running) -> None:
    fake, platform = running.fake, running.platform
    await launch(platform, spec_data(segments=[], consent={"text": "We listen."}))
    alice, bob = fake.user(1001, "Alice"), fake.user(1002, "Bob")
    for person in (alice, bob):
        fake.send_command(person, "/start", "outpatient-booking")
        consent = await running.said(person, 1)
        fake.press_button(person, consent, consent.callback_data[0])
        await running.said(person, 2)

    # Alice blocks quietly: the next message gets 403 and ends her participation.
    fake.block(alice, notify=False)
    async with platform.sessionmaker() as session:
        participants = (await session.scalars(select(Participant).order_by(Participant.id))).all()
    alice_row, bob_row = participants
    await queue(platform, alice.id, "A reminder", key="reminder", participant_id=alice_row.id)
    await queue(platform, alice.id, "Another", key="another", participant_id=alice_row.id)
    await fake.wait_for(lambda: any(c.status == 403 for c in fake.calls_to("sendMessage")))
    await running.wait_for_count(
        OutboxEntry, 0, OutboxEntry.status.in_(["pending", "claimed", "sending"])
    )
    refused = [c for c in fake.calls if c.status == 403]
    assert len(refused) == 1  # no retries
    async with platform.sessionmaker() as session:
        rows = {r.idempotency_key: r for r in (await session.scalars(select(OutboxEntry))).all()}
        alice_now = await session.get(Participant, alice_row.id)
        consents = (
            await session.scalars(select(Consent).where(Consent.participant_id == alice_row.id))
        ).all()
    assert rows["reminder"].status == "failed" and rows["reminder"].attempts == 1
    assert rows["another"].status in ("failed", "cancelled")  # claimed already, or not
    assert alice_now is not None and alice_now.opted_out_at is not None
    assert all(c.withdrawn_at is not None for c in consents)

    # Bob blocks and Telegram tells us (my_chat_member): he is opted out at once.
    fake.block(bob)
    await fake.wait_until_consumed()
    await running.wait_for_count(
        Participant, 1, Participant.id == bob_row.id, Participant.opted_out_at.is_not(None)
    )
    assert len(fake.messages_to(bob)) == 2


GROUP = -1001000000002
HELPLINES = "Please call Lifeline on 13 11 14."
NOTE = "A reminder for everyone here: support is available now."


def safety(*, fallback: str | None = NOTE) -> OutboundMessage:
    """A safety reply to a group message, as the runtime writes it."""
    return OutboundMessage(
        text=HELPLINES, kind="safety", reply_to=f"chat:{GROUP}:msg:1", fallback=fallback
    )


async def test_safety_replies_go_privately_and_only_a_general_note_goes_to_the_group(
    fake: FakeTelegram, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    group = fake.group(GROUP, supergroup=True)
    alice = fake.user(1001, "Alice")
    blocker = fake.user(1002, "Bea")
    stranger = fake.user(1003, "Cy", started=False)
    fake.block(blocker, notify=False)
    adapter = make_adapter(fake, platform)
    try:
        # Private chats are as before.
        await adapter.send({"chat": alice.id}, OutboundMessage(HELPLINES, kind="safety"), key="p")
        # From a group: to the person's private chat, with no reply into the group.
        await adapter.send({"chat": GROUP, "user": alice.id}, safety(), key="a")
        assert [m.text for m in fake.messages_to(alice)] == [HELPLINES, HELPLINES]
        assert fake.messages_to(group) == []
        # A person who blocked the bot is not opted out by it; the group gets the note.
        await adapter.send({"chat": GROUP, "user": blocker.id}, safety(), key="b")
        # No note to post: nothing goes in the group, and the outbox tries again.
        with caplog.at_level("ERROR"), pytest.raises(RetryLater):
            await adapter.send({"chat": GROUP, "user": stranger.id}, safety(fallback=None), key="c")
        assert "safety reply could not be sent privately" in caplog.text
        # The note refused as well: tried again later, never failed quietly.
        fake.inject_error(400, "Bad Request: chat not found", count=2, methods=["sendMessage"])
        with pytest.raises(RetryLater):
            await adapter.send({"chat": GROUP, "user": stranger.id}, safety(), key="d")
        await adapter.send({"chat": GROUP, "user": stranger.id}, safety(), key="d")
        # An address from before the user id was recorded: never a reply in the group.
        await adapter.send({"chat": GROUP}, safety(), key="e")
    finally:
        await adapter.stop()
    notes = fake.messages_to(group)
    assert [m.text for m in notes] == [NOTE, NOTE, NOTE]
    into_group = [c.params for c in fake.calls_to("sendMessage") if c.params["chat_id"] == GROUP]
    assert len(into_group) == 4  # the three notes, and the one refused by the fault
    assert not any("reply_parameters" in p or "reply_to_message_id" in p for p in into_group)
    assert fake.messages_to(stranger) == [] and fake.messages_to(blocker) == []


async def test_messages_wait_uncounted_while_the_adapter_has_not_started(
    platform: Platform,
) -> None:
    """Telegram unreachable at start: the adapter is tried again in the background, and
    the messages queued meanwhile stay pending, no attempt counted (a long outage would
    otherwise use up their attempts and fail them), then go once it starts."""
    away = unused_port()  # nothing listens here until the fake starts on it
    adapter = unreachable_adapter(platform, away)
    app = create_app(platform.settings, platform=platform, adapters=lambda p: {"telegram": adapter})
    server = TestServer(app, host="127.0.0.1", port=unused_port())
    await server.start_server()
    try:
        await queue(platform, 7001, "Your answer was saved", key="away-1")

        async def tried_to_start() -> bool:
            return "telegram" in app[operations.READY].waiting

        await wait_until(tried_to_start, what="the adapter's first start to fail")
        await asyncio.sleep(3)  # the outbox looks every half second
        async with platform.sessionmaker() as session:
            rows = list(await session.scalars(select(OutboxEntry)))
        # Never tried: no attempt, no error kept.
        assert [(row.status, row.attempts, row.last_error) for row in rows] == [
            ("pending", 0, None)
        ]

        async with FakeTelegram(token=TOKEN, port=away) as fake:
            person = fake.user(7001, "Ada")
            sent = await fake.wait_for_sent(1, chat=person, within=PATIENCE)
            assert sent[0].text == "Your answer was saved"

            async def marked_sent() -> bool:
                async with platform.sessionmaker() as session:
                    rows = list(await session.scalars(select(OutboxEntry)))
                return [(row.status, row.attempts) for row in rows] == [("sent", 1)]

            await wait_until(marked_sent, what="the message marked sent, at its first attempt")
            await server.close()
    finally:
        await server.close()
