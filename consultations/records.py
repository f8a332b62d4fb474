"""Response records in and out: ``engage export`` and ``engage import``.

The export record's keys are exactly those of CONTRACT.md; the participant is always
the pseudonym.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import multiprocessing
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from consultations import moderation, screening, service
from consultations.keys import Keyring
from consultations.spec import ConsultationSpec
from consultations.spreadsheet import inert
from consultations.statements import statement_ref
from storage import queries
from storage import statements as statement_store
from storage.tables import Dialogue, Participant, Response, utcnow

RECORD_KEYS = (
    "id",
    "consultation",
    "item",
    "item_type",
    "channel",
    "participant",
    "segments",
    "choices",
    "text",
    "in_reply_to",
    "created_at",
    "flags",
)
ROUND_KEY = "round"
"""Added to every record of a consultation with polls asked in rounds (Delphi): the
round of a poll answer asked in rounds, else null. Other exports keep the contract's keys
exactly."""


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def segment_answers(session: AsyncSession, consultation_id: str) -> dict[int, dict[str, str]]:
    """Each participant's segment answers in a consultation (skipped questions left out)."""
    rows = await session.execute(
        select(Dialogue.participant_id, Dialogue.segments).where(
            Dialogue.consultation_id == consultation_id
        )
    )
    return {
        pid: {k: v for k, v in (segments or {}).items() if v is not None} for pid, segments in rows
    }


