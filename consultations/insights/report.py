"""The report for a consultation at a QI stage, as one JSON-ready dict.

:func:`build_report` reads only what it is given (the spec, response rows with their
stored analyses, poll totals, funnel counts, earlier cycles, change markers); it does no
I/O, so the same function serves the CLI, the dashboard and the tests. The dict holds
the contract's fields (consultation, stage, generated_at, participation, polls, themes,
sentiment, safety, suppressed, stage_summary) and these extensions: participation's
``by_day``, ``by_item``, ``funnel`` and ``missing_segments``; polls' ``by_segment`` and
``sources``; ``codebook``; ``comparison`` and ``run_charts`` across cycles.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from consultations.insights.codebook import Codebook, assign, default_codebook
from consultations.insights.records import (
    POLL,
    PROMPT,
    SEGMENT,
    STAGES,
    THREAD,
    ChangeMarker,
    CycleResult,
    FunnelCounts,
    PollTotal,
    ResponseRow,
    SpecLike,
    as_text,
)
from consultations.insights.stats import (
    difference_interval,
    p_chart_limits,
    wilson_interval,
)
from consultations.insights.text import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    TextAnalysis,
    analyse_text,
    category_matrix,
    default_analyser,
)
from consultations.insights.themes import ThemeInput, find_themes

#: Counts below this are hidden in breakdowns by segment (never in whole-item totals).
SMALL_CELL = 5
#: Longest quote shown; the full reply stays reachable through its response id.
QUOTE_CHARS = 300
#: Longest "you said, we did" draft: fits a Mastodon status (500 characters).
YOU_SAID_CHARS = 500
#: A run of this many points on one side of the median signals a shift (run chart rule).
SHIFT_RUN = 6

Progress = Callable[[str, float], None]


def build_report(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    poll_totals: Sequence[PollTotal] = (),
    funnel: FunnelCounts | None = None,
    *,
    stage: str | None = None,
    generated_at: datetime,
    history: Sequence[CycleResult] = (),
    changes: Sequence[ChangeMarker] = (),
    codebook: Codebook | None = None,
    measures: Mapping[str, Sequence[str]] | None = None,
    include_responses: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Summarise a consultation's responses for one PDSA stage.

    Args:
        spec: the consultation spec (anything shaped like ``ConsultationSpec``).
        rows: every stored response of the consultation; free-text rows should carry
            their stored ``analysis`` (it is computed here only when missing).
        poll_totals: tallies of anonymous public polls; the latest per item and channel
            counts, added to the per-person answers (which come from other votes).
        funnel: consent and completion counts; when None, "answered" is taken from rows.
        stage: ``plan``, ``do``, ``study`` or ``act``; default the spec's QI stage.
        generated_at: when the report is made (timezone-aware).
        history: other cycles of the same QI project (see :class:`CycleResult`).
        changes: changes to the service, marked on run charts.
        codebook: categories to assign replies to; default the NHS major categories.
        measures: poll item id -> options that count as the good outcome, for
            comparisons and run charts; default the first half of the options.
        include_responses: add ``responses``, one entry per free-text reply (needed by
            :func:`render_csv`; large).
        progress: called with a step name and the fraction done, for long reports.

    Returns:
        The report as a JSON-ready dict.
    """
    stage = stage or as_text(spec.qi.stage)
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")

    def step(name: str, done: float) -> None:
        if progress is not None:
            progress(name, done)

    suppressed: list[dict[str, Any]] = []
    step("participation", 0.0)
    seg_of = _participant_segments(rows)
    participation = _participation(spec, rows, poll_totals, funnel, seg_of, suppressed)
    step("polls", 0.1)
    polls = _polls(spec, rows, poll_totals, seg_of, suppressed)
    step("themes", 0.2)
    text = _free_text(rows)
    themes, assignment = _themes(text)
    step("codebook", 0.7)
    book = codebook or default_codebook()
    codebook_section, categories = _codebook(book, text)
    step("comparison", 0.8)
    measure_options = _measure_options(spec, measures)
    current = _current_cycle(spec, rows, poll_totals, text)
    comparison = _comparison(spec, current, history, polls, measure_options)
    run_charts = _run_charts(spec, current, history, rows, changes, measure_options)
    sentiment = _sentiment_shares([t.analysis for t in text])
    report: dict[str, Any] = {
        "consultation": {
            "id": spec.id,
            "title": spec.title,
            "organisation": spec.organisation,
            "model": as_text(spec.model),
            "qi": {
                "project": spec.qi.project,
                "stage": as_text(spec.qi.stage),
                "cycle": spec.qi.cycle,
            },
        },
        "stage": stage,
        "generated_at": generated_at.isoformat(),
        "participation": participation,
        "polls": polls,
        "themes": themes,
        "sentiment": sentiment,
        "safety": {"flagged": sum(1 for r in rows if r.safety_flagged)},
        "codebook": codebook_section,
        "comparison": comparison,
        "run_charts": run_charts,
        "suppressed": suppressed,
    }
    step("summary", 0.9)
    report["stage_summary"] = _stage_summary(stage, spec, report, text, changes)
    if include_responses:
        report["responses"] = [
            {
                "id": t.row.id,
                "item": t.row.item_id,
                "participant": t.row.participant,
                "channel": t.row.channel,
                "text": t.row.text,
                "safety": t.row.safety_flagged,
                "theme": themes[assignment[i]]["label"] if len(themes) else None,
                "category": categories[i],
                "sentiment": t.analysis.label,
                "sentiment_score": t.analysis.sentiment,
            }
            for i, t in enumerate(text)
        ]
    step("done", 1.0)
    return report


