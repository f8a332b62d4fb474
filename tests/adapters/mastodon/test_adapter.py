"""The Mastodon adapter end to end: launch, votes, replies, mentions, DMs, close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.mastodon.adapter import PublishError
from bot.platform import Platform
from channels.adapter import PublishedPost
from consultations.spec import SpecError
from storage import queries
from storage.tables import (
    ChannelCursor,
    Consent,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Participant,
    PollTally,
    Publication,
    Response,
)
from tests.adapters.mastodon.conftest import World, make_adapter
from tests.adapters.telegram.test_private_chat import export
from tests.fakes.mastodon_server import BOT_USERNAME, HeldResponses, MastodonServer
from tests.helpers import launch, spec_data, statements_sent
from tests.waiting import wait_until


async def responses(world: World, **where: Any) -> list[Response]:
    clauses = [getattr(Response, key) == value for key, value in where.items()]
    rows = await world.rows(Response, *clauses)
    return sorted(rows, key=lambda r: r.id)


async def test_launch_posts_a_thread_with_a_native_poll(world: World) -> None:
    spec = await world.launch(spec_data(channels=["web", "mastodon"]))
    bot = world.server.bot()

    intro_id = await world.post_of(None, "intro")
    intro = await world.act(bot.status, intro_id)
    assert intro["visibility"] == "public"
    assert spec.consent.text in intro["content"]
    assert "STOP" in intro["content"]

    context = await world.act(bot.status_context, intro_id)
    items = [s for s in context["descendants"] if s["account"]["username"] == "engage"]
    assert len(items) == 3
    poll_status, prompt, thread = items
    assert poll_status["content"] == f"<p>{spec.items[0].text}</p>"
    assert "What one thing would make booking easier?" in prompt["content"]
    assert "Reply to this post to answer." in prompt["content"]
    assert "Reply to join the discussion" in thread["content"]
    assert [o["title"] for o in poll_status["poll"]["options"]] == list(spec.items[0].options)
    # Each item replies to the post before it: one thread, in order.
    assert str(items[0]["in_reply_to_id"]) == intro_id
    assert str(items[1]["in_reply_to_id"]) == str(items[0]["id"])
    assert str(items[2]["in_reply_to_id"]) == str(items[1]["id"])

    kinds = sorted(p.kind for p in await world.rows(Publication))
    assert kinds == ["intro", "item", "item", "item", "poll"]


async def test_two_launches_at_once_post_the_consultation_once(world: World) -> None:
    """Two operators (or the command line beside the dashboard) launching together."""
    from bot import publishing
    from consultations import service
    from consultations.spec import parse_spec

    spec = parse_spec(spec_data(channels=["mastodon"], segments=[]))
    platform = world.platform
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    adapters = {"mastodon": world.adapter}
    first, second = await asyncio.gather(
        *(
            publishing.launch(
                platform.sessionmaker, adapters, spec, ["mastodon"], keys=platform.keyring
            )
            for _ in range(2)
        )
    )
    posted = first.results.done["mastodon"] + second.results.done["mastodon"]
    rows = await world.rows(Publication, Publication.channel == "mastodon")
    assert posted == len([r for r in rows if r.kind not in publishing.NOT_POSTS]) > 0
    # Each post once: no item posted twice, and no marker left behind.
    assert len({(r.item_id, r.kind) for r in rows}) == len(rows)
    assert all(r.kind != publishing.PUBLISHING for r in rows)
    # And on the instance: as many statuses as posts stored, not twice as many.
    bot = world.server.bot()
    me = await world.act(bot.me)
    statuses = await world.act(bot.account_statuses, me["id"], limit=40)
    assert len(statuses) == len([r for r in rows if r.kind != "poll"]), [r.kind for r in rows]


async def test_an_item_called_intro_is_posted_apart_from_the_introduction(
    world: World,
) -> None:
    thread = {"id": "intro", "type": "thread", "text": "Introduce yourself and your clinic"}
    await world.launch(spec_data(channels=["mastodon"], segments=[], items=[thread]))
    introduction = await world.post_of(None, "intro")
    item = await world.post_of("intro")
    assert introduction != item
    status = await world.act(world.server.bot().status, item)
    assert "Introduce yourself and your clinic" in status["content"]


async def test_unlisted_visibility_is_used(world: World) -> None:
    data = spec_data(channels=["mastodon"], mastodon={"visibility": "unlisted"})
    await world.launch(data)
    status = await world.act(world.server.bot().status, await world.post_of("ease"))
    assert status["visibility"] == "unlisted"


async def test_a_poll_over_the_instance_limit_is_refused_naming_the_item(
    platform: Platform,
) -> None:
    async with MastodonServer() as stock:  # 4 options at most
        adapter = make_adapter(stock, platform)
        spec = spec_data(channels=["mastodon"])
        stored = await launch(platform, spec)
        with pytest.raises(SpecError) as raised:
            await adapter.publish(stored)
        assert [p.path for p in raised.value.problems] == ["items[0].options"]
        assert "at most 4" in str(raised.value)
        # Nothing was posted.
        assert await asyncio.to_thread(stock.bot().account_statuses, adapter.account.me_id) == []


async def test_votes_and_replies_are_stored_with_their_threads(world: World) -> None:
    await world.launch()
    await world.start()
    server = world.server
    poll_status = await world.act(server.bot().status, await world.post_of("ease"))
    poll_id = poll_status["poll"]["id"]
    await world.act(server.vote, "alice", poll_id, 0)
    await world.act(server.vote, "bob", poll_id, 3)
    await world.act(server.vote, "carol", poll_id, 3)

    async def tallied() -> PollTally | None:
        rows = await world.rows(PollTally, PollTally.item_id == "ease")
        latest = max(rows, key=lambda r: r.id, default=None)
        return latest if latest is not None and sum(latest.counts.values()) == 3 else None

    tally = await wait_until(tallied, what="a tally of 3 votes")
    assert tally.channel == "mastodon"
    assert tally.platform_ref == str(poll_id)
    assert tally.counts == {"Very easy": 1, "Easy": 0, "Neither": 0, "Hard": 2, "Very hard": 0}
    assert tally.final is False

    prompt = await world.post_of("one-thing")
    thread = await world.post_of("reminder")
    await world.act(server.reply, "alice", prompt, "An <b>online</b> booking form")
    first = await world.act(server.reply, "dan", thread, "Include the clinic address")
    # Bob answers Dan, not the bot: Mastodon tells only Dan (no mention of the bot).
    second = await world.act(server.reply, "bob", first["id"], "And where to park")

    async def three() -> list[Response] | None:
        rows = await responses(world, channel="mastodon")
        return rows if len(rows) == 3 else None

    stored = await wait_until(three, what="three stored replies")
    by_ref = {r.platform_ref: r for r in stored}

    def stored_as(status: dict[str, object]) -> Response:
        return by_ref[world.platform.keyring.reference("mastodon", str(status["id"]))]

    assert stored_as(first).item_id == "reminder"
    assert stored_as(first).in_reply_to == "item:reminder"
    assert stored_as(first).text == "Include the clinic address"
    reply = stored_as(second)
    assert (reply.item_id, reply.text) == ("reminder", "And where to park")
    assert reply.in_reply_to == f"response:{stored_as(first).id}"
    answer = next(r for r in stored if r.item_id == "one-thing")
    assert answer.text == "An <b>online</b> booking form"
    assert answer.in_reply_to is None
    consents = await world.rows(Consent)
    assert {c.method for c in consents} == {"public-reply"}
    assert len(consents) == 3
    # Nobody is messaged for a public answer.
    assert await world.act(server.received, "alice") == []


async def test_a_reply_to_the_poll_status_is_a_comment_in_its_thread(world: World) -> None:
    """Words replied to the poll's status answer no prompt: they are a post in the poll
    status's thread (``item_type: thread`` of the poll item, answering its post), and a
    reply to one answers it; even an option's words are no vote: the poll's totals come
    from the native poll alone."""
    await world.launch()
    await world.start()
    server = world.server
    poll = await world.post_of("ease")
    comment = await world.act(
        server.reply, "alice", poll, "Hard because the phone line is always busy"
    )
    await world.act(server.reply, "bob", comment["id"], "Same here, every morning")
    # An option's words replied to the post are a comment too: the vote is the poll's.
    await world.act(server.reply, "carol", poll, "Hard")

    async def three() -> list[Response] | None:
        rows = await responses(world, channel="mastodon")
        return rows if len(rows) == 3 else None

    await wait_until(three, what="three stored replies")
    exported = await export(world.platform, "outpatient-booking")
    by_text = {r["text"]: r for r in exported}
    first = by_text["Hard because the phone line is always busy"]
    second = by_text["Same here, every morning"]
    assert (first["item"], first["item_type"], first["choices"]) == ("ease", "thread", [])
    assert first["in_reply_to"] == "item:ease"
    assert (second["item"], second["item_type"]) == ("ease", "thread")
    assert second["in_reply_to"] == first["id"]
    assert (by_text["Hard"]["item_type"], by_text["Hard"]["choices"]) == ("thread", [])
    assert not [r for r in exported if r["item_type"] in ("prompt", "poll")]


async def test_a_reply_to_a_reply_arriving_first_brings_its_parent(world: World) -> None:
    """A mention whose parent is unseen: the adapter walks up the thread to the item."""
    await world.launch()
    server = world.server
    thread = await world.post_of("reminder")
    first = await world.act(server.reply, "dan", thread, "Say which clinic")
    second = await world.act(
        server.reply, "erin", first["id"], "@engage and the time, twice", mention_author=False
    )
    # Only the intake of notifications runs, so the parent is found by walking up.
    world.adapter.intake.sweep_interval = 3600
    await world.start()

    async def both() -> list[Response] | None:
        rows = await responses(world, item_id="reminder")
        return rows if len(rows) == 2 else None

    parent, child = await wait_until(both, what="both replies")
    # Kept as keyed hashes, never the status ids themselves.
    reference = world.platform.keyring.reference
    assert parent.platform_ref == reference("mastodon", str(first["id"]))
    assert child.platform_ref == reference("mastodon", str(second["id"]))
    assert child.in_reply_to == f"response:{parent.id}"
    assert child.text == "and the time, twice"


async def test_a_mention_arrives_through_the_stream(world: World) -> None:
    await world.launch()
    world.adapter.intake.sweep_interval = 3600
    world.adapter.intake.reconcile_interval = 3600  # so only the stream can bring it
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    prompt = await world.post_of("one-thing")
    status = await world.act(world.server.reply, "alice", prompt, "Evening appointments")

    async def stored() -> list[Response]:
        return await responses(
            world, platform_ref=world.platform.keyring.reference("mastodon", str(status["id"]))
        )

    [row] = await wait_until(stored, what="the streamed reply")
    assert (row.item_id, row.text) == ("one-thing", "Evening appointments")


async def test_a_reply_its_author_deletes_is_withdrawn_from_the_store(world: World) -> None:
    """Deleted on Mastodon, gone here: from the thread, the export and the reports."""
    await world.launch()
    world.adapter.intake.sweep_interval = 3600
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    thread = await world.post_of("reminder")
    server = world.server
    mine = await world.act(server.reply, "alice", thread, "My address is on the letter")
    kept = await world.act(server.reply, "dan", thread, "Include the clinic address")

    async def both() -> list[Response] | None:
        rows = await responses(world, item_id="reminder")
        return rows if len(rows) == 2 else None

    await wait_until(both, what="both replies")
    await world.act(server.delete, "alice", mine["id"])

    async def one() -> list[Response] | None:
        rows = await responses(world, item_id="reminder")
        return rows if len(rows) == 1 else None

    [left] = await wait_until(one, what="the deleted reply withdrawn")
    assert left.text == "Include the clinic address"
    assert left.platform_ref == world.platform.keyring.reference("mastodon", str(kept["id"]))
    # A deletion names no person: nobody was made of it.
    assert await world.count(Participant) == 2


async def test_without_streaming_mentions_are_polled_from_a_saved_cursor(
    platform: Platform,
) -> None:
    async with MastodonServer(streaming=False, ratelimit=3000) as server:
        world = World(server, platform, make_adapter(server, platform, sweep_interval=3600))
        try:
            await world.launch(spec_data(channels=["mastodon"], items=spec_data()["items"][1:]))
            await world.start()
            await wait_until(_mode(world, "polling"), what="polling")
            prompt = await world.post_of("one-thing")
            status = await world.act(server.reply, "alice", prompt, "Text reminders")

            async def stored() -> list[Response]:
                return await responses(
                    world,
                    platform_ref=world.platform.keyring.reference("mastodon", str(status["id"])),
                )

            [row] = await wait_until(stored, what="the polled reply")
            assert row.text == "Text reminders"
            notes = await world.act(server.bot().notifications, types=["mention"])
            cursor = await world.rows(ChannelCursor, ChannelCursor.channel == "mastodon")
            assert [c.value for c in cursor] == [str(max(int(n["id"]) for n in notes))]
        finally:
            await world.stop()


async def test_a_failing_stream_falls_back_to_polling(world: World) -> None:
    world.server.fail_next(502, path="/api/v1/streaming/user", times=None)
    await world.launch()
    world.adapter.intake.sweep_interval = 3600
    await world.start()
    await wait_until(_mode(world, "polling"), what="polling")
    status = await world.act(world.server.mention, "alice", "STOP")

    async def opted_out() -> bool:
        rows = await world.rows(
            InboxEntry,
            InboxEntry.event_id == world.platform.keyring.reference("mastodon", str(status["id"])),
        )
        return bool(rows) and rows[0].processed_at is not None

    await wait_until(opted_out, what="the polled STOP")
    [person] = await world.rows(Participant)
    assert person.opted_out_at is not None


async def test_a_number_sent_before_the_offer_is_recorded_still_picks(world: World) -> None:
    # The person sees the bot's status as soon as the instance has it, and may answer
    # before the outbox has recorded which status it sent. On a loaded machine that "1"
    # was read as words, and the list of consultations was offered again. Here the
    # instance holds its answer to the bot's post of the list until the intake has read
    # the "1" and looked for the record, so the answer comes first every time.
    await world.launch()
    await world.start()
    server = world.server
    held = server.hold_responses("/api/v1/statuses", method="POST", username=BOT_USERNAME)
    await world.act(server.dm, "carol", "Hello")
    await wait_until(_held(held), what="the offer posted, its response held")
    [offer] = await world.received("carol", 1)
    offer_ref = world.platform.keyring.reference("mastodon", str(offer["id"]))

    def looked_up(sent: list[tuple[str, Any]]) -> list[str]:
        """Reads of the outbox for the offer's reference."""
        found = []
        for statement, parameters in sent:
            values = parameters.values() if isinstance(parameters, dict) else parameters or ()
            reads = statement.lstrip().upper().startswith("SELECT")
            if reads and "outbox" in statement.lower() and offer_ref in values:
                found.append(statement)
        return found

    with statements_sent(world.platform.engine) as sent:
        reply = await world.act(server.dm, "carol", "1", in_reply_to_id=offer["id"])

        async def read() -> bool:
            return bool(looked_up(sent))

        await wait_until(read, what="the intake looking for the offer's record")
        # Read while the bot has not heard back, so the record could not exist: the
        # intake read nothing.
        assert not held.released
        assert await world.count(OutboxEntry, OutboxEntry.platform_ref == offer_ref) == 0
        held.release()

        consent = (await world.received("carol", 2))[-1]
    assert held.count == 1
    assert "We use your answers" in consent["content"]
    assert str(consent["in_reply_to_id"]) == str(reply["id"])
    await wait_until(_inbox_has(world, str(reply["id"])), what="the reply handled")
    await wait_until(_outbox_sent(world), what="every answer sent")
    statuses = await world.act(server.received, "carol")
    assert [s["id"] for s in statuses] == [offer["id"], consent["id"]]  # asked once


