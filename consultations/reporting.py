"""`engage report`: read a consultation from the store and render its stage summary.

The analysis of each reply (sentiment, words, codebook scores) was stored at intake;
here it is read back, not recomputed. Earlier cycles of the same QI project (other
consultations with the same ``qi.project``) are summarised for comparison.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from contextlib import aclosing
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import String, Text, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from consultations import screening, service
from consultations.insights import (
    ChangeMarker,
    Codebook,
    CodebookError,
    CycleResult,
    FunnelCounts,
    PollTotal,
    ResponseRow,
    TextAnalysis,
    build_report,
    load_codebook,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    summarise_cycle,
)
from consultations.insights.columns import (
    TEXT_ITEM_TYPES,
    Responses,
    TextColumnsBuilder,
    distinct,
    split_rows,
)
from consultations.insights.narrative import LocalModel, add_summaries
from consultations.insights.records import StatementRecord
from consultations.insights.text import default_analyser
from consultations.reception import LOOP_MODEL, reception
from consultations.safety.screen import default_screen
from consultations.spec import ConsultationSpec
from consultations.statements import VOTE_VALUE, statement_ref
from storage import queries
from storage import statements as statement_store
from storage.db import read_batches
from storage.tables import (
    Consent,
    Consultation,
    Dialogue,
    ModerationCase,
    Participant,
    Response,
    Statement,
)

FORMATS = ("md", "html", "json", "csv")
Progress = Callable[[int, int | None], None]


class ReportError(ValueError):
    """The report cannot be made as asked; the message names the option or value."""


def parse_changes(values: Sequence[str]) -> list[ChangeMarker]:
    """``DATE=LABEL`` strings (``--change``) as run-chart markers."""
    markers = []
    for value in values:
        day, sep, label = value.partition("=")
        try:
            when = date.fromisoformat(day.strip())
        except ValueError:
            raise ReportError(f"--change: {value!r}: the date must be YYYY-MM-DD") from None
        if not sep or not label.strip():
            raise ReportError(f"--change: {value!r}: give DATE=LABEL, e.g. 2026-12-08=New letter")
        markers.append(ChangeMarker(when, label.strip()))
    return markers


#: Free-text replies read from the store at a time (each batch becomes columns at once).
TEXT_BATCH = 20_000


async def _segments(session: AsyncSession, consultation_id: str) -> dict[int, dict[str, str]]:
    """Self-descriptions by participant id, for those who gave any."""
    segments: dict[int, dict[str, str]] = {}
    for participant_id, values in await session.execute(
        select(Dialogue.participant_id, Dialogue.segments).where(
            Dialogue.consultation_id == consultation_id
        )
    ):
        found = {k: v for k, v in (values or {}).items() if v is not None}
        if found:
            segments[participant_id] = found
    return segments


async def _load_rows(
    session: AsyncSession,
    consultation_id: str,
    segments: dict[int, dict[str, str]],
    *,
    free_text: bool,
) -> tuple[list[ResponseRow], dict[str, int]]:
    """Responses as records (with the participant id of each pseudonym); with
    ``free_text`` False, only those to items that take no free text."""
    # Plain table columns: the rows are read, not mapped to objects, so skip the ORM.
    response = Response.__table__.c
    participant = Participant.__table__.c
    statement = (
        select(
            response.id,
            response.item_id,
            response.item_type,
            response.channel,
            participant.pseudonym,
            response.participant_id,
            response.choices,
            response.text,
            response.created_at,
            response.flags,
            response.analysis,
            response.round,
        )
        .join_from(
            Response.__table__, Participant.__table__, participant.id == response.participant_id
        )
        .where(response.consultation_id == consultation_id)
        .order_by(response.id)
    )
    if not free_text:
        statement = statement.where(response.item_type.not_in(TEXT_ITEM_TYPES))
    rows: list[ResponseRow] = []
    keys: dict[str, int] = {}
    empty: dict[str, str] = {}
    # One fetch for all rows: iterating a stream costs a context switch per row.
    connection = await session.connection()
    for row in (await connection.execute(statement)).all():
        analysis = row.analysis
        keys[row.pseudonym] = row.participant_id
        rows.append(
            ResponseRow(
                id=row.id,
                item_id=row.item_id,
                item_type=row.item_type,
                channel=row.channel,
                participant=row.pseudonym,
                segments=segments.get(row.participant_id, empty),
                choices=tuple(row.choices or ()),
                text=row.text,
                created_at=row.created_at,
                flags=tuple(row.flags or ()),
                analysis=TextAnalysis.from_json(analysis) if analysis else None,
                round=row.round,
            )
        )
    return rows, keys


async def load_rows(session: AsyncSession, consultation_id: str) -> list[ResponseRow]:
    """Every response of a consultation as records, with stored analyses (small
    consultations and tests; reports read :func:`load_responses`)."""
    segments = await _segments(session, consultation_id)
    rows, _ = await _load_rows(session, consultation_id, segments, free_text=True)
    return rows


async def load_responses(
    session: AsyncSession, consultation_id: str, *, names: bool = False
) -> Responses:
    """Every response of a consultation as reports read them.

    Replies to free-text items are streamed :data:`TEXT_BATCH` at a time into compact
    columns (see :mod:`consultations.insights.columns`): only the columns a report
    reads, the stored analysis as small arrays, never one object per reply, so memory
    grows by about 150 bytes per reply plus its text. The other responses (polls,
    segments, statements, votes) are read as records. ``names`` also reads the
    pseudonym of every participant who wrote (for the CSV of responses).
    """
    segments = await _segments(session, consultation_id)
    rows, keys = await _load_rows(session, consultation_id, segments, free_text=False)
    response = Response.__table__.c
    statement = (
        select(
            response.id,
            response.item_id,
            response.item_type,
            response.channel,
            response.participant_id,
            # As the driver gives it (text on SQLite): converted a batch at a time.
            type_coerce(response.created_at, String),
            # As stored: parsed once per distinct value (flags) or straight into arrays.
            cast(response.flags, Text),
            response.text,
            cast(response.analysis, Text),
        )
        .where(
            response.consultation_id == consultation_id,
            response.item_type.in_(TEXT_ITEM_TYPES),
        )
        .order_by(response.id)
    )
    builder = TextColumnsBuilder(len(default_analyser().categories))
    connection = await session.connection()
    converting: asyncio.Future[None] | None = None
    # Hundreds of thousands of rows and parsed analyses are made and dropped here, none
    # in a reference cycle: the cyclic garbage collector, run by their numbers, would
    # walk every live object of the process again and again (a fifth of reading a
    # million replies). It is paused while they are read, if it was running.
    pause = gc.isenabled()
    if pause:
        gc.disable()
    try:
        # Straight from the driver: SQLAlchemy's rows cost several times the reading.
        async with aclosing(read_batches(connection, statement, TEXT_BATCH)) as batches:
            async for batch in batches:
                # The conversion is CPU work: it runs in a thread while the next batch
                # is read, one batch at a time so that they are added in order.
                if converting is not None:
                    await converting
                converting = asyncio.ensure_future(asyncio.to_thread(builder.add_batch, batch))
        if converting is not None:
            await converting
    finally:
        if pause:
            gc.enable()
    builder.segments.update(segments)
    if names:
        participant = Participant.__table__.c
        found = await session.execute(
            select(participant.id, participant.pseudonym).where(
                participant.id.in_(
                    select(response.participant_id).where(
                        response.consultation_id == consultation_id,
                        response.item_type.in_(TEXT_ITEM_TYPES),
                    )
                )
            )
        )
        builder.names.update({int(pid): pseudonym for pid, pseudonym in found})
    return Responses(rows, builder.finish(), keys)


async def load_statement_votes(
    session: AsyncSession, consultation_id: str
) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """Votes on the statements people may see, as ``(pseudonym, statement, ±1|0)``.

    Only shown statements count: one pending, rejected or withheld was never put to
    anyone. Their texts are the redacted words, by record id (``statement:N``).
    """
    shown = await session.execute(
        select(Statement.id, Statement.text).where(
            Statement.consultation_id == consultation_id,
            Statement.status == statement_store.SHOWN,
        )
    )
    texts = {statement_ref(sid): text for sid, text in shown}
    if not texts:
        return [], texts
    response = Response.__table__.c
    participant = Participant.__table__.c
    rows = await session.execute(
        select(participant.pseudonym, response.in_reply_to, response.choices)
        .join_from(
            Response.__table__, Participant.__table__, participant.id == response.participant_id
        )
        .where(response.consultation_id == consultation_id, response.item_type == "vote")
    )
    votes = [
        (pseudonym, ref, VOTE_VALUE.get((choices or ["pass"])[0], 0))
        for pseudonym, ref, choices in rows
        if ref in texts
    ]
    return votes, texts


async def load_statements(session: AsyncSession, consultation_id: str) -> list[StatementRecord]:
    """Every statement of the consultation, whatever its status, oldest first.

    Only a shown statement's words are read: the others are counted in the report, and
    their words (a withheld one's may hold a disclosure) never reach it.
    """
    found = await session.execute(
        select(Statement.id, Statement.item_id, Statement.text, Statement.seed, Statement.status)
        .where(Statement.consultation_id == consultation_id)
        .order_by(Statement.id)
    )
    return [
        StatementRecord(
            ref=statement_ref(sid),
            item_id=item_id,
            text=text if status == statement_store.SHOWN else "",
            seed=bool(seed),
            status=status,
        )
        for sid, item_id, text, seed, status in found
    ]


async def load_totals(session: AsyncSession, consultation_id: str) -> list[PollTotal]:
    """The latest tally of each poll post on channels that give only totals."""
    tallies = await queries.latest_tallies(session, consultation_id)
    return [
        PollTotal(
            item_id=t.item_id,
            channel=t.channel,
            counts={str(k): int(v) for k, v in t.counts.items() if not str(k).startswith("_")},
            taken_at=t.taken_at,
            voters=int(t.counts["_voters"]) if "_voters" in t.counts else None,
        )
        for t in _merge_posts(tallies)
    ]


def _merge_posts(tallies: Sequence[Any]) -> list[Any]:
    """One tally per (item, channel): several posts of one poll (several groups) add up."""
    merged: dict[tuple[str, str], Any] = {}
    for tally in tallies:
        key = (tally.item_id, tally.channel)
        if key not in merged:
            merged[key] = _Tally(tally.item_id, tally.channel, dict(tally.counts), tally.taken_at)
            continue
        into = merged[key]
        for label, count in tally.counts.items():
            into.counts[label] = int(into.counts.get(label, 0)) + int(count)
        into.taken_at = max(into.taken_at, tally.taken_at)
    return list(merged.values())


class _Tally:
    def __init__(self, item_id: str, channel: str, counts: dict[str, Any], taken_at: datetime):
        self.item_id = item_id
        self.channel = channel
        self.counts = counts
        self.taken_at = taken_at


async def load_funnel(
    session: AsyncSession, consultation_id: str, rows: Sequence[ResponseRow] | Responses
) -> FunnelCounts:
    """Consented -> answered at least once -> finished.

    Imported responses were gathered (with consent) elsewhere: their people count as
    consented, and as finished when they answered every item that takes free text.
    """
    consented = int(
        await session.scalar(
            select(func.count(func.distinct(Consent.participant_id))).where(
                Consent.consultation_id == consultation_id,
                Consent.purpose == "consultation",
                Consent.given.is_(True),
            )
        )
        or 0
    )
    # Finished with something answered: a dialogue with nothing left to ask is finished
    # from the start for someone who then answers nothing (statements with none to vote
    # on), and "finished" must never count more people than "answered".
    answered_here = (
        select(Response.id)
        .where(
            Response.participant_id == Dialogue.participant_id,
            Response.consultation_id == consultation_id,
            Response.item_type != "segment",
        )
        .exists()
    )
    finished = int(
        await session.scalar(
            select(func.count(Dialogue.id)).where(
                Dialogue.consultation_id == consultation_id,
                Dialogue.state == "finished",
                answered_here,
            )
        )
        or 0
    )
    responses = (
        rows
        if isinstance(rows, Responses)
        else split_rows(rows, len(default_analyser().categories))
    )
    texts = responses.texts
    others = responses.rows
    if "import" in texts.channels:
        from_texts = texts.participant[texts.channel == texts.channels.index("import")]
    else:
        from_texts = texts.participant[:0]
    imported = distinct(
        np.concatenate(
            [
                from_texts,
                np.asarray(
                    [responses.key(r.participant) for r in others if r.channel == "import"],
                    dtype=np.int64,
                ),
            ]
        )
    )
    answered = distinct(
        np.concatenate(
            [
                texts.participant,
                np.asarray(
                    [responses.key(r.participant) for r in others if r.item_type != "segment"],
                    dtype=np.int64,
                ),
            ]
        )
    )
    return FunnelCounts(
        consented=consented + len(imported),
        answered=len(answered),
        finished=finished + len(imported),
    )


async def load_history(
    session: AsyncSession, row: Consultation, spec: ConsultationSpec
) -> list[CycleResult]:
    """Other cycles of the same QI project, summarised for comparison.

    A closing-the-loop follow-up is no measurement cycle: its replies are reactions to a
    change (shown under ``reception``), so it is neither compared nor compared with.
    """
    if spec.model == LOOP_MODEL:
        return []
    others = (
        await session.scalars(
            select(Consultation).where(
                Consultation.qi_project == row.qi_project,
                Consultation.id != row.id,
                Consultation.state != service.DRAFT,
            )
        )
    ).all()
    history: list[CycleResult] = []
    for other in others:
        other_spec = service.spec_of(other)
        if other_spec.model == LOOP_MODEL:
            continue
        other_rows = await load_responses(session, other.id)
        totals = await load_totals(session, other.id)
        if not other_rows.rows and not len(other_rows.texts) and not totals:
            continue
        start = (other.opened_at or other.created_at).date()
        end = (other.closed_at or datetime.now(UTC)).date()
        history.append(summarise_cycle(other_spec, other_rows, totals, start=start, end=end))
    return history


async def build(
    session: AsyncSession,
    consultation_id: str,
    *,
    stage: str | None = None,
    codebook: Codebook | None = None,
    include_responses: bool = False,
    changes: Sequence[ChangeMarker] = (),
    progress: Progress | None = None,
    narrator: LocalModel | None = None,
) -> dict[str, Any]:
    """The report for one consultation and stage, as a JSON-ready dict.

    With ``narrator``, a local language model then summarises each theme in plain words
    (:mod:`consultations.insights.narrative`); the rest of the report is the same.
    """
    row = await service.require(session, consultation_id)
    spec = service.spec_of(row)
    # Quotes are screened once more (see consultations.insights.quotes): the screen's
    # lexicon and model load (about half a second in a new process) beside the reading,
    # which mostly waits for the store.
    screen = asyncio.ensure_future(asyncio.to_thread(default_screen))
    rows = await load_responses(session, consultation_id, names=include_responses)
    totals = await load_totals(session, consultation_id)
    funnel = await load_funnel(session, consultation_id, rows)
    history = await load_history(session, row, spec)
    votes, statement_texts = await load_statement_votes(session, consultation_id)
    statements = await load_statements(session, consultation_id)

    # With summaries to write, the analysis is the first half of the work.
    analysis_share = 100 if narrator is None else 50

    def step(name: str, done: float) -> None:
        if progress is not None:
            progress(round(done * analysis_share), 100)

    def summarised(done: int, total: int) -> None:
        if progress is not None and total:
            progress(analysis_share + round(done / total * (100 - analysis_share)), 100)

    await screen
    # Quotes and summaries are redacted again as the consultation's replies were at
    # intake: its phone regions and its placeholders.
    hints = screening.hints_for(spec)
    # The analysis is CPU work: keep the event loop free while it runs.
    report = await asyncio.to_thread(
        build_report,
        spec,
        rows,
        totals,
        funnel,
        stage=stage,
        generated_at=datetime.now(UTC),
        history=history,
        codebook=codebook,
        include_responses=include_responses,
        changes=changes,
        progress=step,
        statement_votes=votes,
        statement_texts=statement_texts,
        statements=statements,
        hints=hints,
    )
    # A disclosure typed where no text is stored (at the consent question, at a poll
    # that wants a choice) gets its case and the helplines but no response: counted too.
    report["safety"]["flagged"] += await unrecorded_disclosures(session, consultation_id)
    summary = report.get("stage_summary")
    if isinstance(summary, dict) and summary.get("stage") in ("study", "act"):
        # How the people who took part received the change (closing-the-loop reactions).
        summary[summary["stage"]]["reception"] = await reception(session, row)
    if narrator is not None:
        # The model runs as a separate program: minutes per report, none of it on the loop.
        await asyncio.to_thread(add_summaries, report, narrator, summarised, hints)
    return report


async def unrecorded_disclosures(session: AsyncSession, consultation_id: str) -> int:
    """Safety cases of ``consultation_id`` whose text was never stored as a response.

    Not those cut loose from a response since (an erased person's: ``erased_at``).
    """
    found = await session.scalar(
        select(func.count(ModerationCase.id)).where(
            ModerationCase.consultation_id == consultation_id,
            ModerationCase.reason == screening.SAFETY,
            ModerationCase.response_id.is_(None),
            ModerationCase.erased_at.is_(None),
        )
    )
    return int(found or 0)


async def render(
    session: AsyncSession,
    consultation_id: str,
    *,
    fmt: str,
    stage: str | None = None,
    codebook_path: str | None = None,
    changes: Sequence[ChangeMarker] = (),
    progress: Progress | None = None,
    narrator: LocalModel | None = None,
) -> str:
    """The report rendered as ``md``, ``html``, ``json`` or ``csv`` (with ``narrator``,
    theme summaries by a local language model; ``csv`` has no place for them)."""
    if fmt not in FORMATS:
        raise ReportError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    codebook = None
    if codebook_path is not None:
        try:
            codebook = await asyncio.to_thread(load_codebook, codebook_path)
        except CodebookError as exc:
            raise ReportError(f"--codebook: {exc}") from None
    try:
        report = await build(
            session,
            consultation_id,
            stage=stage,
            codebook=codebook,
            include_responses=fmt == "csv",
            changes=changes,
            progress=progress,
            narrator=narrator if fmt != "csv" else None,
        )
    except ValueError as exc:  # e.g. an unknown stage
        raise ReportError(str(exc)) from None
    renderer: Callable[[dict[str, Any]], str] = {
        "md": render_markdown,
        "html": render_html,
        "json": render_json,
        "csv": render_csv,
    }[fmt]
    return renderer(report)
