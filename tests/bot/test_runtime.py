"""The channel-agnostic dialogue, driven through the inbox with an in-memory channel."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.outbox import RESEND_PREFIX, OutboxSender
from bot.platform import Platform
from channels.events import CONSENT, RECONTACT, EventKind, InboundEvent
from storage.channel_store import SqlChannelStore
from storage.tables import (
    Base,
    Consent,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Participant,
    Publication,
    Response,
)
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import launch, spec_data, tentative_flag
from tests.waiting import PATIENCE


async def deliver(platform: Platform, *events: InboundEvent) -> None:
    """What an adapter and `engage run` do: inbox commit, then handling."""
    await platform.inbox.receive_many(events)
    await platform.inbox.process_pending()


async def send_all(platform: Platform, channel: FakeChannel) -> None:
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {channel.name: channel}, base_delay=0.01
    )
    await sender.drain(channel.name, within=PATIENCE)


async def count(platform: Platform, table: Any) -> int:
    async with platform.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def responses(platform: Platform) -> list[Response]:
    async with platform.sessionmaker() as session:
        return list((await session.scalars(select(Response).order_by(Response.id))).all())


async def at_the_prompt(platform: Platform, person: Person, *texts: str) -> None:
    """``person`` starts, consents and answers the poll, then sends ``texts`` at the prompt."""
    await deliver(
        platform,
        person.starts("outpatient-booking"),
        person.answers(CONSENT, "yes"),
        person.answers("ease", "Hard"),
        *(person.says(text) for text in texts),
    )


async def test_conversation_from_start_to_thanks(platform: Platform) -> None:
    await launch(platform)
    channel = FakeChannel()
    ann = Person("1001")
    await deliver(platform, ann.starts("outpatient-booking"))
    await send_all(platform, channel)
    first = channel.to({"chat": "1001"})
    assert [m.question for m in first] == [CONSENT]
    assert "We use your answers" in first[0].text

    await deliver(platform, ann.answers(CONSENT, "Yes, I agree"))
    await deliver(platform, ann.answers(RECONTACT, "Yes, you may contact me"))
    await deliver(platform, ann.says("2"))  # the second segment option, typed as a number
    await deliver(platform, ann.answers("ease", "Hard"))
    await deliver(platform, ann.says("Let me book online please"))
    await deliver(platform, ann.says("Include the clinic's name"))
    await send_all(platform, channel)
    asked = [m.question for m in channel.to({"chat": "1001"})]
    assert asked == [CONSENT, RECONTACT, "role", "ease", "one-thing", "reminder", None]
    assert channel.sent[-1][1].text == "Thank you. We will share what we change."

    stored = await responses(platform)
    assert [(r.item_id, r.choices, r.text) for r in stored] == [
        ("role", ["Carer"], None),
        ("ease", ["Hard"], None),
        ("one-thing", [], "Let me book online please"),
        ("reminder", [], "Include the clinic's name"),
    ]
    async with platform.sessionmaker() as session:
        purposes = {(c.purpose, c.given, c.method) for c in await session.scalars(select(Consent))}
    assert purposes == {("consultation", True, "explicit"), ("recontact", True, "explicit")}


async def test_no_questions_and_nothing_stored_before_consent(platform: Platform) -> None:
    await launch(platform)
    ben = Person("1002")
    await deliver(platform, ben.starts("outpatient-booking"))
    await deliver(platform, ben.answers("ease", "Easy"))
    await deliver(platform, ben.says("My answer without consent"))
    assert await count(platform, Response) == 0
    channel = FakeChannel()
    await send_all(platform, channel)
    assert {m.question for m in channel.to({"chat": "1002"})} == {CONSENT}

    await deliver(platform, ben.answers(CONSENT, "No thanks"))
    await deliver(platform, ben.says("still talking"))
    assert await count(platform, Response) == 0


async def test_same_event_twice_is_stored_once(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    cat = Person("1003")
    await deliver(platform, cat.starts("outpatient-booking"), cat.answers(CONSENT, "yes"))
    vote = cat.answers("ease", "Easy")
    assert await platform.inbox.receive(vote) is True
    assert await platform.inbox.receive(vote) is False
    await deliver(platform, vote)
    assert await count(platform, Response) == 1
    assert await count(platform, InboxEntry) == 3


async def test_stop_in_any_form_withdraws_consent_and_nothing_more_is_stored(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(consent={"text": "ok to use?"}))
    for word in (
        "STOP",
        "stop",
        "/stop",
        "Stop.",
        "STOP!!",
        "stop 🙏",
        "Please  stop",
        "Stop messaging me",
        "unsubscribe",
        "CANCEL",
        "/stop@engage_bot",
        # Leaving said in words, the consultation or taking part named: the person is let
        # go, not held as a crisis (the screen read a wish to leave as one).
        "I want to leave this consultation",
        "I don't want to take part.",
        "I want to stop taking part",
    ):
        person = Person(f"stop-{word}")
        await deliver(
            platform,
            person.starts("outpatient-booking"),
            person.answers(CONSENT, "yes"),
            person.answers("role", "Staff"),
        )
        await deliver(platform, person.says(word))
        await deliver(platform, person.answers("ease", "Easy"), person.says("more words"))
        channel = FakeChannel()
        await send_all(platform, channel)
        last = channel.to({"chat": person.platform_id})[-1]
        assert "You have left" in last.text, word
    stored = await responses(platform)
    assert {r.item_id for r in stored} == {"role"}
    async with platform.sessionmaker() as session:
        consents = list(await session.scalars(select(Consent)))
        opted_out = list(await session.scalars(select(Participant.opted_out_at)))
    assert consents and all(c.withdrawn_at is not None for c in consents)
    assert all(moment is not None for moment in opted_out)
    assert await count(platform, ModerationCase) == 0


async def test_a_bare_wish_to_leave_is_screened_not_taken_as_stop(platform: Platform) -> None:
    """ "I want to leave" names no consultation: it may mean leaving life, so it is read
    by the screen (helplines, a case) rather than taken as a keyword."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    ivy = Person("1009")
    await at_the_prompt(platform, ivy, "I want to leave")
    assert await count(platform, ModerationCase) == 1
    channel = FakeChannel()
    await send_all(platform, channel)
    texts = [m.text for m in channel.to({"chat": "1009"})]
    assert not any("You have left" in text for text in texts)


