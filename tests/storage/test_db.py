"""The session factory: new rows of one flush go to the database together, ids as before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, func, select

from bot.platform import Platform
from storage.tables import Participant, utcnow


def _participant(name: str) -> Participant:
    return Participant(channel="web", pseudonym=name, created_at=utcnow())


async def test_a_flush_of_new_rows_inserts_them_together_with_the_ids_sqlite_gives(
    platform: Platform,
) -> None:
    async with platform.sessionmaker.begin() as session:
        first = [_participant(f"p{n}") for n in range(3)]
        session.add_all(first)
    async with platform.sessionmaker.begin() as session:
        # The largest is deleted: SQLite gives its id again (no AUTOINCREMENT), and so
        # must the numbering.
        await session.execute(delete(Participant).where(Participant.id == first[-1].id))
    inserts: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("INSERT INTO participant"):
            inserts.append(statement)

    sync_engine = platform.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        async with platform.sessionmaker.begin() as session:
            # Something written first, as every batch does (its inbox rows).
            session.add(_participant("opens-the-transaction"))
            await session.flush()
            later = [_participant(f"q{n}") for n in range(5)]
            session.add_all(later)
            await session.flush()
            ids = [p.id for p in later]
            opening = await session.scalar(
                select(Participant.id).where(Participant.pseudonym == "opens-the-transaction")
            )
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    if platform.engine.dialect.name == "sqlite":
        assert opening == first[-1].id
        assert len(inserts) == 2  # the opening row, then the five in one statement
    else:
        assert opening == first[-1].id + 1  # a sequence never gives an id twice
    assert ids == list(range(opening + 1, opening + 6))
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Participant))
    assert stored == 2 + 1 + 5


async def test_rows_outside_a_written_transaction_are_numbered_by_the_database(
    platform: Platform,
) -> None:
    async with platform.sessionmaker.begin() as session:
        rows = [_participant(f"r{n}") for n in range(4)]
        session.add_all(rows)
    ids = [p.id for p in rows]
    assert len(set(ids)) == 4 and ids == sorted(ids)
