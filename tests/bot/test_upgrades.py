"""A store written by an earlier version of engage, read by this one through `engage`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import create_engine
from tests.bot.test_cli import write_spec
from tests.helpers import engage, spec_data


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def test_replies_stored_without_an_analysis_are_reported(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["web"]))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    comments = env / "comments.csv"
    comments.write_text("comment\nThe phone line is always busy\nOnline booking please\n")
    code, out, _ = engage(
        capsys, "import", "outpatient-booking", str(comments), "--format", "csv",
        "--item", "one-thing", "--text-column", "comment",
    )  # fmt: skip
    assert code == 0, out
    # The first versions stored every reply's analysis as JSON null (none made yet).
    asyncio.run(_execute(database_url, "UPDATE response SET analysis = 'null'"))

    code, out, err = engage(capsys, "report", "outpatient-booking", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["participation"]["responses"] == 2
    assert sum(theme["count"] for theme in report["themes"]) == 2
    code, out, err = engage(capsys, "report", "outpatient-booking", "--format", "csv")
    assert code == 0, err
    assert "The phone line is always busy" in out
