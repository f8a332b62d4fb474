"""Erasure reaches what other people were sent of the erased person's words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.config import Settings
from bot.platform import Platform
from channels.events import CONSENT, EventKind, OutboundMessage
from storage import queries
from storage.tables import OutboxEntry, Participant, Statement, utcnow
from tests.fakes.channel import Person
from tests.helpers import form_fields, launch, spec_data, statements_spec

CID = "outpatient-booking"

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


WORDS = "Evening clinics with a quieter waiting room would help me most"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _on_disk(settings: Settings) -> bytes:
    """The SQLite database file and its write-ahead log, as a copy of the disk would hold."""
    path = Path(settings.database_url.split(":///", 1)[1])
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@sqlite_only
async def test_an_erasure_asked_for_in_a_chat_leaves_no_words_in_the_write_ahead_log(
    settings: Settings, platform: Platform
) -> None:
    # As `engage participant erase` does: erased rows must not stay in the -wal file
    # until SQLite next folds it in, whichever way the erasure came.
    # Straight to the items: consent (no re-contact question), the poll, then the prompt.
    await launch(platform, spec_data(segments=[], consent={"text": "Reply STOP to leave."}))
    ann = Person("3101")
    await platform.inbox.receive_many(
        [ann.starts(CID), ann.answers(CONSENT, "Yes, I agree"), ann.answers("ease", "Easy")]
    )
    await platform.inbox.process_pending()
    await platform.inbox.receive(ann.says(WORDS))
    await platform.inbox.process_pending()
    assert WORDS.encode() in _on_disk(settings)

    await platform.inbox.receive(ann.event(EventKind.ERASE))
    assert await platform.inbox.process_pending() == 1

    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Participant.id))) == 0
    assert WORDS.encode() not in _on_disk(settings)


@sqlite_only
async def test_an_erasure_asked_for_on_the_web_page_leaves_no_words_in_the_write_ahead_log(
    settings: Settings, platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await (await web_client.get(f"/c/{CID}")).text()
    for action, data in (
        (f"/c/{CID}/consent", {"answer": "yes"}),
        (f"/c/{CID}/answers", {"item:ease": "Easy", "item:one-thing": WORDS}),
    ):
        fields = form_fields(page, action)
        page = await (await web_client.post(action, data={**fields, **data})).text()
    assert WORDS.encode() in _on_disk(settings)

    fields = form_fields(page, f"/c/{CID}/erase")
    deleted = await web_client.post(f"/c/{CID}/erase", data=fields)
    assert "Your answers have been deleted" in await deleted.text()

    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Participant.id))) == 0
    assert WORDS.encode() not in _on_disk(settings)
