"""Quiet hours: invitations wait for the morning; a reply to someone who just wrote does not.

The outbox sender is given the clock, so the night passes without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import followups
from bot.outbox import OutboxSender
from bot.platform import Platform
from channels.events import OutboundMessage
from consultations import service
from consultations.spec import parse_spec
from storage import queries
from storage.tables import Consent, OutboxEntry, Participant
from tests.adapters.telegram.conftest import make_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import launch, spec_data

SYDNEY = ZoneInfo("Australia/Sydney")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _people_who_agreed(platform: Platform, fake: FakeTelegram, count: int) -> list[int]:
    """People of the earlier consultation who said yes to being contacted again."""
    ids = []
    async with platform.sessionmaker.begin() as session:
        for n in range(count):
            user = fake.user(5000 + n, f"P{n}")
            participant = Participant(
                channel="telegram",
                pseudonym=platform.keyring.pseudonym("telegram", str(user.id)),
                address=platform.keyring.seal({"chat": user.id}),
            )
            session.add(participant)
            await session.flush()
            for purpose in ("consultation", "recontact"):
                session.add(
                    Consent(
                        participant_id=participant.id,
                        consultation_id="outpatient-booking",
                        purpose=purpose,
                        given=True,
                        method="explicit",
                    )
                )
            ids.append(user.id)
    return ids


async def test_invitations_wait_for_the_end_of_quiet_hours_in_the_spec_timezone(
    fake: FakeTelegram, platform: Platform
) -> None:
    await launch(platform, spec_data(segments=[]))
    people = await _people_who_agreed(platform, fake, 3)
    loop = parse_spec(
        {
            **spec_data(id="booking-loop", model="closing-the-loop", segments=[]),
            "channels": ["telegram"],
            "follow_up": {"of": ["outpatient-booking"]},
            "timezone": "Australia/Sydney",  # quiet 21:00-08:00 there, by default
        }
    )
    evening = datetime(2031, 6, 10, 22, 30, tzinfo=SYDNEY).astimezone(UTC)
    clock = Clock(evening)
    async with platform.sessionmaker.begin() as session:
        await service.create(session, loop, source="test")
        await service.open_(session, loop.id)
        assert await followups.invite(session, platform.keyring, loop, now=evening) == {
            "telegram": 3
        }
        # Someone else just wrote to the bot: the answer to them is not held.
        await queries.add_outbox(
            session,
            channel="telegram",
            key="reply:1",
            payload=OutboundMessage(text="Thank you for your answer.").to_json(),
            address=platform.keyring.seal({"chat": 4999}),
        )
        await session.execute(
            OutboxEntry.__table__.update()
            .where(OutboxEntry.idempotency_key == "reply:1")
            .values(next_attempt_at=evening)
        )
    fake.user(4999, "Writer")
    adapter = make_adapter(fake, platform)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": adapter}, clock=clock
    )

    await sender.run_once("telegram")
    assert [m.chat_id for m in fake.sent] == [4999]  # only the reply went

    clock.now = datetime(2031, 6, 11, 7, 59, tzinfo=SYDNEY).astimezone(UTC)
    assert await sender.run_once("telegram") == 0  # still quiet: nothing is even claimed

    clock.now = datetime(2031, 6, 11, 8, 0, tzinfo=SYDNEY).astimezone(UTC)
    await sender.run_once("telegram")
    invited = [m for m in fake.sent if m.chat_id in people]
    assert sorted(m.chat_id for m in invited) == people
    assert all("said we could contact you again" in (m.text or "") for m in invited)
    async with platform.sessionmaker() as session:
        sent_at = (
            await session.scalars(
                select(OutboxEntry.sent_at).where(OutboxEntry.idempotency_key.like("invite:%"))
            )
        ).all()
    # Nothing went out in the quiet hours: every invitation at 08:00 local, none before.
    assert sent_at == [clock.now] * 3
    await adapter.stop()


async def _invitation_statuses(platform: Platform) -> list[str]:
    async with platform.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEntry.status).where(OutboxEntry.idempotency_key.like("invite:%"))
        )
        return list(rows)


async def test_invitations_held_for_the_morning_are_dropped_when_it_closes_overnight(
    fake: FakeTelegram, platform: Platform
) -> None:
    """Held for quiet hours, an invitation to a consultation closed meanwhile never goes
    (it would ask people into something that takes no answers); nor does one claimed as
    the consultation closed without the close cancelling it."""
    from sqlalchemy import update

    from storage.tables import Consultation

    await launch(platform, spec_data(segments=[]))
    people = await _people_who_agreed(platform, fake, 2)
    loop = parse_spec(
        {
            **spec_data(id="booking-loop", model="closing-the-loop", segments=[]),
            "channels": ["telegram"],
            "follow_up": {"of": ["outpatient-booking"]},
            "timezone": "Australia/Sydney",
        }
    )
    evening = datetime(2031, 6, 10, 22, 30, tzinfo=SYDNEY).astimezone(UTC)
    clock = Clock(evening)
    async with platform.sessionmaker.begin() as session:
        await service.create(session, loop, source="test")
        await service.open_(session, loop.id)
        assert await followups.invite(session, platform.keyring, loop, now=evening) == {
            "telegram": 2
        }
    # Closed overnight, through the service: the invitations waiting are cancelled.
    async with platform.sessionmaker.begin() as session:
        await service.close(session, loop.id)
    adapter = make_adapter(fake, platform)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": adapter}, clock=clock
    )
    clock.now = datetime(2031, 6, 11, 8, 0, tzinfo=SYDNEY).astimezone(UTC)
    await sender.run_once("telegram")
    assert [m for m in fake.sent if m.chat_id in people] == []
    assert await _invitation_statuses(platform) == ["cancelled", "cancelled"]

    # Queued again (a re-opened consultation invites again) and then closed without the
    # close reaching the queue: the sender itself drops them.
    async with platform.sessionmaker.begin() as session:
        await session.execute(
            update(Consultation).where(Consultation.id == loop.id).values(state="open")
        )
        await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.idempotency_key.like("invite:%"))
            .values(status="pending")
        )
        await session.execute(
            update(Consultation).where(Consultation.id == loop.id).values(state="closed")
        )
    await sender.run_once("telegram")
    assert [m for m in fake.sent if m.chat_id in people] == []
    # Dropped, not tried and failed.
    assert await _invitation_statuses(platform) == ["cancelled", "cancelled"]
    await adapter.stop()


async def test_an_invitation_held_for_the_morning_waits_for_a_disclosure_made_overnight(
    fake: FakeTelegram, platform: Platform
) -> None:
    """Someone invited in the evening makes a safety disclosure in the night: the first
    contact after it is a person's, so the morning's invitation is not sent to them while
    the case is open (the others' are); launching again once it is resolved invites them."""
    from consultations import moderation, screening

    await launch(platform, spec_data(segments=[]))
    people = await _people_who_agreed(platform, fake, 2)
    loop = parse_spec(
        {
            **spec_data(id="booking-loop", model="closing-the-loop", segments=[]),
            "channels": ["telegram"],
            "follow_up": {"of": ["outpatient-booking"]},
            "timezone": "Australia/Sydney",
        }
    )
    evening = datetime(2031, 6, 10, 22, 30, tzinfo=SYDNEY).astimezone(UTC)
    clock = Clock(evening)
    async with platform.sessionmaker.begin() as session:
        await service.create(session, loop, source="test")
        await service.open_(session, loop.id)
        assert await followups.invite(session, platform.keyring, loop, now=evening) == {
            "telegram": 2
        }
        discloser = await session.scalar(
            select(Participant.id).where(
                Participant.pseudonym == platform.keyring.pseudonym("telegram", str(people[0]))
            )
        )
        case = moderation.open_case(
            session,
            consultation_id="outpatient-booking",
            response_id=None,
            reason=screening.SAFETY,
            participant_id=discloser,
        )
    adapter = make_adapter(fake, platform)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": adapter}, clock=clock
    )
    clock.now = datetime(2031, 6, 11, 8, 0, tzinfo=SYDNEY).astimezone(UTC)
    await sender.run_once("telegram")
    assert [m.chat_id for m in fake.sent] == [people[1]]

    async with platform.sessionmaker.begin() as session:
        await moderation.resolve(session, case.id, "moderator@example.org", "Called; safe")
    async with platform.sessionmaker.begin() as session:
        again = await followups.invite(session, platform.keyring, loop, now=clock.now)
    assert again == {"telegram": 1}
    await sender.run_once("telegram")
    assert sorted(m.chat_id for m in fake.sent) == sorted(people)
    await adapter.stop()
