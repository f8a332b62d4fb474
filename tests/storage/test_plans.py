"""The per-person reads of every request use the person's index, whatever the store holds.

A read that scans the whole consultation costs more with every answer stored: fine in a
test with ten rows, a collapse in a consultation with a hundred thousand. SQLite has no
statistics unless ANALYZE runs, so its planner goes by the shape of the query alone; these
tests read its plan for the statements the runtime actually sends.
"""

from __future__ import annotations

from sqlalchemy import text

from bot.platform import Platform
from storage import queries
from storage.tables import Participant, Response, utcnow
from tests.helpers import launch, statements_sent


async def _people_with_answers(platform: Platform, people: int) -> tuple[str, int]:
    """A consultation where ``people`` each answered every item; one of them, by id."""
    spec = await launch(platform)
    items = [i for i in spec.items if i.type in ("poll", "prompt")]
    async with platform.sessionmaker.begin() as session:
        everyone = [
            Participant(channel="web", pseudonym=f"person-{n}", created_at=utcnow())
            for n in range(people)
        ]
        session.add_all(everyone)
        await session.flush()
        session.add_all(
            Response(
                consultation_id=spec.id,
                item_id=item.id,
                item_type=item.type,
                participant_id=person.id,
                channel="web",
                text="An answer" if item.type == "prompt" else None,
                choices=[] if item.type == "prompt" else [item.options[0]],
            )
            for person in everyone
            for item in items
        )
        return spec.id, everyone[people // 2].id


async def test_a_persons_answered_items_are_read_by_their_own_index(
    platform: Platform,
) -> None:
    cid, someone = await _people_with_answers(platform, 60)
    with statements_sent(platform.engine) as all_sent:
        async with platform.sessionmaker() as session:
            answered = await queries.answered_items(session, someone, cid)
    sent = [
        (statement, parameters)
        for statement, parameters in all_sent
        if statement.lstrip().startswith("SELECT") and "FROM response" in statement
    ]
    assert answered and len(sent) == 1
    statement, parameters = sent[0]
    async with platform.engine.connect() as connection:
        if platform.engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1])
                for row in await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
            )
            # Before: "SEARCH response USING INDEX ix_response_reply (consultation_id=?)",
            # every response in the consultation read to find one person's.
            assert "ix_response_participant (participant_id=?)" in plan, plan
        else:
            # PostgreSQL plans by its statistics: a table this small is read whole. Told
            # to read by an index, it must choose the person's, not the consultation's.
            await connection.execute(text("ANALYZE response"))
            await connection.execute(text("SET enable_seqscan = off"))
            found = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plan = " ".join(str(row[0]) for row in found)
            assert "ix_response_participant" in plan, plan
