"""Listening on Mastodon (mastodon-mock's hashtag timeline): gathered, screened, kept a while."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from bot.platform import Platform
from bot.timeline import Timeline
from consultations import records, reporting
from storage.tables import ChannelCursor, InboxEntry, ModerationCase, Participant, Response
from tests.adapters.mastodon.conftest import World
from tests.fakes.mastodon_server import MastodonServer
from tests.helpers import launch, spec_data
from tests.over_time.helpers import clock_at, listening_spec, rows
from tests.waiting import wait_until

CID = "city-hospital-listening"
CRISIS = "#CityHospital honestly I want to kill myself after that wait"


async def test_tagged_public_posts_are_gathered_and_only_mentions_answered(
    world: World,
) -> None:
    server, platform = world.server, world.platform
    await launch(platform, listening_spec())
    await world.start()

    await world.act(server.post, "gina", "The #CityHospital cafe food was cold again")
    await world.act(
        server.post, "hal", f"@{server.bot_username} #cityhospital the parking signs confuse me"
    )
    await world.act(server.post, "ivy", "Lovely day at the beach #OtherTag")  # another tag
    await world.act(
        server.post, "jo", "#CityHospital my number is 0412 345 678", visibility="unlisted"
    )
    await world.act(server.post, "kim", CRISIS)

    async def gathered() -> bool:
        return await world.count(Response) == 3

    await wait_until(gathered, what="three listened posts")
    stored = {r.text or "": r for r in await rows(platform, Response)}
    assert {r.item_type for r in stored.values()} == {"listening"}
    assert all(r.public for r in stored.values())
    hal = next(r for text, r in stored.items() if "parking signs" in text)
    gina = next(r for text, r in stored.items() if "cafe food" in text)
    assert hal.flags == ["mention"] and gina.flags == []
    # Kim's post was not addressed to us: nothing went back, and the case says so.
    cases = await rows(platform, ModerationCase)
    assert [(c.reason, c.person_sent) for c in cases] == [("safety", "nothing")]

    # Only the post that mentioned the bot is answered, privately; nobody else hears from us.
    [reply] = await world.received("hal", 1)
    assert reply["visibility"] == "direct" and "Thank you" in reply["content"]
    assert await world.act(server.received, "gina") == []
    assert await world.act(server.received, "kim") == []

    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, CID, out, "json")
        report = await reporting.build(session, CID, include_responses=True)
        csv = await reporting.render(session, CID, fmt="csv")
    exported = json.loads(out.getvalue())
    assert {r["item_type"] for r in exported} == {"listening"}
    assert not any(name in out.getvalue() for name in ("gina", "hal", "kim"))  # pseudonyms
    assert report["sentiment"]["n"] == 3  # every listened post is analysed and themed
    assert sum(t["count"] for t in report["themes"]) == 3
    quoted = json.dumps([t["quotes"] for t in report["themes"]])
    assert "cafe food" not in quoted and "kill myself" not in quoted
    assert "cafe food" not in csv and "not addressed to the service" in csv
    assert "parking signs" in csv

    # A second read finds nothing new; the cursor moved past what was read.
    assert await world.adapter.listener.read() == 0
    assert await world.count(ChannelCursor, ChannelCursor.name.like("tag:%")) == 1


async def test_listened_posts_are_deleted_after_the_retention(world: World) -> None:
    server, platform = world.server, world.platform
    await launch(platform, listening_spec())
    await world.start()
    await world.act(server.post, "lou", "Long queue at #CityHospital today")

    async def gathered() -> bool:
        return await world.count(Response) == 1

    await wait_until(gathered, what="the listened post")
    [post] = await rows(platform, Response)
    kept = Timeline(
        platform.sessionmaker,
        platform.keyring,
        clock=clock_at(post.created_at + timedelta(days=29)),
    )
    assert (await kept.tick()).purged == {}
    purge = Timeline(
        platform.sessionmaker,
        platform.keyring,
        clock=clock_at(post.created_at + timedelta(days=31)),
    )
    assert (await purge.tick()).purged == {CID: 1}
    assert await world.count(Response) == 0


async def test_a_public_mention_without_the_tag_is_gathered_once_and_answered(
    world: World,
) -> None:
    server, platform = await _listening_to_mentions(world)
    await world.act(server.mention, "max", "the lifts in block B are broken again")
    [reply] = await world.received("max", 1)
    assert reply["visibility"] == "direct"
    [stored] = await rows(platform, Response)
    assert (stored.item_type, stored.flags) == ("listening", ["mention"])
    assert stored.text == "the lifts in block B are broken again"


async def test_stop_after_a_noted_mention_takes_the_post_back(world: World) -> None:
    """The note says "reply STOP if you would rather we did not": STOP keeps the promise."""
    server, platform = await _listening_to_mentions(world)
    await world.act(server.mention, "mia", "the lifts in block C are broken again")
    [note] = await world.received("mia", 1)
    assert "Reply STOP" in note["content"]
    assert len(await rows(platform, Response)) == 1
    await world.act(server.dm, "mia", "STOP", in_reply_to_id=note["id"])

    async def taken_back() -> bool:
        return await rows(platform, Response) == []

    await wait_until(taken_back, what="the noted post taken back")


async def test_a_disclosure_in_a_mention_gets_the_safety_reply_and_its_case_says_so(
    world: World,
) -> None:
    server, platform = await _listening_to_mentions(world)
    await world.act(server.mention, "noa", "honestly I want to kill myself after that wait")
    # The safety reply is longer than a post: it goes as direct messages, in parts.
    replies = await world.received("noa", 2)
    assert {r["visibility"] for r in replies} == {"direct"}
    assert any("Thank you for telling us" in r["content"] for r in replies)
    [case] = await rows(platform, ModerationCase)
    assert (case.reason, case.person_sent) == ("safety", "safety-reply")


async def _listening_to_mentions(world: World) -> tuple[MastodonServer, Platform]:
    """The listening consultation open and the notification intake's first run done (its
    cursor stored): a mention from now on is read. The fake server and the platform."""
    await launch(world.platform, listening_spec())
    await world.start()

    async def read() -> bool:
        return await world.count(ChannelCursor, ChannelCursor.name.like("notifications:%")) > 0

    await wait_until(read, what="the Mastodon intake's cursor")
    return world.server, world.platform


async def test_a_mention_nobody_takes_leaves_no_participant(world: World) -> None:
    """A public mention that answers no consultation post, with no listening consultation
    to note it: the person never took part, and no pseudonym of theirs is kept."""
    await launch(world.platform, spec_data(channels=["web", "mastodon"]))
    await world.start()

    async def read() -> bool:
        return await world.count(ChannelCursor, ChannelCursor.name.like("notifications:%")) > 0

    await wait_until(read, what="the Mastodon intake's cursor")
    status = await world.act(world.server.mention, "ned", "when is the clinic open on Saturday?")
    ref = world.platform.keyring.reference("mastodon", str(status["id"]))

    async def handled() -> bool:
        done = InboxEntry.processed_at.is_not(None)
        return await world.count(InboxEntry, InboxEntry.event_id == ref, done) == 1

    await wait_until(handled, what="the mention handled")
    assert await world.count(Participant) == 0
