"""Launching in groups and forum groups: anonymous polls, topics, replies to replies."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from bot import commands, schedule
from bot.config import Settings
from consultations import moderation, service
from consultations.spec import ConsultationSpec, parse_spec
from consultations.texts import ENGLISH
from storage.tables import (
    Consent,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Participant,
    PollTally,
    Publication,
    Response,
    utcnow,
)
from tests.adapters.telegram.conftest import Running, make_adapter
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
    configured = await _launch_co_design(running, settings)

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
    kept = fake.reply(dan, plain_seed, "Keep it short")
    fake.send_text(dan, "Unrelated chatter", chat=group)  # not a reply: not ours
    # Telegram marks a leading "/word" as a command, in groups too: a reply all the same.
    fake.reply(carol, plain_seed, "/Fantastic/ idea, say the time")
    await running.wait_for_count(Response, 4)

    exported = await export(platform, "outpatient-booking")
    replies = {r["text"]: r for r in exported if r["item"] == "reminder"}
    assert set(replies) == {
        "Say the clinic name",
        "And the time, please",
        "Keep it short",
        "/Fantastic/ idea, say the time",
    }
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

    # A reply edited into a disclosure: helplines privately, nothing in the group, and the
    # reply is flagged (so never shown or quoted) with its case opened.
    in_group = len(fake.messages_to(group))
    assert kept.message is not None
    fake.edit(dan, kept.message, CRISIS)
    [private] = await fake.wait_for_sent(1, chat=dan)
    assert "Lifeline" in (private.text or "")
    await running.wait_for_count(Response, 1, Response.text == CRISIS)
    async with platform.sessionmaker() as session:
        edited = await session.scalar(select(Response).where(Response.text == CRISIS))
    assert edited is not None and edited.flags == ["safety"] and edited.public
    assert len(fake.messages_to(group)) == in_group

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


CRISIS = "Honestly I want to kill myself"


async def _launch_co_design(running: Running, settings: Settings) -> Settings:
    """The co-design consultation stored and launched on the fake Bot API's groups with
    ``engage consultation launch``; the settings that reach the fake. Its adapter spaces
    the posts in a chat a second apart, as Telegram asks."""
    fake = running.fake
    await _store_co_design(running, None)
    configured = replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
    )
    code = await commands.launch(
        argparse.Namespace(id="outpatient-booking", channels=None), configured
    )
    assert code == commands.OK
    return configured


async def _launched_co_design(running: Running, *, language: str | None = None) -> None:
    """The co-design consultation (in ``language``, else English) stored and launched on
    the fake Bot API's groups as the command line launches it (:func:`bot.schedule.launch`),
    by an adapter of its own as the command line's process has, not the running one; an
    adapter that does not space its posts a second apart in a chat (three seconds a
    group: the pacing has tests of its own)."""
    platform = running.platform
    spec = await _store_co_design(running, language)
    launched = await schedule.launch(
        platform.sessionmaker,
        {"telegram": make_adapter(running.fake, platform)},
        spec,
        ["telegram"],
        keys=platform.keyring,
        now=utcnow(),
    )
    assert launched.results.done["telegram"] > 0 and not launched.results.failed


async def _store_co_design(running: Running, language: str | None) -> ConsultationSpec:
    data = co_design_spec() if language is None else {**co_design_spec(), "language": language}
    spec = parse_spec(data)
    async with running.platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    return spec


async def test_a_crisis_reply_in_a_group_gets_the_safety_message_only_privately(
    running: Running,
) -> None:
    """Helplines go to the person's private chat; the group sees at most a general note.

    A person who has started the bot gets the safety message privately and the group
    sees nothing about it; for a person the bot cannot write to (Telegram refuses to
    start a private chat), the group gets a short general note that replies to nothing
    and names no one. Both in a forum topic and in a plain group.
    """
    fake, platform = running.fake, running.platform
    forum = fake.group(FORUM, "Clinic forum", forum=True)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    bob = fake.user(2001, "Bob", last_name="Byrne", username="bob_b")
    dan = fake.user(2003, "Dan", last_name="Doyle", username="dan_d")
    carol = fake.user(2002, "Carol", last_name="Cho", username="carol_c", started=False)
    erin = fake.user(2004, "Erin", last_name="Ennis", username="erin_e", started=False)
    await _launched_co_design(running)
    launched = {chat.id: len(fake.messages_to(chat)) for chat in (forum, group)}
    seed = fake.messages_to(forum)[-1]
    plain_seed = fake.messages_to(group)[-1]
    assert seed.message_thread_id is not None
    calls_before = len(fake.calls_to("sendMessage"))

    # Started the bot: helplines in the private chat, nothing in the group.
    fake.send_text(bob, CRISIS, chat=forum, message_thread_id=seed.message_thread_id)
    fake.reply(dan, plain_seed, CRISIS)
    for person in (bob, dan):
        [private] = await fake.wait_for_sent(1, chat=person)
        assert "Lifeline" in (private.text or "")
        assert private.reply_to is None and private.message_thread_id is None
    # Never started it: only a general note in the place, in the same topic.
    fake.send_text(carol, CRISIS, chat=forum, message_thread_id=seed.message_thread_id)
    fake.reply(erin, plain_seed, CRISIS)
    for chat in (forum, group):
        await fake.wait_for_sent(launched[chat.id] + 1, chat=chat)
    await running.wait_for_count(OutboxEntry, 4, OutboxEntry.status == "sent")

    assert fake.messages_to(carol) == [] and fake.messages_to(erin) == []
    forum_notes = fake.messages_to(forum)[launched[forum.id] :]
    group_notes = fake.messages_to(group)[launched[group.id] :]
    assert len(forum_notes) == 1 and len(group_notes) == 1  # none about Bob or Dan
    assert forum_notes[0].message_thread_id == seed.message_thread_id
    assert group_notes[0].message_thread_id is None
    for note, person in ((forum_notes[0], carol), (group_notes[0], erin)):
        text = note.text or ""
        assert "Lifeline" in text and "support is available" in text
        assert note.reply_to_message_id is None
        assert note.entities == () and note.reply_markup is None  # no mention, no buttons
        assert CRISIS not in text and "kill" not in text.lower()
        for name in (person.first_name, person.last_name, person.username):
            assert name is not None and name.lower() not in text.lower()
    # On the wire: no reply parameters into either group, every safety call accounted for.
    calls = fake.calls_to("sendMessage")[calls_before:]
    into_groups = [
        c.params for c in calls if str(c.params.get("chat_id")) in (str(FORUM), str(GROUP))
    ]
    assert len(into_groups) == 2
    assert not any("reply_parameters" in p or "reply_to_message_id" in p for p in into_groups)
    refused = {str(c.params.get("chat_id")) for c in calls if c.status == 403}
    assert refused == {str(carol.id), str(erin.id)}
    # Each case says what reached its person: the two written to privately keep what the
    # dialogue recorded; the two who got only the note say so.
    async with platform.sessionmaker() as session:
        sent = (await session.scalars(select(ModerationCase.person_sent))).all()
    assert sorted(sent, key=str) == sorted(
        [moderation.SENT_GENERAL_NOTE] * 2 + [moderation.SENT_HELD] * 2, key=str
    )


async def test_stop_and_commands_in_a_group_show_no_one_and_store_nothing(running: Running) -> None:
    """STOP said in a group is confirmed in the person's private chat, never in the group
    (a reply there would show everyone who left); "/delete", "/help" and "help" replied
    to a post are no answers to store."""
    fake, platform = running.fake, running.platform
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    bob = fake.user(2011, "Bob", last_name="Byrne", username="bob_b")
    carol = fake.user(2012, "Carol", last_name="Cho", username="carol_c", started=False)
    await _launched_co_design(running)
    launched = len(fake.messages_to(group))
    seed = fake.messages_to(group)[-1]
    fake.reply(bob, seed, "Make the reminder say the clinic's name")
    for word in ("/delete", "/help", "help"):
        fake.reply(carol, seed, word)
    fake.reply(bob, seed, "STOP")
    [confirmed] = await fake.wait_for_sent(1, chat=bob)
    assert "You have left" in (confirmed.text or "")
    fake.reply(carol, seed, "STOP")
    await running.wait_for_count(InboxEntry, 6, InboxEntry.processed_at.is_not(None))
    assert fake.messages_to(group)[launched:] == []
    assert fake.messages_to(carol) == []
    stored = [r["text"] for r in await export(platform, "outpatient-booking")]
    assert stored == ["Make the reminder say the clinic's name"]


async def test_stop_written_to_the_bot_in_a_group_leaves(running: Running) -> None:
    """STOP works in a group as it does in a private chat: replied to any of the bot's
    posts, in the consultation's language, or written to the bot ("@bot stop",
    "/stop@bot"); each is confirmed privately and nothing shows in the group. "stop the
    cuts" posted to the group, or "stop" to no one, withdraws nothing."""
    fake, platform = running.fake, running.platform
    fake.group(FORUM, "Clinic forum", forum=True)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    await _launched_co_design(running, language="cy")
    launched = len(fake.messages_to(group))
    intro, poll, seed = fake.messages_to(group)
    bot = f"@{fake.bot_user.username}"
    leaving = {
        fake.user(2021, "Ann"): lambda u: fake.reply(u, seed, "stopio"),
        fake.user(2022, "Ben"): lambda u: fake.reply(u, intro, "Stop please"),
        fake.user(2023, "Cai"): lambda u: fake.reply(u, poll, "STOP"),
        fake.user(2024, "Dee"): lambda u: fake.send_text(u, f"{bot} stop", chat=group),
        fake.user(2025, "Eli"): lambda u: fake.send_text(u, f"Stop please {bot}", chat=group),
        fake.user(2026, "Fay"): lambda u: fake.send_text(u, f"/stop{bot}", chat=group),
    }
    staying = fake.user(2027, "Gus")
    fake.reply(staying, seed, "Say the clinic name")
    fake.send_text(staying, "stop the cuts", chat=group)
    fake.send_text(staying, "stop", chat=group)
    fake.send_text(staying, f"{bot} stop the ward closures", chat=group)
    fake.send_text(staying, "/stop@another_bot", chat=group)
    for person, says in leaving.items():
        says(person)
    for number, person in enumerate(leaving):
        [confirmed] = await fake.wait_for_sent(1, chat=person)
        assert confirmed.reply_to is None and confirmed.message_thread_id is None
        # A reply names the consultation, whose words the confirmation is in.
        left = "Rydych chi wedi gadael" if number < 3 else "left all our consultations"
        assert left in (confirmed.text or "")
    await running.wait_for_count(InboxEntry, 8, InboxEntry.processed_at.is_not(None))
    await running.wait_for_count(Participant, 6, Participant.opted_out_at.is_not(None))
    assert fake.messages_to(group)[launched:] == []
    assert [m.text for m in fake.messages_to(staying)] == []
    stored = [r["text"] for r in await export(platform, "outpatient-booking")]
    assert stored == ["Say the clinic name"]


