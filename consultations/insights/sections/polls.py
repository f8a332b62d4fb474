"""The polls section: each poll's counts and shares with intervals, by channel and segment.

Per-person answers (the latest per person) and tallies from channels that only report
totals are merged; whole-item totals are never suppressed, breakdowns by segment are,
with complementary suppression so that no hidden cell follows from the totals.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consultations.insights.records import POLL, PollTotal, ResponseRow, SpecLike, as_text
from consultations.insights.sections import disclosure
from consultations.insights.stats import wilson_interval


def latest_totals(totals: Sequence[PollTotal]) -> list[PollTotal]:
    """The newest tally of each poll on each channel (tallies are snapshots, not increments)."""
    latest: dict[tuple[str, str], PollTotal] = {}
    for t in totals:
        key = (t.item_id, t.channel)
        if key not in latest or t.taken_at > latest[key].taken_at:
            latest[key] = t
    return list(latest.values())


def latest_choice(rows: Iterable[ResponseRow]) -> dict[tuple[str, str], ResponseRow]:
    """One answer per person and poll: the latest (a changed vote replaces the old one)."""
    latest: dict[tuple[str, str], ResponseRow] = {}
    for r in rows:
        if r.item_type != POLL:
            continue
        key = (r.item_id, r.participant)
        if key not in latest or r.created_at >= latest[key].created_at:
            latest[key] = r
    return latest


@dataclass
class PollCounts:
    """One poll's merged counts: per-person answers plus the channels' tallies."""

    counts: Counter[str]
    n: int
    person_n: int
    total_channels: dict[str, int]
    n_is_votes: bool


def poll_counts(
    item_id: str, latest: Mapping[tuple[str, str], ResponseRow], totals: Sequence[PollTotal]
) -> PollCounts:
    """Merge the per-person answers and the channels' tallies of one poll."""
    item_totals = [t for t in totals if t.item_id == item_id]
    counts: Counter[str] = Counter()
    person_n = 0
    # Tallies come from anonymous public polls (a Mastodon status, a Telegram group) and
    # per-person answers from one-to-one conversations on the same channel: different
    # votes, so both count.
    for (item, _), r in latest.items():
        if item != item_id or not r.choices:
            continue
        person_n += 1
        counts.update(set(r.choices))
    n = person_n
    by_channel: dict[str, int] = {}
    n_is_votes = False
    for t in item_totals:
        counts.update({k: v for k, v in t.counts.items() if v > 0})
        voters = t.voters
        if voters is None:
            voters = sum(t.counts.values())
            n_is_votes = True
        by_channel[t.channel] = voters
        n += voters
    return PollCounts(counts, n, person_n, by_channel, n_is_votes)


def _option_stats(labels: Sequence[str], counts: Mapping[str, int], n: int) -> list[dict[str, Any]]:
    out = []
    for label in labels:
        c = counts.get(label, 0)
        low, high = wilson_interval(min(c, n), n)
        out.append(
            {
                "label": label,
                "count": c,
                "share": round(c / n, 4) if n else 0.0,
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
            }
        )
    return out


def summarise(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    totals: Sequence[PollTotal],
    seg_of: Mapping[str, Mapping[str, str]],
    suppressed: list[dict[str, Any]],
    hidden_groups: Mapping[str, set[str]] | None = None,
) -> list[dict[str, Any]]:
    """The ``polls`` section; hidden segment cells are appended to ``suppressed``.

    Breakdowns by segment are protected with complementary suppression (see
    :mod:`~consultations.insights.sections.disclosure`): a group is hidden whole (size
    and answers) when it is small, when ``hidden_groups`` (segment id -> groups hidden in
    participation) names it, or to protect another hidden group; within the groups shown,
    small cells and their complements are hidden across both options and groups.
    """
    hidden_groups = hidden_groups or {}
    tallies = latest_totals(totals)
    latest = latest_choice(rows)
    polls = []
    for item in spec.items:
        if as_text(item.type) != POLL:
            continue
        pc = poll_counts(item.id, latest, tallies)
        labels = list(item.options or ()) + sorted(set(pc.counts) - set(item.options or ()))
        by_segment: dict[str, Any] = {}
        for seg in spec.segments:
            groups: dict[str, Any] = {}
            per_group: dict[str, Counter[str]] = defaultdict(Counter)
            group_n: Counter[str] = Counter()
            for (item_id, person), r in latest.items():
                group = seg_of.get(person, {}).get(seg.id)
                if item_id != item.id or group is None or not r.choices:
                    continue
                group_n[group] += 1
                per_group[group].update(set(r.choices))
            groups_order = list(seg.options) + sorted(set(group_n) - set(seg.options))
            sizes = {g: group_n[g] for g in groups_order}
            hidden_rows = disclosure.protect_line(
                sizes, hidden_groups.get(seg.id, set()) & set(sizes), order=groups_order
            )
            cells = {(g, label): per_group[g][label] for g in groups_order for label in labels}
            hidden_cells = disclosure.protect_table(cells, groups_order, labels, hidden_rows)
            for group in groups_order:
                gn = group_n[group]
                if group in hidden_rows:
                    groups[group] = {"n": None, "options": None}
                    suppressed.append(
                        {
                            "section": "polls.by_segment",
                            "item": item.id,
                            "segment": seg.id,
                            "group": group,
                            "option": None,
                            "reason": disclosure.REASON,
                        }
                    )
                    continue
                shown: list[dict[str, Any]] = []
                for label in labels:
                    c = per_group[group][label]
                    if (group, label) in hidden_cells:
                        shown.append({"label": label, "count": None, "share": None})
                        suppressed.append(
                            {
                                "section": "polls.by_segment",
                                "item": item.id,
                                "segment": seg.id,
                                "group": group,
                                "option": label,
                                "reason": disclosure.REASON,
                            }
                        )
                    else:
                        shown.append({"label": label, "count": c, "share": round(c / gn, 4)})
                groups[group] = {"n": gn, "options": shown}
            by_segment[seg.id] = groups
        polls.append(
            {
                "item": item.id,
                "question": item.text,
                "multiple": bool(item.multiple),
                "n": pc.n,
                "options": _option_stats(labels, pc.counts, pc.n),
                "sources": {
                    "per_person": pc.person_n,
                    "totals_by_channel": pc.total_channels,
                    "n_counts_votes": pc.n_is_votes,
                },
                "by_segment": by_segment,
            }
        )
    return polls
