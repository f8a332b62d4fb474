"""The report for a consultation at a QI stage, as one JSON-ready dict.

:func:`build_report` reads only what it is given (the spec, response rows with their
stored analyses, poll totals, funnel counts, earlier cycles, change markers); it does no
I/O, so the same function serves the CLI, the dashboard and the tests. The dict holds
the contract's fields (consultation, stage, generated_at, participation, polls, themes,
sentiment, safety, suppressed, stage_summary) and these extensions: participation's
``by_day``, ``by_item``, ``funnel`` and ``missing_segments``; ``representativeness``
(segment shares against the spec's expected shares, the channel mix); polls' ``by_segment``
and ``sources``; ``codebook``; ``comparison`` and ``run_charts`` across cycles;
``statement_votes`` (each shown statement's agree, disagree and pass counts) beside
``opinions``, only with statement voting; ``delphi`` (polls asked in rounds) and
``timed_chat`` (one part per timed question), only when the spec has them
(docs/engagement-over-time.md).

Each section is built by its own module in :mod:`consultations.insights.sections`; this
module assembles them in order, since later sections (comparison, stage summaries) read
earlier ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from consultations import screening
from consultations.insights.codebook import Codebook, default_codebook
from consultations.insights.columns import Responses, split_rows
from consultations.insights.records import (
    STAGES,
    ChangeMarker,
    CycleResult,
    FunnelCounts,
    PollTotal,
    ResponseRow,
    SpecLike,
    StatementRecord,
    as_text,
)
from consultations.insights.sections import (
    cycles,
    delphi,
    free_text,
    opinions,
    participation,
    polls,
    representativeness,
    stages,
    statement_tally,
    timed,
)
from consultations.insights.sections.cycles import summarise_cycle
from consultations.insights.text import default_analyser
from consultations.moderation import OFF_PUBLIC_PAGES
from consultations.spec import ConsultationSpec

__all__ = ["Progress", "build_report", "summarise_cycle"]

Progress = Callable[[str, float], None]


def build_report(
    spec: SpecLike,
    rows: Sequence[ResponseRow] | Responses,
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
    statement_votes: Sequence[tuple[str, str, int]] = (),
    statement_texts: Mapping[str, str] | None = None,
    statements: Sequence[StatementRecord] = (),
    hints: screening.Hints | None = None,
) -> dict[str, Any]:
    """Summarise a consultation's responses for one PDSA stage.

    Args:
        spec: the consultation spec (anything shaped like ``ConsultationSpec``).
        rows: every stored response of the consultation; free-text rows should carry
            their stored ``analysis`` (it is computed here only when missing). Or, for
            large consultations, :class:`Responses`: the free-text replies as columns
            (see :mod:`consultations.insights.columns`) and the other rows.
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
        statement_votes: ``(participant, statement, vote)`` of statement voting, vote
            +1 agree, -1 disagree, 0 pass, on the statements people may see.
        statement_texts: statement id -> its (redacted) words.
        statements: every statement of statement voting, whatever its status, for the
            per-statement tally (``statement_votes``).
        hints: what quotes are redacted again with (its phone regions and placeholders);
            default the consultation's (:func:`consultations.screening.hints_for`), as
            its replies were screened at intake, or none in particular for a spec that
            is not a :class:`ConsultationSpec`.

    Returns:
        The report as a JSON-ready dict.
    """
    stage = stage or as_text(spec.qi.stage)
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")

    def step(name: str, done: float) -> None:
        if progress is not None:
            progress(name, done)

    if hints is None:
        hints = (
            screening.hints_for(spec) if isinstance(spec, ConsultationSpec) else screening.NO_HINTS
        )

    suppressed: list[dict[str, Any]] = []
    hidden_groups: dict[str, set[str]] = {}
    step("participation", 0.0)
    responses = (
        rows
        if isinstance(rows, Responses)
        else split_rows(rows, len(default_analyser().categories))
    )
    others = responses.rows
    seg_of = participation.participant_segments(others)
    participation_section = participation.summarise(
        spec, responses, poll_totals, funnel, seg_of, suppressed, hidden_groups
    )
    step("polls", 0.1)
    poll_section = polls.summarise(spec, others, poll_totals, seg_of, suppressed, hidden_groups)
    step("themes", 0.2)
    text = free_text.free_texts(responses.texts)
    questions = [i.text for i in spec.items if as_text(i.type) in ("prompt", "thread")]
    themes, assignment = free_text.summarise_themes(text, hints, questions)
    step("codebook", 0.7)
    book = codebook or default_codebook()
    codebook_section, categories = free_text.summarise_codebook(book, text, hints)
    step("comparison", 0.8)
    measure_options = cycles.measure_options(spec, measures)
    current = cycles.current_cycle(spec, responses, poll_totals, text)
    comparison = cycles.comparison(spec, current, history, poll_section, measure_options)
    run_charts = cycles.run_charts(spec, current, history, others, changes, measure_options)
    sentiment = free_text.sentiment_of(text)
    report: dict[str, Any] = {
        "consultation": {
            "id": spec.id,
            "title": spec.title,
            "organisation": spec.organisation,
            # The language of its own words (title, questions, answers); the report's
            # are English.
            "language": str(getattr(spec, "language", "en") or "en"),
            "model": as_text(spec.model),
            "qi": {
                "project": spec.qi.project,
                "stage": as_text(spec.qi.stage),
                "cycle": spec.qi.cycle,
            },
        },
        "stage": stage,
        "generated_at": generated_at.isoformat(),
        "participation": participation_section,
        "representativeness": representativeness.summarise(spec, participation_section),
        "polls": poll_section,
        "themes": themes,
        "sentiment": sentiment,
        "safety": {
            "flagged": sum(1 for r in others if r.safety_flagged)
            + int(responses.texts.safety_flagged.sum())
        },
        "codebook": codebook_section,
        "comparison": comparison,
        "run_charts": run_charts,
        "suppressed": suppressed,
        "opinion_groups": [],
        "consensus": [],
    }
    if any(as_text(item.type) == "statements" for item in spec.items):
        step("opinion groups", 0.85)
        groups, consensus, rest = opinions.summarise(statement_votes, statement_texts or {})
        report["opinion_groups"] = groups
        report["consensus"] = consensus
        report["opinions"] = rest
        report["statement_votes"] = statement_tally.summarise(statements, statement_votes)
    # Engagement over time: Delphi rounds and timed chats, only where the spec has them.
    rounds_section = delphi.summarise(spec, others, suppressed, poll_totals)
    if rounds_section:
        report["delphi"] = rounds_section
    timed_section = timed.summarise(spec, responses, hints)
    if timed_section:
        report["timed_chat"] = timed_section
    step("summary", 0.9)
    report["stage_summary"] = stages.summarise(
        stage, spec, report, text, changes, hints, assignment
    )
    if include_responses:
        names = book.names
        labels = [themes[t]["label"] for t in range(len(themes))]
        # Kept off public pages, so never printed either: a text the screen could not read
        # (it may be a disclosure) and one a moderator released as no disclosure.
        held_back = text.flag_mask(*OFF_PUBLIC_PAGES)
        report["responses"] = []
        for i in range(len(text)):
            row = text.row(i)
            assert row.analysis is not None
            best = int(categories[i])
            report["responses"].append(
                {
                    "id": row.id,
                    "item": row.item_id,
                    "participant": row.participant,
                    "channel": row.channel,
                    "text": row.text,
                    "safety": row.safety_flagged,
                    "quotable": row.quotable,
                    "held_back": bool(held_back[i]),
                    "theme": labels[int(assignment[i])] if len(themes) else None,
                    "category": names[best] if best >= 0 else None,
                    "sentiment": row.analysis.label,
                    "sentiment_score": row.analysis.sentiment,
                }
            )
    step("done", 1.0)
    return report