async def test_an_answer_that_only_mentions_stopping_is_an_answer(platform: Platform) -> None:
    """Only a whole reply is a keyword: "Stop cancelling appointments" is feedback."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    hal = Person("1008")
    await at_the_prompt(platform, hal, "Stop cancelling appointments!", "help?")
    stored = [r.text for r in await responses(platform) if r.item_id == "one-thing"]
    assert stored == ["Stop cancelling appointments!"]
    channel = FakeChannel()
    await send_all(platform, channel)
    texts = [m.text for m in channel.to({"chat": "1008"})]
    assert not any("You have left" in text for text in texts)
    assert "Send STOP at any time" in texts[-1]  # "help?" is a request for help


async def test_redaction_and_safety_reply(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    dee = Person("1004")
    await at_the_prompt(platform, dee, "Call me on 0412 345 678 or mail dee@example.org")
    eve = Person("1005")
    await at_the_prompt(platform, eve, "I keep thinking about killing myself", "anyone there?")
    stored = {r.participant_id: r for r in await responses(platform) if r.item_id == "one-thing"}
    texts = sorted((r.text, r.flags) for r in stored.values())
    assert texts == [
        ("Call me on [phone] or mail [email]", ["redacted"]),
        ("I keep thinking about killing myself", ["safety"]),
    ]
    channel = FakeChannel()
    await send_all(platform, channel)
    to_eve = channel.to({"chat": "1005"})
    assert to_eve[-1].kind == "safety"
    assert "Lifeline" in to_eve[-1].text
    # after the disclosure the bot asks nothing more
    assert all(m.question is None for m in to_eve[to_eve.index(to_eve[-1]) :])
    assert await count(platform, ModerationCase) == 1


@pytest.mark.parametrize("where", ["all answered", "after stop", "before start", "closed"])
async def test_a_disclosure_that_answers_no_question_gets_the_safety_reply_and_a_case(
    platform: Platform, where: str
) -> None:
    # Free text is screened on arrival, whatever it answers: after the last question,
    # from someone who left, from someone who never started, to a closed consultation.
    # Not stored as an answer; the helplines at once and a case with the redacted words.
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    person = Person(f"crisis-{where.replace(' ', '-')}")
    if where != "before start":
        await deliver(
            platform,
            person.starts("outpatient-booking"),
            person.answers(CONSENT, "yes"),
            person.answers(RECONTACT, "No, please don't"),
            person.answers("ease", "Hard"),
            person.says("Text reminders please"),
            person.says("Say the time and the clinic"),
        )
    if where == "after stop":
        await deliver(platform, person.says("STOP"))
    if where == "closed":
        async with platform.sessionmaker.begin() as session:
            await service.close(session, "outpatient-booking")
    stored = len(await responses(platform))
    channel = FakeChannel()
    await send_all(platform, channel)
    before = len(channel.to({"chat": person.platform_id}))
    if where == "all answered":
        assert stored == 3
        assert channel.to({"chat": person.platform_id})[-1].text.startswith("Thank you")
    await deliver(platform, person.says("I have the pills ready and I will take them all tonight"))
    await send_all(platform, channel)
    said = channel.to({"chat": person.platform_id})[before:]
    assert [m.kind for m in said] == ["safety"], [m.text for m in said]
    assert "Lifeline" in said[0].text
    assert len(await responses(platform)) == stored
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.consultation_id == "outpatient-booking"
    assert case.urgent and case.response_id is None
    assert case.text == "I have the pills ready and I will take them all tonight"


async def test_after_a_disclosure_a_new_one_gets_the_safety_reply_again_in_its_words(
    platform: Platform,
) -> None:
    """A held dialogue asks nothing more, but a further disclosure is answered at once."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    fay = Person("1006")
    await at_the_prompt(
        platform,
        fay,
        "I keep thinking about killing myself",
        "anyone there?",
        "and my sister says she wants to die too, she has been saving her pills",
    )
    channel = FakeChannel()
    await send_all(platform, channel)
    replies = [m for m in channel.to({"chat": "1006"}) if m.kind == "safety"]
    assert len(replies) == 2  # nothing for "anyone there?"
    assert "If you are in danger now" in replies[0].text
    assert "worried about someone" in replies[1].text
    assert "If they are in danger now" in replies[1].text
    to_fay = channel.to({"chat": "1006"})
    assert to_fay[-2:] == replies  # and nothing else after the first: no question