async def test_a_direct_message_dialogue_ends_with_stop(world: World) -> None:
    await world.launch()
    await world.start()
    server = world.server

    hello = await world.act(server.dm, "carol", "Hello")
    [offer] = await world.received("carol", 1)
    assert offer["visibility"] == "direct"
    assert str(offer["in_reply_to_id"]) == str(hello["id"])
    # Listed by title, as Telegram's buttons show them; the number still picks the id.
    assert "1. Improving outpatient booking" in offer["content"]
    assert "outpatient-booking" not in offer["content"]
    assert "Reply with a number." in offer["content"]

    await world.act(server.dm, "carol", "1", in_reply_to_id=offer["id"])
    consent = (await world.received("carol", 2))[-1]
    assert "We use your answers" in consent["content"]
    assert "1. Yes, I agree" in consent["content"]
    assert consent["content"].startswith("<p>@carol ")

    await world.act(server.dm, "carol", "1", in_reply_to_id=consent["id"])
    recontact = (await world.received("carol", 3))[-1]
    assert "contact you again" in recontact["content"]
    await world.act(server.dm, "carol", "2", in_reply_to_id=recontact["id"])
    segment = (await world.received("carol", 4))[-1]
    assert "Which best describes you?" in segment["content"]
    await world.act(server.dm, "carol", "2", in_reply_to_id=segment["id"])  # Carer
    # The poll is answered in its native poll (one vote per person): not asked by DM.
    prompt = (await world.received("carol", 5))[-1]
    assert "What one thing" in prompt["content"]
    await world.act(server.dm, "carol", "Reminders by text", in_reply_to_id=prompt["id"])
    (await world.received("carol", 6))[-1]

    await world.act(server.dm, "carol", "STOP")
    bye = (await world.received("carol", 7))[-1]
    assert "You have left all our consultations" in bye["content"]
    assert "To take part again, send /start." in bye["content"]
    assert bye["visibility"] == "direct"

    [person] = await world.rows(Participant)
    assert person.opted_out_at is not None
    stored = {r.item_id: (r.choices, r.text) for r in await responses(world)}
    assert stored == {
        "role": (["Carer"], None),
        "one-thing": ([], "Reminders by text"),
    }
    consent_rows = {c.purpose: (c.given, c.method) for c in await world.rows(Consent)}
    assert consent_rows == {"consultation": (True, "explicit"), "recontact": (False, "explicit")}
    assert all(c.withdrawn_at is not None for c in await world.rows(Consent, Consent.given))

    # After STOP nothing more is asked.
    await world.act(server.dm, "carol", "Hello again")
    await wait_until(_inbox_done(world, 8), what="the last DM handled")
    assert len(await world.act(server.received, "carol")) == 7

    # /start, as the reply says, offers the consultations again.
    await world.act(server.dm, "carol", "/start")
    again = (await world.received("carol", 8))[-1]
    assert "1. Improving outpatient booking" in again["content"]