async def test_stop_in_a_language_written_to_the_bot_in_a_group_is_answered_in_it(
    running: Running,
) -> None:
    """STOP in Welsh or Spanish written to the bot in a group, answering none of its
    posts, leaves and is confirmed in that language; STOP in English from someone who
    took part by replying is confirmed in the words of the consultation they answered."""
    fake = running.fake
    fake.group(FORUM, "Clinic forum", forum=True)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    await _launched_co_design(running, language="cy")
    launched = len(fake.messages_to(group))
    seed = fake.messages_to(group)[-1]
    bot = f"@{fake.bot_user.username}"
    took_part = fake.user(2031, "Ann")
    fake.reply(took_part, seed, "Enw'r clinig, os gwelwch yn dda")
    await running.wait_for_count(Response, 1)
    leaving = {
        fake.user(2032, "Ben"): (f"{bot} stopio", "Rydych chi wedi gadael"),
        fake.user(2033, "Cai"): (f"{bot} baja", "Ha salido de todas"),
        took_part: (f"{bot} stop", "Rydych chi wedi gadael"),
    }
    for person, (words, _) in leaving.items():
        fake.send_text(person, words, chat=group)
    for person, (_, left) in leaving.items():
        [confirmed] = await fake.wait_for_sent(1, chat=person)
        assert left in (confirmed.text or ""), confirmed.text
    await running.wait_for_count(Participant, 3, Participant.opted_out_at.is_not(None))
    assert fake.messages_to(group)[launched:] == []


