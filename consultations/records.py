"""Response records in and out: ``engage export`` and ``engage import``.

The export record's keys are exactly those of CONTRACT.md; the participant is always
the pseudonym.
"""

from __future__ import annotations

import asyncio
import csv
import ctypes
import hashlib
import io
import json
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TextIO, cast

import orjson
from sqlalchemy import Table, delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from consultations import moderation, screening, service
from consultations.keys import Keyring
from consultations.spec import CHANNELS, ConsultationSpec
from consultations.spec.validation import CHOICE_SEPARATOR
from consultations.spreadsheet import inert
from consultations.statements import statement_ref
from storage import queries
from storage import statements as statement_store
from storage.db import json_text
from storage.lists import one_of
from storage.tables import (
    Consent,
    Consultation,
    Dialogue,
    InboxEntry,
    Invitation,
    ModerationCase,
    OutboxEntry,
    Participant,
    Publication,
    Response,
    utcnow,
)

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
            row[key] = CHOICE_SEPARATOR.join(str(v) for v in value)
        elif isinstance(value, dict):
            row[key] = CHOICE_SEPARATOR.join(f"{k}={v}" for k, v in value.items())
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


_WARM_TEXT = "The staff were kind."

PARALLEL_IMPORT_TEXTS = 1_000 if sys.platform == "linux" else 5_000
"""Distinct texts from which an import also prepares texts in a second process: forked
(Linux) it starts in a few hundredths of a second; spawned, in a second or two."""
# Distinct texts per unit of work: small enough that both processes finish together.
_CHUNK = 200
# Chunks handed to the second process at a time: enough that it never runs dry while this
# one stores a batch of rows.
_QUEUED = 8
# Chunks the second process may run ahead of the rows stored, so that a slow store never
# leaves the results of a whole file of different texts waiting in memory.
_AHEAD = 50

Analyser = Callable[[str], tuple[float | None, dict[str, Any] | None]]


class PreparedText(NamedTuple):
    """One distinct imported text after screening, redaction and analysis."""

    screened: screening.Screened
    """The screen's result: the text as stored (entities decoded, personal details
    redacted), its flags and, for a disclosure, what its case records."""
    sentiment: float | None
    analysis: str | None
    """The analysis as JSON text (:func:`storage.db.json_text`), encoded once per text."""

    @property
    def text(self) -> str:
        return self.screened.text

    @property
    def flags(self) -> tuple[str, ...]:
        return self.screened.flags


def prepare_texts(
    analyse: Analyser | None, texts: list[str], hints: screening.Hints = screening.NO_HINTS
) -> list[PreparedText]:
    """Screen, redact and analyse texts in this process (``hints``: their consultation's).

    Screening and analysis depend on the text alone, so the import prepares each
    distinct text once and gives every row with that text the same verdict, redaction
    and features: every row is still screened.
    """
    return analysed(analyse, screening.screen_many(texts, hints))


# The analyser of the second process, when it inherited this one's memory (see
# _TextWork.start): set there by _adopt, used by _prepare_there.
_inherited: list[Analyser | None] = []


