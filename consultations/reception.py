"""How people received a change: the closing-the-loop consultations of a QI project.

A ``closing-the-loop`` consultation tells the people of earlier ones what changed and
asks for their reaction. Its answers belong to the same QI project and cycle, so the
study and act reports of the project show them beside the measures: per loop, its
reaction polls (every channel merged, Mastodon's totals included) and how many people
it invited and heard back from.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consultations import service
from storage import queries
from storage.tables import Consultation, Invitation, Response

LOOP_MODEL = "closing-the-loop"


async def reception(session: AsyncSession, row: Consultation) -> list[dict[str, Any]]:
    """The loops of ``row``'s QI project other than ``row``, oldest first, with reactions."""
    loops = (
        await session.scalars(
            select(Consultation)
            .where(
                Consultation.qi_project == row.qi_project,
                Consultation.model == LOOP_MODEL,
                Consultation.id != row.id,
                Consultation.state != service.DRAFT,
            )
            .order_by(Consultation.created_at)
        )
    ).all()
    return [await _loop(session, loop) for loop in loops]


async def _loop(session: AsyncSession, row: Consultation) -> dict[str, Any]:
    spec = service.spec_of(row)
    counts: dict[str, Counter[str]] = {item.id: Counter() for item in spec.items}
    voted = await session.execute(
        select(Response.item_id, Response.choices).where(
            Response.consultation_id == row.id, Response.item_type == "poll"
        )
    )
    for item_id, choices in voted:
        counts.setdefault(item_id, Counter()).update(choices)
    for latest in await queries.latest_tallies(session, row.id):
        for label, count in latest.counts.items():
            if not str(label).startswith("_"):
                counts.setdefault(latest.item_id, Counter())[str(label)] += int(count)
    invited = await session.scalar(
        select(func.count(Invitation.id)).where(Invitation.consultation_id == row.id)
    )
    answered_people = select(Response.participant_id).where(Response.consultation_id == row.id)
    answered = await session.scalar(
        select(func.count(Invitation.id)).where(
            Invitation.consultation_id == row.id,
            Invitation.participant_id.in_(answered_people),
        )
    )
    polls = []
    for item in spec.items:
        if item.type != "poll":
            continue
        tally = counts.get(item.id, Counter())
        n = sum(tally.values())
        polls.append(
            {
                "item": item.id,
                "question": item.text,
                "n": n,
                "options": [
                    {
                        "label": label,
                        "count": tally.get(label, 0),
                        "share": round(tally.get(label, 0) / n, 4) if n else 0.0,
                    }
                    for label in item.options
                ],
            }
        )
    return {
        "consultation": row.id,
        "title": row.title,
        "cycle": row.cycle,
        "state": row.state,
        "follows": list(spec.follow_up.of) if spec.follow_up is not None else [],
        "invited": int(invited or 0),
        "answered_invited": int(answered or 0),
        "polls": polls,
    }
