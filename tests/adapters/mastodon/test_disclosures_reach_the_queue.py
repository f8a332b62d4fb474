"""A disclosure on any channel reaches the moderation queue, and gets the safety reply;
its case says whether a listed phrase or the screen's model alone flagged it."""

from __future__ import annotations

from typing import Any

import telegram
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.adapter import ChannelAdapter
from consultations import moderation, screening
from storage.tables import ModerationCase
from tests.adapters.mastodon.conftest import World
from tests.adapters.telegram.conftest import make_adapter as telegram_adapter
from tests.bot.test_dashboard import disclose
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import (
    BY_MODEL,
    BY_MODEL_TOO,
    BY_PHRASE,
    BY_PHRASE_TOO,
    form_fields,
    spec_data,
)
from tests.waiting import wait_until

Client = TestClient[Any, Any]

DISCLOSURES = {
    "web": "Since the last appointment I have been planning to end my life",
    "telegram": "honestly i dont want to be alive anymore",
    "mastodon-public": "The wait was so long I started cutting myself again",
    "mastodon-direct": "I have pills saved up and I am going to take them all tonight",
}


async def _telegram_says(fake: FakeTelegram, person: telegram.User, text: str) -> None:
    """``person`` joins the demo on Telegram (agrees, declines re-contact, answers the
    poll) and then writes ``text`` at the free-text question."""
    fake.send_command(person, "/start", "outpatient-booking")
    sent = await fake.wait_for_sent(1, chat=person)
    fake.press_button(person, sent[0], sent[0].callback_data[0])  # agree
    sent = await fake.wait_for_sent(2, chat=person)
    fake.press_button(person, sent[1], sent[1].callback_data[1])  # no re-contact
    sent = await fake.wait_for_sent(3, chat=person)
    fake.vote(person, sent[2], [0])
    await fake.wait_for_sent(4, chat=person)
    fake.send_text(person, text)


async def test_every_channel_opens_a_case_and_answers_with_help(
    world: World, web_client: Client
) -> None:
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, world.platform)
        await world.launch(spec_data(channels=["web", "telegram", "mastodon"], segments=[]))
        extra: dict[str, ChannelAdapter] = {"telegram": telegram}
        await world.start(extra=extra)

        # The web page: consent, then the disclosure in the prompt.
        await disclose(web_client, DISCLOSURES["web"])

        # Telegram, private chat.
        alice = fake.user(5550000001, "Alice")
        await _telegram_says(fake, alice, DISCLOSURES["telegram"])

        # Mastodon: a public reply and a direct message.
        server = world.server
        prompt = await world.post_of("one-thing")
        await world.act(server.reply, "pubperson", prompt, DISCLOSURES["mastodon-public"])
        await world.act(server.dm, "dmperson", "start outpatient-booking")
        consent = (await world.received("dmperson", 1))[-1]
        await world.act(server.dm, "dmperson", "1", in_reply_to_id=consent["id"])
        recontact = (await world.received("dmperson", 2))[-1]
        # Asked a yes-or-no question, the person writes something else: screened all the
        # same, though it is no answer and is not stored as one.
        await world.act(
            server.dm, "dmperson", DISCLOSURES["mastodon-direct"], in_reply_to_id=recontact["id"]
        )

        async def four_cases() -> list[moderation.CaseView] | None:
            async with world.platform.sessionmaker() as session:
                cases = await moderation.open_cases(session)
            return cases if len(cases) >= 4 else None

        cases = await wait_until(four_cases, what="a case from every channel")

        async def helplines_sent() -> bool:
            to_alice = [m.text or "" for m in fake.messages_to(alice)]
            public = await world.received("pubperson", 0)
            direct = await world.received("dmperson", 0)
            return (
                any("Lifeline" in t for t in to_alice)
                and any("Lifeline" in s["content"] for s in public)
                and any("Lifeline" in s["content"] for s in direct)
            )

        await wait_until(helplines_sent, what="the safety replies")
        public = await world.received("pubperson", 0)
        assert {s["visibility"] for s in public if "Lifeline" in s["content"]} == {"direct"}
        await world.stop()

    assert sorted(c.text for c in cases) == sorted(DISCLOSURES.values())
    assert all(c.reason == "safety" and c.categories for c in cases)
    assert any(c.urgent for c in cases)  # plans and means alert at once


async def test_every_channel_records_whether_a_phrase_or_the_model_alone_flagged_it(
    world: World, web_client: Client
) -> None:
    # What each case must say, and where it was written: a listed phrase or the model.
    written = {
        "web answer": (BY_PHRASE, "phrase"),
        "web thread post": (BY_MODEL, "model"),
        "telegram": (BY_MODEL_TOO, "model"),
        "mastodon-public": (BY_PHRASE_TOO, "phrase"),
        # Typed where a choice was asked: not an answer, its words kept on the case.
        "mastodon-direct": (
            "Nobody asked me about the pills I've been hoarding, they just discharged me",
            "model",
        ),
    }
    for text, kind in written.values():
        assert screening.screen(text).flagged_by == kind, text  # the screen, as these assume
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, world.platform)
        await world.launch(spec_data(channels=["web", "telegram", "mastodon"], segments=[]))
        await world.start(extra={"telegram": telegram})

        # The web page: one person answers the prompt, another posts in the thread.
        await disclose(web_client, written["web answer"][0])
        web_client.session.cookie_jar.clear()
        page = await (await web_client.get("/c/outpatient-booking")).text()
        fields = form_fields(page, "/c/outpatient-booking/consent")
        page = await (
            await web_client.post("/c/outpatient-booking/consent", data={**fields, "answer": "yes"})
        ).text()
        thread = "/c/outpatient-booking/threads/reminder"
        reply = await web_client.post(
            thread, data={**form_fields(page, thread), "text": written["web thread post"][0]}
        )
        assert "Lifeline" in await reply.text()

        # Telegram, private chat.
        await _telegram_says(fake, fake.user(5550000002, "Alice"), written["telegram"][0])

        # Mastodon: a public reply, and words typed at a direct message's question.
        server = world.server
        prompt = await world.post_of("one-thing")
        await world.act(server.reply, "pubperson", prompt, written["mastodon-public"][0])
        await world.act(server.dm, "dmperson", "start outpatient-booking")
        consent = (await world.received("dmperson", 1))[-1]
        await world.act(server.dm, "dmperson", "1", in_reply_to_id=consent["id"])
        recontact = (await world.received("dmperson", 2))[-1]
        await world.act(
            server.dm, "dmperson", written["mastodon-direct"][0], in_reply_to_id=recontact["id"]
        )

        async def every_case() -> list[moderation.CaseView] | None:
            async with world.platform.sessionmaker() as session:
                cases = await moderation.open_cases(session)
            return cases if len(cases) >= len(written) else None

        cases = await wait_until(every_case, what="a case from every channel")
        await world.stop()

    assert sorted((c.text or "", c.flagged_by or "") for c in cases) == sorted(written.values())
    assert all(c.reason == "safety" for c in cases)
    # The stored case holds the kind only, never the phrase that matched.
    async with world.platform.sessionmaker() as session:
        stored = {row.flagged_by for row in await session.scalars(select(ModerationCase))}
    assert stored == {"phrase", "model"}