async def test_a_public_stop_opts_out_and_is_answered_privately(world: World) -> None:
    await world.launch()
    await world.start()
    prompt = await world.post_of("one-thing")
    await world.act(world.server.reply, "alice", prompt, "Shorter hold times")
    await world.act(world.server.reply, "alice", prompt, "STOP")
    [bye] = await world.received("alice", 1)
    assert bye["visibility"] == "direct"
    assert "You have left" in bye["content"]
    [person] = await world.rows(Participant)
    assert person.opted_out_at is not None
    later = await world.act(world.server.reply, "alice", prompt, "One more idea")
    await wait_until(_inbox_has(world, str(later["id"])), what="the later reply")
    assert len(await responses(world)) == 1


async def test_a_crisis_reply_in_public_gets_a_private_safety_message(world: World) -> None:
    await world.launch()
    await world.start()
    prompt = await world.post_of("one-thing")
    await world.act(world.server.reply, "alice", prompt, "I want to kill myself")

    async def helplines() -> list[Any] | None:
        # A long message goes as a short thread of statuses.
        got = await world.act(world.server.received, "alice")
        return got if "Lifeline" in " ".join(s["content"] for s in got) else None

    statuses = await wait_until(helplines, what="the safety message")
    assert {s["visibility"] for s in statuses} == {"direct"}