# Participation -------------------------------------------------------------------------


def _answers(rows: Iterable[ResponseRow]) -> list[ResponseRow]:
    return [r for r in rows if r.item_type != SEGMENT]


def _participant_segments(rows: Iterable[ResponseRow]) -> dict[str, dict[str, str]]:
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


def _participation(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    totals: Sequence[PollTotal],
    funnel: FunnelCounts | None,
    seg_of: Mapping[str, Mapping[str, str]],
    suppressed: list[dict[str, Any]],
) -> dict[str, Any]:
    answers = _answers(rows)
    participants = {r.participant for r in answers}
    by_channel: dict[str, dict[str, Any]] = {}
    channel_people: dict[str, set[str]] = defaultdict(set)
    channel_responses: Counter[str] = Counter()
    for r in answers:
        channel_people[r.channel].add(r.participant)
        channel_responses[r.channel] += 1
    for ch in sorted(set(channel_responses) | {t.channel for t in _latest_totals(totals)}):
        by_channel[ch] = {
            "responses": channel_responses[ch],
            "participants": len(channel_people[ch]),
        }
    for t in _latest_totals(totals):
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
        options: dict[str, int | None] = {}
        labels = list(seg.options) + sorted(set(counts) - set(seg.options))
        for option in labels:
            c = counts.get(option, 0)
            if c < SMALL_CELL:
                options[option] = None
                suppressed.append(
                    {
                        "section": "participation.by_segment",
                        "segment": seg.id,
                        "option": option,
                        "reason": f"fewer than {SMALL_CELL} participants",
                    }
                )
            else:
                options[option] = c
            if option in seg.options and c < SMALL_CELL:
                missing.append(
                    {
                        "segment": seg.id,
                        "question": seg.text,
                        "option": option,
                        "status": "none" if c == 0 else f"fewer than {SMALL_CELL}",
                    }
                )
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


# Polls -------------------------------------------------------------------------------


def _latest_totals(totals: Sequence[PollTotal]) -> list[PollTotal]:
    latest: dict[tuple[str, str], PollTotal] = {}
    for t in totals:
        key = (t.item_id, t.channel)
        if key not in latest or t.taken_at > latest[key].taken_at:
            latest[key] = t
    return list(latest.values())


def _latest_choice(rows: Iterable[ResponseRow]) -> dict[tuple[str, str], ResponseRow]:
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
class _PollCounts:
    counts: Counter[str]
    n: int
    person_n: int
    total_channels: dict[str, int]
    n_is_votes: bool