#: How each STOP is written to the bot in a group, by the stop word (or command) it holds:
#: after a mention, before one, replied to the bot's post, shouted or with marks after it.
STOP_FORMS: list[tuple[str, str]] = [
    *((word, "{bot} " + word) for word in sorted(ENGLISH.words("stop_words"))),
    *((word, "reply:" + word.upper()) for word in sorted(ENGLISH.words("stop_words"))),
    ("stop", "{bot} Stop!!"),
    ("stop", "{bot} stop 🙏"),
    ("stop", "Stop please {bot}"),
    ("stop", "{bot}   STOP."),
    ("/stop", "/stop{bot}"),
    ("/stop", "/stop"),
    ("stop", "reply:stop"),
]

#: Words to the bot in a group that mention stopping but are no STOP, nor a disclosure.
NOT_STOP = [
    "{bot} stop the cuts",
    "{bot} Stop the cuts!",
    "{bot} STOP THE CUTS to mental health services",
    "{bot} fight the cuts",
    "Stop the cuts {bot}",
]


async def test_every_stop_form_leaves_and_stop_the_cuts_is_neither_stop_nor_a_crisis(
    running: Running,
) -> None:
    """Each STOP form (every stop word, said to the bot or replied to its post, in any case
    and with marks around it, and the commands) leaves; "@bot stop the cuts", a campaign's
    words, is no STOP and no disclosure: nothing is sent to its writer, no case opened."""
    fake = running.fake
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    fake.group(FORUM, "Clinic forum", forum=True)
    await _launched_co_design(running)
    launched = len(fake.messages_to(group))
    seed = fake.messages_to(group)[-1]
    bot = f"@{fake.bot_user.username}"
    leaving = []
    for number, (_, form) in enumerate(STOP_FORMS):
        person = fake.user(3000 + number, f"Leaver {number}")
        if form.startswith("reply:"):
            fake.reply(person, seed, form.removeprefix("reply:"))
        else:
            fake.send_text(person, form.format(bot=bot), chat=group)
        leaving.append(person)
    staying = []
    for number, form in enumerate(NOT_STOP):
        person = fake.user(4000 + number, f"Stayer {number}")
        fake.send_text(person, form.format(bot=bot), chat=group)
        staying.append(person)
    for person, (word, form) in zip(leaving, STOP_FORMS, strict=True):
        confirmed = await fake.wait_for_sent(1, chat=person)
        assert "left all our consultations" in (confirmed[0].text or ""), (word, form)
    total = len(STOP_FORMS) + len(NOT_STOP)
    await running.wait_for_count(InboxEntry, total, InboxEntry.processed_at.is_not(None))
    await running.wait_for_count(
        Participant, len(STOP_FORMS), Participant.opted_out_at.is_not(None)
    )
    assert await running.count(ModerationCase) == 0
    for person, form in zip(staying, NOT_STOP, strict=True):
        assert fake.messages_to(person) == [], form
    assert fake.messages_to(group)[launched:] == []


