"""Delphi rounds of a poll, as pure functions: when each round opens, what it says.

A poll with ``rounds: 2`` or ``3`` is asked again after each ``round_gap``, only of the
people who answered the round before, each shown how the group answered and their own
earlier answer, so they can keep or change it (the Delphi method). When a round opens
is fixed by the consultation's opening time; whether it has opened is a fact in the
store (``storage.over_time.current_rounds``), so every worker agrees.

All but :func:`rounds_due` and :func:`rounds_closed_to` are pure; they read the store for
the runtime and the web page, which must ask the same thing of the same person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from consultations.spec import ConsultationSpec, Item
from consultations.texts import ENGLISH, Texts
from storage import over_time

__all__ = ["distribution", "invitation_text", "round_opens_at", "rounds_closed_to", "rounds_due"]


def round_opens_at(item: Item, opened_at: datetime, number: int) -> datetime | None:
    """When round ``number`` (2 or 3) of ``item`` opens; ``None`` if it has no such round."""
    if item.round_gap is None or not 2 <= number <= item.rounds:
        return None
    return opened_at + item.round_gap * (number - 1)


def distribution(options: Sequence[str], answers: Iterable[Sequence[str]]) -> dict[str, int]:
    """How many chose each option (in option order) among ``answers``."""
    counts = dict.fromkeys(options, 0)
    for chosen in answers:
        for label in chosen:
            if label in counts:
                counts[label] += 1
    return counts


def invitation_text(
    item: Item,
    number: int,
    counts: Mapping[str, int],
    own: Sequence[str],
    texts: Texts = ENGLISH,
) -> str:
    """The words of a round's question: the group's answers, yours, and the question again.

    Shares are shown as whole percentages of the people who answered last round; the
    question is the whole item, so no count of a small group is singled out. The words
    around them are ``texts``, the consultation's language.
    """
    total = sum(counts.values())
    heading = "round_heading_one" if total == 1 else "round_heading"
    lines = [texts(heading, number=number, rounds=item.rounds, total=total)]
    for label, count in counts.items():
        share = round(100 * count / total) if total else 0
        lines.append(f"- {label}: {share}%")
    if own:
        lines.append(texts("round_your_answer", answer=", ".join(own)))
    lines.append("")
    lines.append(texts("round_answer_again", question=item.text))
    return "\n".join(lines)


async def rounds_due(
    session: AsyncSession, spec: ConsultationSpec, participant_id: int, answered: set[str]
) -> dict[str, str]:
    """Polls asked in rounds that this person should answer now, with their words.

    Round 1 is asked like any poll (of those who have not answered it); a later round is
    asked of those who answered the round before and not yet this one, showing the
    group's answers and their own. ``answered`` is the items the person answered at all.
    """
    round_items = [item for item in spec.items if item.rounds > 1]
    if not round_items:
        return {}
    current = await over_time.current_rounds(session, spec.id)
    due: dict[str, str] = {}
    for item in round_items:
        number = current.get(item.id, 1)
        if number == 1:
            if item.id not in answered:
                due[item.id] = item.text
            continue
        own = await over_time.rounds_answered(session, participant_id, spec.id, item.id)
        if number in own or number - 1 not in own:
            continue
        earlier = await over_time.round_answers(session, spec.id, item.id, number - 1)
        counts = distribution(item.options, earlier.values())
        due[item.id] = invitation_text(item, number, counts, own[number - 1], spec.wording())
    return due


async def rounds_closed_to(
    session: AsyncSession, spec: ConsultationSpec, participant_id: int
) -> dict[str, int]:
    """Polls in a round this person is not part of, with the round open now.

    A round after the first is asked only of those who answered the round before; the
    others' answers are not stored (the runtime says so), so the web page must not offer
    to change them.
    """
    round_items = [item for item in spec.items if item.rounds > 1]
    if not round_items:
        return {}
    current = await over_time.current_rounds(session, spec.id)
    closed: dict[str, int] = {}
    for item in round_items:
        number = current.get(item.id, 1)
        if number == 1:
            continue
        own = await over_time.rounds_answered(session, participant_id, spec.id, item.id)
        if number not in own and number - 1 not in own:
            closed[item.id] = number
    return closed
