"""Updates in: stored before Telegram is told, once each, and only from Telegram."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import telegram

from adapters.telegram import convert
from bot.platform import Platform
from channels.events import InboundEvent
from storage.tables import ChannelCursor, InboxEntry, Response
from tests.adapters.telegram.conftest import SECRET, start, stop
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import launch


async def test_the_same_update_delivered_twice_is_stored_once(
    fake: FakeTelegram, platform: Platform, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first delivery is committed but not acknowledged (as if the process died)."""
    await launch(platform)
    real_sink = platform.sink
    outcomes: list[int] = []

    async def commit_then_fail_once(events: Sequence[InboundEvent]) -> int:
        new = await real_sink(events)
        outcomes.append(new)
        if len(outcomes) == 1:
            raise ConnectionError("stopped after the commit, before the acknowledgement")
        return new

    monkeypatch.setattr(platform, "sink", commit_then_fail_once)
    running = await start(fake, platform, mode)
    try:
        alice = fake.user(1001, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        await running.said(alice, 1)
        await fake.wait_until_consumed()
        assert outcomes[:2] == [1, 0]  # delivered twice, stored once
        assert await running.count(InboxEntry) == 1
        assert len(fake.messages_to(alice)) == 1
        if mode == "polling":
            async with platform.sessionmaker() as session:
                cursor = await session.get(ChannelCursor, ("telegram", "offset:123456"))
            assert cursor is not None and cursor.value == "2"  # confirmed after the commit
    finally:
        await stop(running)


async def test_an_update_the_converter_fails_on_is_not_acknowledged_and_comes_again(
    fake: FakeTelegram, platform: Platform, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PTB catches handler errors; the adapter must still refuse the update, not drop it."""
    await launch(platform)
    real_convert = convert.from_command
    real_plain = convert.from_plain_update
    calls = 0

    def choke_once(message: telegram.Message, key: str, args: list[str]) -> InboundEvent | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("the converter choked on this update")
        return real_convert(message, key, args)

    def choke_plain_once(data: dict[str, Any], bot_id: int) -> InboundEvent | None:
        # The webhook reads a private-chat command from the JSON, without PTB's handlers.
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("the converter choked on this update")
        return real_plain(data, bot_id)

    monkeypatch.setattr(convert, "from_command", choke_once)
    monkeypatch.setattr(convert, "from_plain_update", choke_plain_once)
    running = await start(fake, platform, mode)
    try:
        alice = fake.user(1001, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        consent = await running.said(alice, 1)
        assert "Do you agree" in (consent.text or "")
        await fake.wait_until_consumed()
        assert calls == 2  # converted again once Telegram handed it over again
        assert await running.count(InboxEntry) == 1
        assert len(fake.messages_to(alice)) == 1
        if mode == "webhook":
            assert [d.status for d in fake.webhook.deliveries] == [500, 200]
        else:
            offsets = [c.params.get("offset") for c in fake.calls_to("getUpdates")]
            first_after = offsets.index(None) + 1
            assert offsets[first_after] is None  # the failed batch was not confirmed
            async with platform.sessionmaker() as session:
                cursor = await session.get(ChannelCursor, ("telegram", "offset:123456"))
            assert cursor is not None and cursor.value == "2"
    finally:
        await stop(running)


def start_update(update_id: int) -> dict[str, Any]:
    user = telegram.User(1001, "Alice", is_bot=False)
    chat = telegram.Chat(1001, telegram.Chat.PRIVATE)
    message = telegram.Message(
        message_id=5,
        date=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        chat=chat,
        from_user=user,
        text="/start outpatient-booking",
        entities=[telegram.MessageEntity(telegram.MessageEntity.BOT_COMMAND, 0, 6)],
    )
    return telegram.Update(update_id, message=message).to_dict()


async def test_webhook_refuses_a_wrong_secret_and_ignores_repeats(
    fake: FakeTelegram, platform: Platform
) -> None:
    await launch(platform)
    alice = fake.user(1001, "Alice")
    running = await start(fake, platform, "webhook")
    try:
        assert fake.webhook.url == running.webhook_url
        assert fake.webhook.secret_token == SECRET
        assert [c.command for c in fake.my_commands()] == ["start", "help", "stop", "delete"]
        # Described in each shipped language for people whose Telegram is set to it.
        assert fake.my_commands()[0].description == "Take part in a consultation"
        assert fake.my_commands(language_code="cy")[0].description == (
            "Cymryd rhan mewn ymgynghoriad"
        )
        assert fake.my_commands(language_code="es")[3].description == "Borrar sus respuestas"
        body = start_update(700)
        async with aiohttp.ClientSession() as client:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret"}):
                async with client.post(running.webhook_url, json=body, headers=headers) as answer:
                    assert answer.status == 403
            assert await running.count(InboxEntry) == 0

            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            for _ in range(2):
                async with client.post(running.webhook_url, json=body, headers=good) as answer:
                    assert answer.status == 200
            assert await running.count(InboxEntry) == 1  # stored before the first 200

            async with client.post(running.webhook_url, data=b"{not json", headers=good) as answer:
                assert answer.status == 400
        consent = await running.said(alice, 1)
        assert "Do you agree" in (consent.text or "")
        assert len(fake.sent) == 1
        assert await running.count(Response) == 0
    finally:
        await stop(running)


def _without(message: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != name}


async def test_webhook_refuses_an_update_it_cannot_read_with_400_and_stores_nothing(
    fake: FakeTelegram, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    await launch(platform)
    secret_words = "my private words about the clinic"
    whole = _message(secret_words)
    malformed: list[Any] = [
        {"update_id": 1, "message": _without(whole, "chat")},
        {"update_id": 2, "message": {**whole, "text": [secret_words]}},
        {"update_id": 3, "message": {**whole, "chat": {"id": "1001", "type": "private"}}},
        {"update_id": 4, "message": {**whole, "from": {"first_name": "Alice"}}},
        {"update_id": 5, "message": {**whole, "date": "today"}},
        {"update_id": 6, "edited_message": _without(whole, "message_id")},
        {"update_id": 7, "message": {**whole, "entities": "bold"}},
        {"update_id": 8, "callback_query": {"id": "q", "data": "x"}},
        {"update_id": "9", "message": whole},
        {"message": whole},
        [1, 2, 3],
    ]
    running = await start(fake, platform, "webhook")
    try:
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as client:
            for body in malformed:
                async with client.post(running.webhook_url, json=body, headers=good) as answer:
                    assert answer.status == 400, body
            assert await running.count(InboxEntry) == 0
            # A well-formed one is still taken.
            ok = {"update_id": 10, "message": whole}
            async with client.post(running.webhook_url, json=ok, headers=good) as answer:
                assert answer.status == 200
        assert await running.count(InboxEntry) == 1
    finally:
        await stop(running)
    refused = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(refused) == len(malformed)
    assert all(r.exc_info is None for r in refused)
    assert secret_words not in caplog.text and "1001" not in caplog.text
    assert "Traceback" not in caplog.text


def _message(text: str, *, chat: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": 40,
        "date": 1_790_000_000,
        "chat": chat or {"id": 1001, "type": "private", "first_name": "Alice"},
        "from": {"id": 1001, "is_bot": False, "first_name": "Alice", "language_code": "en"},
        "text": text,
        **fields,
    }


def _command(text: str, length: int) -> dict[str, Any]:
    return _message(text, entities=[{"type": "bot_command", "offset": 0, "length": length}])


# (update, whether the webhook reads it from the JSON rather than through PTB)
UPDATES: list[tuple[dict[str, Any], bool]] = [
    ({"update_id": 1, "message": _message("The booking line was busy")}, True),
    ({"update_id": 2, "message": _message("yes", reply_to_message=_message("Agree?"))}, True),
    ({"update_id": 3, "message": _command("/start outpatient-booking", 6)}, True),
    ({"update_id": 4, "message": _command("/start", 6)}, True),
    ({"update_id": 5, "message": _command("/stop", 5)}, True),
    ({"update_id": 6, "message": _command("/help", 5)}, True),
    ({"update_id": 7, "message": _command("/delete  now", 7)}, True),
    ({"update_id": 8, "message": _message("  hello  ", entities=[])}, True),
    # Through PTB: a command naming a bot, one of no one's, in capitals, or without its
    # entity; formatted text; a group; a bot; a forum topic; buttons; an edit.
    ({"update_id": 9, "message": _command("/start@engage_bot x", 16)}, False),
    ({"update_id": 10, "message": _command("/frobnicate", 11)}, False),
    ({"update_id": 11, "message": _command("/START", 6)}, False),
    ({"update_id": 12, "message": _message("/start")}, False),
    (
        {
            "update_id": 13,
            "message": _message(
                "see https://example.org", entities=[{"type": "url", "offset": 4, "length": 19}]
            ),
        },
        False,
    ),
    (
        {
            "update_id": 14,
            "message": _message(
                "A1 sooner", chat={"id": -100123, "type": "supergroup", "title": "Clinic"}
            ),
        },
        False,
    ),
    (
        {
            "update_id": 15,
            "message": {**_message("hi"), "from": {"id": 9, "is_bot": True, "first_name": "B"}},
        },
        False,
    ),
    (
        {"update_id": 16, "message": _message("hi", is_topic_message=True, message_thread_id=3)},
        False,
    ),
    (
        {"update_id": 17, "edited_message": {**_message("changed"), "edit_date": 1_790_000_100}},
        False,
    ),
    (
        {
            "update_id": 18,
            "callback_query": {
                "id": "77",
                "from": {"id": 1001, "is_bot": False, "first_name": "Alice"},
                "chat_instance": "1",
                "data": "a|outpatient-booking|consent|0",
                "message": _message("Do you agree?"),
            },
        },
        False,
    ),
]


async def test_a_private_message_read_from_the_json_is_the_event_ptb_would_give(
    fake: FakeTelegram, platform: Platform
) -> None:
    await launch(platform)
    running = await start(fake, platform, "webhook")
    intake = running.adapter.intake
    real_sink = intake.sink
    taken: list[InboundEvent] = []

    async def keep(events: Sequence[InboundEvent]) -> int:
        taken.extend(events)
        return len(events)

    intake.sink = keep
    read_plainly: list[bool] = []
    try:
        for data, _ in UPDATES:
            taken.clear()
            await intake.take_in([telegram.Update.de_json(data, intake.bot)])
            through_ptb = [replace(e, received_at=datetime.min) for e in taken]
            plain = convert.from_plain_update(data, intake.bot.id)
            read_plainly.append(plain is not None)
            if plain is not None:
                assert [replace(plain, received_at=datetime.min)] == through_ptb, data
    finally:
        intake.sink = real_sink
        await stop(running)
    assert read_plainly == [plainly for _, plainly in UPDATES]