async def test_a_tentative_flag_gets_a_check_in_and_the_person_carries_on(
    platform: Platform,
) -> None:
    """Only the model flagged it, and only just: the safety reply as a check-in (help,
    and that someone will read it), a case for a person, and the next question."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    ivy = Person("1010")
    await at_the_prompt(platform, ivy, tentative_flag())
    await deliver(platform, ivy.says("Include the clinic's name"))
    channel = FakeChannel()
    await send_all(platform, channel)
    to_ivy = channel.to({"chat": "1010"})
    safety = [m for m in to_ivy if m.kind == "safety"]
    assert len(safety) == 1
    assert "If any of it is about a hard time" in safety[0].text
    assert "Lifeline" in safety[0].text and "will read your message" in safety[0].text
    assert "It sounds like things are really hard" not in safety[0].text
    after = to_ivy[to_ivy.index(safety[0]) + 1 :]
    assert [m.question for m in after if m.question] == ["reminder"]
    assert after[-1].text == "Thank you. We will share what we change."
    stored = {r.item_id: r for r in await responses(platform)}
    assert stored["one-thing"].flags == ["safety"]
    assert stored["reminder"].text == "Include the clinic's name"
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.flagged_by == "model"
    assert case.person_sent == "check-in"  # the moderator knows Ivy went on


async def test_a_confident_flag_of_the_model_alone_holds_the_dialogue(platform: Platform) -> None:
    """The model alone, well over its threshold: held as after any disclosure."""
    from consultations.screening import screen

    text = "I've got a knife and I'm going to the pub to find him"
    assert screen(text).by_model and not screen(text).tentative
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    jo = Person("1011")
    await at_the_prompt(platform, jo, text, "anyone there?")
    channel = FakeChannel()
    await send_all(platform, channel)
    to_jo = channel.to({"chat": "1011"})
    assert to_jo[-1].kind == "safety" and "If you or someone else is in danger" in to_jo[-1].text
    assert "If any of it is about a hard time" not in to_jo[-1].text
    assert [r.item_id for r in await responses(platform)] == ["ease", "one-thing"]
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.person_sent == "held"  # Jo waits for someone


async def test_a_text_with_a_nul_is_stored_without_it_on_every_database(
    platform: Platform,
) -> None:
    """PostgreSQL refuses a NUL in text: the event would fail every time it was tried."""
    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    gus = Person("1007")
    await at_the_prompt(platform, gus, "The line\x00 was busy\x1b[0m all day")
    stored = [r.text for r in await responses(platform) if r.item_id == "one-thing"]
    assert stored == ["The line was busy[0m all day"]
    async with platform.sessionmaker() as session:
        failed = await session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.error.is_not(None))
        )
    assert failed == 0


async def test_outbox_retries_rate_limits_and_sends_each_message_once(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"p{n}") for n in range(5)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    channel = FakeChannel()
    channel.rate_limit(4)
    await send_all(platform, channel)
    assert sorted(address["chat"] for address, _ in channel.sent) == sorted(
        p.platform_id for p in people
    )
    async with platform.sessionmaker() as session:
        statuses = list(await session.scalars(select(OutboxEntry.status)))
        addresses = list(await session.scalars(select(OutboxEntry.address)))
    assert statuses == ["sent"] * 5
    assert addresses == [None] * 5  # sealed addresses are dropped once sent


async def test_blocked_user_is_opted_out_without_retries(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    fay = Person("1006")
    await deliver(platform, fay.starts("outpatient-booking"))
    channel = FakeChannel()
    channel.block()
    await send_all(platform, channel)
    assert channel.sent == []
    async with platform.sessionmaker() as session:
        row = await session.scalar(select(OutboxEntry))
        participant = await session.scalar(select(Participant))
    assert row is not None and row.status == "failed" and row.attempts == 1
    assert participant is not None and participant.opted_out_at is not None


async def test_interrupted_question_is_asked_again_once(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("1007").starts("outpatient-booking"))
    async with platform.sessionmaker.begin() as session:
        row = await session.scalar(select(OutboxEntry))
        assert row is not None
        row.status = "sending"  # as a crash mid-send leaves it
    channel = FakeChannel()
    sender = OutboxSender(platform.sessionmaker, platform.keyring, {"telegram": channel})
    assert await sender.recover() == 1
    await sender.drain("telegram", within=PATIENCE)
    [(_, again)] = channel.sent
    assert again.text.startswith(RESEND_PREFIX)
    assert await sender.recover() == 0
    await sender.drain("telegram", within=PATIENCE)
    assert len(channel.sent) == 1


async def test_erase_removes_the_person_from_every_table(platform: Platform) -> None:
    await launch(platform)
    # An id no timestamp, count or hex digest of the dump is likely to contain ("1008" was
    # found in the microseconds of "03:10:54.100889").
    gil = Person("908172635")
    await deliver(
        platform,
        gil.starts("outpatient-booking"),
        gil.answers(CONSENT, "yes"),
        gil.answers(RECONTACT, "yes"),
        gil.answers("role", "Patient"),
        gil.answers("ease", "Easy"),
        gil.says("I thought about ending my life"),
    )
    other = Person("1009")
    await deliver(platform, other.starts("outpatient-booking"), other.answers(CONSENT, "yes"))
    # A poll sent in each one's private chat, as the Telegram adapter records it: only the
    # poll's id, but a row about that person's conversation.
    store = SqlChannelStore(platform.sessionmaker, platform.keyring)
    for person, poll in (("908172635", "5550001"), ("1009", "5550002")):
        await store.add_publication(
            "telegram", "outpatient-booking", "ease", f"poll:{poll}", "dm-poll", person=person
        )
    pseudonym = platform.keyring.pseudonym("telegram", "908172635")
    async with platform.sessionmaker() as session:
        gil_id = await session.scalar(
            select(Participant.id).where(Participant.pseudonym == pseudonym)
        )
    assert gil_id is not None
    await deliver(platform, gil.event(EventKind.ERASE))
    from tests.storage.test_schema import dump_all

    dump = await dump_all(platform)
    assert pseudonym not in dump
    assert "908172635" not in dump
    assert "ending my life" not in dump
    assert await count(platform, Participant) == 1  # only the other person
    # No row of any table points at the erased person (a poll of their chat included).
    async with platform.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if "participant_id" in table.c:
                held = select(func.count()).where(table.c.participant_id == gil_id)
                assert await session.scalar(held) == 0, table.name
        polls = list(await session.scalars(select(Publication.kind)))
    assert polls == ["dm-poll"]  # the other person's


async def test_messages_queued_behind_a_block_are_cancelled(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    hal = Person("1010")
    await deliver(platform, hal.starts("outpatient-booking"), hal.says("help"), hal.says("?"))
    channel = FakeChannel()
    channel.block()
    await send_all(platform, channel)
    assert channel.sent == []
    async with platform.sessionmaker() as session:
        statuses = list(await session.scalars(select(OutboxEntry.status).order_by(OutboxEntry.id)))
    assert statuses == ["failed", "cancelled", "cancelled"]


async def test_a_false_alarm_released_by_a_moderator_lets_the_person_carry_on(
    platform: Platform,
) -> None:
    """Resolved as not a disclosure: the reply loses its flag, and the held dialogue goes
    on from the person's next message (not stored as an answer), on both stores."""
    from consultations import moderation

    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    hal = Person("1008")
    await at_the_prompt(platform, hal, "I keep thinking about killing myself")
    await deliver(platform, hal.says("hello?"))  # held: nothing asked
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
    flagged = [r for r in await responses(platform) if r.item_id == "one-thing"]
    assert [r.flags for r in flagged] == [["safety"]]

    async with platform.sessionmaker.begin() as session:
        with pytest.raises(moderation.CaseError, match="note"):
            await moderation.release(session, case.id, "mo@health.example", " ")
    async with platform.sessionmaker.begin() as session:
        await moderation.release(
            session, case.id, "mo@health.example", "A joke among friends; phoned, all well."
        )
    async with platform.sessionmaker.begin() as session:
        with pytest.raises(moderation.CaseError, match="already resolved"):
            await moderation.release(session, case.id, "mo@health.example", "again")
    released = [r for r in await responses(platform) if r.item_id == "one-thing"]
    assert [r.flags for r in released] == [["released"]]

    await deliver(platform, hal.says("ok"))
    channel = FakeChannel()
    await send_all(platform, channel)
    to_hal = channel.to({"chat": "1008"})
    # The next question after the prompt (the thread), once, after the safety reply.
    assert [m.kind for m in to_hal].count("safety") == 1
    assert to_hal[-1].question == "reminder"
    assert [r.text for r in await responses(platform)].count("ok") == 0
    await deliver(platform, hal.says("Include the clinic's name"))
    await send_all(platform, channel)
    assert channel.sent[-1][1].text == "Thank you. We will share what we change."


