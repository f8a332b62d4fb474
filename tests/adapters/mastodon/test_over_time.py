"""Engagement over time on Mastodon, through mastodon-mock: Delphi rounds, timed chats."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import publishing
from bot.timeline import Timeline
from consultations import service
from consultations.spec import parse_spec
from storage.tables import ChannelCursor, Response
from tests.adapters.mastodon.conftest import World
from tests.helpers import launch
from tests.over_time.helpers import after, delphi_spec, opened_at, rows, timed_spec
from tests.waiting import wait_until

CID = "evening-clinics"


async def test_round_two_is_asked_by_direct_message(world: World) -> None:
    server, platform = world.server, world.platform
    await launch(platform, delphi_spec(channels=["mastodon"]))
    await world.start()

    async def listening() -> bool:  # the intake's first run has set its cursor
        return await world.count(ChannelCursor, ChannelCursor.channel == "mastodon") > 0

    await wait_until(listening, what="the Mastodon intake's cursor")
    hello = await world.act(server.dm, "dana", "Hello")
    [offer] = await world.received("dana", 1)
    assert str(offer["in_reply_to_id"]) == str(hello["id"])
    await world.act(server.dm, "dana", "1", in_reply_to_id=offer["id"])
    consent = (await world.received("dana", 2))[-1]
    await world.act(server.dm, "dana", "1", in_reply_to_id=consent["id"])
    poll = (await world.received("dana", 3))[-1]
    assert "How important are evening clinics" in poll["content"]
    await world.act(server.dm, "dana", "2", in_reply_to_id=poll["id"])  # Important
    await world.received("dana", 4)  # thanks

    start = await opened_at(platform, CID)
    tick = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 49)).tick()
    assert tick.invited == {f"{CID}/priority/2": 1}
    ask = (await world.received("dana", 5))[-1]
    assert ask["visibility"] == "direct"
    assert "Round 2 of 2" in ask["content"] and "Important: 100%" in ask["content"]
    assert "Your answer was: Important." in ask["content"]
    await world.act(server.dm, "dana", "1", in_reply_to_id=ask["id"])  # Essential

    async def both() -> bool:
        return len(await rows(platform, Response, Response.item_id == "priority")) == 2

    await wait_until(both, what="the round 2 answer")
    stored = await rows(platform, Response, Response.item_id == "priority")
    assert sorted((r.round, r.choices[0]) for r in stored) == [(1, "Important"), (2, "Essential")]


async def test_a_timed_chat_posts_its_questions_as_a_thread(world: World) -> None:
    server, platform = world.server, world.platform
    start = datetime.now(UTC)
    spec = parse_spec(timed_spec(start, channels=["mastodon"]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    adapters = {"mastodon": world.adapter}
    done = await publishing.launch(
        platform.sessionmaker, adapters, spec, ["mastodon"], keys=platform.keyring
    )
    assert done.results.failed == {} and done.results.done == {"mastodon": 1}  # intro only
    await world.start()
    intro = await world.post_of(None, kind="intro")

    timeline = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.2))
    assert (await timeline.tick()).posted == {f"{spec.id}/waiting": ["mastodon"]}
    assert (await timeline.tick()).posted == {}
    q1 = await world.post_of("waiting")
    q1_status = await world.act(server.bot().status, q1)
    assert str(q1_status["in_reply_to_id"]) == intro
    assert "Q1. What is the waiting room like?" in q1_status["content"]

    later = Timeline(platform.sessionmaker, platform.keyring, adapters, clock=after(start, 0.4))
    assert (await later.tick()).posted == {f"{spec.id}/parking": ["mastodon"]}
    q2 = await world.post_of("parking")
    q2_status = await world.act(server.bot().status, q2)
    assert str(q2_status["in_reply_to_id"]) == q1  # the thread goes on under Q1
    assert "Q2. How was parking?" in q2_status["content"]

    await world.act(server.reply, "erin", q1, "Bright but the chairs are hard")
    await world.act(server.reply, "finn", q1, "A2: no spaces after nine")  # tagged for Q2

    async def both() -> bool:
        return await world.count(Response) == 2

    await wait_until(both, what="two answers")
    stored = {r.item_id: r.text or "" for r in await rows(platform, Response)}
    assert "chairs are hard" in stored["waiting"]
    assert stored["parking"].endswith("no spaces after nine")
    assert "A2" not in stored["parking"]
