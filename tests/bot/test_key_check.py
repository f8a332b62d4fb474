"""A start with another pseudonym key than the database was made with is refused.

With another key every returning person would be a stranger, STOP lists would no longer
match and erasure would find no one: `engage` keeps a verifier of the key in the
database (never the key) and refuses, exit 2, one line naming the variable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text

from bot.config import Settings
from bot.platform import create_platform
from consultations.keys import Keyring
from migrations import apply as migrate
from storage.db import create_engine
from storage.tables import KeyCheck, Participant
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.helpers import engage
from tests.processes import free_port

OTHER_KEY = "another-pseudonym-key-0123456789-abcdefghijk"
REFUSED = (
    "engage: ENGAGE_PSEUDONYM_KEY: the database was made with another key; start with the "
    "key it was made with (with this one everyone in it would be a stranger, and STOP and "
    "erasure could not find them)"
)
PERSON = ("participant", "export", "--channel", "telegram", "--platform-id", "4242")


async def _verifiers(database_url: str) -> list[str]:
    platform = create_platform(Settings(database_url=database_url, pseudonym_key=TEST_KEY))
    try:
        async with platform.sessionmaker() as session:
            return list(await session.scalars(select(KeyCheck.verifier)))
    finally:
        await platform.aclose()


async def _as_before_the_verifier(database_url: str, *, sealed_with: str | None) -> None:
    """The store as an older version left it: no verifier; a person whose reply address
    is sealed with ``sealed_with`` (none: nothing sealed)."""
    platform = create_platform(Settings(database_url=database_url, pseudonym_key=TEST_KEY))
    try:
        async with platform.sessionmaker() as session, session.begin():
            await session.execute(delete(KeyCheck))
            if sealed_with is not None:
                keys = Keyring(sealed_with)
                session.add(
                    Participant(
                        channel="telegram",
                        pseudonym=keys.pseudonym("telegram", "4242"),
                        address=keys.seal({"chat_id": 4242}),
                    )
                )
    finally:
        await platform.aclose()


def test_the_first_start_keeps_a_verifier_and_another_key_is_refused(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    assert engage(capsys, "consultation", "list")[0] == 0
    verifiers = asyncio.run(_verifiers(database_url))
    assert verifiers == [Keyring(TEST_KEY).verifier()]
    assert all(TEST_KEY not in verifier for verifier in verifiers)

    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", OTHER_KEY)
    for command in (PERSON, ("participant", "erase", *PERSON[2:]), ("consultation", "list")):
        code, out, err = engage(capsys, *command)
        assert (code, out, err) == (2, "", REFUSED + "\n"), command
    assert OTHER_KEY not in err
    # Nothing was replaced: the key the store was made with still starts.
    assert asyncio.run(_verifiers(database_url)) == verifiers
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    code, out, _ = engage(capsys, *PERSON)
    assert code == 0 and '"held": false' in out


def test_a_lost_development_key_file_is_refused_not_replaced_silently(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    keys = env / "keys"
    monkeypatch.setenv("ENGAGE_KEY_DIR", str(keys))
    monkeypatch.delenv("ENGAGE_PSEUDONYM_KEY")
    monkeypatch.delenv("ENGAGE_SECRET_KEY")
    assert engage(capsys, "consultation", "list")[0] == 0
    (keys / ".engage-pseudonym-key").unlink()  # lost: a new one is made at the next start
    code, out, err = engage(capsys, "consultation", "list")
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == REFUSED


@pytest.mark.parametrize("sealed_with", [TEST_KEY, None], ids=["sealed", "nothing-sealed"])
def test_a_database_from_before_the_verifier_gets_one_with_its_key(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    sealed_with: str | None,
) -> None:
    asyncio.run(_as_before_the_verifier(database_url, sealed_with=sealed_with))
    code, out, err = engage(capsys, *PERSON)
    assert code == 0, err
    assert ('"held": true' in out) == (sealed_with is not None)
    assert asyncio.run(_verifiers(database_url)) == [Keyring(TEST_KEY).verifier()]
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", OTHER_KEY)
    assert engage(capsys, *PERSON)[:3] == (2, "", REFUSED + "\n")


def test_a_database_from_before_the_verifier_is_refused_a_key_that_cannot_open_it(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    """An upgrade that made a new development key (the old one kept elsewhere) is caught
    by what the store holds sealed, before any verifier is written with the new key."""
    asyncio.run(_as_before_the_verifier(database_url, sealed_with=TEST_KEY))
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", OTHER_KEY)
    assert engage(capsys, *PERSON)[:3] == (2, "", REFUSED + "\n")
    assert asyncio.run(_verifiers(database_url)) == []
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    code, out, _ = engage(capsys, *PERSON)
    assert code == 0 and '"held": true' in out


def test_engage_run_with_another_key_exits_2_naming_the_variable(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    assert engage(capsys, "consultation", "list")[0] == 0
    result = subprocess.run(
        [str(Path(sys.executable).parent / "engage"), "run"],
        env={
            **os.environ,
            "ENGAGE_HTTP_HOST": "127.0.0.1",
            "ENGAGE_HTTP_PORT": str(free_port()),
            "ENGAGE_SECRET_KEY": TEST_SECRET,
            "ENGAGE_PSEUDONYM_KEY": OTHER_KEY,
        },
        cwd=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == REFUSED
    assert "Traceback" not in result.stderr and OTHER_KEY not in result.stderr


async def _at(database_url: str, *statements: str) -> str:
    """Run ``statements``; the database's revision."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
            return str(await connection.run_sync(migrate.current_revision))
    finally:
        await engine.dispose()


def test_db_upgrade_refuses_another_key_before_migrations_seal_or_hash_with_it(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    """Migrations 0023 and 0024 seal and hash older rows with the key they are given: an
    upgrade with a new key would leave those rows to a key nobody has."""
    before = "0022_publication_round"
    migrate.downgrade(database_url, before)
    try:
        address = Keyring(TEST_KEY).seal({"chat_id": 4242})
        asyncio.run(
            _at(
                database_url,
                "INSERT INTO participant (channel, pseudonym, address, created_at) VALUES "
                f"('telegram', 'p1', '{address}', CURRENT_TIMESTAMP)",
            )
        )
        monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", OTHER_KEY)
        commands = [("db", "upgrade")]
        if database_url.startswith("sqlite"):
            commands.append(("consultation", "list"))  # migrates SQLite as it starts
        for command in commands:
            assert engage(capsys, *command)[:3] == (2, "", REFUSED + "\n"), command
        assert asyncio.run(_at(database_url)) == before
        monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
        code, out, err = engage(capsys, "db", "upgrade")
        assert code == 0, err
    finally:
        migrate.upgrade(database_url, pseudonym_key=TEST_KEY)
    assert asyncio.run(_at(database_url)) == migrate.head_revision()
    assert engage(capsys, "consultation", "list")[0] == 0
    assert asyncio.run(_verifiers(database_url)) == [Keyring(TEST_KEY).verifier()]
