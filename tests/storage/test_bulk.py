"""Bulk reads and writes of imports and reports: the same rows as the ordinary ways."""

from __future__ import annotations

from sqlalchemy import select, text

from bot.platform import Platform
from storage import queries
from storage.db import read_batches
from storage.tables import Participant, utcnow


async def test_participants_upserted_in_bulk_keep_the_ids_of_those_already_there(
    platform: Platform,
) -> None:
    async with platform.sessionmaker.begin() as session:
        session.add(Participant(channel="import", pseudonym="old-1", created_at=utcnow()))
        session.add(Participant(channel="web", pseudonym="new-2", created_at=utcnow()))
    async with platform.sessionmaker() as session:
        old_id = await session.scalar(
            select(Participant.id).where(Participant.pseudonym == "old-1")
        )
    names = ["new-1", "old-1", "new-2", "new-3"]
    async with platform.sessionmaker.begin() as session:
        found = await queries.upsert_participants(session, "import", names)
    async with platform.sessionmaker() as session:
        stored = {
            pseudonym: participant_id
            for pseudonym, participant_id in await session.execute(
                select(Participant.pseudonym, Participant.id).where(Participant.channel == "import")
            )
        }
    assert found == stored
    assert sorted(found) == sorted(names)
    assert found["old-1"] == old_id
    # New rows are numbered in the order given ("new-2" on the web is another person).
    assert found["new-1"] < found["new-2"] < found["new-3"]
    async with platform.sessionmaker.begin() as session:
        again = await queries.upsert_participants(session, "import", names[::-1])
    assert again == found


async def test_rows_read_in_batches_from_the_driver_are_those_of_a_plain_select(
    platform: Platform,
) -> None:
    async with platform.sessionmaker.begin() as session:
        session.add_all(
            Participant(channel="import", pseudonym=f"p{n:03d}", created_at=utcnow())
            for n in range(25)
        )
    statement = (
        select(Participant.id, Participant.pseudonym)
        .where(Participant.channel == "import", Participant.pseudonym.in_(["p001", "p020"]))
        .order_by(Participant.id)
    )
    wide = select(Participant.id, Participant.pseudonym).order_by(Participant.id)
    async with platform.sessionmaker() as session:
        connection = await session.connection()
        expected = [tuple(row) for row in await connection.execute(wide)]
        await session.execute(text("SELECT 1"))  # in a transaction, as reports read
        batches = [list(batch) async for batch in read_batches(connection, wide, 10)]
        chosen = [list(batch) async for batch in read_batches(connection, statement, 10)]
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert [tuple(row) for batch in batches for row in batch] == expected
    assert [tuple(row)[1] for batch in chosen for row in batch] == ["p001", "p020"]
