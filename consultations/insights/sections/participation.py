"""The participation section: who took part, on which channel, when, and from which segment.

Breakdowns by segment hide counts under :data:`SMALL_CELL`, and enough other groups that
the hidden ones cannot be worked out from the totals (see
:mod:`~consultations.insights.sections.disclosure`); the hidden cells are listed in the
report's ``suppressed``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from consultations.insights.columns import (
    DAY_US,
    Responses,
    count_by_group,
    day_number,
    day_of,
    distinct,
)
from consultations.insights.records import SEGMENT, FunnelCounts, PollTotal, ResponseRow, SpecLike
from consultations.insights.sections import SMALL_CELL, disclosure
from consultations.insights.sections.polls import latest_totals

#: The report's counts that include the votes of anonymous polls, which the platforms
#: give only as totals (each poll's voters where the platform says how many, else its
#: votes). ``responses``, ``participants``, ``by_day``, ``by_item``, ``funnel`` and the
#: breakdowns by segment count only answers tied to a person.
ANONYMOUS_VOTES_COUNTED_IN = (
    "participation.anonymous_votes",
    "participation.responses_with_anonymous_votes",
    "participation.by_channel.poll_votes_from_totals",
    "polls.n",
    "delphi.by_round.n",
)

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
    responses: Responses,
    totals: Sequence[PollTotal],
    funnel: FunnelCounts | None,
    seg_of: Mapping[str, Mapping[str, str]],
    suppressed: list[dict[str, Any]],
    hidden_groups: dict[str, set[str]],
) -> dict[str, Any]:
    """The ``participation`` section; hidden segment cells are appended to ``suppressed``.

    Each segment's groups are protected with complementary suppression (see
    :mod:`~consultations.insights.sections.disclosure`); the hidden groups of each segment
    are stored in ``hidden_groups`` so that the polls hide them too. People are counted
    by key across the free-text columns and the other rows, one array per field.
    """
    answers = _answers(responses.rows)
    texts = responses.texts
    # Every reply to a free-text item is an answer; the other rows are unless segments.
    keys = np.concatenate(
        [
            np.asarray([responses.key(r.participant) for r in answers], dtype=np.int64),
            texts.participant,
        ]
    )
    channel_names = list(texts.channels)
    channel_code = {c: i for i, c in enumerate(channel_names)}
    for r in answers:
        channel_code.setdefault(r.channel, len(channel_code))
    channel_names = list(channel_code)
    channels = np.concatenate(
        [
            np.asarray([channel_code[r.channel] for r in answers], dtype=np.int64),
            texts.channel.astype(np.int64),
        ]
    )
    item_names = list(texts.items)
    item_code = {c: i for i, c in enumerate(item_names)}
    for r in answers:
        item_code.setdefault(r.item_id, len(item_code))
    item_names = list(item_code)
    items = np.concatenate(
        [
            np.asarray([item_code[r.item_id] for r in answers], dtype=np.int64),
            texts.item.astype(np.int64),
        ]
    )
    days = np.concatenate(
        [np.asarray([day_number(r.created_at) for r in answers], dtype=np.int64), texts.days]
    )
    participants = distinct(keys)

    by_channel: dict[str, dict[str, Any]] = {}
    codes, responses_in, people_in = count_by_group(channels, keys)
    for code, count, people in zip(codes, responses_in, people_in, strict=True):
        by_channel[channel_names[code]] = {"responses": count, "participants": people}
    latest = latest_totals(totals)
    for t in latest:
        by_channel.setdefault(t.channel, {"responses": 0, "participants": 0})
    by_channel = dict(sorted(by_channel.items()))
    anonymous_votes = 0
    for t in latest:
        votes = t.voters if t.voters is not None else sum(t.counts.values())
        entry = by_channel[t.channel]
        # Votes counted by the platform only: no people or dates are known for them.
        entry["poll_votes_from_totals"] = entry.get("poll_votes_from_totals", 0) + votes
        anonymous_votes += votes

    by_day = [
        {"date": day_of(day * DAY_US).isoformat(), "responses": count, "participants": people}
        for day, count, people in zip(*count_by_group(days, keys), strict=True)
    ]
    item_counts = np.bincount(items, minlength=len(item_names))
    by_item = {
        name: int(item_counts[code])
        for name, code in sorted(item_code.items())
        if item_counts[code] > 0
    }

    # Self-descriptions by key: those stored with free-text replies, then the others'.
    segments_of: dict[int, Mapping[str, str]] = dict(texts.segments)
    for person, mine_segments in seg_of.items():
        if person in responses.keys:
            segments_of[responses.key(person)] = mine_segments
    described = np.asarray(list(segments_of), dtype=np.int64)
    # Only people who answered something count in the breakdowns.
    answering = described[np.isin(described, participants)].tolist()
    by_segment: dict[str, Any] = {}
    missing: list[dict[str, Any]] = []
    for seg in spec.segments:
        counts = Counter(segments_of[p][seg.id] for p in answering if seg.id in segments_of[p])
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
        finished = _finished(spec, keys, items, item_names)
        funnel = FunnelCounts(funnel.consented, funnel.answered, finished)
        derived = True
    else:
        derived = False

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "responses": len(keys),
        "participants": len(participants),
        # Votes in anonymous polls (Telegram group polls, Mastodon polls) come only as
        # totals: they are votes, but of no one known, so they are counted apart.
        "anonymous_votes": anonymous_votes,
        "responses_with_anonymous_votes": len(keys) + anonymous_votes,
        "anonymous_votes_counted_in": list(ANONYMOUS_VOTES_COUNTED_IN),
        "by_channel": by_channel,
        "by_segment": by_segment,
        "by_day": by_day,
        "by_item": by_item,
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


def _finished(
    spec: SpecLike, keys: npt.NDArray[np.int64], items: npt.NDArray[np.int64], names: list[str]
) -> int:
    """People who answered every item of the spec."""
    wanted = {i.id for i in spec.items}
    if not wanted:
        return 0
    codes = [c for c, name in enumerate(names) if name in wanted]
    if len(codes) < len(wanted):
        return 0
    mine = np.isin(items, codes)
    pairs = np.unique(np.stack([keys[mine], items[mine]]), axis=1)
    _, answered = np.unique(pairs[0], return_counts=True)
    return int((answered == len(wanted)).sum())