def _adopt(analyse: Analyser | None, parent: int) -> None:
    """Run first in a forked second process: keep the import's analyser (inherited, not
    pickled, so any callable will do), and end with the import, even one killed: the
    second process holds both ends of its result pipe, and an import killed with
    SIGKILL left it waiting to write for ever, with the database file open."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is not None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the import ended before the line above
        os._exit(1)
    _inherited.append(analyse)


def _prepare_there(texts: list[str], hints: screening.Hints) -> list[PreparedText]:
    """Screen, redact and analyse texts in a forked second process."""
    return prepare_texts(_inherited[-1], texts, hints)


def analysed(analyse: Analyser | None, screened: list[screening.Screened]) -> list[PreparedText]:
    """Screened texts with their analysis (of the redacted text, as stored)."""
    out: list[PreparedText] = []
    for one in screened:
        sentiment, analysis = analyse(one.text) if analyse is not None else (None, None)
        out.append(PreparedText(one, sentiment, None if analysis is None else json_text(analysis)))
    return out


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
    separator: str = ","  # what separated the file's columns (SEPARATORS)
    replaced: int = 0  # records of an earlier import of the same file removed (--replace)


def choose_item(spec: ConsultationSpec, item_id: str | None) -> str:
    """The prompt (or thread) imported text belongs to: named, or the spec's only prompt."""
    if item_id is not None:
        try:
            item = spec.item(item_id)
        except KeyError:
            raise ImportError_(f"--item: {item_id!r} is not an item of {spec.id!r}") from None
        if item.type not in ("prompt", "thread"):
            raise ImportError_(
                f"--item: {item_id!r} is a {item.type} item; free text goes to a prompt or a thread"
            )
        return item.id
    prompts = [i.id for i in spec.items if i.type == "prompt"]
    if len(prompts) == 1:
        return prompts[0]
    if not prompts:
        raise ImportError_(f"{spec.id!r} has no prompt to import into; name one with --item")
    raise ImportError_(
        f"{spec.id!r} has {len(prompts)} prompts ({', '.join(prompts)}); choose one with --item"
    )


SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
"""The characters that may separate a CSV file's columns, and their names. Excel writes
semicolons where the decimal mark is a comma (much of Europe and South America), and
"Text (Tab delimited)" files are saved as .csv too."""


def csv_separator(text: str) -> str:
    """The character that separates the columns of ``text``, told from its header line.

    The header names the columns, so it holds the separator once fewer than there are
    columns and, unlike the answers below it, rarely holds another: the separator is the
    one of comma, semicolon and tab found there most often outside double quotes. A file
    whose header holds none has one column, and is read the same whichever is used.

    Raises:
        ImportError_: two of them are found there as often as each other.
    """
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for character in text:
        if character == '"':
            quoted = not quoted  # a doubled quote inside a quoted name toggles twice
        elif quoted:
            continue
        elif character in "\r\n":
            break
        elif character in counts:
            counts[character] += 1
    most = max(counts.values())
    if most == 0:
        return ","
    tied = [separator for separator, count in counts.items() if count == most]
    if len(tied) > 1:
        found = " and ".join(
            f"{most} {SEPARATORS[separator]}{'s' * (most > 1)}" for separator in tied
        )
        raise ImportError_(
            f"line 1: the header holds {found}, so which one separates the columns "
            "cannot be told; put double quotes around a column name that holds one"
        )
    return tied[0]


def read_csv(
    text: str,
    text_column: str | None,
    participant_column: str | None,
    separator: str | None = None,
) -> tuple[list[tuple[int, str | None, str]], int]:
    """Rows of (line, participant, text) and the count of empty rows skipped.

    The columns are separated by ``separator``, else by the one :func:`csv_separator`
    tells from the header. Read strictly: a quote left open would otherwise swallow every
    row after it into one text, stored as if someone had written it.
    """
    if separator is None:
        separator = csv_separator(text)
    # newline="": a line may end in "\r\n", "\n" or (old Mac exports) "\r" alone.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    read_to = [0]  # the last line of the last row read whole (the header's, then a row's)
    try:
        return _read_rows(reader, text_column, participant_column, read_to)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            # The reader stops at the end of the file, but the row it could not finish
            # starts on the line after the last one it read whole: there a quote opens.
            raise ImportError_(
                f"line {read_to[0] + 1}: a double quote opens a text that is never closed "
                '(quotes inside a text are written twice: "")'
            ) from None
        # "unexpected end of data", "field larger than field limit (131072)", "',' expected
        # after '\"'": the line the reader had reached is where to look.
        raise ImportError_(f"line {reader.reader.line_num}: not readable as CSV: {exc}") from None


def _column(fieldnames: Sequence[str], wanted: str, option: str, columns: list[str]) -> str:
    """The header's name of column ``wanted``, spaces around either ignored."""
    for name in fieldnames:
        if name.strip() == wanted.strip():
            return name
    raise ImportError_(f"{option}: no column {wanted!r} (columns: {', '.join(columns)})")


