"""The session factory: new rows of one flush go to the database together, ids as before."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.platform import Platform
from storage.db import autovacuum_off, statements_on_loop
from storage.tables import Participant, utcnow
from tests.helpers import statements_sent
from tests.waiting import PATIENCE


def _participant(name: str) -> Participant:
    return Participant(channel="web", pseudonym=name, created_at=utcnow())


def _participant_inserts(sent: list[tuple[str, Any]]) -> list[str]:
    """The INSERT statements into ``participant`` among those sent."""
    return [statement for statement, _ in sent if statement.startswith("INSERT INTO participant")]


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
    with statements_sent(platform.engine) as sent:
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

    inserts = _participant_inserts(sent)
    if platform.engine.dialect.name == "sqlite":
        assert opening == first[-1].id
        assert len(inserts) == 2  # the opening row, then the five in one statement
    else:
        assert opening == first[-1].id + 1  # a sequence never gives an id twice
    assert ids == list(range(opening + 1, opening + 6))
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Participant))
    assert stored == 2 + 1 + 5


async def test_a_flush_that_writes_first_takes_the_lock_and_inserts_its_rows_together(
    platform: Platform,
) -> None:
    # The inbox's batch reads first and writes first in its flush: its new rows are
    # numbered too (after a write that changes nothing takes SQLite's write lock), not
    # inserted one statement each.
    async with platform.sessionmaker.begin() as session:
        session.add_all([_participant(f"s{n}") for n in range(2)])
    with statements_sent(platform.engine) as sent:
        async with platform.sessionmaker.begin() as session:
            top = await session.scalar(select(func.max(Participant.id)))
            rows = [_participant(f"r{n}") for n in range(4)]
            session.add_all(rows)
    ids = [p.id for p in rows]
    assert top is not None and ids == list(range(top + 1, top + 5))
    if platform.engine.dialect.name == "sqlite":
        assert len(_participant_inserts(sent)) == 1


sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _three_people_then_count_trips(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Store three people, then record every trip to aiosqlite's thread from now on."""
    trips: list[str] = []
    queue: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await queue(self, fn, *args, **kwargs)

    async with platform.sessionmaker.begin() as session:
        session.add_all([_participant(f"t{n}") for n in range(3)])
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


@sqlite_only
async def test_each_statement_is_one_trip_to_the_sqlite_thread_and_reads_as_before(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = await _three_people_then_count_trips(platform, monkeypatch)

    async with platform.sessionmaker.begin() as session:
        trips.clear()
        names = list(
            await session.scalars(
                select(Participant.pseudonym).where(Participant.pseudonym.like("t%"))
            )
        )
        assert len(trips) == 1
        changed = await session.execute(
            update(Participant)
            .where(Participant.pseudonym.in_(["t0", "t1", "nobody"]))
            .values(address="sealed")
        )
        assert len(trips) == 2
        returned = await session.execute(
            update(Participant)
            .where(Participant.pseudonym == "t2")
            .values(address="sealed")
            .returning(Participant.pseudonym)
        )
        await session.execute(
            insert(Participant),
            [{"channel": "web", "pseudonym": f"u{n}", "created_at": utcnow()} for n in range(4)],
        )
        assert len(trips) == 4
    assert sorted(names) == ["t0", "t1", "t2"]
    assert getattr(changed, "rowcount", None) == 2
    assert list(returned.scalars()) == ["t2"]
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Participant))
    assert stored == 3 + 4
    with pytest.raises(IntegrityError):
        async with platform.sessionmaker.begin() as session:
            session.add(_participant("t0"))  # (channel, pseudonym) is unique


