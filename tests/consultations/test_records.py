"""Importing responses gathered elsewhere, including the two-process path for big files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.platform import Platform, analyse_at_intake
from consultations import records
from storage.tables import Response
from tests.helpers import BY_MODEL, BY_PHRASE, launch, spec_data


async def import_by_who(platform: Platform, source: Path) -> records.ImportResult:
    """``source`` imported in one transaction, its ``who`` column naming the participants."""
    return await import_csv(platform, source, participant_column="who")


async def import_either_way(
    platform: Platform, source: Path, second_process: bool, *, batch: int
) -> records.ImportResult:
    """``source`` imported in one transaction, screened here or in a second process."""
    return await import_csv(
        platform,
        source,
        batch=batch,
        parallel_from=1 if second_process else 10**9,
        share=not second_process,
    )


async def import_csv(platform: Platform, source: Path, **options: Any) -> records.ImportResult:
    """``source`` imported into the demo's free-text question in one transaction."""
    async with platform.sessionmaker.begin() as session:
        return await records.import_csv(
            session,
            platform.keyring,
            "outpatient-booking",
            source,
            analyse=analyse_at_intake,
            **options,
        )


async def test_large_import_screens_in_a_second_process(platform: Platform, tmp_path: Path) -> None:
    await launch(platform, spec_data(segments=[]))
    source = tmp_path / "comments.csv"
    lines = ["comment"]
    for n in range(250):
        lines.append(f"The staff were kind but the wait was long on visit {n}")
    lines.append("Please email me at someone@example.org")
    source.write_text("\n".join(lines) + "\n")
    async with platform.sessionmaker.begin() as session:
        result = await records.import_csv(
            session,
            platform.keyring,
            "outpatient-booking",
            source,
            analyse=analyse_at_intake,
            batch=40,
            parallel_from=100,
            share=False,
        )
    assert result.imported == 251
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(Response).order_by(Response.id))).all()
    assert len(rows) == 251
    assert all(r.analysis is not None and r.sentiment is not None for r in rows)
    assert rows[0].text == "The staff were kind but the wait was long on visit 0"
    assert rows[-1].text == "Please email me at [email]"
    assert rows[-1].flags == ["redacted"]
    assert len({r.participant_id for r in rows}) == 251


@pytest.mark.parametrize("second_process", [False, True])
async def test_an_import_is_redacted_as_its_consultation_reads_replies(
    platform: Platform, tmp_path: Path, second_process: bool
) -> None:
    # A Spanish consultation: Spain's phone numbers, and Spanish placeholders, on both the
    # one-process and the two-process path.
    await launch(platform, spec_data(language="es", segments=[]))
    source = tmp_path / "comentarios.csv"
    texts = [f"Esperamos {n} horas en urgencias" for n in range(30)]
    texts.append("Escríbanme al 612 34 56 78 o a alguien@example.org")
    source.write_text("\n".join(["comentario", *texts]) + "\n", encoding="utf-8")
    async with platform.sessionmaker.begin() as session:
        result = await records.import_csv(
            session,
            platform.keyring,
            "outpatient-booking",
            source,
            analyse=analyse_at_intake,
            parallel_from=10 if second_process else 1_000,
            share=not second_process,
        )
    assert result.imported == 31
    async with platform.sessionmaker() as session:
        last = (await session.scalars(select(Response).order_by(Response.id.desc()))).first()
    assert last is not None
    assert last.text == "Escríbanme al [teléfono] o a [correo electrónico]"


@pytest.mark.parametrize("second_process", [False, True])
async def test_repeated_texts_are_each_screened_redacted_and_opened_as_cases(
    platform: Platform, tmp_path: Path, second_process: bool
) -> None:
    """Screening a repeated text once must still flag, redact and open a case per row,
    on both the one-process and the two-process path."""
    from storage.tables import ModerationCase

    await launch(platform, spec_data(segments=[]))
    disclosure = "I want to kill myself tonight"
    detail = "Please call me on 07700 900123"
    ordinary = "The staff were kind"
    source = tmp_path / "repeats.csv"
    lines = ["comment"] + [disclosure, detail, ordinary] * 40
    source.write_text("\n".join(lines) + "\n")
    result = await import_either_way(platform, source, second_process, batch=25)
    assert result.imported == 120
    assert result.flagged == 40
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(Response).order_by(Response.id))).all()
        cases = (await session.scalars(select(ModerationCase))).all()
    flagged = [r for r in rows if "safety" in r.flags]
    assert len(flagged) == 40
    assert {c.response_id for c in cases} == {r.id for r in flagged}
    redacted = [r for r in rows if (r.text or "").startswith("Please call me on")]
    assert len(redacted) == 40
    assert all("07700" not in (r.text or "") and "redacted" in r.flags for r in redacted)
    assert sum(r.text == ordinary for r in rows) == 40
    assert all(r.analysis is not None for r in rows)


