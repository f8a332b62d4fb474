"""Messages sent over time speak the consultation's language: follow-up invitations,
reminders, Delphi rounds and timed questions, in Welsh and Spanish.

Each runs through the store, the scheduler or timeline and the outbox to the in-memory
channel, so the words checked are those a person would receive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import followups
from bot.outbox import OutboxSender
from bot.platform import Platform
from bot.schedule import Scheduler
from bot.timeline import Timeline
from channels.events import CONSENT, RECONTACT
from consultations import timed_chat
from consultations.spec import parse_spec
from consultations.texts import texts_for
from tests.bot.test_runtime import deliver, send_all
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import launch, spec_data
from tests.over_time.helpers import OPTIONS, after, delphi_spec, opened_at, timed_spec

NO_QUIET_HOURS = {"start": "00:00", "end": "00:00"}


async def test_a_welsh_delphi_round_is_worded_in_welsh(platform: Platform) -> None:
    await launch(platform, delphi_spec(language="cy"))
    welsh = texts_for("cy")
    channel = FakeChannel()
    people = [Person(f"cy-round-{n}") for n in range(3)]
    for person in people:
        await deliver(platform, person.starts("evening-clinics"))
        await deliver(platform, person.answers(CONSENT, welsh("consent_yes")))
        await deliver(platform, person.answers("priority", "Important"))
    await send_all(platform, channel)
    channel.sent.clear()

    start = await opened_at(platform, "evening-clinics")
    await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 49)).tick()
    await send_all(platform, channel)
    [message] = channel.to({"chat": "cy-round-0"})
    assert message.language == "cy"
    assert message.options == tuple(OPTIONS)
    assert message.text.startswith("Rownd 2 o 2. Y rownd ddiwethaf, atebodd 3 o bobl:")
    assert "- Important: 100%" in message.text
    assert welsh("round_your_answer", answer="Important") in message.text
    assert message.text.endswith(
        welsh("round_answer_again", question="How important are evening clinics to you?")
    )
    assert "Round" not in message.text and "Your answer" not in message.text


async def test_a_spanish_reminder_is_worded_in_spanish(platform: Platform) -> None:
    spec = await launch(
        platform,
        spec_data(
            language="es", segments=[], reminder={"after": "48h"}, quiet_hours=NO_QUIET_HOURS
        ),
    )
    spanish = texts_for("es")
    channel = FakeChannel()
    person = Person("es-reminder")
    await deliver(platform, person.starts(spec.id))
    await deliver(platform, person.answers(CONSENT, spanish("consent_yes")))
    await deliver(platform, person.answers(RECONTACT, spanish("recontact_no")))
    await send_all(platform, channel)
    channel.sent.clear()

    clock = datetime.now(UTC) + timedelta(hours=49)
    scheduler = Scheduler(platform.sessionmaker, platform.keyring, {}, clock=lambda: clock)
    assert (await scheduler.run_once()).reminded == {spec.id: 1}
    # Due at the scheduler's moment: a sender living then delivers it.
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {channel.name: channel}, clock=lambda: clock
    )
    assert await sender.run_once(channel.name) == 1
    [reminder] = channel.to({"chat": "es-reminder"})
    assert reminder.language == "es"
    assert reminder.text.startswith(
        "Un recordatorio: usted empezó “Improving outpatient booking” y quedan algunas preguntas."
    )
    assert "A reminder" not in reminder.text


async def test_a_spanish_follow_up_invitation_is_worded_in_spanish(platform: Platform) -> None:
    earlier = await launch(platform, spec_data(segments=[]))
    channel = FakeChannel()
    person = Person("es-invited")
    await deliver(platform, person.starts(earlier.id))
    await deliver(platform, person.answers(CONSENT, "Yes, I agree"))
    await deliver(platform, person.answers(RECONTACT, "Yes, you may contact me"))
    await send_all(platform, channel)
    channel.sent.clear()

    data: dict[str, Any] = spec_data(
        id="booking-loop",
        title="Lo que cambiamos en las citas",
        language="es",
        channels=["telegram"],
        segments=[],
        follow_up={"of": [earlier.id], "invite": "recontact"},
        quiet_hours=NO_QUIET_HOURS,
    )
    follow_up = await launch(platform, data)
    async with platform.sessionmaker.begin() as session:
        invited = await followups.invite(session, platform.keyring, follow_up)
    assert invited == {"telegram": 1}
    await send_all(platform, channel)
    [invitation] = channel.to({"chat": "es-invited"})
    assert invitation.language == "es"
    assert invitation.text == texts_for("es")(
        "followup_invite",
        earlier=earlier.title,
        organisation=follow_up.organisation,
        title="Lo que cambiamos en las citas",
    )
    assert invitation.text.startswith("Usted participó en “Improving outpatient booking”")
    assert invitation.options == ("booking-loop",)


def test_a_welsh_timed_question_is_worded_in_welsh() -> None:
    spec = parse_spec(timed_spec(datetime(2031, 3, 2, 9, 0, tzinfo=UTC), language="cy"))
    text = timed_chat.question_text(spec, spec.timed_items[1])
    assert (
        text == "C2. How was parking?\n\nAtebwch y neges hon, neu dechreuwch eich neges gydag A2."
    )
    # The answer tag stays A2 in every language, as the reader understands it.
    assert timed_chat.answer_tag(spec, "A2 Llawn iawn") == (spec.timed_items[1], "Llawn iawn")
