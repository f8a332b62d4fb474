"""A consultation in a private chat with the bot, in polling and webhook mode."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import func, select

from bot.platform import Platform
from consultations import records
from storage.tables import (
    Consent,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Participant,
    Response,
)
from tests.adapters.telegram.conftest import Running
from tests.fakes.telegram_api import FakeMessage
from tests.helpers import launch, spec_data
from tests.waiting import wait_until


async def export(platform: Platform, consultation_id: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, consultation_id, out, "json")
    return list(json.loads(out.getvalue()))


async def test_full_consultation_is_exported_with_the_right_records(running: Running) -> None:
    fake = running.fake
    await launch(running.platform)
    alice = fake.user(1001, "Alice")

    fake.send_command(alice, "/start", "outpatient-booking")
    consent = await running.said(alice, 1)
    assert "We use your answers" in (consent.text or "")
    fake.press_button(alice, consent, consent.callback_data[0])  # Yes, I agree

    recontact = await running.said(alice, 2)
    assert "contact you again" in (recontact.text or "")
    fake.press_button(alice, recontact, recontact.callback_data[1])  # No

    segment = await running.said(alice, 3)
    assert segment.text == "Which best describes you?"
    fake.press_button(alice, segment, segment.callback_data[1])  # Carer

    poll = await running.said(alice, 4)
    assert poll.poll is not None
    assert poll.poll.question == "How easy was it to book your last appointment?"
    assert poll.poll.is_anonymous is False
    fake.vote(alice, poll, [3])  # Hard

    prompt = await running.said(alice, 5)
    assert prompt.text == "What one thing would make booking easier?"
    assert prompt.reply_markup is not None and prompt.reply_markup.get("force_reply") is True
    fake.reply(alice, prompt, "Text me a reminder, my email is a@b.org")

    thread = await running.said(alice, 6)
    assert "design the reminder message" in (thread.text or "")
    fake.reply(alice, thread, "Say the clinic name")

    thanks = await running.said(alice, 7)
    assert thanks.text == "Thank you. We will share what we change."
    await fake.wait_for(lambda: all(a.text is None for a in fake.callback_answers.values()))
    assert len(fake.callback_answers) == 3  # every button press was answered

    exported = await export(running.platform, "outpatient-booking")
    by_item = {r["item"]: r for r in exported}
    assert set(by_item) == {"role", "ease", "one-thing", "reminder"}
    assert {r["channel"] for r in exported} == {"telegram"}
    assert len({r["participant"] for r in exported}) == 1
    assert "1001" not in json.dumps(exported)  # pseudonyms only
    assert by_item["role"]["item_type"] == "segment"
    assert by_item["role"]["choices"] == ["Carer"]
    assert by_item["ease"]["item_type"] == "poll"
    assert by_item["ease"]["choices"] == ["Hard"]
    assert by_item["ease"]["segments"] == {"role": "Carer"}
    assert by_item["one-thing"]["text"] == "Text me a reminder, my email is [email]"
    assert by_item["one-thing"]["flags"] == ["redacted"]
    assert by_item["reminder"]["item_type"] == "thread"
    assert by_item["reminder"]["text"] == "Say the clinic name"
    assert by_item["reminder"]["in_reply_to"] == "item:reminder"
    async with running.platform.sessionmaker() as session:
        consents = {c.purpose: c for c in (await session.scalars(select(Consent))).all()}
    assert consents["consultation"].given and consents["consultation"].method == "explicit"
    assert not consents["recontact"].given


async def test_a_retracted_vote_withdraws_the_answer(running: Running) -> None:
    fake = running.fake
    await launch(running.platform, spec_data(segments=[], consent={"text": "We listen."}))
    bob = fake.user(1002, "Bob")
    fake.send_command(bob, "/start", "outpatient-booking")
    consent = await running.said(bob, 1)
    fake.press_button(bob, consent, consent.callback_data[0])
    poll = await running.said(bob, 2)
    fake.vote(bob, poll, [0])
    await running.said(bob, 3)  # the prompt: the vote was stored
    assert await running.count(Response, Response.item_id == "ease") == 1

    fake.vote(bob, poll, [])  # takes the vote back
    await fake.wait_until_consumed()
    await running.wait_for_count(Response, 0, Response.item_id == "ease")

    fake.vote(bob, poll, [1])  # and votes again
    await running.wait_for_count(Response, 1, Response.item_id == "ease")
    exported = await export(running.platform, "outpatient-booking")
    assert [r["choices"] for r in exported if r["item"] == "ease"] == [["Easy"]]


async def test_start_alone_offers_open_consultations_as_buttons(running: Running) -> None:
    fake = running.fake
    await launch(running.platform)
    carol = fake.user(1003, "Carol")
    fake.send_command(carol, "/start")
    offer = await running.said(carol, 1)
    assert offer.text == "Which consultation would you like to take part in?"
    keyboard = offer.inline_keyboard
    assert keyboard is not None
    assert keyboard.inline_keyboard[0][0].text == "Improving outpatient booking"
    fake.press_button(carol, offer, offer.callback_data[0])
    consent = await running.said(carol, 2)
    assert "Do you agree to take part?" in (consent.text or "")


async def test_stop_midway_ends_the_dialogue_and_keeps_earlier_answers(running: Running) -> None:
    fake = running.fake
    await launch(running.platform, spec_data(consent={"text": "We listen."}))
    dan = fake.user(1004, "Dan")
    fake.send_command(dan, "/start", "outpatient-booking")
    consent = await running.said(dan, 1)
    fake.press_button(dan, consent, consent.callback_data[0])
    segment = await running.said(dan, 2)
    fake.press_button(dan, segment, segment.callback_data[0])
    await running.said(dan, 3)  # the poll

    fake.send_command(dan, "/stop")
    left = await running.said(dan, 4)
    assert "You have left all our consultations" in (left.text or "")
    fake.send_text(dan, "Very easy")
    fake.send_command(dan, "/help")  # help still answers
    helped = await running.said(dan, 5)
    assert "Send STOP at any time" in (helped.text or "")

    assert len(fake.messages_to(dan)) == 5  # nothing asked after /stop
    assert await running.count(Response) == 1  # the segment answer, kept
    async with running.platform.sessionmaker() as session:
        participant = await session.scalar(select(Participant))
        consent_row = await session.scalar(select(Consent))
    assert participant is not None and participant.opted_out_at is not None
    assert consent_row is not None and consent_row.withdrawn_at is not None


async def test_stop_says_it_leaves_every_consultation_and_how_to_take_part_again(
    running: Running,
) -> None:
    """STOP in a chat leaves every consultation the person is in, not only the one
    asked about last: the reply says so, and /start brings them back."""
    fake = running.fake
    await launch(running.platform, spec_data(segments=[], consent={"text": "We listen."}))
    other = spec_data(
        id="clinic-parking",
        title="Parking at the clinic",
        segments=[],
        consent={"text": "We listen.", "recontact": False},
        items=[{"id": "parking", "type": "prompt", "text": "How was parking?"}],
    )
    await launch(running.platform, other)
    fay = fake.user(1006, "Fay")
    fake.send_command(fay, "/start", "clinic-parking")
    consent = await running.said(fay, 1)
    fake.press_button(fay, consent, consent.callback_data[0])
    await running.said(fay, 2)  # the parking prompt
    fake.send_command(fay, "/start", "outpatient-booking")
    consent = await running.said(fay, 3)
    fake.press_button(fay, consent, consent.callback_data[0])
    await running.said(fay, 4)  # the poll

    fake.send_command(fay, "/stop")
    left = (await running.said(fay, 5)).text or ""
    assert "You have left this consultation" not in left
    assert "You have left all our consultations" in left
    assert "no more questions or messages" in left
    assert "To take part again, send /start." in left
    async with running.platform.sessionmaker() as session:
        consents = (await session.scalars(select(Consent).where(Consent.given))).all()
    assert {c.consultation_id for c in consents} == {"outpatient-booking", "clinic-parking"}
    assert all(c.withdrawn_at is not None for c in consents)  # both, as the reply says

    fake.send_command(fay, "/start")  # as the reply says: offered the consultations again
    offer = await running.said(fay, 6)
    assert offer.text == "Which consultation would you like to take part in?"


async def test_delete_erases_after_the_confirmation_button(running: Running) -> None:
    fake = running.fake
    await launch(running.platform, spec_data(segments=[], consent={"text": "We listen."}))
    eve = fake.user(1005, "Eve")
    fake.send_command(eve, "/start", "outpatient-booking")
    consent = await running.said(eve, 1)
    fake.press_button(eve, consent, consent.callback_data[0])
    poll = await running.said(eve, 2)
    fake.vote(eve, poll, [2])
    await running.said(eve, 3)
    assert await running.count(Response) == 1

    fake.send_command(eve, "/delete")
    confirm = await running.said(eve, 4)
    assert "Erase everything?" in (confirm.text or "")
    assert await running.count(Response) == 1  # nothing erased before confirming
    fake.press_button(eve, confirm, confirm.callback_data[1])  # No
    await fake.wait_for(lambda: any(a.text for a in fake.callback_answers.values()))
    assert await running.count(Response) == 1

    fake.press_button(eve, confirm, confirm.callback_data[0])  # Yes
    erased = await running.said(eve, 5)
    assert "has been erased" in (erased.text or "")
    assert await running.count(Response) == 0
    assert await running.count(Participant) == 0
    assert await running.count(InboxEntry, InboxEntry.payload.is_not(None)) == 0

    # The confirmation itself is not kept once delivered: no outbox row is left that was
    # written for Eve (every row left has someone still held).
    async def confirmation_gone() -> bool:
        return await running.count(OutboxEntry, OutboxEntry.participant_id.is_(None)) == 0

    await wait_until(confirmation_gone, what="the erasure confirmation's row to go")


def prompts(**items: str) -> dict[str, Any]:
    """A consultation of free-text prompts (id=text), after a consent of one question."""
    return spec_data(
        segments=[],
        consent={"text": "We listen.", "recontact": False},
        items=[{"id": key, "type": "prompt", "text": text} for key, text in items.items()],
    )


async def at_the_first_prompt(running: Running, user: Any, already: int = 0) -> FakeMessage:
    """``user`` starts and consents; the first prompt, once sent (after ``already``)."""
    running.fake.send_command(user, "/start", "outpatient-booking")
    consent = await running.said(user, already + 1)
    running.fake.press_button(user, consent, consent.callback_data[0])
    return await running.said(user, already + 2)


async def test_an_answer_that_starts_with_a_slash_is_an_answer_and_a_lone_unknown_word_help(
    running: Running,
) -> None:
    """Telegram marks "/Fantastic/ service" as a command; the person wrote an answer."""
    fake = running.fake
    await launch(running.platform, prompts(story="What happened?"))
    dana = fake.user(1004, "Dana")
    fake.send_command(dana, "/menu")
    help_text = await running.said(dana, 1)
    assert "Send STOP at any time" in (help_text.text or "")  # the help, for a lone word
    prompt = await at_the_first_prompt(running, dana, already=1)
    assert prompt.text == "What happened?"
    answer = "/Fantastic/ service, not. Nobody called back."
    update = fake.send_text(dana, answer)
    assert update.message is not None and update.message.entities  # marked as a command
    await running.wait_for_count(Response, 1, Response.item_id == "story")
    async with running.platform.sessionmaker() as session:
        stored = await session.scalar(select(Response.text).where(Response.item_id == "story"))
    assert stored == answer
    thanks = await running.said(dana, 4)
    assert "Send STOP at any time" not in (thanks.text or "")  # no help after the answer


async def test_an_edited_answer_is_screened_again_and_a_disclosure_added_by_it_answered(
    running: Running,
) -> None:
    """People correct what they sent: the stored answer follows, and safety with it."""
    fake = running.fake
    await launch(
        running.platform, prompts(story="What happened?", better="What would have helped?")
    )
    ivy = fake.user(1009, "Ivy")
    await at_the_first_prompt(running, ivy)
    first = fake.send_text(ivy, "The wiat was long")
    await running.said(ivy, 3)  # the next question
    assert first.message is not None
    fake.edit(ivy, first.message, "The wait was long, call me on 0412 345 678")
    await running.wait_for_count(
        Response, 1, Response.text == "The wait was long, call me on [phone]"
    )
    assert len(fake.messages_to(ivy)) == 3  # a correction is not a new answer
    fake.edit(ivy, first.message, "The wait was long and honestly I want to end my life")
    safety = await running.said(ivy, 4)
    assert "Lifeline" in (safety.text or "")
    await running.wait_for_count(ModerationCase, 1)
    async with running.platform.sessionmaker() as session:
        story = await session.scalar(select(Response).where(Response.item_id == "story"))
    assert story is not None and story.flags == ["safety"]
    fake.send_text(ivy, "More staff")  # held: nothing more is asked or stored
    fake.edit(ivy, first.message, "I want to end my life")  # the same disclosure again
    await fake.wait_until_consumed()
    assert len(fake.messages_to(ivy)) == 4
    assert await running.count(ModerationCase) == 1
    assert await running.count(Response) == 1


async def test_a_voice_message_is_answered_with_what_can_be_read_and_nothing_stored(
    running: Running,
) -> None:
    """Left unanswered, a person who speaks their answer would wait for nothing."""
    fake = running.fake
    await launch(running.platform, prompts(story="What happened?"))
    jo = fake.user(1010, "Jo")
    await at_the_first_prompt(running, jo)
    fake.send_voice(jo)
    note = await running.said(jo, 3)
    assert "we can only read typed words" in (note.text or "")
    assert await running.count(Response) == 0
    fake.send_text(jo, "The lift was broken")
    await running.wait_for_count(Response, 1, Response.text == "The lift was broken")


async def test_a_person_sending_faster_than_anyone_answers_is_told_once_and_not_stored(
    running: Running,
) -> None:
    """Beyond the messages a minute one person may send, the rest of the minute's are
    taken from Telegram but not stored or answered; the person is told once; a disclosure
    still gets the safety reply and a case, and STOP still leaves."""
    from collections.abc import Callable
    from datetime import UTC, datetime, timedelta

    runtime = running.platform.runtime
    assert runtime.chat_messages_per_minute == 0  # off unless the operator sets it
    runtime.chat_messages_per_minute = 6
    frozen = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    runtime.clock = lambda: frozen  # every message in one minute, however slow the machine
    fake = running.fake
    await launch(
        running.platform,
        spec_data(
            segments=[],
            consent={"text": "We listen."},
            items=[{"id": "reminder", "type": "thread", "text": "What should it say?"}],
        ),
    )
    kim = fake.user(1010, "Kim")
    fake.send_command(kim, "/start", "outpatient-booking")  # message 1
    consent = await running.said(kim, 1)
    fake.press_button(kim, consent, consent.callback_data[0])  # 2
    thread = await running.said(kim, 2)
    assert thread.text == "What should it say?"
    for number in range(1, 41):  # 3 to 42: a script, not a person
        fake.reply(kim, thread, f"Idea number {number}")
    fake.reply(kim, thread, "Honestly I want to kill myself")

    def saying(words: str) -> Callable[[], bool]:
        return lambda: any(words in (m.text or "") for m in fake.messages_to(kim))

    await fake.wait_for(saying("faster than we can take answers"))
    await fake.wait_for(saying("Lifeline"))  # the safety reply
    # A minute later the person is heard again, as the notice says.
    runtime.clock = lambda: frozen + timedelta(seconds=61)
    fake.reply(kim, thread, "One more idea")
    await fake.wait_for(lambda: len(fake.messages_to(kim)) == 9)
    fake.send_command(kim, "/stop")
    await fake.wait_for(saying("You have left"))
    await fake.wait_until_consumed()  # every update was taken (acknowledged) from Telegram
    said = [m.text or "" for m in fake.messages_to(kim)]
    # Messages 3 to 6 were within the limit: the idea kept, each later one answered.
    assert said[2] == "Thank you. We will share what we change."
    assert said[3:6] == ["Thank you. You have answered every question."] * 3
    # The 7th: told once; the 33 after it neither answered nor kept; the disclosure
    # answered all the same, and STOP obeyed.
    assert "faster than we can take answers" in said[6]
    assert "Lifeline" in said[7]
    assert said[8] == "Thank you. You have answered every question."
    assert "You have left" in said[9] and len(said) == 10
    async with running.platform.sessionmaker() as session:
        kept = (await session.scalars(select(Response.text))).all()
        cases = (await session.scalars(select(ModerationCase))).all()
        participant = await session.scalar(select(Participant))
    assert kept == ["Idea number 1"]
    assert len(cases) == 1 and cases[0].reason == "safety" and cases[0].response_id is None
    assert participant is not None and participant.opted_out_at is not None
    async with running.platform.sessionmaker() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.processed_at.is_(None))
        )
    assert waiting == 0
