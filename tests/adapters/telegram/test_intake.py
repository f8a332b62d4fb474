"""Updates in: stored before Telegram is told, once each, and only from Telegram."""

from __future__ import annotations

from collections.abc import Sequence
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
    calls = 0

    def choke_once(message: telegram.Message, key: str, args: list[str]) -> InboundEvent | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("the converter choked on this update")
        return real_convert(message, key, args)

    monkeypatch.setattr(convert, "from_command", choke_once)
    running = await start(fake, platform, mode)
    try:
        alice = fake.user(1001, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        consent = await running.said(alice, 1, within=10.0)
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