async def test_a_crisis_reply_to_any_of_the_bots_posts_gets_the_safety_reply(
    running: Running,
) -> None:
    """A disclosure replied to the bot's introduction, or to a note of the bot's that is
    no consultation post, gets the helplines privately (or the general note where the
    person cannot be written to), opens a case, and nothing in the group quotes them."""
    fake, platform = running.fake, running.platform
    fake.group(FORUM, "Clinic forum", forum=True)
    group = fake.group(GROUP, "Clinic group", supergroup=True)
    bob = fake.user(2031, "Bob", last_name="Byrne", username="bob_b")
    erin = fake.user(2034, "Erin", last_name="Ennis", username="erin_e", started=False)
    await _launched_co_design(running)
    intro = fake.messages_to(group)[0]
    launched = len(fake.messages_to(group))
    fake.reply(bob, intro, CRISIS)
    [private] = await fake.wait_for_sent(1, chat=bob)
    assert "Lifeline" in (private.text or "")
    fake.reply(erin, intro, CRISIS)
    [note] = (await fake.wait_for_sent(launched + 1, chat=group))[launched:]
    assert "Lifeline" in (note.text or "") and note.reply_to_message_id is None
    assert CRISIS not in (note.text or "") and "erin" not in (note.text or "").lower()
    # A reply to that note (a message of the bot's that is no consultation post).
    fake.reply(bob, note, CRISIS + " still")
    await fake.wait_for_sent(2, chat=bob)
    await running.wait_for_count(ModerationCase, 3)
    assert len(fake.messages_to(group)) == launched + 1
    stored = [r["text"] for r in await export(platform, "outpatient-booking")]
    assert stored == []