async def test_help_in_a_public_reply_is_answered_by_direct_message_and_not_stored(
    world: World,
) -> None:
    await world.launch()
    await world.start()
    prompt = await world.post_of("one-thing")
    await world.act(world.server.reply, "bob", prompt, "HELP")
    [helped] = await world.received("bob", 1)
    assert helped["visibility"] == "direct"
    assert "/delete" in helped["content"] or "STOP" in helped["content"]
    assert await responses(world) == []


async def test_a_disclosure_replied_to_a_closed_consultation_gets_helplines_and_a_case(
    world: World,
) -> None:
    # Screened on arrival, whatever it answers: the consultation takes no answers, the
    # person still gets the helplines by direct message and a moderator sees it.
    from consultations import service

    await world.launch()
    await world.start()
    prompt = await world.post_of("one-thing")
    async with world.platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    await world.act(world.server.reply, "cal", prompt, "I am going to end it all tonight")

    async def helplines() -> list[Any] | None:
        got = await world.act(world.server.received, "cal")
        return got if "Lifeline" in " ".join(s["content"] for s in got) else None

    statuses = await wait_until(helplines, what="the safety message")
    assert {s["visibility"] for s in statuses} == {"direct"}
    [case] = await world.rows(ModerationCase)
    assert case.consultation_id == "outpatient-booking" and case.urgent
    assert await responses(world) == []


