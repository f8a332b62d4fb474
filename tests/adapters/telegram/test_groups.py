"""Launching in groups and forum groups: anonymous polls, topics, replies to replies."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from bot import commands
from bot.config import Settings
from consultations import service
from consultations.spec import parse_spec
from storage.tables import Consent, PollTally, Publication, Response
from tests.adapters.telegram.conftest import Running
from tests.adapters.telegram.test_private_chat import export
from tests.helpers import spec_data

FORUM, GROUP = -1001000000001, -1001000000002


def co_design_spec() -> dict[str, Any]:
    return spec_data(
        model="co-design-thread",
        channels=["telegram"],
        segments=[],
        telegram={"chats": [FORUM, GROUP]},
        items=[
            {
                "id": "ease",
                "type": "poll",
                "text": "How easy was it to book your last appointment?",
                "options": ["Very easy", "Easy", "Hard"],
            },
            {"id": "reminder", "type": "thread", "text": "What should the reminder say?"},
        ],
    )


async def test_co_design_thread_in_a_forum_group_with_a_reply_to_a_reply(
    running: Running, settings: Settings
) -> None:
    fake, platform = running.fake, running.platform
    forum = fake.group(FORUM, "Clinic forum", forum=True)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    bob, carol, dan = fake.user(2001, "Bob"), fake.user(2002, "Carol"), fake.user(2003, "Dan")
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(co_design_spec()), source="test")
    configured = replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )

    code = await commands.launch(
        argparse.Namespace(id="outpatient-booking", channels=None), configured
    )
    assert code == commands.OK

    intro, poll, seed = fake.messages_to(forum)
    assert "We use your answers" in (intro.text or "") and "STOP" in (intro.text or "")
    assert poll.poll is not None and poll.poll.is_anonymous
    assert seed.message_thread_id is not None and seed.is_topic_message  # its own topic
    plain_intro, plain_poll, plain_seed = fake.messages_to(group)
    assert plain_seed.message_thread_id is None  # no topics there: a post
    async with platform.sessionmaker() as session:
        kinds = sorted(p.kind for p in (await session.scalars(select(Publication))).all())
    assert kinds == ["intro", "intro", "item", "item", "item", "item", "poll", "poll", "topic"]

    # Anonymous votes arrive only as totals.
    fake.vote(bob, poll, [0])
    fake.vote(carol, poll, [2])
    fake.vote(dan, plain_poll, [0])
    await running.wait_for_count(PollTally, 3)

    # Bob writes in the topic; Carol replies to Bob; Dan replies to the plain post.
    update = fake.send_text(
        bob, "Say the clinic name", chat=forum, message_thread_id=seed.message_thread_id
    )
    assert update.message is not None
    await running.wait_for_count(Response, 1)
    bobs = fake.message(forum, update.message.message_id)
    fake.reply(carol, bobs, "And the time, please")
    fake.reply(dan, plain_seed, "Keep it short")
    fake.send_text(dan, "Unrelated chatter", chat=group)  # not a reply: not ours
    await running.wait_for_count(Response, 3)

    exported = await export(platform, "outpatient-booking")
    replies = {r["text"]: r for r in exported if r["item"] == "reminder"}
    assert set(replies) == {"Say the clinic name", "And the time, please", "Keep it short"}
    assert replies["Say the clinic name"]["in_reply_to"] == "item:reminder"
    assert replies["Keep it short"]["in_reply_to"] == "item:reminder"
    async with platform.sessionmaker() as session:
        bob_row = await session.scalar(
            select(Response).where(Response.text == "Say the clinic name")
        )
        consents = (await session.scalars(select(Consent))).all()
    assert bob_row is not None
    assert replies["And the time, please"]["in_reply_to"] == f"response:{bob_row.id}"
    assert not [r for r in exported if r["item"] == "ease"]  # no per-person records
    assert {c.method for c in consents} == {"public-reply"}

    code = await commands.close(argparse.Namespace(id="outpatient-booking"), configured)
    assert code == commands.OK
    assert poll.poll is not None and poll.poll.is_closed
    assert "has closed" in (fake.messages_to(forum)[-1].text or "")
    async with platform.sessionmaker() as session:
        finals = (await session.scalars(select(PollTally).where(PollTally.final))).all()
    by_chat = {t.platform_ref: t.counts for t in finals}
    assert poll.poll is not None and plain_poll.poll is not None
    assert by_chat[poll.poll.id] == {"Very easy": 1, "Easy": 0, "Hard": 1}
    assert by_chat[plain_poll.poll.id] == {"Very easy": 1, "Easy": 0, "Hard": 0}