@pytest.mark.parametrize("second_process", [False, True])
async def test_an_imported_disclosure_says_whether_a_phrase_or_the_model_flagged_it(
    platform: Platform, tmp_path: Path, second_process: bool
) -> None:
    await launch(platform, spec_data(segments=[]))
    unread = "Je ne veux plus vivre. J'ai gardé des comprimés et je vais le faire ce soir."
    kinds = {BY_PHRASE: "phrase", BY_MODEL: "model", unread: None}
    source = tmp_path / "flagged.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["comment"])
        writer.writerows([text] for text in [*kinds, "The staff were kind"] * 3)
    result = await import_either_way(platform, source, second_process, batch=5)
    assert result.imported == 12 and result.flagged == 6
    rows = await stored(platform, "outpatient-booking")
    cases = [(text, case[0], case[-1]) for _, _, _, text, _, *_, case in rows if case]
    assert sorted(cases, key=str) == sorted(
        [(text, "safety" if kind else "review", kind) for text, kind in kinds.items()] * 3,
        key=str,
    )


async def test_a_second_file_finds_the_participants_of_the_first(
    platform: Platform, tmp_path: Path
) -> None:
    await launch(platform, spec_data(segments=[]))
    first = tmp_path / "first.csv"
    first.write_text("who,comment\nann,Parking was hard\nbob,Kind staff\nann,Long wait\n")
    second = tmp_path / "second.csv"
    second.write_text("who,comment\nbob,Clean rooms\ncat,Clear letters\n")
    results = [await import_by_who(platform, source) for source in (first, second)]
    assert [r.participants for r in results] == [2, 2]
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(Response).order_by(Response.id))).all()
    by_text = {r.text: r.participant_id for r in rows}
    assert by_text["Parking was hard"] == by_text["Long wait"]
    assert by_text["Kind staff"] == by_text["Clean rooms"]
    assert len(set(by_text.values())) == 3


async def test_control_characters_in_a_file_are_dropped_not_a_failed_import(
    platform: Platform, tmp_path: Path
) -> None:
    """A NUL (PostgreSQL refuses it) or an escape sequence in a survey export."""
    await launch(platform, spec_data(segments=[]))
    source = tmp_path / "export.csv"
    source.write_text(
        "who,comment\nann,Long\x00 wait\nbob,\x1b[2JKind staff\x07\ncat,Clean\tand quiet\n",
        encoding="utf-8",
    )
    result = await import_by_who(platform, source)
    assert result.imported == 3
    async with platform.sessionmaker() as session:
        texts = list(await session.scalars(select(Response.text).order_by(Response.id)))
    assert texts == ["Long wait", "[2JKind staff", "Clean\tand quiet"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A quote left open would swallow every row after it into one text.
        # Named where the quote opens, not where the reader gave up (the end of the file).
        ('comment\n"Long wait\nKind staff\nClean rooms\n', "line 2: a double quote opens"),
        ('comment,who\nok,u1\n"open,u2\n' + "more,u3\n" * 50, "line 3: a double quote opens"),
        ('"comment\nok\n', "line 1: a double quote opens"),
        ('comment\n"Long wait"and more\nKind staff\n', "line 2: not readable as CSV"),
        ('comment\nshort\n"' + "word " * 30_000 + '"\n', "line 3: not readable as CSV"),
    ],
)
def test_a_broken_file_is_refused_with_the_line_to_look_at(text: str, message: str) -> None:
    with pytest.raises(records.ImportError_, match=message):
        records.read_csv(text, None, None)


def test_old_mac_line_ends_and_spaces_in_the_header_are_read() -> None:
    # "\r" alone ends a line in old exports; "id, comment" lists "comment" as a column,
    # so --text-column comment finds it.
    rows, _ = records.read_csv("comment,who\rline a,c1\rline b,c2\r", "comment", "who")
    assert rows == [(2, "c1", "line a"), (3, "c2", "line b")]
    rows, _ = records.read_csv("id, comment\n1,hello\n", " comment", "id ")
    assert rows == [(2, "1", "hello")]
    with pytest.raises(records.ImportError_, match=r"--text-column: no column 'notes'"):
        records.read_csv("id, comment\n1,hello\n", "notes", None)


async def test_a_file_not_in_utf8_names_the_line(platform: Platform, tmp_path: Path) -> None:
    await launch(platform, spec_data(segments=[]))
    source = tmp_path / "latin1.csv"
    source.write_bytes("who,comment\nann,Long wait\nbob,Nice caf\xe9\n".encode("latin-1"))
    with pytest.raises(records.ImportError_, match=r"line 3: not UTF-8 text \(bytes b'\\xe9\\n'\)"):
        await import_by_who(platform, source)


