"""Delphi rounds of a poll, as pure functions: when each round opens, what it says.

A poll with ``rounds: 2`` or ``3`` is asked again after each ``round_gap``, only of the
people who answered the round before, each shown how the group answered and their own
earlier answer, so they can keep or change it (the Delphi method). When a round opens
is fixed by the consultation's opening time; whether it has opened is a fact in the
store (``storage.over_time.current_rounds``), so every worker agrees.

All but :func:`last_round` and :func:`persons_rounds` are pure; they read the store for
the runtime and the web page, which must ask the same thing of the same person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from consultations import reporting
from consultations.insights.sections import delphi
from consultations.spec import ConsultationSpec, Item
from consultations.texts import ENGLISH, Texts
from storage import over_time

__all__ = [
    "PersonsRounds",
    "invitation_text",
    "last_round",
    "persons_rounds",
    "round_opens_at",
]


def round_opens_at(item: Item, opened_at: datetime, number: int) -> datetime | None:
    """When round ``number`` (2 or 3) of ``item`` opens; ``None`` if it has no such round."""
    if item.round_gap is None or not 2 <= number <= item.rounds:
        return None
    return opened_at + item.round_gap * (number - 1)


async def last_round(
    session: AsyncSession, spec: ConsultationSpec, item: Item, number: int
) -> tuple[dict[int, list[str]], dict[str, Any]]:
    """Round ``number`` of ``item``: its per-person answers by participant id (the
    people asked the next round), and the round as the report counts it
    (:func:`consultations.insights.sections.delphi.round_counts`): round 1 with the
    launch's anonymous polls' votes, which is what the next round shows of the group."""
    answers = await over_time.round_answers(session, spec.id, item.id, number)
    totals = await reporting.load_totals(session, spec.id) if number == 1 else []
    by_person = {str(person): chosen for person, chosen in answers.items()}
    return answers, delphi.round_counts(item, number, by_person, totals)


def invitation_text(
    item: Item,
    number: int,
    group: Mapping[str, Any],
    own: Sequence[str],
    texts: Texts = ENGLISH,
) -> str:
    """The words of a round's question: the group's answers, yours, and the question again.

    ``group`` is the round before as the report counts it (:func:`last_round`): its
    ``n`` and each option's share, shown as whole percentages; the question is the whole
    item, so no count of a small group is singled out. The words around them are
    ``texts``, the consultation's language.
    """
    total = int(group["n"])
    heading = "round_heading_one" if total == 1 else "round_heading"
    lines = [texts(heading, number=number, rounds=item.rounds, total=total)]
    for option in group["options"]:
        lines.append(f"- {option['label']}: {round(100 * option['share'])}%")
    if own:
        lines.append(texts("round_your_answer", answer=", ".join(own)))
    lines.append("")
    lines.append(texts("round_answer_again", question=item.text))
    return "\n".join(lines)


@dataclass(frozen=True)
class PersonsRounds:
    """Where one person stands in a consultation's polls asked in rounds, read once.

    ``due``: the polls to ask them now, with their words (round 1 as any poll, to whom
    has not answered it; a later round to whom answered the one before and not yet
    this one, with the group's answers and their own). ``closed``: the polls in a round
    they are not part of, with that round (their answer would not be stored, so the web
    page does not offer to change it). ``current``: the round each poll is in.
    """

    due: dict[str, str]
    closed: dict[str, int]
    current: dict[str, int]


async def persons_rounds(
    session: AsyncSession, spec: ConsultationSpec, participant_id: int, answered: set[str]
) -> PersonsRounds:
    """:class:`PersonsRounds` for one person; ``answered`` is the items they answered at
    all. Reads the store for the runtime and the web page, which must ask the same thing
    of the same person."""
    round_items = [item for item in spec.items if item.rounds > 1]
    if not round_items:
        return PersonsRounds({}, {}, {})
    current = await over_time.current_rounds(session, spec.id)
    due: dict[str, str] = {}
    closed: dict[str, int] = {}
    for item in round_items:
        number = current.get(item.id, 1)
        if number == 1:
            if item.id not in answered:
                due[item.id] = item.text
            continue
        own = await over_time.rounds_answered(session, participant_id, spec.id, item.id)
        if number - 1 not in own:
            if number not in own:
                closed[item.id] = number
            continue
        if number in own:
            continue
        _, group = await last_round(session, spec, item, number - 1)
        due[item.id] = invitation_text(item, number, group, own[number - 1], spec.wording())
    return PersonsRounds(due, closed, current)