async def test_a_release_waits_while_another_case_of_the_person_is_open(
    platform: Platform,
) -> None:
    from consultations import moderation

    await launch(platform, spec_data(segments=[], consent={"text": "ok to use?"}))
    ivy = Person("1009")
    await at_the_prompt(
        platform,
        ivy,
        "I keep thinking about killing myself",
        "and I have been saving my pills to take them all at once",
    )
    async with platform.sessionmaker() as session:
        cases = list(await session.scalars(select(ModerationCase).order_by(ModerationCase.id)))
    assert len(cases) == 2
    async with platform.sessionmaker.begin() as session:
        await moderation.release(session, cases[0].id, "mo@health.example", "Looked: fine.")
    await deliver(platform, ivy.says("hello?"))
    channel = FakeChannel()
    await send_all(platform, channel)
    # Still held: the second case is open, so nothing more is asked.
    asked = [m.question for m in channel.to({"chat": "1009"}) if m.question is not None]
    assert asked == [CONSENT, "ease", "one-thing"]


async def test_a_disclosure_typed_where_a_choice_is_asked_is_counted_in_the_report(
    platform: Platform,
) -> None:
    # Typed at the poll, the disclosure stores no response (the poll wants a choice), but
    # it gets the helplines and a case, and the report counts it as flagged.
    from consultations import reporting

    await launch(platform, spec_data(segments=[]))
    channel = FakeChannel()
    bob, cat = Person("1101"), Person("1102")
    for person in (bob, cat):
        await deliver(platform, person.starts("outpatient-booking"))
        await deliver(platform, person.answers(CONSENT, "Yes, I agree"))
        await deliver(platform, person.answers(RECONTACT, "No, thank you"))
    await deliver(platform, bob.says("i dont want to be here anymore"))
    # A disclosure at the consent question itself counts as well.
    dee = Person("1103")
    await deliver(platform, dee.starts("outpatient-booking"))
    await deliver(platform, dee.says("I am going to end my life tonight"))
    await send_all(platform, channel)
    assert any(m.kind == "safety" for address, m in channel.sent if address == {"chat": "1101"})
    assert await count(platform, Response) == 0
    async with platform.sessionmaker() as session:
        report = await reporting.build(session, "outpatient-booking")
    assert report["safety"]["flagged"] == 2


