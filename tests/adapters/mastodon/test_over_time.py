"""Engagement over time on Mastodon, through mastodon-mock: Delphi rounds, timed chats."""

from __future__ import annotations

from bot.timeline import Timeline
from storage.tables import ChannelCursor, Response
from tests.adapters.mastodon.conftest import World
from tests.helpers import launch
from tests.over_time.helpers import after, delphi_spec, opened_at, rows
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