def test_quotes_inside_a_plain_field_and_quoted_line_breaks_are_read_as_written() -> None:
    rows, skipped = records.read_csv(
        'comment\nhe said "soon" twice\n"two\nlines, one ""quote"""\n\n,\n', None, None
    )
    assert [text for _, _, text in rows] == ['he said "soon" twice', 'two\nlines, one "quote"']
    assert skipped == 2  # the blank line and the row of empty cells


def analyse_or_fail(text: str) -> tuple[float | None, dict[str, object] | None]:
    """An analyser that fails on one text."""
    if "fail here" in text:
        raise ValueError("analysis failed")
    return analyse_at_intake(text)


async def test_a_failure_on_texts_the_second_process_screened_stores_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    await launch(platform, spec_data(segments=[]))
    source = tmp_path / "comments.csv"
    source.write_text("comment\n" + "".join(f"Reply {n}\n" for n in range(30)) + "fail here\n")
    with pytest.raises(ValueError, match="analysis failed"):
        async with platform.sessionmaker.begin() as session:
            await records.import_csv(
                session,
                platform.keyring,
                "outpatient-booking",
                source,
                analyse=analyse_or_fail,
                batch=10,
                parallel_from=1,
                share=False,
            )
    async with platform.sessionmaker() as session:
        assert (await session.scalars(select(Response))).all() == []


DATA = Path(__file__).resolve().parent.parent / "data"


def mixed_texts() -> list[str]:
    """Real comments, disclosures, personal details and other languages, with repeats."""
    with (DATA / "pxtextmining" / "text_data_sample.csv").open(encoding="utf-8") as handle:
        comments = [r["feedback"] for r in csv.DictReader(handle) if r["feedback"].strip()]
    lines = (DATA / "safety" / "evaluation.jsonl").read_text(encoding="utf-8").splitlines()
    disclosures = [json.loads(line)["text"] for line in lines[::40]]
    lines = (DATA / "redaction" / "tune.jsonl").read_text(encoding="utf-8").splitlines()
    details = [json.loads(line)["text"] for line in lines[::8]]
    # Texts in languages the screen does not read, each a case for a person to look at.
    lines = (DATA / "safety" / "languages.jsonl").read_text(encoding="utf-8").splitlines()
    other = [row["text"] for row in map(json.loads, lines) if row["expect"] == "review"][::6]
    distinct = comments[:400] + disclosures + details + other
    chooser = random.Random(3)
    return distinct + [chooser.choice(distinct) for _ in range(300)]


async def stored(platform: Platform, consultation_id: str) -> list[tuple[Any, ...]]:
    """The stored rows of an import in order, with each row's moderation case, if any."""
    from storage.tables import ModerationCase

    async with platform.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Response, ModerationCase)
                .outerjoin(ModerationCase, ModerationCase.response_id == Response.id)
                .where(Response.consultation_id == consultation_id)
                .order_by(Response.id)
            )
        ).all()
    return [
        (
            r.item_id,
            r.item_type,
            r.channel,
            r.text,
            list(r.flags),
            r.sentiment,
            r.analysis,
            r.in_reply_to,
            None
            if case is None
            else (
                case.reason,
                case.status,
                case.categories,
                case.urgent,
                case.person_sent,
                case.flagged_by,
            ),
        )
        for r, case in rows
    ]


