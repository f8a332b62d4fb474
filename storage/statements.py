"""Queries for statement voting: statements, their running counts, and votes.

Plain async functions taking the session; the caller owns the transaction. A vote is a
``response`` row of type ``vote`` whose ``in_reply_to`` names ``statement:<id>``; the
statement's counters move with it in the same transaction (one atomic UPDATE each).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.lists import one_of
from storage.tables import Participant, Response, Statement

SHOWN = "shown"
PENDING = "pending"
REJECTED = "rejected"
WITHHELD = "withheld"
_COUNTER = {"agree": "agrees", "disagree": "disagrees", "pass": "passes"}
#: How a vote names its statement in ``in_reply_to``: this prefix and the statement's id.
STATEMENT_REF = "statement:"


def statement_of(ref: str | None) -> int | None:
    """The statement id in a vote's ``in_reply_to``."""
    if ref is None or not ref.startswith(STATEMENT_REF):
        return None
    rest = ref[len(STATEMENT_REF) :]
    return int(rest) if rest.isdigit() else None


async def forget_votes(session: AsyncSession, participant_id: int) -> int:
    """Take a person's votes out of the statements' running counts (before erasing them).

    Returns how many votes were taken out.
    """
    rows = await session.execute(
        select(Response.in_reply_to, Response.choices).where(
            Response.participant_id == participant_id, Response.item_type == "vote"
        )
    )
    changes: dict[int, dict[str, int]] = {}
    taken = 0
    for ref, choices in rows:
        statement_id = statement_of(ref)
        if statement_id is None:
            continue
        column = _COUNTER.get((choices or ["pass"])[0], "passes")
        counts = changes.setdefault(statement_id, {})
        counts[column] = counts.get(column, 0) - 1
        taken += 1
    columns = Statement.__table__.c
    for statement_id, counts in changes.items():
        await session.execute(
            update(Statement)
            .where(Statement.id == statement_id)
            .values({name: columns[name] + amount for name, amount in counts.items()})
            .execution_options(synchronize_session=False)
        )
    return taken


async def forget_votes_on_statements_of(session: AsyncSession, participant_id: int) -> int:
    """Delete everyone's votes on the statements a person added (before erasing them).

    An erased person's statements go with their other words; a vote left naming one would
    point at nothing, and the export and the report would count different votes. Returns
    how many votes were deleted.
    """
    authored = [
        STATEMENT_REF + str(statement_id)
        for statement_id in await session.scalars(
            select(Statement.id).where(
                Statement.participant_id == participant_id, Statement.seed.is_(False)
            )
        )
    ]
    if not authored:
        return 0
    result = await session.execute(
        delete(Response)
        .where(Response.item_type == "vote", one_of(Response.in_reply_to, authored))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def shown(session: AsyncSession, consultation_id: str, item_id: str) -> list[Statement]:
    """The statements people may see and vote on, oldest first."""
    return list(
        (
            await session.scalars(
                select(Statement)
                .where(
                    Statement.consultation_id == consultation_id,
                    Statement.item_id == item_id,
                    Statement.status == SHOWN,
                )
                .order_by(Statement.id)
            )
        ).all()
    )


async def own_pending(
    session: AsyncSession, consultation_id: str, item_id: str, participant_id: int
) -> list[Statement]:
    """A person's own statements still waiting for a moderator."""
    return list(
        (
            await session.scalars(
                select(Statement).where(
                    Statement.consultation_id == consultation_id,
                    Statement.item_id == item_id,
                    Statement.participant_id == participant_id,
                    Statement.status == PENDING,
                )
            )
        ).all()
    )


async def voted(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str
) -> dict[str, str]:
    """``in_reply_to`` -> vote, for every statement this person voted on in the item."""
    rows = await session.execute(
        select(Response.in_reply_to, Response.choices).where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
            Response.item_type == "vote",
        )
    )
    return {ref: (choices or ["pass"])[0] for ref, choices in rows if ref is not None}


async def last_voted(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str
) -> int | None:
    """The statement this person voted on last in the item (a vote replaced is a new row,
    so the newest row is the latest vote), or ``None`` before their first vote."""
    ref = await session.scalar(
        select(Response.in_reply_to)
        .where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
            Response.item_type == "vote",
        )
        .order_by(Response.id.desc())
        .limit(1)
    )
    return statement_of(ref)


async def replace_vote(
    session: AsyncSession, participant_id: int, statement: Statement, ref: str, vote: str
) -> None:
    """Remove this person's earlier vote on the statement, keeping the counters true."""
    earlier = (
        await session.execute(
            delete(Response)
            .where(
                Response.participant_id == participant_id,
                Response.consultation_id == statement.consultation_id,
                Response.item_id == statement.item_id,
                Response.item_type == "vote",
                Response.in_reply_to == ref,
            )
            .returning(Response.choices)
            .execution_options(synchronize_session=False)
        )
    ).all()
    changes: dict[str, int] = {_COUNTER[vote]: 1}
    for (choices,) in earlier:
        old = _COUNTER.get((choices or ["pass"])[0], "passes")
        changes[old] = changes.get(old, 0) - 1
    column = Statement.__table__.c
    await session.execute(
        update(Statement)
        .where(Statement.id == statement.id)
        .values({name: column[name] + amount for name, amount in changes.items()})
        .execution_options(synchronize_session=False)
    )


async def set_status(session: AsyncSession, response_id: int, status: str) -> Statement | None:
    """Change the status of the statement a person added as ``response_id``."""
    found = await session.scalar(select(Statement).where(Statement.response_id == response_id))
    if found is not None:
        found.status = status
    return found


async def by_response(session: AsyncSession, response_ids: Sequence[int]) -> dict[int, Statement]:
    """The statements added as these responses, by response id."""
    if not response_ids:
        return {}
    rows = await session.scalars(
        select(Statement).where(one_of(Statement.response_id, response_ids))
    )
    return {s.response_id: s for s in rows if s.response_id is not None}


async def for_export(
    session: AsyncSession, consultation_id: str
) -> list[tuple[Statement, str | None, str | None, list[str]]]:
    """Every statement with its author's pseudonym, channel and flags (seeds: None)."""
    rows = await session.execute(
        select(Statement, Participant.pseudonym, Response.channel, Response.flags)
        .outerjoin(Response, Response.id == Statement.response_id)
        .outerjoin(Participant, Participant.id == Statement.participant_id)
        .where(Statement.consultation_id == consultation_id)
        .order_by(Statement.id)
    )
    return [(s, pseudonym, channel, list(flags or ())) for s, pseudonym, channel, flags in rows]
