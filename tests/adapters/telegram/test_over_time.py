"""Engagement over time on Telegram, through the fake Bot API: Delphi rounds, timed chats."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import select

from bot import commands
from bot.config import Settings
from bot.platform import Platform
from bot.timeline import Timeline
from bot.web import operations
from bot.web.app import create_app
from consultations import reporting, service
from consultations.spec import parse_spec
from consultations.texts import texts_for
from storage.tables import Response, TimedAction
from tests.adapters.telegram.conftest import TOKEN, Running, make_adapter, unreachable_adapter
from tests.adapters.telegram.test_private_chat import export
from tests.fakes.telegram_api import FakeMessage, FakeTelegram
from tests.helpers import launch
from tests.over_time.helpers import after, delphi_spec, opened_at, timed_spec
from tests.waiting import wait_until

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


GROUP = -1001000000077
CRISIS = "Honestly I want to kill myself"


async def test_a_timed_chat_posts_q1_and_q2_at_their_times_and_ties_answers(
    running: Running, settings: Settings
) -> None:
    fake, platform = running.fake, running.platform
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    ann, ben, cas = fake.user(3001, "Ann"), fake.user(3002, "Ben"), fake.user(3003, "Cas")
    start = datetime.now(UTC)
    spec = parse_spec(timed_spec(start, channels=["telegram"], telegram={"chats": [GROUP]}))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    configured = replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )
    code = await commands.launch(argparse.Namespace(id=spec.id, channels=None), configured)
    assert code == commands.OK
    [intro] = fake.messages_to(group)  # the questions wait for their time
    assert "STOP" in (intro.text or "")

    adapters = {"telegram": running.adapter}
    early = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.1))
    assert (await early.tick()).posted == {}
    first = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.2))
    assert (await first.tick()).posted == {f"{spec.id}/waiting": ["telegram"]}
    assert (await first.tick()).posted == {}  # once
    q1 = fake.messages_to(group)[-1]
    assert (q1.text or "").startswith("Q1. What is the waiting room like?")
    assert "A1" in (q1.text or "")

    fake.reply(ann, q1, "Too cold and the chairs are hard")
    fake.send_text(ben, "Random chatter about the footy", chat=group)  # not an answer
    await running.wait_for_count(Response, 1)

    later = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.4))
    assert (await later.tick()).posted == {f"{spec.id}/parking": ["telegram"]}
    q2 = fake.messages_to(group)[-1]
    assert (q2.text or "").startswith("Q2. How was parking?")
    fake.send_text(ben, "a2: the car park was full by nine", chat=group)
    fake.send_text(cas, "A1 - the water fountain was broken", chat=group)
    await running.wait_for_count(Response, 3)

    # A crisis reply in the group: helplines privately, nothing said in the group.
    posted_before = len(fake.messages_to(group))
    fake.send_text(cas, f"A2 {CRISIS}", chat=group)
    [private] = await fake.wait_for_sent(1, chat=cas)
    assert "Lifeline" in (private.text or "")
    await running.wait_for_count(Response, 4)
    assert len(fake.messages_to(group)) == posted_before

    exported = await export(platform, spec.id)
    by_text = {r["text"]: r["item"] for r in exported if r["item_type"] != "segment"}
    assert by_text["Too cold and the chairs are hard"] == "waiting"
    assert by_text["the car park was full by nine"] == "parking"
    assert by_text["the water fountain was broken"] == "waiting"
    async with platform.sessionmaker() as session:
        report = await reporting.build(session, spec.id)
        markdown = await reporting.render(session, spec.id, fmt="md")
    q1_part, q2_part = report["timed_chat"]
    assert (q1_part["label"], q1_part["replies"], q1_part["participants"]) == ("Q1", 2, 2)
    assert (q2_part["label"], q2_part["replies"], q2_part["safety_flagged"]) == ("Q2", 2, 1)
    assert "the car park was full by nine" in q2_part["quotes"]
    assert CRISIS not in json.dumps(report) and "kill myself" not in markdown
    assert "## Q1: What is the waiting room like?" in markdown
    assert "## Q2: How was parking?" in markdown


async def test_a_second_timed_chat_in_the_same_group_takes_its_answers(
    running: Running, settings: Settings
) -> None:
    """The group's "A<n>" answers go to the chat asking now, not to the one held there
    before (whose place in the group was recorded first)."""
    fake, platform = running.fake, running.platform
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    ann = fake.user(3011, "Ann")
    start = datetime.now(UTC)
    configured = replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )
    adapters = {"telegram": running.adapter}
    specs = []
    for number, cid in enumerate(("clinic-chat", "clinic-chat-two")):
        spec = parse_spec(
            timed_spec(start, id=cid, channels=["telegram"], telegram={"chats": [GROUP]})
        )
        specs.append(spec)
        async with platform.sessionmaker.begin() as session:
            await service.create(session, spec, source="test")
        launched = await commands.launch(argparse.Namespace(id=spec.id, channels=None), configured)
        assert launched == commands.OK
        if number == 0:
            ticks = Timeline(
                platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.2)
            )
            assert (await ticks.tick()).posted == {"clinic-chat/waiting": ["telegram"]}
            fake.send_text(ann, "A1 too cold in there", chat=group)
            await running.wait_for_count(Response, 1)
            async with platform.sessionmaker.begin() as session:
                await service.close(session, spec.id)
    second = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.2))
    assert (await second.tick()).posted == {"clinic-chat-two/waiting": ["telegram"]}
    fake.send_text(ann, "A1 warmer this time", chat=group)
    await running.wait_for_count(Response, 2)
    exported = await export(platform, "clinic-chat-two")
    assert [(r["item"], r["text"]) for r in exported] == [("waiting", "warmer this time")]


async def test_timed_answer_tags_early_edited_and_in_private(
    running: Running, settings: Settings
) -> None:
    """ "A2 ..." before Q2 is posted answers nothing; an edited "A1 ..." keeps its words
    without the tag; "A1 ..." in a private chat answers Q1 too."""
    fake, platform = running.fake, running.platform
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    ann, ben = fake.user(3021, "Ann"), fake.user(3022, "Ben")
    start = datetime.now(UTC)
    spec = parse_spec(timed_spec(start, channels=["telegram"], telegram={"chats": [GROUP]}))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    configured = replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )
    assert await commands.launch(argparse.Namespace(id=spec.id, channels=None), configured) == 0
    adapters = {"telegram": running.adapter}
    timeline = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.2))
    assert (await timeline.tick()).posted == {f"{spec.id}/waiting": ["telegram"]}
    fake.send_text(ann, "A2 the car park was full", chat=group)
    tagged = fake.send_text(ann, "A1 too cold in there", chat=group).message
    await running.wait_for_count(Response, 1)
    assert tagged is not None
    [first] = await export(platform, spec.id)
    assert (first["item"], first["text"]) == ("waiting", "too cold in there")
    fake.edit(ann, tagged, "A1 far too cold in there")

    async def edited() -> bool:
        rows = await export(platform, spec.id)
        return [r["text"] for r in rows] == ["far too cold in there"]

    await wait_until(edited, what="the edited answer, without its tag")
    # In the private chat: consent, then a tagged answer.
    fake.send_command(ben, "/start", spec.id)
    consent = await running.said(ben, 1)
    fake.press_button(ben, consent, consent.callback_data[0])
    await running.said(ben, 2)
    fake.send_text(ben, "A1 the chairs are hard")
    await running.wait_for_count(Response, 2)
    by_text = {r["text"]: r["item"] for r in await export(platform, spec.id)}
    assert by_text == {"far too cold in there": "waiting", "the chairs are hard": "waiting"}


async def test_a_vote_on_an_earlier_rounds_poll_never_changes_another_round(
    running: Running,
) -> None:
    fake, platform = running.fake, running.platform
    await launch(platform, delphi_spec(rounds=3, channels=["telegram"]))
    alice = fake.user(1201, "Alice")
    fake.send_command(alice, "/start", CID)
    consent = await running.said(alice, 1)
    fake.press_button(alice, consent, consent.callback_data[0])
    first = await running.said(alice, 2)
    assert first.poll is not None
    fake.vote(alice, first, [1])  # Important
    await running.said(alice, 3)  # thanks
    await running.wait_for_count(Response, 1)

    def polls() -> list[FakeMessage]:
        return [m for m in fake.messages_to(alice) if m.poll is not None]

    start = await opened_at(platform, CID)
    timeline = Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48.5))
    assert (await timeline.tick()).invited == {f"{CID}/priority/2": 1}
    await fake.wait_for(lambda: len(polls()) == 2)
    second = polls()[1]
    said = len(fake.messages_to(alice))
    fake.vote(alice, second, [0])  # Essential
    await running.said(alice, said + 1)  # thanks
    await running.wait_for_count(Response, 2)

    async def stored() -> list[tuple[int | None, list[str]]]:
        async with platform.sessionmaker() as session:
            found = await session.scalars(select(Response).where(Response.item_id == "priority"))
            return sorted((r.round, list(r.choices)) for r in found)

    # Round 1 has ended: a changed vote on its poll is not stored, and the person is told.
    said = len(fake.messages_to(alice))
    fake.vote(alice, first, [4])  # Not needed
    ended = await running.said(alice, said + 1)
    assert ended.text == texts_for("en")("round_ended")
    assert await stored() == [(1, ["Important"]), (2, ["Essential"])]

    third = Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 96.5))
    assert (await third.tick()).invited == {f"{CID}/priority/3": 1}
    await fake.wait_for(lambda: len(polls()) == 3)
    words = " ".join(
        (m.text or "") + (m.poll.question if m.poll else "")
        for m in fake.messages_to(alice)[said + 1 :]
    )
    assert "Round 3 of 3" in words and "Your answer was: Essential." in words

    # A vote again on round 2's poll during round 3 is not a round-3 answer.
    said = len(fake.messages_to(alice))
    fake.vote(alice, second, [2])  # Neutral
    ended = await running.said(alice, said + 1)
    assert ended.text == texts_for("en")("round_ended")
    fake.vote(alice, first, [])  # taking back a round-1 vote takes back nothing
    await running.said(alice, said + 2)
    fake.vote(alice, polls()[2], [1])  # Important, on round 3's own poll
    await running.wait_for_count(Response, 3)
    assert await stored() == [(1, ["Important"]), (2, ["Essential"]), (3, ["Important"])]


async def test_a_timed_question_waits_for_an_adapter_not_started_yet(
    fake: FakeTelegram, platform: Platform
) -> None:
    """Telegram unreachable at start, its adapter tried again in the background: a
    question that falls due meanwhile is not tried (nor claimed), and is posted once,
    at the first tick after the adapter starts."""
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    start = datetime.now(UTC)
    spec = await launch(
        platform, timed_spec(start, channels=["telegram"], telegram={"chats": [GROUP]})
    )
    fake.inject_error(502, "Bad Gateway", count=1000)  # as while Telegram is away
    waiting = {"telegram"}
    adapters = {"telegram": make_adapter(fake, platform)}
    timeline = Timeline(
        platform.sessionmaker,
        platform.keyring,
        adapters,
        clock=after(start, 0.2),
        waiting=waiting,
    )
    try:
        assert (await timeline.tick()).posted == {}
        assert fake.calls_to("sendMessage") == []  # not tried while the adapter waits
        async with platform.sessionmaker() as session:
            assert (await session.scalars(select(TimedAction))).all() == []

        fake.clear_errors()
        waiting.discard("telegram")  # the adapter started
        assert (await timeline.tick()).posted == {f"{spec.id}/waiting": ["telegram"]}
        assert (await timeline.tick()).posted == {}  # once
        [q1] = fake.messages_to(group)
        assert (q1.text or "").startswith("Q1. What is the waiting room like?")
    finally:
        await adapters["telegram"].stop()


async def test_a_timed_question_due_while_the_adapter_was_away_is_posted_as_it_starts(
    platform: Platform,
) -> None:
    """The timeline is woken when an adapter starts late: a question due meanwhile is
    posted then, not at the timeline's next tick (an hour away here)."""
    away = unused_port()
    fake = FakeTelegram(token=TOKEN, port=away)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    start = datetime.now(UTC) - timedelta(minutes=11)  # Q1 fell due a minute ago
    await launch(platform, timed_spec(start, channels=["telegram"], telegram={"chats": [GROUP]}))
    adapter = unreachable_adapter(platform, away)
    app = create_app(
        platform.settings,
        platform=platform,
        adapters=lambda p: {"telegram": adapter},
        timeline_interval=3600.0,
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=unused_port())):

        async def tried_to_start() -> bool:
            return "telegram" in app[operations.READY].waiting

        await wait_until(tried_to_start, what="the adapter's first start to fail")
        await fake.start()

        async def asked() -> list[FakeMessage]:
            return fake.messages_to(group)

        [q1] = await wait_until(asked, what="Q1 posted once the adapter started")
        assert (q1.text or "").startswith("Q1. What is the waiting room like?")
    await fake.close()