async def test_every_path_stores_the_same_rows_analyses_flags_and_cases(
    platform: Platform, tmp_path: Path
) -> None:
    """One process, the second process beside it and the second process alone store the
    same file identically: texts as redacted, flags, sentiment, analysis and cases."""
    texts = mixed_texts()
    source = tmp_path / "mixed.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["comment"])
        writer.writerows([text] for text in texts)
    paths = {"one": (10**9, True), "beside": (1, True), "alone": (1, False)}
    results = {}
    for name, (parallel_from, share) in paths.items():
        consultation = f"import-{name}"
        await launch(platform, spec_data(id=consultation, segments=[]))
        async with platform.sessionmaker.begin() as session:
            result = await records.import_csv(
                session,
                platform.keyring,
                consultation,
                source,
                analyse=analyse_at_intake,
                batch=97,
                parallel_from=parallel_from,
                share=share,
            )
        results[name] = (result.imported, result.flagged, await stored(platform, consultation))
    imported, flagged, rows = results["one"]
    assert imported == len(texts) == len(rows)
    assert flagged == sum("safety" in flags for _, _, _, _, flags, *_ in rows) > 10
    looked_at = [i for i, row in enumerate(rows) if {"safety", "review"} & set(row[4])]
    assert [i for i, row in enumerate(rows) if row[-1] is not None] == looked_at
    # A disclosure's case says how the screen flagged it; a review case, by neither.
    cases = [row[-1] for row in rows if row[-1] is not None]
    assert {(reason, flagged_by) for reason, *_, flagged_by in cases} >= {
        ("safety", "phrase"),
        ("safety", "model"),
    }
    assert all((reason == "safety") == (flagged_by is not None) for reason, *_, flagged_by in cases)
    # An import has no way back to its writers: nothing was sent, and the case says so.
    assert {(reason, sent) for reason, *_, sent, _ in cases} == {
        ("safety", "nothing"),
        ("review", None),
    }
    # ... and, as on every other channel, its categories and whether it is urgent.
    safety_cases = [case for case in cases if case[0] == "safety"]
    assert all(categories for _, _, categories, *_ in safety_cases)
    assert any(urgent for *_, urgent, _, _ in safety_cases)
    assert not any(categories for reason, _, categories, *_ in cases if reason == "review")
    assert any("redacted" in flags for _, _, _, _, flags, *_ in rows)
    assert all(analysis is not None for *_, analysis, _, _ in rows)
    assert results["beside"] == results["one"]
    assert results["alone"] == results["one"]


def test_imported_text_goes_only_to_a_prompt_or_a_thread() -> None:
    from consultations.spec import parse_spec
    from tests.helpers import statements_spec

    spec = parse_spec(spec_data())
    assert records.choose_item(spec, "one-thing") == "one-thing"
    assert records.choose_item(spec, "reminder") == "reminder"
    with pytest.raises(records.ImportError_, match="'ease' is a poll item"):
        records.choose_item(spec, "ease")
    # Statements are added one by one and voted on: a survey's comments are not statements.
    with pytest.raises(records.ImportError_, match="'ideas' is a statements item"):
        records.choose_item(parse_spec(statements_spec()), "ideas")


def test_blank_lines_are_counted_as_empty_rows() -> None:
    rows, skipped = records.read_csv("comment\nA\n\n\nB\n", None, None)
    assert [text for _, _, text in rows] == ["A", "B"]
    assert skipped == 2


def test_a_row_with_more_values_than_the_header_is_refused_naming_its_line() -> None:
    # An unquoted comma would otherwise cut the comment short without a word.
    with pytest.raises(records.ImportError_, match="line 3: 3 values but the header names 2"):
        records.read_csv("who,comment\nr1,Fine\nr2,The wait was long, and cold\n", None, None)
    # Empty trailing cells (a spreadsheet's habit) are no such mistake.
    rows, _ = records.read_csv("who,comment\nr1,Fine,,\n", "comment", "who")
    assert [(who, text) for _, who, text in rows] == [("r1", "Fine")]


def test_a_short_row_or_a_column_named_twice_is_refused_naming_it() -> None:
    # A row whose values stop before the text column is not "empty": it is named.
    with pytest.raises(
        records.ImportError_, match="line 3: 1 value but the header names 3 columns, and none"
    ):
        records.read_csv("who,comment,extra\nr1,Fine,x\nr2\n", "comment", "who")
    # A row that only lacks trailing cells after the text is read as ever.
    rows, skipped = records.read_csv("who,comment,extra\nr1,Fine\n,\n", "comment", "who")
    assert [(who, text) for _, who, text in rows] == [("r1", "Fine")] and skipped == 1
    # Which of two "comment" columns holds the text is anyone's guess.
    with pytest.raises(records.ImportError_, match="'comment' more than once"):
        records.read_csv("comment,comment\na,b\n", None, None)


async def test_replace_finds_an_import_stored_before_imports_were_marked(
    platform: Platform, tmp_path: Path
) -> None:
    # Records imported before they carried their file's reference are found by the time
    # their import stored them all with, and only they go.
    await launch(platform, spec_data(segments=[]))
    older = tmp_path / "older.csv"
    older.write_text("who,comment\nr1,Kept from the earlier file\n")
    source = tmp_path / "comments.csv"
    source.write_text("who,comment\nr1,Too long a wait\nr2,Kind staff\n")
    await import_by_who(platform, older)
    await import_csv(platform, source)
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(Response).values(platform_ref=None))
    result = await import_csv(platform, source, participant_column="who", replace=True)
    assert (result.replaced, result.imported, result.participants) == (2, 2, 2)
    async with platform.sessionmaker() as session:
        texts = sorted((await session.scalars(select(Response.text))).all(), key=str)
    assert texts == ["Kept from the earlier file", "Kind staff", "Too long a wait"]
