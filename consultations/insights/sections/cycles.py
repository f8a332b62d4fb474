"""Across cycles: this cycle's numbers, the comparison with earlier cycles, and run charts.

Earlier cycles of the same QI project arrive as :class:`CycleResult` records, made by
:func:`summarise_cycle` when those cycles were reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np

from consultations.insights import spc
from consultations.insights.columns import Responses, TextColumns, day_of, split_rows
from consultations.insights.records import (
    POLL,
    ChangeMarker,
    CycleResult,
    PollTotal,
    ResponseRow,
    SpecLike,
    as_text,
)
from consultations.insights.sections.free_text import free_texts
from consultations.insights.sections.polls import latest_choice, latest_totals, poll_counts
from consultations.insights.stats import difference_interval, p_chart_limits, wilson_interval
from consultations.insights.text import NEGATIVE, SENTIMENT_LABELS, default_analyser

#: A run of this many points on one side of the median signals a shift (run chart rule).
SHIFT_RUN = 6


def measure_options(
    spec: SpecLike, measures: Mapping[str, Sequence[str]] | None
) -> dict[str, tuple[str, ...]]:
    """Options counted as the good outcome per poll (default: the first half)."""
    out: dict[str, tuple[str, ...]] = {}
    for item in spec.items:
        if as_text(item.type) != POLL or not item.options:
            continue
        if measures and item.id in measures:
            out[item.id] = tuple(measures[item.id])
        else:
            options = tuple(item.options)
            out[item.id] = options[: max(1, len(options) // 2)]
    return out


def summarise_cycle(
    spec: SpecLike,
    rows: Sequence[ResponseRow] | Responses,
    poll_totals: Sequence[PollTotal] = (),
    *,
    start: date | None = None,
    end: date | None = None,
) -> CycleResult:
    """The numbers of one cycle that later cycles compare with (see :class:`CycleResult`)."""
    responses = (
        rows
        if isinstance(rows, Responses)
        else split_rows(rows, len(default_analyser().categories))
    )
    return current_cycle(
        spec, responses, poll_totals, free_texts(responses.texts), start=start, end=end
    )


def current_cycle(
    spec: SpecLike,
    responses: Responses,
    totals: Sequence[PollTotal],
    text: TextColumns,
    *,
    start: date | None = None,
    end: date | None = None,
) -> CycleResult:
    """This cycle's numbers, in the form earlier and later cycles compare with.

    ``text`` holds the free-text replies among ``responses``.
    """
    rows = responses.rows
    latest = latest_choice(rows)
    tallies = latest_totals(totals)
    polls: dict[str, dict[str, int]] = {}
    poll_n: dict[str, int] = {}
    for item in spec.items:
        if as_text(item.type) == POLL:
            pc = poll_counts(item.id, latest, tallies)
            polls[item.id] = dict(pc.counts)
            poll_n[item.id] = pc.n
    names = default_analyser().categories
    cats: dict[str, int] = {}
    if len(text):
        scores = text.categories_mille if text.categories_mille is not None else None
        best = (scores if scores is not None else text.category_matrix()).argmax(axis=1)
        counts = np.bincount(best, minlength=len(names))
        found = np.flatnonzero(counts)
        first = [int(np.argmax(best == k)) for k in found.tolist()]
        # In order of first use, as counting reply by reply would give.
        for k in found[np.argsort(first)].tolist():
            cats[names[k]] = int(counts[k])
    dates = [r.created_at.date() for r in rows]
    if len(responses.texts):
        days = responses.texts.days
        dates += [
            day_of(int(days.min()) * 86_400_000_000),
            day_of(int(days.max()) * 86_400_000_000),
        ]
    first_day = start or (min(dates) if dates else date.today())
    last_day = end or (max(dates) if dates else first_day)
    return CycleResult(
        cycle=spec.qi.cycle,
        consultation=spec.id,
        start=first_day,
        end=last_day,
        polls=polls,
        poll_n=poll_n,
        categories=cats,
        text_n=len(text),
        negative=int((text.label == SENTIMENT_LABELS.index(NEGATIVE)).sum()),
    )


def _by_cycle(history: Sequence[CycleResult]) -> list[CycleResult]:
    """Periods of the same cycle summed into one result per cycle, oldest first."""
    grouped: dict[int, list[CycleResult]] = defaultdict(list)
    for h in history:
        grouped[h.cycle].append(h)
    out = []
    for cycle in sorted(grouped):
        parts = grouped[cycle]
        polls: dict[str, Counter[str]] = defaultdict(Counter)
        poll_n: Counter[str] = Counter()
        cats: Counter[str] = Counter()
        for p in parts:
            for item, counts in p.polls.items():
                polls[item].update(counts)
            poll_n.update(p.poll_n)
            cats.update(p.categories)
        out.append(
            CycleResult(
                cycle=cycle,
                # Every consultation of the cycle, when several were run in it.
                consultation=", ".join(sorted({p.consultation for p in parts})),
                start=min(p.start for p in parts),
                end=max(p.end for p in parts),
                polls={k: dict(v) for k, v in polls.items()},
                poll_n=dict(poll_n),
                categories=dict(cats),
                text_n=sum(p.text_n for p in parts),
                negative=sum(p.negative for p in parts),
            )
        )
    return out


def _diff(x1: int, n1: int, x2: int, n2: int) -> dict[str, Any] | None:
    if n1 <= 0 or n2 <= 0:
        return None
    d = difference_interval(x1, n1, x2, n2)
    return {
        "difference": round(d.difference, 4),
        "ci_low": round(d.ci_low, 4),
        "ci_high": round(d.ci_high, 4),
        "clear": d.clear,
    }


def comparison(
    spec: SpecLike,
    current: CycleResult,
    history: Sequence[CycleResult],
    polls: Sequence[Mapping[str, Any]],
    measure_options: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    """The ``comparison`` section: this cycle against the baseline and the previous cycle.

    Each poll measure and each category share is compared, with an interval for the
    difference; the section is empty when there are no earlier cycles.
    """
    # Only cycles before this one: a later cycle is no baseline for an earlier one (the
    # report of cycle 1 once said "change since cycle 2").
    earlier = [c for c in _by_cycle(history) if c.cycle < current.cycle]
    if not earlier:
        return {"cycles": [], "polls": [], "categories": [], "negative": None}
    baseline = earlier[0]
    previous = earlier[-1]
    cycles = [*earlier, current]
    poll_rows = []
    for poll in polls:
        item = poll["item"]
        good = measure_options.get(item, ())
        series: list[dict[str, Any]] = []
        for c in cycles:
            n = c.poll_n.get(item, 0)
            if n == 0:
                continue
            count = min(n, sum(c.polls.get(item, {}).get(o, 0) for o in good))
            low, high = wilson_interval(count, n)
            series.append(
                {
                    "cycle": c.cycle,
                    "consultation": c.consultation,
                    "n": n,
                    "count": count,
                    "share": round(count / n, 4),
                    "ci_low": round(low, 4),
                    "ci_high": round(high, 4),
                    "options": {
                        o: round(c.polls.get(item, {}).get(o, 0) / n, 4)
                        for o in [opt["label"] for opt in poll["options"]]
                    },
                }
            )
        if len(series) < 2 or series[-1]["cycle"] != current.cycle:
            continue
        now = series[-1]
        base = series[0]
        prev = next((s for s in reversed(series[:-1]) if s["cycle"] == previous.cycle), series[-2])
        poll_rows.append(
            {
                "item": item,
                "question": poll["question"],
                "measure": "share choosing " + " or ".join(good),
                "cycles": series,
                "vs_baseline": {
                    "cycle": base["cycle"],
                    **(_diff(base["count"], base["n"], now["count"], now["n"]) or {}),
                },
                "vs_previous": {
                    "cycle": prev["cycle"],
                    **(_diff(prev["count"], prev["n"], now["count"], now["n"]) or {}),
                },
            }
        )
    categories = []
    if previous.text_n and current.text_n:
        for name in default_analyser().categories:
            before = previous.categories.get(name, 0)
            after = current.categories.get(name, 0)
            d = _diff(before, previous.text_n, after, current.text_n)
            categories.append(
                {
                    "name": name,
                    "previous_share": round(before / previous.text_n, 4),
                    "share": round(after / current.text_n, 4),
                    **(d or {}),
                }
            )
    negative = None
    if previous.text_n and current.text_n:
        negative = {
            "previous_share": round(previous.negative / previous.text_n, 4),
            "share": round(current.negative / current.text_n, 4),
            **(_diff(previous.negative, previous.text_n, current.negative, current.text_n) or {}),
        }
    return {
        "cycles": [
            {
                "cycle": c.cycle,
                "consultation": c.consultation,
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
            }
            for c in cycles
        ],
        "baseline_cycle": baseline.cycle,
        "previous_cycle": previous.cycle,
        "polls": poll_rows,
        "categories": categories,
        "negative": negative,
    }


def run_charts(
    spec: SpecLike,
    current: CycleResult,
    history: Sequence[CycleResult],
    rows: Sequence[ResponseRow],
    changes: Sequence[ChangeMarker],
    measure_options: Mapping[str, tuple[str, ...]],
) -> list[dict[str, Any]]:
    """One p-chart per poll: earlier cycles' periods, then this cycle.

    With earlier cycles, this cycle is one point (every channel merged). Without them it
    is split by day from per-person answers, so a single cycle still shows its course.
    """
    earlier = sorted((h for h in history if h.cycle != current.cycle), key=lambda h: h.end)
    latest = latest_choice(rows)
    charts = []
    for item_id, good in measure_options.items():
        points: list[dict[str, Any]] = []
        for h in earlier:
            n = h.poll_n.get(item_id, 0)
            if n:
                count = min(n, sum(h.polls.get(item_id, {}).get(o, 0) for o in good))
                points.append({"date": h.end, "label": f"cycle {h.cycle}", "n": n, "count": count})
        if earlier:
            n = current.poll_n.get(item_id, 0)
            if n:
                count = min(n, sum(current.polls.get(item_id, {}).get(o, 0) for o in good))
                points.append(
                    {"date": current.end, "label": f"cycle {current.cycle}", "n": n, "count": count}
                )
        else:
            day_n: Counter[date] = Counter()
            day_x: Counter[date] = Counter()
            for (item, _), r in latest.items():
                if item == item_id and r.choices:
                    d = r.created_at.date()
                    day_n[d] += 1
                    day_x[d] += 1 if set(r.choices) & set(good) else 0
            points = [
                {"date": d, "label": d.isoformat(), "n": day_n[d], "count": day_x[d]}
                for d in sorted(day_n)
            ]
        if len(points) < 2:
            continue
        charts.append(_p_chart(item_id, "share choosing " + " or ".join(good), points, changes))
    return charts


def _p_chart(
    item_id: str, measure: str, points: list[dict[str, Any]], changes: Sequence[ChangeMarker]
) -> dict[str, Any]:
    total_x = sum(p["count"] for p in points)
    total_n = sum(p["n"] for p in points)
    p_bar = total_x / total_n if total_n else 0.0
    shares = [p["count"] / p["n"] for p in points]
    median = float(np.median(shares))
    out_points = []
    for p, share in zip(points, shares, strict=True):
        lcl, ucl = p_chart_limits(p_bar, p["n"])
        out_points.append(
            {
                "date": p["date"].isoformat(),
                "label": p["label"],
                "n": p["n"],
                "count": p["count"],
                "share": round(share, 4),
                "lcl": round(lcl, 4),
                "ucl": round(ucl, 4),
                "outside_limits": share < lcl or share > ucl,
            }
        )
    # Shift rule: SHIFT_RUN or more points in a row on one side of the median.
    shifts = []
    run_side, run_start, run_len = 0, 0, 0
    for i, share in enumerate(shares):
        side = 0 if share == median else (1 if share > median else -1)
        if side == 0:
            continue
        if side == run_side:
            run_len += 1
        else:
            run_side, run_start, run_len = side, i, 1
        if run_len == SHIFT_RUN:
            shifts.append(
                {"from": out_points[run_start]["date"], "side": "above" if side > 0 else "below"}
            )
    first, last = points[0]["date"], points[-1]["date"]
    labels = [p["label"] for p in points]
    limits = spc.xmr(shares)
    special = spc.signals(shares, labels)
    return {
        "item": item_id,
        "measure": measure,
        "centre": round(p_bar, 4),
        "median": round(median, 4),
        "points": out_points,
        # The NHS "Making data count" XmR view of the same shares (see insights.spc).
        "process": None if limits is None else {k: round(v, 4) for k, v in limits.items()},
        "signals": {
            "outside_limits": [p["date"] for p in out_points if p["outside_limits"]],
            "shifts": shifts,
            "special_cause": [
                {**sig, "description": spc.describe(sig, f"{item_id} ({measure})")}
                for sig in special
            ],
        },
        "changes": [
            {"date": c.date.isoformat(), "label": c.label}
            for c in changes
            if first <= c.date <= last
        ],
    }
