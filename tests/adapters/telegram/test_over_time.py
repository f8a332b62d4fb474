"""Engagement over time on Telegram, through the fake Bot API: Delphi rounds, timed chats."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.timeline import Timeline
from storage.tables import Response
from tests.adapters.telegram.conftest import Running
from tests.adapters.telegram.test_private_chat import export
from tests.helpers import launch
from tests.over_time.helpers import after, delphi_spec, opened_at

CID = "evening-clinics"


@pytest.fixture
def mode() -> str:
    """Polling only: the intake modes are tested elsewhere; this is about timing."""
    return "polling"


async def test_round_two_is_asked_in_the_private_chat_with_the_group_answers(
    running: Running,
) -> None:
    fake, platform = running.fake, running.platform
    await launch(platform, delphi_spec(channels=["telegram"]))
    alice, bob = fake.user(1101, "Alice"), fake.user(1102, "Bob")
    for user, option in ((alice, 1), (bob, 2)):
        fake.send_command(user, "/start", CID)
        consent = await running.said(user, 1)
        fake.press_button(user, consent, consent.callback_data[0])
        poll = await running.said(user, 2)
        assert poll.poll is not None and not poll.poll.is_anonymous
        fake.vote(user, poll, [option])
        await running.said(user, 3)  # thanks
    await running.wait_for_count(Response, 2)

    start = await opened_at(platform, CID)
    timeline = Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48.5))
    assert (await timeline.tick()).invited == {f"{CID}/priority/2": 2}
    assert (await timeline.tick()).invited == {}

    again = await running.said(alice, 4)
    shown = (again.text or "") + (again.poll.question if again.poll is not None else "")
    lead = [m.text or "" for m in fake.messages_to(alice)[3:]]
    words = shown + " ".join(lead)
    assert "Round 2 of 2" in words
    assert "Important: 50%" in words and "Neutral: 50%" in words
    assert "Your answer was: Important." in words
    ask = next(m for m in fake.messages_to(alice)[3:] if m.poll is not None)
    fake.vote(alice, ask, [0])  # moves to Essential
    await running.wait_for_count(Response, 3)

    exported = [r for r in await export(platform, CID) if r["item"] == "priority"]
    assert sorted((r["round"], r["choices"]) for r in exported) == [
        (1, ["Important"]),
        (1, ["Neutral"]),
        (2, ["Essential"]),
    ]
    async with platform.sessionmaker() as session:
        alice_rows = (await session.scalars(select(Response).where(Response.round == 2))).all()
    assert [r.channel for r in alice_rows] == ["telegram"]
    assert len(fake.messages_to(bob)) >= 4  # Bob was asked too, and has not answered
