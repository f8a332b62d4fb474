"""Importing responses gathered elsewhere, including the two-process path for big files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.platform import Platform, analyse_at_intake
from consultations import records
from storage.tables import Response
from tests.helpers import launch, spec_data


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
    async with platform.sessionmaker.begin() as session:
        result = await records.import_csv(
            session,
            platform.keyring,
            "outpatient-booking",
            source,
            analyse=analyse_at_intake,
            batch=25,
            parallel_from=1 if second_process else 10**9,
            share=not second_process,
        )
    assert result.imported == 120
    assert result.flagged == 40
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(Response).order_by(Response.id))).all()
        cases = (await session.scalars(select(ModerationCase))).all()
    flagged = [r for r in rows if "safety" in r.flags]
    assert len(flagged) == 40
    assert {c.response_id for c in cases} == {r.id for r in flagged}
    redacted = [r for r in rows if r.text.startswith("Please call me on")]
    assert len(redacted) == 40
    assert all("07700" not in r.text and "redacted" in r.flags for r in redacted)
    assert sum(r.text == ordinary for r in rows) == 40
    assert all(r.analysis is not None for r in rows)


async def test_a_second_file_finds_the_participants_of_the_first(
    platform: Platform, tmp_path: Path
) -> None:
    await launch(platform, spec_data(segments=[]))
    first = tmp_path / "first.csv"
    first.write_text("who,comment\nann,Parking was hard\nbob,Kind staff\nann,Long wait\n")
    second = tmp_path / "second.csv"
    second.write_text("who,comment\nbob,Clean rooms\ncat,Clear letters\n")
    results = []
    for source in (first, second):
        async with platform.sessionmaker.begin() as session:
            results.append(
                await records.import_csv(
                    session,
                    platform.keyring,
                    "outpatient-booking",
                    source,
                    participant_column="who",
                    analyse=analyse_at_intake,
                )
            )
    assert [r.participants for r in results] == [2, 2]
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(Response).order_by(Response.id))).all()
    by_text = {r.text: r.participant_id for r in rows}
    assert by_text["Parking was hard"] == by_text["Long wait"]
    assert by_text["Kind staff"] == by_text["Clean rooms"]
    assert len(set(by_text.values())) == 3


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