@sqlite_only
async def test_statements_on_the_loop_take_no_trip_and_a_lock_is_waited_for_off_the_loop(
    platform: Platform, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = await _three_people_then_count_trips(platform, monkeypatch)

    async def batch() -> list[str]:
        statements_on_loop()
        async with platform.sessionmaker.begin() as session:
            trips.clear()
            names = list(
                await session.scalars(
                    select(Participant.pseudonym).where(Participant.pseudonym.like("t%"))
                )
            )
            await session.execute(
                insert(Participant),
                [
                    {"channel": "web", "pseudonym": f"u{n}", "created_at": utcnow()}
                    for n in range(2)
                ],
            )
            assert trips == []  # both statements ran on the loop's thread
        assert trips == ["commit_waiting"]  # the commit is the one trip
        return names

    assert sorted(await asyncio.create_task(batch())) == ["t0", "t1", "t2"]
    # Another task's statements still go to aiosqlite's thread.
    async with platform.sessionmaker() as session:
        trips.clear()
        assert await session.scalar(select(func.count()).select_from(Participant)) == 5
        assert trips == ["waiting"]

    # Another connection holds the write lock: the write goes to aiosqlite's thread and
    # waits there, while the loop goes on with other work.
    await _write_on_the_loop_past_a_lock(platform, database_url, "written-after-the-lock")


@sqlite_only
async def test_a_connection_first_opened_on_the_loop_does_not_wait_there_for_a_lock(
    platform: Platform, database_url: str
) -> None:
    # The pool opens a new connection for a task whose statements run on the loop (the
    # group commit, when every pooled connection is busy). Its set-up statements must not
    # leave it waiting for locks while it believes it does not: before, its next
    # statement waited in SQLite's busy handler on the loop's thread for 30 s, while the
    # holder of the lock could not finish because the loop was held.
    await platform.engine.dispose()  # no pooled connection: the task opens its own
    await _write_on_the_loop_past_a_lock(platform, database_url, "opened-on-the-loop")


async def _write_on_the_loop_past_a_lock(platform: Platform, database_url: str, name: str) -> None:
    """A write from a task whose statements run on the loop while another connection
    holds the write lock: the loop goes on meanwhile, and the write lands once the lock
    is let go."""
    blocker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        statements_on_loop()
        async with platform.sessionmaker.begin() as session:
            session.add(_participant(name))

    writing = asyncio.create_task(write())
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticks = 0
    for _ in range(20):
        await asyncio.sleep(0.01)
        ticks += 1
    # The loop went on (twenty short sleeps, not one long wait) and the write waits.
    assert ticks == 20 and loop.time() - started < 2.0
    assert not writing.done()
    blocker.execute("COMMIT")
    blocker.close()
    await asyncio.wait_for(writing, PATIENCE)
    async with platform.sessionmaker() as session:
        found = await session.scalars(select(Participant.id).where(Participant.pseudonym == name))
        assert len(list(found)) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_burst_above_the_pool_size_reuses_the_pooled_connections(
    platform: Platform,
) -> None:
    # A new asyncpg connection introspects types and prepares every statement again: in
    # the soak, overflow connections opened for each burst and closed after it left no
    # pooled connection older than 30 s.
    size = platform.settings.database_pool_size
    assert platform.engine.pool.size() == size  # type: ignore[attr-defined]

    async def backend(hold: float) -> int:
        async with platform.sessionmaker() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            await asyncio.sleep(hold)  # busy, as a request's transaction is
            assert isinstance(pid, int)
            return pid

    pooled = set(await asyncio.gather(*(backend(0.2) for _ in range(size))))
    assert len(pooled) == size
    burst = await asyncio.gather(*(backend(0.02) for _ in range(3 * size)))
    after = set(await asyncio.gather(*(backend(0.2) for _ in range(size))))
    # The burst waited its turn on the pooled connections; none was opened or closed.
    assert set(burst) == pooled
    assert after == pooled


async def test_autovacuum_off_reads_the_server_setting(platform: Platform) -> None:
    """`engage run` warns when it is off; SQLite has nothing to warn about."""
    found = await autovacuum_off(platform.engine)
    if platform.engine.dialect.name == "sqlite":
        assert found is False
        return
    async with platform.engine.connect() as connection:
        setting = await connection.scalar(text("SHOW autovacuum"))
    assert found is (setting == "off")


async def test_cases_numbered_together_never_take_an_id_given_before(platform: Platform) -> None:
    # moderation_case is AUTOINCREMENT on SQLite: the rows a flush numbers itself start
    # after the largest id ever given, not after the largest still held.
    from storage.tables import ModerationCase

    def case() -> ModerationCase:
        return ModerationCase(consultation_id="c", reason="safety")

    async with platform.sessionmaker.begin() as session:
        first = [case() for _ in range(3)]
        session.add_all(first)
    async with platform.sessionmaker.begin() as session:
        await session.execute(delete(ModerationCase).where(ModerationCase.id == first[-1].id))
    async with platform.sessionmaker.begin() as session:
        session.add(_participant("opens-the-transaction"))
        await session.flush()
        later = [case() for _ in range(4)]
        session.add_all(later)
        await session.flush()
        ids = [c.id for c in later]
    assert ids == list(range(first[-1].id + 1, first[-1].id + 5))
    async with platform.sessionmaker.begin() as session:
        one = case()
        session.add(one)
    assert one.id == ids[-1] + 1
