"""The ``timed_chat`` section: one part per question of a timed chat (Q1..Qn).

Each part names the question, when it was posted, how many replies and people answered
it, and a few replies in their words (only those any section may quote: never one flagged
or held for safety), in the order they came, which is how a facilitator reads a chat back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from consultations import screening
from consultations.insights.columns import Responses
from consultations.insights.records import ResponseRow, SpecLike
from consultations.insights.sections.free_text import quotable, quote_text

QUOTES_PER_QUESTION = 3


def summarise(
    spec: SpecLike, responses: Responses, hints: screening.Hints = screening.NO_HINTS
) -> list[dict[str, Any]]:
    """One entry per item with an ``at:`` time, numbered as posted; empty when none
    (quotes redacted with the consultation's ``hints``)."""
    timed = [item for item in spec.items if getattr(item, "at", None) is not None]
    section: list[dict[str, Any]] = []
    texts = responses.texts
    for number, item in enumerate(timed, start=1):
        replies = [r for r in responses.rows if r.item_id == item.id and r.text is not None]
        if item.id in texts.items:
            mine = (texts.item == texts.items.index(item.id)) & texts.has_text
            replies += [texts.row(i) for i in np.flatnonzero(mine).tolist()]
        at: datetime = item.at  # type: ignore[attr-defined]
        section.append(
            {
                "number": number,
                "label": f"Q{number}",
                "item": item.id,
                "question": item.text,
                "at": at.isoformat(),
                "replies": len(replies),
                "participants": len({r.participant for r in replies}),
                "by_channel": _by_channel(replies),
                "quotes": [quote_text(r.text or "", hints=hints) for r in replies if quotable(r)][
                    :QUOTES_PER_QUESTION
                ],
                "safety_flagged": sum(1 for r in replies if r.safety_flagged),
            }
        )
    return section


def _by_channel(replies: Sequence[ResponseRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in replies:
        counts[row.channel] = counts.get(row.channel, 0) + 1
    return counts