async def test_a_disclosure_waiting_when_intake_first_reads_a_closed_consultation_is_screened(
    world: World,
) -> None:
    # The intake's first read (no cursor yet) goes back to the consultations' posts; the
    # consultation closed before it came, the disclosure replied to its post was passed
    # over with everything else and the cursor moved past it.
    from consultations import service

    await world.launch()
    prompt = await world.post_of("one-thing")
    async with world.platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    await world.act(world.server.reply, "dee", prompt, "I am going to end it all tonight")
    await world.start()

    async def helplines() -> list[Any] | None:
        got = await world.act(world.server.received, "dee")
        return got if "Lifeline" in " ".join(s["content"] for s in got) else None

    statuses = await wait_until(helplines, what="the safety message")
    assert {s["visibility"] for s in statuses} == {"direct"}
    [case] = await world.rows(ModerationCase)
    assert case.urgent
    assert await responses(world) == []


async def test_close_stores_final_tallies_and_says_so_in_the_thread(world: World) -> None:
    spec = await world.launch()
    server = world.server
    poll_status = await world.act(server.bot().status, await world.post_of("ease"))
    await world.act(server.vote, "alice", poll_status["poll"]["id"], 1)
    posts = await world.rows(Publication)
    await world.adapter.close(
        spec,
        [
            PublishedPost(p.item_id, queries.publication_ref(world.platform.keyring, p), p.kind)
            for p in posts
        ],
    )
    [tally] = await world.rows(PollTally)
    assert tally.final is True
    assert tally.counts["Easy"] == 1
    intro = await world.post_of(None, "intro")
    context = await world.act(server.bot().status_context, intro)
    [closing] = [s for s in context["descendants"] if "has closed" in s["content"]]
    assert str(closing["in_reply_to_id"]) == intro