def _poll_counts(
    item_id: str, latest: Mapping[tuple[str, str], ResponseRow], totals: Sequence[PollTotal]
) -> _PollCounts:
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
    return _PollCounts(counts, n, person_n, by_channel, n_is_votes)


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


def _polls(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    totals: Sequence[PollTotal],
    seg_of: Mapping[str, Mapping[str, str]],
    suppressed: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    latest_totals = _latest_totals(totals)
    latest = _latest_choice(rows)
    polls = []
    for item in spec.items:
        if as_text(item.type) != POLL:
            continue
        pc = _poll_counts(item.id, latest, latest_totals)
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
            for group in list(seg.options) + sorted(set(group_n) - set(seg.options)):
                gn = group_n[group]
                if gn < SMALL_CELL:
                    groups[group] = {"n": None, "options": None}
                    suppressed.append(
                        {
                            "section": "polls.by_segment",
                            "item": item.id,
                            "segment": seg.id,
                            "group": group,
                            "option": None,
                            "reason": f"fewer than {SMALL_CELL} people in the group",
                        }
                    )
                    continue
                cells: list[dict[str, Any]] = []
                for label in labels:
                    c = per_group[group][label]
                    if c < SMALL_CELL:
                        cells.append({"label": label, "count": None, "share": None})
                        suppressed.append(
                            {
                                "section": "polls.by_segment",
                                "item": item.id,
                                "segment": seg.id,
                                "group": group,
                                "option": label,
                                "reason": f"count under {SMALL_CELL}",
                            }
                        )
                    else:
                        cells.append({"label": label, "count": c, "share": round(c / gn, 4)})
                groups[group] = {"n": gn, "options": cells}
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


# Free text, themes, sentiment ------------------------------------------------------


@dataclass(frozen=True)
class _TextRow:
    row: ResponseRow
    analysis: TextAnalysis


def _free_text(rows: Sequence[ResponseRow]) -> list[_TextRow]:
    out = []
    for r in rows:
        if r.item_type in (PROMPT, THREAD) and r.text and r.text.strip():
            analysis = r.analysis if r.analysis is not None else analyse_text(r.text)
            out.append(_TextRow(r, analysis))
    return out


def _sentiment_shares(analyses: Iterable[TextAnalysis]) -> dict[str, Any]:
    labels: Counter[str] = Counter()
    total = 0.0
    n = 0
    for a in analyses:
        labels[a.label] += 1
        total += a.sentiment
        n += 1
    return {
        POSITIVE: round(labels[POSITIVE] / n, 4) if n else 0.0,
        NEUTRAL: round(labels[NEUTRAL] / n, 4) if n else 0.0,
        NEGATIVE: round(labels[NEGATIVE] / n, 4) if n else 0.0,
        "mean": round(total / n, 4) if n else 0.0,
        "n": n,
    }


def _quote_text(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARS:
        return text
    cut = text[:QUOTE_CHARS].rsplit(" ", 1)[0]
    return cut + " …"


def _themes(text: Sequence[_TextRow]) -> tuple[list[dict[str, Any]], np.ndarray[Any, Any]]:
    analyses = [t.analysis for t in text]
    docs = ThemeInput(
        tokens=[a.tokens for a in analyses],
        categories=category_matrix(analyses),
        words=[a.words for a in analyses],
        quotable=[not t.row.safety_flagged for t in text],
        texts=[t.row.text or "" for t in text],
    )
    found, assignment = find_themes(docs, default_analyser().categories)
    n = len(text)
    themes = []
    for theme in found:
        members = [text[i] for i in theme.members]
        quotes = [text[i].row for i in theme.quotes]
        themes.append(
            {
                "label": theme.label,
                "keywords": list(theme.keywords),
                "count": len(members),
                "share": round(len(members) / n, 4),
                "quotes": [_quote_text(q.text or "") for q in quotes],
                "quote_refs": [
                    {"response": q.id, "item": q.item_id, "channel": q.channel} for q in quotes
                ],
                "sentiment": _sentiment_shares(m.analysis for m in members),
                "category": theme.category,
                "safety_flagged": sum(1 for m in members if m.row.safety_flagged),
                "suggestions": sum(1 for m in members if m.analysis.suggestion),
            }
        )
    return themes, assignment


def _codebook(book: Codebook, text: Sequence[_TextRow]) -> tuple[dict[str, Any], list[str | None]]:
    analyses = [t.analysis for t in text]
    best, score = assign(book, analyses)
    n = len(text)
    names = book.names
    categories: list[str | None] = [names[b] if b >= 0 else None for b in best.tolist()]
    entries = []
    for k, name in enumerate(names):
        members = np.flatnonzero(best == k)
        quotable = [int(i) for i in members if not text[int(i)].row.safety_flagged]
        # Most confident first; skip repeats of the same words.
        quotable.sort(key=lambda i: -float(score[i]))
        chosen: list[int] = []
        seen: set[str] = set()
        for i in quotable:
            key = " ".join((text[i].row.text or "").lower().split())
            if key in seen or text[i].analysis.words < 3:
                continue
            seen.add(key)
            chosen.append(i)
            if len(chosen) == 2:
                break
        entries.append(
            {
                "name": name,
                "count": len(members),
                "share": round(len(members) / n, 4) if n else 0.0,
                "sentiment": _sentiment_shares(analyses[i] for i in members),
                "quotes": [_quote_text(text[i].row.text or "") for i in chosen],
                "quote_refs": [
                    {"response": text[i].row.id, "item": text[i].row.item_id} for i in chosen
                ],
            }
        )
    section = {
        "name": book.name,
        "method": "trained model"
        if book.trained or names == default_codebook().names
        else "word and category match",
        "categories": entries,
        "unassigned": int((best < 0).sum()),
    }
    return section, categories


# Across cycles -------------------------------------------------------------------


def _measure_options(
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
    rows: Sequence[ResponseRow],
    poll_totals: Sequence[PollTotal] = (),
    *,
    start: date | None = None,
    end: date | None = None,
) -> CycleResult:
    """The numbers of one cycle that later cycles compare with (see :class:`CycleResult`)."""
    return _current_cycle(spec, rows, poll_totals, _free_text(rows), start=start, end=end)


def _current_cycle(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    totals: Sequence[PollTotal],
    text: Sequence[_TextRow],
    *,
    start: date | None = None,
    end: date | None = None,
) -> CycleResult:
    latest = _latest_choice(rows)
    latest_totals = _latest_totals(totals)
    polls: dict[str, dict[str, int]] = {}
    poll_n: dict[str, int] = {}
    for item in spec.items:
        if as_text(item.type) == POLL:
            pc = _poll_counts(item.id, latest, latest_totals)
            polls[item.id] = dict(pc.counts)
            poll_n[item.id] = pc.n
    names = default_analyser().categories
    cats: Counter[str] = Counter()
    for t in text:
        probs = t.analysis.categories
        cats[names[max(range(len(probs)), key=probs.__getitem__)]] += 1
    dates = [r.created_at.date() for r in rows]
    first = start or (min(dates) if dates else date.today())
    last = end or (max(dates) if dates else first)
    return CycleResult(
        cycle=spec.qi.cycle,
        consultation=spec.id,
        start=first,
        end=last,
        polls=polls,
        poll_n=poll_n,
        categories=dict(cats),
        text_n=len(text),
        negative=sum(1 for t in text if t.analysis.label == NEGATIVE),
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
                consultation=parts[0].consultation,
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


def _comparison(
    spec: SpecLike,
    current: CycleResult,
    history: Sequence[CycleResult],
    polls: Sequence[Mapping[str, Any]],
    measure_options: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    earlier = [c for c in _by_cycle(history) if c.cycle != current.cycle]
    if not earlier:
        return {"cycles": [], "polls": [], "categories": [], "negative": None}
    baseline = earlier[0]
    previous = max(
        (c for c in earlier if c.cycle < current.cycle), key=lambda c: c.cycle, default=earlier[-1]
    )
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


def _run_charts(
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
    latest = _latest_choice(rows)
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
    return {
        "item": item_id,
        "measure": measure,
        "centre": round(p_bar, 4),
        "median": round(median, 4),
        "points": out_points,
        "signals": {
            "outside_limits": [p["date"] for p in out_points if p["outside_limits"]],
            "shifts": shifts,
        },
        "changes": [
            {"date": c.date.isoformat(), "label": c.label}
            for c in changes
            if first <= c.date <= last
        ],
    }


# Stage summaries -----------------------------------------------------------------


def _stage_summary(
    stage: str,
    spec: SpecLike,
    report: Mapping[str, Any],
    text: Sequence[_TextRow],
    changes: Sequence[ChangeMarker],
) -> dict[str, Any]:
    themes: list[dict[str, Any]] = report["themes"]
    problems = sorted(
        (t for t in themes if t["sentiment"]["negative"] > 0),
        key=lambda t: -t["count"] * t["sentiment"]["negative"],
    )[:5]
    problem_rows = [
        {
            "theme": t["label"],
            "count": t["count"],
            "negative_share": t["sentiment"]["negative"],
            "quote": t["quotes"][0] if t["quotes"] else None,
        }
        for t in problems
    ]
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "plan": lambda: {
            "main_problems": problem_rows,
            "priorities": _priorities(report["polls"]),
            "ideas": _ideas(text, themes),
            "missing_voices": report["participation"]["missing_segments"],
        },
        "do": lambda: {
            "experience": {
                "sentiment": report["sentiment"],
                "by_day": _sentiment_by_day(text),
                "responses_by_day": report["participation"]["by_day"],
            },
            "problems": problem_rows,
            "warning_signs": [
                {
                    "theme": t["label"],
                    "count": t["count"],
                    "negative_share": t["sentiment"]["negative"],
                }
                for t in themes
                if t["sentiment"]["negative"] >= 0.5 and t["count"] >= SMALL_CELL
            ],
        },
        "study": lambda: _study(report),
        "act": lambda: _act(spec, report, changes),
    }
    return {"stage": stage, stage: builders[stage]()}


def _priorities(polls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in polls:
        ranked = sorted(p["options"], key=lambda o: -o["count"])
        if not ranked or p["n"] == 0:
            continue
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        out.append(
            {
                "item": p["item"],
                "question": p["question"],
                "ranking": [o["label"] for o in ranked],
                "leading": top["label"],
                "share": top["share"],
                # A lead is clear when the intervals of first and second do not overlap.
                "clear_lead": second is None or top["ci_low"] > second["ci_high"],
            }
        )
    return out


def _ideas(text: Sequence[_TextRow], themes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ideas = [t for t in text if t.analysis.suggestion]
    examples: list[dict[str, Any]] = []
    seen: set[str] = set()
    # Prefer well-argued, typical-length ideas, and vary their wording.
    for t in sorted(ideas, key=lambda t: (abs(t.analysis.words - 18), t.row.id)):
        if t.row.safety_flagged or t.analysis.words < 5:
            continue
        key = " ".join(t.analysis.tokens[:4])
        if key in seen:
            continue
        seen.add(key)
        examples.append(
            {"text": _quote_text(t.row.text or ""), "response": t.row.id, "item": t.row.item_id}
        )
        if len(examples) == 5:
            break
    return {
        "count": len(ideas),
        "share": round(len(ideas) / len(text), 4) if text else 0.0,
        "by_theme": sorted(
            ({"theme": t["label"], "count": t["suggestions"]} for t in themes if t["suggestions"]),
            key=lambda d: -d["count"],
        )[:5],
        "examples": examples,
    }


def _sentiment_by_day(text: Sequence[_TextRow]) -> list[dict[str, Any]]:
    days: dict[date, list[TextAnalysis]] = defaultdict(list)
    for t in text:
        days[t.row.created_at.date()].append(t.analysis)
    return [{"date": d.isoformat(), **_sentiment_shares(days[d])} for d in sorted(days)]


def _study(report: Mapping[str, Any]) -> dict[str, Any]:
    comparison = report["comparison"]
    if not comparison["polls"] and not comparison["categories"]:
        return {
            "note": "No earlier cycle of this QI project was given: nothing to compare with yet.",
            "measures": [],
            "themes_grew": [],
            "themes_shrank": [],
            "run_chart_signals": [
                {"item": c["item"], **c["signals"]} for c in report["run_charts"]
            ],
        }
    measures = [
        {
            "item": p["item"],
            "measure": p["measure"],
            "baseline": p["cycles"][0]["share"],
            "now": p["cycles"][-1]["share"],
            "vs_baseline": p["vs_baseline"],
            "vs_previous": p["vs_previous"],
        }
        for p in comparison["polls"]
    ]
    cats = comparison["categories"]
    return {
        "measures": measures,
        "themes_grew": [c for c in cats if c.get("clear") and c["difference"] > 0],
        "themes_shrank": [c for c in cats if c.get("clear") and c["difference"] < 0],
        "negative_comments": comparison["negative"],
        "run_chart_signals": [{"item": c["item"], **c["signals"]} for c in report["run_charts"]],
    }


def _act(
    spec: SpecLike, report: Mapping[str, Any], changes: Sequence[ChangeMarker]
) -> dict[str, Any]:
    comparison = report["comparison"]
    evidence: dict[str, list[str]] = {"adopt": [], "adapt": [], "abandon": []}
    for p in comparison["polls"]:
        d = p["vs_baseline"]
        if "difference" not in d:
            continue
        pts = (
            f"{d['difference'] * 100:+.1f} points "
            f"(95% CI {d['ci_low'] * 100:+.1f} to {d['ci_high'] * 100:+.1f})"
        )
        text = f"{p['question']} {p['measure']}: {pts} since cycle {d['cycle']}"
        if d["clear"] and d["difference"] > 0:
            evidence["adopt"].append(text)
        elif d["clear"]:
            evidence["abandon"].append(text)
        else:
            evidence["adapt"].append(text + " (no clear change)")
    negative = comparison.get("negative")
    if negative and "difference" in negative:
        text = f"negative comments {negative['previous_share']:.0%} -> {negative['share']:.0%}"
        if negative["clear"] and negative["difference"] < 0:
            evidence["adopt"].append(text)
        elif negative["clear"]:
            evidence["abandon"].append(text)
    for t in report["themes"]:
        if t["count"] >= SMALL_CELL and t["sentiment"]["negative"] >= 0.5:
            evidence["adapt"].append(
                f'{t["count"]} comments on "{t["label"]}", '
                f"{t['sentiment']['negative']:.0%} negative"
            )
    if evidence["abandon"] and not evidence["adopt"]:
        suggestion = "abandon"
    elif evidence["adopt"] and not evidence["abandon"]:
        suggestion = (
            "adopt" if not any("no clear change" in e for e in evidence["adapt"]) else "adapt"
        )
    else:
        suggestion = "adapt"
    if not comparison["polls"] and not comparison["categories"]:
        evidence["adapt"].insert(
            0, "no earlier cycle to compare with: the decision rests on comments alone"
        )
    return {
        "suggested_decision": suggestion,
        "evidence": evidence,
        "you_said_we_did": _you_said(spec, report, changes),
    }


def _you_said(spec: SpecLike, report: Mapping[str, Any], changes: Sequence[ChangeMarker]) -> str:
    themes = report["themes"]
    total = report["sentiment"]["n"]
    people = report["participation"]["participants"]
    said = [
        f"{', '.join(t['keywords'][:2]) or t['label'].lower()} ({t['count']} of {total} comments)"
        for t in sorted(themes, key=lambda t: -t["count"] * (0.5 + t["sentiment"]["negative"]))[:3]
    ]
    did = [c.label for c in changes][-3:] or ["[what we changed]"]
    lines = [
        f"Thank you to the {people} people who took part in {spec.title}.",
        "You said: " + "; ".join(said) + "." if said else "You told us what matters to you.",
        "We did: " + "; ".join(did) + ".",
    ]
    if spec.closing_message:
        lines.append(spec.closing_message)
    message = "\n".join(lines)
    if len(message) > YOU_SAID_CHARS:
        message = message[: YOU_SAID_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return message