def _read_rows(
    reader: csv.DictReader[str],
    text_column: str | None,
    participant_column: str | None,
    read_to: list[int],
) -> tuple[list[tuple[int, str | None, str]], int]:
    if not reader.fieldnames:
        raise ImportError_("the file has no header row")
    read_to[0] = reader.reader.line_num
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
        # "id, comment": the header as shown has no spaces, so it is matched so too.
        text_column = _column(reader.fieldnames, text_column, "--text-column", columns)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        # Which of two columns of one name holds the text is anyone's guess.
        raise ImportError_(
            f"the header names {', '.join(repr(c) for c in repeated)} more than once; "
            "give each column its own name"
        )
    if participant_column is not None and participant_column not in reader.fieldnames:
        participant_column = _column(
            reader.fieldnames, participant_column, "--participant-column", columns
        )
    # Rows as lists, each column found at its place in the header (the last place of a
    # name given twice, as csv.DictReader has it): a dict per row costs more than the
    # rest of reading the file.
    place = {name: n for n, name in enumerate(reader.fieldnames)}
    lines = reader.reader
    at = place[text_column]
    by = place[participant_column] if participant_column else None
    rows: list[tuple[int, str | None, str]] = []
    skipped = 0
    width = len(reader.fieldnames)
    for row in lines:
        read_to[0] = lines.line_num
        if not row:
            skipped += 1  # a blank line: an empty row, counted with the others
            continue
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            # More values than the header names: most often a comma in a text that was not
            # quoted, whose words after it would be lost without a word.
            raise ImportError_(
                f"line {lines.line_num}: {len(row)} values but the header names {width} "
                f"columns (a {SEPARATORS.get(reader.reader.dialect.delimiter, 'separator')} "
                "inside a text must be in double quotes)"
            )
        if at >= len(row) and any(cell.strip() for cell in row):
            # Fewer values than the header names and none where the text should be: not an
            # empty row, but one whose values have moved (a missing comma, a cut line).
            raise ImportError_(
                f"line {lines.line_num}: {len(row)} "
                f"{'value' if len(row) == 1 else 'values'} but the header names {width} "
                f"columns, and none in {text_column!r}"
            )
        value = row[at].strip() if at < len(row) else ""
        if not value:
            skipped += 1
            continue
        who = (row[by].strip() if by < len(row) else "") if by is not None else None
        rows.append((lines.line_num, who or None, value))
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
    analyse: Analyser | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    batch: int = 10_000,
    parallel_from: int = PARALLEL_IMPORT_TEXTS,
    share: bool = True,
    replace: bool = False,
) -> ImportResult:
    """Store free-text responses gathered elsewhere as ``import`` channel records.

    The same file imported twice into the same item is refused (its SHA-256 is kept in
    the inbox), so a repeated command never doubles the data. With ``replace`` the
    records of the earlier import of that file into that item are removed first, in the
    caller's transaction, and the file imported again (with other options, say): a
    safety case about one keeps its words, as a case about a replaced answer does.

    Each distinct text is screened, redacted and analysed once, and every row with that
    text stored with the result. With ``parallel_from`` distinct texts or more, a second
    process prepares texts too, from the moment it is ready. On Linux it is forked once
    this one has loaded the models, so it starts with them and screens and analyses its
    share; elsewhere it is spawned, loads the safety models only and screens, and this
    process analyses what it screened. ``share=False`` leaves all the screening to it
    (tests use it to go through that process).
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
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.start + 4]
        raise ImportError_(
            f"{path}: line {line}: not UTF-8 text (bytes {bad!r}); save the file as "
            "UTF-8 (in Excel: CSV UTF-8)"
        ) from None
    if not text.strip():
        raise ImportError_(
            f"{path}: the file is empty; it needs a header row naming its columns, then a "
            "row for each response"
        )
    separator = csv_separator(text)
    rows, skipped = read_csv(text, text_column, participant_column, separator)
    digest = hashlib.sha256(raw).hexdigest()
    event = f"{consultation_id}:{target}:{digest}"
    # Every record of this file in this item carries it, so that importing the file again
    # with --replace finds exactly these (keyed like every platform reference).
    source = keyring.reference("import", event)
    entry = await queries.insert_inbox(session, "import", event, None, processed=True)
    replaced = 0
    if entry is None:
        if not replace:
            raise ImportError_(
                f"{path}: this file was already imported into {consultation_id}/{target}; "
                "to import it again in place of that import (with other options, say), "
                "add --replace"
            )
        replaced = await _remove_import(session, consultation_id, target, event, source)

    writer = await queries.response_rows(session)
    item_type = spec.item(target).type
    in_reply_to = f"item:{target}" if item_type == "thread" else None
    now = utcnow()
    # The columns of a stored row after its participant (queries.RESPONSE_COPY_COLUMNS
    # order), from what its text gave: built once per distinct text.
    moment = writer.moment(now)
    choices = writer.json("[]")
    flag_texts: dict[tuple[str, ...], str | None] = {}

    def columns(prepared: PreparedText) -> tuple[Any, ...]:
        flags = flag_texts.get(prepared.flags)
        if flags is None:
            flags = flag_texts[prepared.flags] = writer.json(json_text(list(prepared.flags)))
        return (
            "import",
            choices,
            prepared.text,
            in_reply_to,
            source,
            flags,
            False,
            prepared.sentiment,
            writer.json(prepared.analysis),
            moment,
        )

    work = _TextWork(
        analyse,
        [value for _, _, value in rows],
        columns,
        share=share,
        hints=screening.hints_for(spec),
    )
    work.start(parallel_from)
    try:
        ids = await _participant_ids(session, keyring, consultation_id, digest, rows, batch)
        head = (consultation_id, target, item_type)
        flagged = 0
        looked_at = (screening.SAFETY, screening.REVIEW)
        table = cast(Table, Response.__table__)
        done = 0
        while done < len(rows):
            end = min(done + batch, len(rows))
            await work.ready_for(done, end)
            plain: list[tuple[Any, ...]] = []
            held: list[tuple[int, PreparedText, str]] = []
            for n in range(done, end):
                line, who, _ = rows[n]
                participant = ids[who if who is not None else f"{digest[:16]}:{line}"]
                prepared, stored = work.take(n)
                flags = prepared.flags
                if flags:  # most rows have none: they skip the checks
                    flagged += screening.SAFETY in flags
                    reason = next((f for f in looked_at if f in flags), None)
                    if reason is not None:
                        held.append((participant, prepared, reason))
                        continue
                plain.append((*head, participant, *stored))
            if held:
                # Few: each flagged reply gets its id back and a case for a moderator.
                values = [
                    {
                        "consultation_id": consultation_id,
                        "item_id": target,
                        "item_type": item_type,
                        "participant_id": participant,
                        "channel": "import",
                        "choices": [],
                        "text": prepared.text,
                        "in_reply_to": in_reply_to,
                        "platform_ref": source,
                        "flags": list(prepared.flags),
                        "sentiment": prepared.sentiment,
                        "analysis": None
                        if prepared.analysis is None
                        else orjson.loads(prepared.analysis),
                        "created_at": now,
                    }
                    for participant, prepared, _ in held
                ]
                returned = await session.scalars(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True), values
                )
                for response_id, (_, prepared, reason) in zip(returned.all(), held, strict=True):
                    moderation.open_case(
                        session,
                        consultation_id=consultation_id,
                        response_id=response_id,
                        reason=reason,
                        response_hours=spec.safety.response_hours,
                        flagged_by=prepared.screened.flagged_by,
                        # An import has no way back to its writers.
                        person_sent=moderation.SENT_NOTHING if reason == screening.SAFETY else None,
                        categories=prepared.screened.categories,
                        urgent=prepared.screened.urgent,
                    )
            # COPY on PostgreSQL; one executemany on SQLite.
            await writer.write(plain)
            done = end
            if progress:
                progress(done, len(rows))
    finally:
        work.stop()
    return ImportResult(done, skipped, len(ids), target, flagged, separator, replaced)


async def _remove_import(
    session: AsyncSession, consultation_id: str, item_id: str, event: str, source: str
) -> int:
    """Remove the records of an earlier import of one file into one item; their count.

    They carry ``source``. Records imported before imports were marked so carry none:
    an import stores all its rows with one time, just after its inbox row's, so theirs
    are the unmarked rows of the first import time at or after that row's. The people
    they leave with nothing else held go too.
    """
    of_item = (
        Response.consultation_id == consultation_id,
        Response.item_id == item_id,
        Response.channel == "import",
    )
    found = (
        await session.execute(
            select(Response.id, Response.participant_id).where(
                *of_item, Response.platform_ref == source
            )
        )
    ).all()
    if not found:
        received = await session.scalar(
            select(InboxEntry.received_at).where(
                InboxEntry.channel == "import", InboxEntry.event_id == event
            )
        )
        unmarked = (*of_item, Response.platform_ref.is_(None))
        moment = await session.scalar(
            select(func.min(Response.created_at)).where(*unmarked, Response.created_at >= received)
        )
        if moment is not None:
            found = (
                await session.execute(
                    select(Response.id, Response.participant_id).where(
                        *unmarked, Response.created_at == moment
                    )
                )
            ).all()
    await queries.delete_replaced(session, [response_id for response_id, _ in found])
    people = {participant_id for _, participant_id in found}
    if people:
        # Without answers or a case left, an imported person is held for nothing.
        await session.execute(
            delete(Participant).where(
                one_of(Participant.id, people),
                ~exists().where(Response.participant_id == Participant.id),
                ~exists().where(ModerationCase.participant_id == Participant.id),
            )
        )
    return len(found)


async def _participant_ids(
    session: AsyncSession,
    keyring: Keyring,
    consultation_id: str,
    digest: str,
    rows: list[tuple[int, str | None, str]],
    batch: int,
) -> dict[str, int]:
    """One participant per distinct value of the participant column, else one per row."""
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
    return ids


class _TextWork:
    """The distinct texts of an import, prepared in chunks by this process and a second.

    Chunks go to the second process to screen (a few at a time, so it never waits) once
    it has loaded the safety models, and another each time it finishes one, whatever this
    process is doing meanwhile; this process analyses them when they come back. Until
    then, and whenever the rows to store next are waiting for a chunk nobody has started,
    this process screens and analyses the next chunk itself. A text's result is kept
    until its last row is stored, so memory follows the file's variety, not its length.
    """

    def __init__(
        self,
        analyse: Analyser | None,
        texts: list[str],
        columns: Callable[[PreparedText], tuple[Any, ...]],
        *,
        share: bool,
        hints: screening.Hints = screening.NO_HINTS,
    ) -> None:
        self.analyse = analyse
        self.columns = columns
        self.hints = hints
        position: dict[str, int] = {}
        self.which = [position.setdefault(text, len(position)) for text in texts]
        self.distinct = list(position)
        self.last_use = [0] * len(self.distinct)
        for n, d in enumerate(self.which):
            self.last_use[d] = n
        self.results: list[tuple[PreparedText, tuple[Any, ...]] | None] = [None] * len(
            self.distinct
        )
        self.chunks = -(-len(self.distinct) // _CHUNK)
        self.finished = [False] * self.chunks
        self.complete = 0  # chunks before this one are all finished
        self.next = 0  # the first chunk nobody has started
        self.local = share  # whether this process prepares texts too
        self.high = -1  # the last distinct text a stored row needed
        self.pool: ProcessPoolExecutor | None = None
        # Whether the second process analyses too (forked), or only screens (spawned).
        self.whole = False
        self.warm: asyncio.Future[list[Any]] | None = None
        self.away: dict[asyncio.Future[list[Any]], int] = {}
        self.stopped = False

    def start(self, parallel_from: int) -> None:
        """Start the second process when the texts are many enough to be worth it."""
        if len(self.distinct) < parallel_from:
            self.local = True
            return
        loop = asyncio.get_running_loop()
        if sys.platform == "linux":
            # Forked once this process has loaded the safety and analysis models: the
            # second process has them from its first moment, instead of starting Python,
            # importing and loading them again (most of a small import's time). It runs
            # only the screen and the analyser on texts it is sent, never the database
            # connection or any thread of this process, which fork does not carry over.
            prepare_texts(self.analyse, [_WARM_TEXT], self.hints)
            self.whole = True
            with warnings.catch_warnings():
                # Python 3.12 and later warn of forking with threads (the SQLite driver
                # keeps one): see above for why the second process never needs them.
                warnings.filterwarnings("ignore", r".*multi-threaded.*fork", DeprecationWarning)
                self.pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_adopt,
                    initargs=(self.analyse, os.getpid()),
                )
                self.warm = loop.run_in_executor(
                    self.pool, _prepare_there, [_WARM_TEXT], self.hints
                )
        else:
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self.warm = loop.run_in_executor(
                self.pool, screening.screen_many, [_WARM_TEXT], self.hints
            )
        self.warm.add_done_callback(self._feed)

    def stop(self) -> None:
        """Let the second process go (without waiting if it is still loading)."""
        self.stopped = True
        if self.pool is not None:
            self.pool.shutdown(wait=self.warm is None or self.warm.done(), cancel_futures=True)

    def _feed(self, _: object = None) -> None:
        """Hand the second process chunks once it is ready, and another each time it
        finishes one: it keeps screening while this process looks up participants or
        stores a batch of rows, not only while this one waits for texts."""
        if self.stopped or self.warm is None or not self.warm.done():
            return
        if self.warm.cancelled() or self.warm.exception() is not None:
            return  # ready_for says why
        loop = asyncio.get_running_loop()
        while (
            sum(not job.done() for job in self.away) < _QUEUED
            and self.next < self.chunks
            and self.next < self.complete + _AHEAD
        ):
            work: Callable[[list[str], screening.Hints], list[Any]] = (
                _prepare_there if self.whole else screening.screen_many
            )
            job = loop.run_in_executor(self.pool, work, self._texts(self.next), self.hints)
            job.add_done_callback(self._feed)
            self.away[job] = self.next
            self.next += 1

    async def ready_for(self, start: int, end: int) -> None:
        """Prepare until every text of rows ``start`` to ``end`` has its result."""
        needed = max(self.high, max(self.which[start:end], default=-1))
        while True:
            for job in [job for job in self.away if job.done()]:
                chunk, result = self.away.pop(job), job.result()
                self._place(chunk, result if self.whole else analysed(self.analyse, result))
            if self.warm is not None and self.warm.done():
                self.warm.result()  # the second process failed to start: say why
                self._feed()
            if needed < self.complete * _CHUNK:
                self.high = needed
                return
            if self.local and self.next < self.chunks:
                self.next += 1
                texts = self._texts(self.next - 1)
                self._place(self.next - 1, prepare_texts(self.analyse, texts, self.hints))
                await asyncio.sleep(0)  # let the loop see a chunk the second process finished
                continue
            waiting: set[asyncio.Future[Any]] = set(self.away)
            if self.warm is not None and not self.warm.done():
                waiting.add(self.warm)
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)

    def take(self, row: int) -> tuple[PreparedText, tuple[Any, ...]]:
        """The prepared text of a row and its stored columns after the participant."""
        d = self.which[row]
        result = self.results[d]
        assert result is not None
        if self.last_use[d] == row:
            self.results[d] = None
        return result

    def _texts(self, chunk: int) -> list[str]:
        return self.distinct[chunk * _CHUNK : (chunk + 1) * _CHUNK]

    def _place(self, chunk: int, prepared: list[PreparedText]) -> None:
        for offset, one in enumerate(prepared):
            self.results[chunk * _CHUNK + offset] = (one, self.columns(one))
        self.finished[chunk] = True
        while self.complete < self.chunks and self.finished[self.complete]:
            self.complete += 1


PARTICIPANT_CHANNELS: tuple[str, ...] = (*CHANNELS, "import")
"""The channels a person can be known on: a spec's channels, and imported responses."""


