"""Queries for engagement over time: once-only timed actions, Delphi rounds, listening.

Plain async functions taking the session, like :mod:`storage.queries`; the caller owns
the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.lists import one_of
from storage.queries import dialect_insert
from storage.tables import Item, ModerationCase, Response, TimedAction, utcnow

LISTENING = "listening"
"""The ``item_type`` of a public post gathered by listening."""
MENTION = "mention"
"""Flag of a listened post that mentioned the bot's account: it may be quoted."""
LISTENING_ITEM = "@listening"
"""The item id listened posts are stored under: reserved (spec ids have no "@")."""


async def claim_action(
    session: AsyncSession,
    consultation_id: str,
    item_id: str,
    action: str,
    *,
    now: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Record that ``action`` is being done; ``False`` if it was already (by anyone).

    One INSERT ... ON CONFLICT DO NOTHING on the unique (consultation, item, action):
    of several workers, exactly one gets ``True``, and does the action in the same
    transaction, so a rollback frees the claim for the next tick.
    """
    result = await session.execute(
        dialect_insert(session, TimedAction)
        .values(
            consultation_id=consultation_id,
            item_id=item_id,
            action=action,
            done_at=now or utcnow(),
            detail=detail,
        )
        .on_conflict_do_nothing(index_elements=["consultation_id", "item_id", "action"])
        .returning(TimedAction.id)
    )
    return result.first() is not None


async def actions_done(session: AsyncSession, consultation_id: str) -> set[tuple[str, str]]:
    """``(item id, action)`` of every timed action done for a consultation."""
    rows = await session.execute(
        select(TimedAction.item_id, TimedAction.action).where(
            TimedAction.consultation_id == consultation_id
        )
    )
    return {(item, action) for item, action in rows}


def round_action(number: int) -> str:
    """The timed action that opens Delphi round ``number``."""
    return f"round-{number}"


async def current_rounds(session: AsyncSession, consultation_id: str) -> dict[str, int]:
    """The round each item asked in rounds is in: the latest opened, else 1.

    A round opens when its invitations are sent (a ``timed_action`` row), so every
    worker agrees on the round whatever its clock says.
    """
    rounds: dict[str, int] = {}
    for item_id, action in await actions_done(session, consultation_id):
        if action.startswith("round-") and action[6:].isdigit():
            rounds[item_id] = max(rounds.get(item_id, 1), int(action[6:]))
    return rounds


async def rounds_answered(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str
) -> dict[int, list[str]]:
    """The rounds this person answered an item in, with their choices in each."""
    rows = await session.execute(
        select(Response.round, Response.choices).where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
            Response.round.is_not(None),
        )
    )
    return {int(number): list(choices) for number, choices in rows if number is not None}


async def round_answers(
    session: AsyncSession, consultation_id: str, item_id: str, number: int
) -> dict[int, list[str]]:
    """Everyone's choices in one round of an item, by participant id."""
    rows = await session.execute(
        select(Response.participant_id, Response.choices).where(
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
            Response.round == number,
        )
    )
    return {participant: list(choices) for participant, choices in rows}


async def delete_round_answer(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str, number: int
) -> None:
    """Remove a person's earlier answer in this round only (a changed answer)."""
    await session.execute(
        delete(Response).where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
            Response.round == number,
        )
    )


async def purge_listening(session: AsyncSession, consultation_id: str, older_than: datetime) -> int:
    """Delete listening responses gathered before ``older_than``; returns how many.

    Moderation cases on them go too: a listened post is not a person's answer to us, and
    the spec's retention is the promise made about it.
    """
    old = select(Response.id).where(
        Response.consultation_id == consultation_id,
        Response.item_type == LISTENING,
        Response.created_at < older_than,
    )
    ids: Sequence[int] = list(await session.scalars(old))
    if not ids:
        return 0
    await session.execute(delete(ModerationCase).where(one_of(ModerationCase.response_id, ids)))
    await session.execute(delete(Response).where(one_of(Response.id, ids)))
    return len(ids)


async def ensure_listening_item(session: AsyncSession, consultation_id: str) -> None:
    """The item row listened posts belong to (responses name an item), made once."""
    await session.execute(
        dialect_insert(session, Item)
        .values(
            consultation_id=consultation_id,
            id=LISTENING_ITEM,
            position=10_000,
            type=LISTENING,
            text="Public posts gathered by listening",
            options=[],
            multiple=False,
        )
        .on_conflict_do_nothing(index_elements=["consultation_id", "id"])
    )
