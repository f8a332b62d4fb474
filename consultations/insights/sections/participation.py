"""The participation section: who took part, on which channel, when, and from which segment.

Breakdowns by segment hide counts under :data:`SMALL_CELL`, and enough other groups that
the hidden ones cannot be worked out from the totals (see
:mod:`~consultations.insights.sections.disclosure`); the hidden cells are listed in the
report's ``suppressed``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from consultations.insights.records import SEGMENT, FunnelCounts, PollTotal, ResponseRow, SpecLike
from consultations.insights.sections import SMALL_CELL, disclosure
from consultations.insights.sections.polls import latest_totals

#: The status of every hidden group listed under ``missing_segments``.
MISSING_STATUS = f"fewer than {SMALL_CELL}, or hidden with a group that has fewer"


def _answers(rows: Iterable[ResponseRow]) -> list[ResponseRow]:
    return [r for r in rows if r.item_type != SEGMENT]


def participant_segments(rows: Iterable[ResponseRow]) -> dict[str, dict[str, str]]:
    """Each participant's self-descriptions; later rows win (people may change answers)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for r in sorted(rows, key=lambda r: r.created_at):
        if r.segments:
            mine = found[r.participant]
            if mine != r.segments:
                mine.update(r.segments)
        if r.item_type == SEGMENT and r.choices:
            found[r.participant][r.item_id] = r.choices[0]
    return found


def summarise(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    totals: Sequence[PollTotal],
    funnel: FunnelCounts | None,
    seg_of: Mapping[str, Mapping[str, str]],
    suppressed: list[dict[str, Any]],
    hidden_groups: dict[str, set[str]],
) -> dict[str, Any]:
    """The ``participation`` section; hidden segment cells are appended to ``suppressed``.

    Each segment's groups are protected with complementary suppression (see
    :mod:`~consultations.insights.sections.disclosure`); the hidden groups of each segment
    are stored in ``hidden_groups`` so that the polls hide them too.
    """
    answers = _answers(rows)
    participants = {r.participant for r in answers}
    by_channel: dict[str, dict[str, Any]] = {}
    channel_people: dict[str, set[str]] = defaultdict(set)
    channel_responses: Counter[str] = Counter()
    for r in answers:
        channel_people[r.channel].add(r.participant)
        channel_responses[r.channel] += 1
    for ch in sorted(set(channel_responses) | {t.channel for t in latest_totals(totals)}):
        by_channel[ch] = {
            "responses": channel_responses[ch],
            "participants": len(channel_people[ch]),
        }
    for t in latest_totals(totals):
        votes = t.voters if t.voters is not None else sum(t.counts.values())
        entry = by_channel[t.channel]
        # Votes counted by the platform only: no people or dates are known for them.
        entry["poll_votes_from_totals"] = entry.get("poll_votes_from_totals", 0) + votes

    day_people: dict[date, set[str]] = defaultdict(set)
    day_responses: Counter[date] = Counter()
    for r in answers:
        d = r.created_at.date()
        day_people[d].add(r.participant)
        day_responses[d] += 1
    by_day = [
        {"date": d.isoformat(), "responses": day_responses[d], "participants": len(day_people[d])}
        for d in sorted(day_responses)
    ]
    by_item = Counter(r.item_id for r in answers)

    by_segment: dict[str, Any] = {}
    missing: list[dict[str, Any]] = []
    for seg in spec.segments:
        counts = Counter(
            seg_of[p][seg.id] for p in participants if p in seg_of and seg.id in seg_of[p]
        )
        labels = list(seg.options) + sorted(set(counts) - set(seg.options))
        line = {option: counts.get(option, 0) for option in labels}
        hidden = disclosure.protect_line(line, order=labels)
        hidden_groups[seg.id] = hidden
        options: dict[str, int | None] = {}
        for option in labels:
            if option in hidden:
                options[option] = None
                suppressed.append(
                    {
                        "section": "participation.by_segment",
                        "segment": seg.id,
                        "option": option,
                        "reason": disclosure.REASON,
                    }
                )
                if option in seg.options:
                    # One status for every hidden group: saying which were empty, or
                    # which were small rather than hidden with them, would undo the
                    # suppression.
                    missing.append(
                        {
                            "segment": seg.id,
                            "question": seg.text,
                            "option": option,
                            "status": MISSING_STATUS,
                        }
                    )
            else:
                options[option] = line[option]
        answered = sum(counts.values())
        by_segment[seg.id] = {
            "question": seg.text,
            "options": options,
            "not_answered": len(participants) - answered,
        }

    if funnel is None:
        funnel = FunnelCounts(consented=len(participants), answered=len(participants), finished=0)
        finished = _finished(spec, answers)
        funnel = FunnelCounts(funnel.consented, funnel.answered, finished)
        derived = True
    else:
        derived = False

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "responses": len(answers),
        "participants": len(participants),
        "by_channel": by_channel,
        "by_segment": by_segment,
        "by_day": by_day,
        "by_item": dict(sorted(by_item.items())),
        "funnel": {
            "consented": funnel.consented,
            "answered": funnel.answered,
            "finished": funnel.finished,
            "answered_rate": rate(funnel.answered, funnel.consented),
            "finished_rate": rate(funnel.finished, funnel.consented),
            "derived_from_responses": derived,
        },
        "missing_segments": missing,
    }


def _finished(spec: SpecLike, answers: Sequence[ResponseRow]) -> int:
    items = {i.id for i in spec.items}
    done: dict[str, set[str]] = defaultdict(set)
    for r in answers:
        if r.item_id in items:
            done[r.participant].add(r.item_id)
    return sum(1 for got in done.values() if got >= items) if items else 0