@pytest.mark.parametrize("opens", [True, False])
async def test_a_link_to_a_draft_never_says_it_is_closed(platform: Platform, opens: bool) -> None:
    # A draft due to open (an advertised link followed early) says when it opens; one not
    # launched at all is not public: as if there were no such consultation.
    from datetime import UTC, datetime, timedelta

    from consultations import service
    from consultations.spec import parse_spec

    await launch(platform, spec_data(segments=[]))
    later = {"opens_at": (datetime.now(UTC) + timedelta(days=9)).isoformat()} if opens else {}
    async with platform.sessionmaker.begin() as session:
        await service.create(
            session, parse_spec(spec_data(id="future-one", title="Future clinic", **later)), "t"
        )
    person = Person(f"early-{opens}")
    await deliver(platform, person.starts("future-one"))
    channel = FakeChannel()
    await send_all(platform, channel)
    said = [m.text for m in channel.to({"chat": person.platform_id})]
    assert not any("closed" in text for text in said), said
    if opens:
        assert said[0].startswith("“Future clinic” opens on")
    else:
        assert said[0] == "We can't find “future-one”."
        assert "Future clinic" not in " ".join(said)


async def test_a_message_after_ones_consultation_closed_offers_what_is_open_now(
    platform: Platform,
) -> None:
    """Not "it is closed" to every message for ever: the open consultations are offered,
    and choosing one starts it."""
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    await launch(platform, spec_data(id="discharge", title="Going home", segments=[]))
    sam = Person("sam-closed")
    await deliver(platform, sam.starts("outpatient-booking"), sam.answers(CONSENT, "yes"))
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    channel = FakeChannel()
    await send_all(platform, channel)
    before = len(channel.to({"chat": sam.platform_id}))
    await deliver(platform, sam.says("hi"))
    await send_all(platform, channel)
    said = channel.to({"chat": sam.platform_id})[before:]
    assert "is closed" in said[0].text
    assert said[-1].options == ("discharge",)
    # Chosen (a button or a number: the channel makes it a start of that one).
    await deliver(platform, sam.starts("discharge"))
    await send_all(platform, channel)
    assert "Going home" in channel.to({"chat": sam.platform_id})[-1].text
    # And "hi" now goes to the new one, not to the closed one.
    await deliver(platform, sam.says("hi"))
    await send_all(platform, channel)
    assert not any("is closed" in m.text for m in channel.to({"chat": sam.platform_id})[-2:])


async def test_a_consultation_that_asks_nothing_is_not_offered(platform: Platform) -> None:
    """Listening gathers public posts: choosing it would be consent to nothing."""
    from tests.over_time.helpers import listening_spec

    await launch(platform, spec_data(segments=[], channels=["telegram"]))
    await launch(platform, listening_spec(channels=["telegram", "mastodon"]))
    ann = Person("ann-offer")
    await deliver(platform, ann.starts())
    channel = FakeChannel()
    await send_all(platform, channel)
    [offer] = channel.to({"chat": ann.platform_id})
    assert offer.options == ("outpatient-booking",)
