"""A store written by an earlier version of engage, read by this one through `engage`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from migrations import apply as migrate
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


async def _revision(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return str(await connection.scalar(text("SELECT version_num FROM alembic_version")))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ("db", "upgrade"),
        ("db", "downgrade", "0021_ids_never_reused"),
        ("consultation", "list"),
        ("run",),
    ],
)
def test_a_database_migrated_by_a_newer_version_is_named_and_left_alone(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    head = migrate.head_revision()
    asyncio.run(_execute(database_url, "UPDATE alembic_version SET version_num = '0099_later'"))
    try:
        code, _, err = engage(capsys, *command)
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "revision 0099_later" in err and "newer version" in err
        assert asyncio.run(_revision(database_url)) == "0099_later"
    finally:
        # The PostgreSQL database is shared by the tests after this one: put it back.
        asyncio.run(_execute(database_url, f"UPDATE alembic_version SET version_num = '{head}'"))


def test_a_downgrade_says_the_revision_the_database_is_now_at(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`engage db downgrade -1` names where it went from and to, not "-1"."""
    assert engage(capsys, "db", "upgrade")[0] == 0
    head = migrate.head_revision()
    previous = migrate.previous_revision(head)
    try:
        code, out, err = engage(capsys, "db", "downgrade", "-1")
        assert code == 0, err
        assert out == f"database at revision {previous} (reverted from {head})\n"
        assert asyncio.run(_revision(database_url)) == previous
        code, out, err = engage(capsys, "db", "downgrade", previous)
        assert (code, out) == (0, f"database at revision {previous} (unchanged)\n"), err
    finally:
        # The PostgreSQL database is shared by the tests after this one: put it back.
        assert engage(capsys, "db", "upgrade")[0] == 0