async def records(
    session: AsyncSession, consultation_id: str, *, batch: int = 2000
) -> AsyncIterator[dict[str, Any]]:
    """Every stored response of a consultation as an export record, oldest first.

    Statement voting (CONTRACT.md): every statement is a record of type ``statement``
    with id ``statement:N`` (a seed from the spec has no participant and the channel
    ``spec``; one not shown says why in its flags: ``pending``, ``rejected`` or
    ``withheld``); a vote is of type ``vote`` and names the statement in ``in_reply_to``.
    """
    with_rounds = await _has_rounds(session, consultation_id)
    segments = await segment_answers(session, consultation_id)
    added: dict[int, tuple[str, str]] = {}
    for stated, _, _, _ in await statement_store.for_export(session, consultation_id):
        if stated.response_id is not None:
            added[stated.response_id] = (statement_ref(stated.id), stated.status)
            continue
        yield {
            "id": statement_ref(stated.id),
            "consultation": stated.consultation_id,
            "item": stated.item_id,
            "item_type": "statement",
            "channel": "spec",
            "participant": None,
            "segments": {},
            "choices": [],
            "text": stated.text,
            "in_reply_to": None,
            "created_at": iso_utc(stated.created_at),
            "flags": ["seed"],
        }
    statement = (
        select(Response, Participant.pseudonym)
        .join(Participant, Participant.id == Response.participant_id)
        .where(Response.consultation_id == consultation_id)
        .order_by(Response.created_at, Response.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(statement)
    async for response, pseudonym in result:
        record_id = f"response:{response.id}"
        flags = list(response.flags)
        if response.item_type == "statement" and response.id in added:
            record_id, status = added[response.id]
            if status != statement_store.SHOWN:
                flags.append(status)
        yield {
            "id": record_id,
            "consultation": response.consultation_id,
            "item": response.item_id,
            "item_type": response.item_type,
            "channel": response.channel,
            "participant": pseudonym,
            "segments": segments.get(response.participant_id, {}),
            "choices": list(response.choices),
            "text": response.text,
            "in_reply_to": response.in_reply_to,
            "created_at": iso_utc(response.created_at),
            "flags": flags,
            **({ROUND_KEY: response.round} if with_rounds else {}),
        }


async def _has_rounds(session: AsyncSession, consultation_id: str) -> bool:
    """Whether the consultation asks any poll in rounds (its records carry ``round``)."""
    row = await service.require(session, consultation_id)
    return any(item.rounds > 1 for item in service.spec_of(row).items)


def csv_row(record: dict[str, Any]) -> dict[str, str]:
    """A record flattened for CSV: lists joined with ``; ``, segments as ``id=value``."""
    row: dict[str, str] = {}
    for key in (*RECORD_KEYS, ROUND_KEY) if ROUND_KEY in record else RECORD_KEYS:
        value = record[key]
        if isinstance(value, list):
            row[key] = "; ".join(str(v) for v in value)
        elif isinstance(value, dict):
            row[key] = "; ".join(f"{k}={v}" for k, v in value.items())
        elif value is None:
            row[key] = ""
        else:
            row[key] = str(value)
        row[key] = inert(row[key])
    return row


async def write_export(
    session: AsyncSession,
    consultation_id: str,
    out: TextIO,
    fmt: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every record as JSON (an array) or CSV; returns how many were written."""
    await service.require(session, consultation_id)
    count = 0
    if fmt == "csv":
        keys = (
            (*RECORD_KEYS, ROUND_KEY)
            if await _has_rounds(session, consultation_id)
            else RECORD_KEYS
        )
        writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        async for record in records(session, consultation_id):
            writer.writerow(csv_row(record))
            count += 1
            if progress and count % 1000 == 0:
                progress(count)
    else:
        out.write("[")
        async for record in records(session, consultation_id):
            out.write(",\n" if count else "\n")
            out.write(json.dumps(record, ensure_ascii=False))
            count += 1
            if progress and count % 1000 == 0:
                progress(count)
        out.write("\n]\n" if count else "]\n")
    return count


PARALLEL_IMPORT_ROWS = 20_000
# Distinct texts whose screening and analysis one process keeps during an import: files
# repeat short replies ("Nothing", "Very good") many times; the bound keeps memory flat.
_REPEAT_CACHE_LIMIT = 50_000

Analyser = Callable[[str], tuple[float | None, dict[str, Any] | None]]
Prepared = tuple[screening.Screened, tuple[float | None, dict[str, Any] | None]]
_worker_cache: dict[str, dict[str, Prepared]] = {}


def prepare_many(
    analyse: Analyser | None, texts: list[str], cache: dict[str, Prepared] | None = None
) -> list[Prepared]:
    """Screen, redact and analyse a batch of texts, each distinct text once.

    Screening and analysis depend on the text alone, so a repeated text gets the same
    verdict, redaction and features as its first copy: every row is still screened.
    """
    seen = cache if cache is not None else {}
    out: list[Prepared] = []
    for text in texts:
        done = seen.get(text)
        if done is None:
            screened = screening.screen(text)
            analysed = analyse(screened.text) if analyse is not None else (None, None)
            done = (screened, analysed)
            if len(seen) >= _REPEAT_CACHE_LIMIT:
                seen.clear()
            seen[text] = done
        out.append(done)
    return out


def prepare_in_worker(analyse: Analyser | None, texts: list[str], token: str) -> list[Prepared]:
    """:func:`prepare_many` in the second process, keeping its cache for one import."""
    if token not in _worker_cache:
        _worker_cache.clear()
        _worker_cache[token] = {}
    return prepare_many(analyse, texts, _worker_cache[token])


class ImportError_(ValueError):
    """The import file or options are unusable; the message names what is wrong."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    imported: int
    skipped_empty: int
    participants: int
    item: str
    flagged: int


def choose_item(spec: ConsultationSpec, item_id: str | None) -> str:
    """The prompt (or thread) imported text belongs to: named, or the spec's only prompt."""
    if item_id is not None:
        try:
            item = spec.item(item_id)
        except KeyError:
            raise ImportError_(f"--item: {item_id!r} is not an item of {spec.id!r}") from None
        if item.type == "poll":
            raise ImportError_(f"--item: {item_id!r} is a poll; free text goes to a prompt")
        return item.id
    prompts = [i.id for i in spec.items if i.type == "prompt"]
    if len(prompts) == 1:
        return prompts[0]
    if not prompts:
        raise ImportError_(f"{spec.id!r} has no prompt to import into; name one with --item")
    raise ImportError_(
        f"{spec.id!r} has {len(prompts)} prompts ({', '.join(prompts)}); choose one with --item"
    )


def read_csv(
    text: str, text_column: str | None, participant_column: str | None
) -> tuple[list[tuple[int, str | None, str]], int]:
    """Rows of (line, participant, text) and the count of empty rows skipped."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ImportError_("the file has no header row")
    columns = [c.strip() for c in reader.fieldnames]
    if text_column is None:
        for guess in ("text", "comment", "comments", "feedback", "response", "answer"):
            if guess in [c.lower() for c in columns]:
                text_column = reader.fieldnames[[c.lower() for c in columns].index(guess)]
                break
        else:
            if len(columns) == 1:
                text_column = reader.fieldnames[0]
            else:
                raise ImportError_(
                    f"--text-column: the file has columns {', '.join(columns)}; "
                    "say which holds the text"
                )
    elif text_column not in reader.fieldnames:
        raise ImportError_(
            f"--text-column: no column {text_column!r} (columns: {', '.join(columns)})"
        )
    if participant_column is not None and participant_column not in reader.fieldnames:
        raise ImportError_(
            f"--participant-column: no column {participant_column!r} "
            f"(columns: {', '.join(columns)})"
        )
    rows: list[tuple[int, str | None, str]] = []
    skipped = 0
    for row in reader:
        value = (row.get(text_column) or "").strip()
        if not value:
            skipped += 1
            continue
        who = (row.get(participant_column) or "").strip() if participant_column else None
        rows.append((reader.line_num, who or None, value))
    return rows, skipped


async def import_csv(
    session: AsyncSession,
    keyring: Keyring,
    consultation_id: str,
    path: Path,
    *,
    item_id: str | None = None,
    text_column: str | None = None,
    participant_column: str | None = None,
    analyse: Callable[[str], tuple[float | None, dict[str, Any] | None]] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    batch: int = 2000,
    parallel_from: int = PARALLEL_IMPORT_ROWS,
) -> ImportResult:
    """Store free-text responses gathered elsewhere as ``import`` channel records.

    The same file imported twice into the same item is refused (its SHA-256 is kept in
    the inbox), so a repeated command never doubles the data.
    """
    row = await service.require(session, consultation_id)
    spec = service.spec_of(row)
    target = choose_item(spec, item_id)
    try:
        raw = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise ImportError_(f"{path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows, skipped = read_csv(text, text_column, participant_column)
    digest = hashlib.sha256(raw).hexdigest()
    entry = await queries.insert_inbox(
        session, "import", f"{consultation_id}:{target}:{digest}", None, processed=True
    )
    if entry is None:
        raise ImportError_(
            f"{path}: this file was already imported into {consultation_id}/{target}"
        )

    item_type = spec.item(target).type
    # One participant per distinct value of the participant column, else one per row.
    keys = sorted({who for _, who, _ in rows if who is not None})
    keys += [f"{digest[:16]}:{line}" for line, who, _ in rows if who is None]
    ids: dict[str, int] = {}
    for start in range(0, len(keys), batch):
        by_pseudonym = {
            keyring.pseudonym("import", f"{consultation_id}:{key}"): key
            for key in keys[start : start + batch]
        }
        found = await queries.upsert_participants(session, "import", list(by_pseudonym))
        for pseudonym, participant_id in found.items():
            ids[by_pseudonym[pseudonym]] = participant_id

    now = utcnow()
    flagged = 0
    looked_at = (screening.SAFETY, screening.REVIEW)
    table = cast(Table, Response.__table__)  # a plain table insert: no per-row ORM work
    done = 0

    async def store(chunk: list[tuple[int, str | None, str]], prepared: list[Prepared]) -> None:
        nonlocal flagged, done
        plain: list[dict[str, Any]] = []
        for (line, who, _), (screened, (sentiment, analysis)) in zip(chunk, prepared, strict=True):
            value = {
                "consultation_id": consultation_id,
                "item_id": target,
                "item_type": item_type,
                "participant_id": ids[who if who is not None else f"{digest[:16]}:{line}"],
                "channel": "import",
                "choices": [],
                "text": screened.text,
                "in_reply_to": f"item:{target}" if item_type == "thread" else None,
                "platform_ref": None,
                "flags": list(screened.flags),
                "sentiment": sentiment,
                "analysis": analysis,
                "created_at": now,
            }
            flagged += screened.crisis
            reason = next((f for f in looked_at if f in screened.flags), None)
            if reason is None:
                plain.append(value)
                continue
            # Few: each flagged reply gets its id back and a case for a moderator.
            response_id = await session.scalar(insert(table).values(value).returning(table.c.id))
            moderation.open_case(
                session,
                consultation_id=consultation_id,
                response_id=response_id,
                reason=reason,
                response_hours=spec.safety.response_hours,
            )
        if plain:
            # COPY on PostgreSQL; one executemany on SQLite.
            await queries.insert_responses(session, plain)
        done += len(chunk)
        if progress:
            progress(done, len(rows))

    # Large imports hand batches to a second process as it becomes free (it takes some
    # seconds to start) while this one prepares the rest, so both cores work; small ones
    # are not worth starting it for. Batches are stored in file order.
    pool = (
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        if len(rows) >= parallel_from
        else None
    )
    loop = asyncio.get_running_loop()
    cache: dict[str, Prepared] = {}
    queue: deque[tuple[list[tuple[int, str | None, str]], Any]] = deque()
    try:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            texts = [value for _, _, value in chunk]
            away = sum(isinstance(job, asyncio.Future) and not job.done() for _, job in queue)
            if pool is not None and away < 2:
                queue.append(
                    (chunk, loop.run_in_executor(pool, prepare_in_worker, analyse, texts, digest))
                )
            else:
                queue.append((chunk, prepare_many(analyse, texts, cache)))
            await asyncio.sleep(0)  # let the loop see a batch the second process finished
            while queue and not (
                isinstance(queue[0][1], asyncio.Future) and not queue[0][1].done()
            ):
                head, job = queue.popleft()
                await store(head, await job if isinstance(job, asyncio.Future) else job)
        while queue:
            head, job = queue.popleft()
            await store(head, await job if isinstance(job, asyncio.Future) else job)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return ImportResult(done, skipped, len(ids), target, flagged)


async def participant_data(
    session: AsyncSession, keyring: Keyring, channel: str, platform_id: str
) -> dict[str, Any] | None:
    """Everything held about one person on one channel (``None`` if nothing)."""
    from storage.tables import Consent, OutboxEntry

    participant = await queries.find_participant(
        session, channel, keyring.pseudonym(channel, platform_id)
    )
    if participant is None:
        return None
    responses = (
        await session.scalars(
            select(Response).where(Response.participant_id == participant.id).order_by(Response.id)
        )
    ).all()
    consents = (
        await session.scalars(select(Consent).where(Consent.participant_id == participant.id))
    ).all()
    dialogues = (
        await session.scalars(select(Dialogue).where(Dialogue.participant_id == participant.id))
    ).all()
    queued = (
        await session.scalars(
            select(OutboxEntry).where(OutboxEntry.participant_id == participant.id)
        )
    ).all()
    return {
        "channel": channel,
        "participant": participant.pseudonym,
        "first_seen": iso_utc(participant.created_at),
        "opted_out_at": iso_utc(participant.opted_out_at) if participant.opted_out_at else None,
        "reply_address_held": participant.address is not None,
        "consents": [
            {
                "consultation": c.consultation_id,
                "purpose": c.purpose,
                "given": c.given,
                "method": c.method,
                "given_at": iso_utc(c.given_at),
                "withdrawn_at": iso_utc(c.withdrawn_at) if c.withdrawn_at else None,
            }
            for c in consents
        ],
        "consultations": [
            {"consultation": d.consultation_id, "state": d.state, "segments": d.segments}
            for d in dialogues
        ],
        "responses": [
            {
                "consultation": r.consultation_id,
                "item": r.item_id,
                "item_type": r.item_type,
                "choices": list(r.choices),
                "text": r.text,
                "in_reply_to": r.in_reply_to,
                "created_at": iso_utc(r.created_at),
                "flags": list(r.flags),
            }
            for r in responses
        ],
        "messages": [
            {"status": m.status, "created_at": iso_utc(m.created_at), "text": m.payload.get("text")}
            for m in queued
        ],
    }
