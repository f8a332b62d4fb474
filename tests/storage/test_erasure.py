"""Erasure reaches what other people were sent of the erased person's words."""

from __future__ import annotations

from sqlalchemy import select

from bot.platform import Platform
from channels.events import OutboundMessage
from storage import queries
from storage.tables import OutboxEntry, Participant, Statement, utcnow
from tests.helpers import launch, statements_spec

IDEA = "A quiet waiting room for autistic children, away from the main desk"


async def test_a_statement_put_to_others_goes_from_their_messages_with_its_writer(
    platform: Platform,
) -> None:
    await launch(platform, statements_spec())
    async with platform.sessionmaker.begin() as session:
        writer, voter, other = (
            Participant(channel="telegram", pseudonym=name) for name in ("w", "v", "o")
        )
        session.add_all([writer, voter, other])
        await session.flush()
        session.add(
            Statement(
                consultation_id="new-clinic",
                item_id="ideas",
                participant_id=writer.id,
                text=IDEA,
                created_at=utcnow(),
            )
        )
        for key, person, words, status in (
            ("asked:v", voter, f"Do you agree? “{IDEA}”", "sent"),
            ("asked:o", other, f"Do you agree? “{IDEA}”", "pending"),
            ("thanks:o", other, "Thank you for your vote.", "sent"),
        ):
            await queries.add_outbox(
                session,
                channel="telegram",
                key=key,
                payload=OutboundMessage(text=words).to_json(),
                address=None,
                participant_id=person.id,
            )
            await session.execute(
                OutboxEntry.__table__.update()
                .where(OutboxEntry.idempotency_key == key)
                .values(status=status)
            )
    async with platform.sessionmaker.begin() as session:
        counts = await queries.erase_participant(session, writer.id)
    assert counts["statement_messages"] == 2
    async with platform.sessionmaker() as session:
        left = (await session.scalars(select(OutboxEntry.idempotency_key))).all()
    assert left == ["thanks:o"]