async def test_launch_rides_out_a_server_error(world: World) -> None:
    world.server.fail_next(500, path="/api/v1/statuses", methods=["POST"])
    await world.launch()
    assert len(await world.rows(Publication)) == 5
    assert world.server.faults() == []


async def test_a_refused_launch_post_names_the_item_and_leaves_nothing(world: World) -> None:
    spec = await launch(world.platform, spec_data(channels=["mastodon"]))
    server = world.server
    # The introduction and the poll go through; the prompt is refused.
    bot = server.bot()
    original = world.adapter.launcher._post
    calls = 0

    async def refuse_third(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            server.fail_next(422, path="/api/v1/statuses", error="Validation failed: nope")
        return await original(*args, **kwargs)

    world.adapter.launcher._post = refuse_third  # type: ignore[method-assign]
    with pytest.raises(PublishError) as raised:
        await world.adapter.publish(spec)
    assert str(raised.value).startswith("items[1] (one-thing): Mastodon refused the post")
    assert "Validation failed: nope" in str(raised.value)
    me = await world.act(bot.me)
    assert await world.act(bot.account_statuses, me["id"]) == []


def _mode(world: World, mode: str) -> Any:
    async def check() -> bool:
        return world.adapter.mode == mode

    return check


def _inbox_done(world: World, count: int) -> Any:
    async def check() -> bool:
        rows = await world.rows(InboxEntry, InboxEntry.channel == "mastodon")
        return len(rows) >= count and all(r.processed_at is not None for r in rows)

    return check


def _held(held: HeldResponses) -> Any:
    async def check() -> bool:
        return held.held.is_set()

    return check


def _outbox_sent(world: World) -> Any:
    async def check() -> bool:
        rows = await world.rows(OutboxEntry, OutboxEntry.channel == "mastodon")
        return bool(rows) and all(r.sent_at is not None for r in rows)

    return check


def _inbox_has(world: World, event_id: str) -> Any:
    # Event ids are kept as keyed hashes (a direct message's id names a conversation).
    stored_id = world.platform.keyring.reference("mastodon", event_id)

    async def check() -> bool:
        rows = await world.rows(InboxEntry, InboxEntry.event_id == stored_id)
        return bool(rows) and rows[0].processed_at is not None

    return check


async def test_a_first_start_reads_back_to_the_launch_and_no_further(world: World) -> None:
    server = world.server
    old = await world.act(server.mention, "zoe", "Hello from before any consultation")
    await world.launch()
    prompt = await world.post_of("one-thing")
    people = ["amy", "ben", "cat"]
    replies = [await world.act(server.reply, people[n % 3], prompt, f"Idea {n}") for n in range(45)]
    world.adapter.intake.sweep_interval = 3600  # only notifications, more than one page of them
    await world.start()

    async def all_stored() -> list[Response] | None:
        rows = await responses(world, item_id="one-thing")
        return rows if len(rows) == len(replies) else None

    await wait_until(all_stored, what="every reply since the launch")
    old_id = world.platform.keyring.reference("mastodon", str(old["id"]))
    assert await world.rows(InboxEntry, InboxEntry.event_id == old_id) == []


async def test_a_stalled_stream_is_noticed_polled_around_and_streamed_again(world: World) -> None:
    """Open but silent (no events, no keep-alives): only the heartbeat timeout can tell."""
    await world.launch()
    intake = world.adapter.intake
    intake.sweep_interval = 3600
    intake.reconcile_interval = 3600  # while streaming, only the stream brings mentions
    intake.stall_timeout = 1.0
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    opened = world.server.streams_opened
    prompt = await world.post_of("one-thing")

    world.server.stall_streams()
    stalled_at = asyncio.get_running_loop().time()
    await wait_until(_mode(world, "polling"), what="the stall to be noticed")
    noticed = asyncio.get_running_loop().time() - stalled_at
    # The heartbeat timeout (1 s of silence), not a reconcile poll (an hour). Counted from
    # the stall, so it can be under a second: the last keep-alive came before it.
    assert noticed < 5.0
    during = await world.act(world.server.reply, "alice", prompt, "Said while it was stalled")
    assert await wait_until(_stored(world, during["id"]), what="the reply polled meanwhile")

    world.server.stall_streams(False)
    await wait_until(_mode(world, "streaming"), what="streaming again")
    assert world.server.streams_opened > opened
    after = await world.act(world.server.reply, "bob", prompt, "Said once it streamed again")
    [row] = await wait_until(_stored(world, after["id"]), what="the streamed reply")
    assert row.text == "Said once it streamed again"
    assert world.adapter.mode == "streaming"  # it came by the stream, not by polling


async def test_a_streaming_intake_stops_as_soon_as_it_is_asked(world: World) -> None:
    """Between notifications the intake waits on the stream (a second at a time); asked
    to stop, it stops then, not at the end of the wait. The wait is made a minute long,
    so stopping within it cannot be the wait's end."""
    await world.launch()
    world.adapter.intake.sweep_interval = 3600
    world.adapter.intake.reconcile_interval = 3600
    world.adapter.intake.stream_turn = 60.0
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    prompt = await world.post_of("one-thing")
    await world.act(world.server.reply, "alice", prompt, "Evening appointments")

    async def taken_in() -> bool:
        return await world.count(InboxEntry) == 1

    await wait_until(taken_in, what="the streamed reply in the inbox", every=0.01)
    # Its wait for the next notification began as that one was committed.
    [intake] = [t for t in asyncio.all_tasks() if t.get_name() == "mastodon-intake"]
    world.adapter.stopper.set()
    await asyncio.wait_for(asyncio.shield(intake), 30.0)


def _stored(world: World, status_id: Any) -> Any:
    async def check() -> list[Response]:
        ref = world.platform.keyring.reference("mastodon", str(status_id))
        return await responses(world, platform_ref=ref)

    return check


async def _to_the_prompt(world: World, person: str) -> Any:
    """``person`` writes to the bot by direct message and answers it up to the prompt
    (the consultation, agreed, not to be contacted again, a carer); the bot's prompt."""
    server = world.server
    await world.act(server.dm, person, "Hello")
    [offer] = await world.received(person, 1)
    await world.act(server.dm, person, "1", in_reply_to_id=offer["id"])
    consent = (await world.received(person, 2))[-1]
    await world.act(server.dm, person, "1", in_reply_to_id=consent["id"])
    recontact = (await world.received(person, 3))[-1]
    await world.act(server.dm, person, "2", in_reply_to_id=recontact["id"])
    segment = (await world.received(person, 4))[-1]
    await world.act(server.dm, person, "2", in_reply_to_id=segment["id"])
    return (await world.received(person, 5))[-1]


async def test_delete_in_a_direct_message_asks_then_erases(world: World) -> None:
    # The bot's STOP and HELP replies say "Send /delete": on Mastodon too it erases, after
    # a confirmation; it is never stored as an answer to the question pending.
    await world.launch()
    await world.start()
    server = world.server
    prompt = await _to_the_prompt(world, "dana")
    assert "What one thing" in prompt["content"]

    await world.act(server.dm, "dana", "/delete", in_reply_to_id=prompt["id"])
    ask = (await world.received("dana", 6))[-1]
    assert "Erase everything?" in ask["content"] and ask["visibility"] == "direct"
    assert [r.text for r in await responses(world) if r.text] == []
    await world.act(server.dm, "dana", "1", in_reply_to_id=ask["id"])
    done = (await world.received("dana", 7))[-1]
    assert "has been erased" in done["content"]
    assert await world.rows(Participant) == []
    assert await responses(world) == []


async def _helplines_to(world: World, person: str) -> list[Any] | None:
    got = await world.act(world.server.received, person)
    return got if "Lifeline" in " ".join(s["content"] for s in got) else None


async def test_an_edited_thread_reply_replaces_the_answer_and_is_screened_again(
    world: World,
) -> None:
    """People correct what they posted: Mastodon streams the edit to the accounts it
    mentions, and the stored answer follows it, redacted and screened as at first."""
    from consultations import moderation

    await world.launch()
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    thread = await world.post_of("reminder")
    server = world.server
    kept = await world.act(server.reply, "dan", thread, "Include the clinc address")
    help_ = await world.act(server.reply, "dan", thread, "HELP")
    await wait_until(_inbox_has(world, str(help_["id"])), what="both replies handled")
    [row] = await responses(world, item_id="reminder")
    assert row.text == "Include the clinc address"

    await world.act(server.edit, "dan", kept["id"], "Include the clinic address, 0412 345 678")

    async def redacted() -> list[Response] | None:
        rows = await responses(world, item_id="reminder")
        return rows if rows and rows[0].text != "Include the clinc address" else None

    [row] = await wait_until(redacted, what="the edit stored")
    assert row.text == "Include the clinic address, [phone]"
    assert row.flags == ["redacted"]
    assert row.public and not moderation.OFF_PUBLIC_PAGES.intersection(row.flags)

    # Edited into a disclosure: the helplines by direct message, a case, and the reply
    # off the public page.
    await world.act(server.edit, "dan", kept["id"], "Honestly I want to kill myself")
    statuses = await wait_until(lambda: _helplines_to(world, "dan"), what="the safety reply")
    assert {s["visibility"] for s in statuses} == {"direct"}
    [case] = await world.rows(ModerationCase)
    assert case.urgent
    [row] = await responses(world, item_id="reminder")
    assert row.text == "Honestly I want to kill myself"
    assert moderation.OFF_PUBLIC_PAGES.intersection(row.flags)

    # A status never stored as an answer (HELP) edited into words: still not an answer.
    handled = len(await world.rows(InboxEntry, InboxEntry.channel == "mastodon"))
    await world.act(server.edit, "dan", help_["id"], "Say the opening hours")
    await wait_until(_inbox_done(world, handled + 1), what="the edit handled")
    assert [r.text for r in await responses(world)] == ["Honestly I want to kill myself"]
    assert await world.count(ModerationCase) == 1


async def test_an_edited_direct_message_answer_replaces_the_answer(world: World) -> None:
    await world.launch()
    await world.start()
    await wait_until(_mode(world, "streaming"), what="streaming")
    server = world.server
    prompt = await _to_the_prompt(world, "ivy")
    answer = await world.act(server.dm, "ivy", "Remnders by text", in_reply_to_id=prompt["id"])
    await world.received("ivy", 6)

    await world.act(server.edit, "ivy", answer["id"], "Reminders by text to 0412 345 678")

    async def edited() -> list[Response] | None:
        rows = await responses(world, item_id="one-thing")
        return rows if rows and rows[0].text != "Remnders by text" else None

    [row] = await wait_until(edited, what="the edit stored")
    assert row.text == "Reminders by text to [phone]"
    assert len(await world.act(server.received, "ivy")) == 6  # a correction asks nothing

    await world.act(server.edit, "ivy", answer["id"], "I want to end my life")
    await wait_until(lambda: _helplines_to(world, "ivy"), what="the safety reply")
    [case] = await world.rows(ModerationCase)
    assert case.urgent
    [row] = await responses(world, item_id="one-thing")
    assert row.flags == ["safety"]
    assert len(await responses(world)) == 2  # the role and this answer, none twice


async def test_an_edit_made_while_polling_is_read_from_the_thread(platform: Platform) -> None:
    """Mastodon notifies no edit: without the stream, the thread shows it."""
    async with MastodonServer(streaming=False, ratelimit=3000) as server:
        world = World(server, platform, make_adapter(server, platform, sweep_interval=0.1))
        try:
            await world.launch(spec_data(channels=["mastodon"], items=spec_data()["items"][1:]))
            await world.start()
            await wait_until(_mode(world, "polling"), what="polling")
            thread = await world.post_of("reminder")
            read = f"GET /api/v1/statuses/{await world.post_of(None, 'intro')}/context"
            kept = await world.act(server.reply, "dan", thread, "Include the clinc address")
            await wait_until(_inbox_has(world, str(kept["id"])), what="the reply handled")
            await world.act(server.edit, "dan", kept["id"], "Include the clinic address")

            async def edited() -> list[Response] | None:
                rows = await responses(world, item_id="reminder")
                return rows if rows[0].text == "Include the clinic address" else None

            await wait_until(edited, what="the edit stored")
            handled = len(await world.rows(InboxEntry, InboxEntry.channel == "mastodon"))
            swept = server.requests[read]

            async def three_sweeps_more() -> bool:
                # A sweep reads the thread, then takes in what is new: three are done once
                # a fourth has begun.
                return server.requests[read] >= swept + 4

            await wait_until(three_sweeps_more, what="three sweeps more")
            # The same edit is not taken again.
            assert len(await world.rows(InboxEntry, InboxEntry.channel == "mastodon")) == handled
        finally:
            await world.stop()