async def people_of(
    session: AsyncSession, keyring: Keyring, channel: str, platform_id: str
) -> list[Participant]:
    """The participants a person is on one channel.

    One, except on ``import``: an import keys each person by the consultation and the value
    of its participant column (a respondent number means nothing outside its survey), so
    the value from the file finds the person in every consultation it was imported into
    (``CONSULTATION:VALUE`` finds the one).
    """
    pseudonyms = [keyring.pseudonym(channel, platform_id)]
    if channel == "import":
        ids = (await session.scalars(select(Consultation.id).order_by(Consultation.id))).all()
        pseudonyms += [keyring.pseudonym(channel, f"{cid}:{platform_id}") for cid in ids]
    found = (
        await session.scalars(
            select(Participant)
            .where(Participant.channel == channel, Participant.pseudonym.in_(pseudonyms))
            .order_by(Participant.id)
        )
    ).all()
    return list(found)


async def participant_data(
    session: AsyncSession, keyring: Keyring, channel: str, platform_id: str
) -> dict[str, Any] | None:
    """Everything held about one person on one channel (``None`` if nothing).

    A person imported into several consultations is one participant in each: all of them
    are given, ``participant`` the first and ``participants`` every one.
    """

    people = await people_of(session, keyring, channel, platform_id)
    if not people:
        return None
    ids = [p.id for p in people]
    responses = (
        await session.scalars(
            select(Response).where(Response.participant_id.in_(ids)).order_by(Response.id)
        )
    ).all()
    consents = (await session.scalars(select(Consent).where(Consent.participant_id.in_(ids)))).all()
    dialogues = (
        await session.scalars(select(Dialogue).where(Dialogue.participant_id.in_(ids)))
    ).all()
    queued = (
        await session.scalars(select(OutboxEntry).where(OutboxEntry.participant_id.in_(ids)))
    ).all()
    # Safety cases opened on what they wrote (by person, or by a response of theirs):
    # what moderators recorded about them is theirs to see too.
    response_ids = [r.id for r in responses]
    cases = (
        await session.scalars(
            select(ModerationCase)
            .where(
                or_(
                    ModerationCase.participant_id.in_(ids),
                    ModerationCase.response_id.in_(response_ids),
                )
            )
            .order_by(ModerationCase.id)
        )
    ).all()
    invitations = (
        await session.scalars(
            select(Invitation).where(Invitation.participant_id.in_(ids)).order_by(Invitation.id)
        )
    ).all()
    # Polls sent in their private chat: the record names them (so votes find the item
    # and round it asked) and goes with their erasure.
    polls = (
        await session.scalars(
            select(Publication).where(Publication.participant_id.in_(ids)).order_by(Publication.id)
        )
    ).all()
    left = [p.opted_out_at for p in people if p.opted_out_at is not None]
    return {
        "channel": channel,
        "participant": people[0].pseudonym,
        **({"participants": [p.pseudonym for p in people]} if len(people) > 1 else {}),
        "first_seen": iso_utc(min(p.created_at for p in people)),
        "opted_out_at": iso_utc(min(left)) if left else None,
        "reply_address_held": any(p.address is not None for p in people),
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
        "safety_cases": [
            {
                "consultation": c.consultation_id,
                "reason": c.reason,
                "categories": list(c.categories or ()),
                "status": c.status,
                "opened_at": iso_utc(c.created_at),
                "resolved_at": iso_utc(c.resolved_at) if c.resolved_at else None,
                "text": c.text,
                "note": c.note,
            }
            for c in cases
        ],
        # The follow-ups they were invited to (on the web, nothing else records them).
        "invitations": [
            {
                "consultation": i.consultation_id,
                "earlier": i.earlier_id,
                "channel": i.channel,
                "invited_at": iso_utc(i.created_at),
                "shown_at": iso_utc(i.shown_at) if i.shown_at else None,
            }
            for i in invitations
        ],
        "private_polls": [
            {
                "consultation": p.consultation_id,
                "item": p.item_id,
                "channel": p.channel,
                "round": p.round,
                "sent_at": iso_utc(p.created_at),
            }
            for p in polls
        ],
    }
