"""The command line when something is wrong: a database it cannot use, an id out of
range, an address it cannot listen on. One line naming what is wrong, exit 1 or 2."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from migrations import apply as migrate
from tests.conftest import POSTGRES_ADMIN_URL, TEST_KEY, TEST_SECRET
from tests.helpers import engage

ENGAGE = str(Path(sys.executable).parent / "engage")
PASSWORD = "hunter2-never-shown"

# Every kind of command that opens the database.
COMMANDS = [
    ("db", "upgrade"),
    ("db", "current"),
    ("run",),
    ("consultation", "list"),
    ("consultation", "show", "outpatient-booking"),
    ("moderation", "list"),
    ("moderation", "resolve", "1", "--note", "called back"),
    ("inbox", "failed"),
    ("inbox", "retry", "1"),
    ("outbox", "unknown"),
    ("user", "add", "lead@health.example", "--role", "lead", "--generate-password"),
]


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The keys `engage` needs, and no adapter settings; the working folder is tmp."""
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_an_unreachable_server_is_one_line_for_every_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    port = _closed_port()
    monkeypatch.setenv(
        "ENGAGE_DATABASE_URL", f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{port}/engage"
    )
    code, _, err = engage(capsys, *command)
    assert code == 1
    assert _one_line(err) == (
        f"engage: database error: cannot connect to 127.0.0.1:{port} (connection refused)"
    )
    assert PASSWORD not in err


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("where", ["missing folder", "a folder"])
@pytest.mark.parametrize("command", [("db", "upgrade"), ("consultation", "list")])
def test_a_sqlite_file_that_cannot_be_is_a_usage_error_naming_the_url(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    where: str,
    command: tuple[str, ...],
) -> None:
    path = tmp_path / "no-such-folder" / "engage.db"
    if where == "a folder":
        path = tmp_path / "engage.db"
        path.mkdir()
    monkeypatch.setenv("ENGAGE_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    code, out, err = engage(capsys, *command)
    assert (code, out) == (2, "")
    line = _one_line(err)
    assert line.startswith("engage: configuration: ENGAGE_DATABASE_URL: "), line
    assert str(path if where == "a folder" else path.parent) in line
    assert not (tmp_path / "no-such-folder").exists()


@pytest.mark.usefixtures("keys")
def test_a_sqlite_file_that_cannot_be_opened_is_one_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A link to a folder that is not there: the settings look usable, SQLite cannot open
    # it. The driver's thread used to answer after the command's event loop had closed,
    # and its traceback followed the one line (pytest fails the test on it).
    path = tmp_path / "engage.db"
    path.symlink_to(tmp_path / "gone" / "engage.db")
    monkeypatch.setenv("ENGAGE_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    for _ in range(5):
        code, out, err = engage(capsys, "consultation", "list")
        assert (code, out) == (1, "")
        assert _one_line(err) == (
            "engage: database error: the database file cannot be opened "
            "(unable to open database file)"
        )


@pytest.mark.usefixtures("keys")
def test_an_unknown_host_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@no-such-host.invalid:5432/engage"
    monkeypatch.setenv("ENGAGE_DATABASE_URL", url)
    code, _, err = engage(capsys, "inbox", "failed")
    assert code == 1
    line = _one_line(err)
    assert line.startswith("engage: database error: cannot connect to no-such-host.invalid:5432 (")
    assert PASSWORD not in err


def _on_the_test_server(user: str, database: str) -> str:
    server = make_url(POSTGRES_ADMIN_URL)
    return str(
        server.set(
            drivername="postgresql+asyncpg", username=user, password=PASSWORD, database=database
        ).render_as_string(hide_password=False)
    )


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("command", [("db", "upgrade"), ("moderation", "list"), ("run",)])
def test_a_missing_database_or_role_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    admin = make_url(POSTGRES_ADMIN_URL)
    missing = f"engage_missing_{uuid.uuid4().hex[:8]}"
    for user, database, named in (
        (admin.username or "postgres", missing, f'database "{missing}" does not exist'),
        (missing, admin.database or "postgres", f'role "{missing}" does not exist'),
    ):
        monkeypatch.setenv("ENGAGE_DATABASE_URL", _on_the_test_server(user, database))
        code, _, err = engage(capsys, *command)
        assert code == 1, err
        assert _one_line(err) == f"engage: database error: {named}"
        assert PASSWORD not in err


async def _role_without_rights() -> tuple[str, str]:
    """A role that may log in but may not create tables: (name, its URL)."""
    role = f"engage_powerless_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'CREATE ROLE "{role}" LOGIN')
        database = await connection.fetchval("select current_database()")
    finally:
        await connection.close()
    return role, _on_the_test_server(role, str(database))


@pytest.mark.usefixtures("keys")
def test_a_statement_the_server_refuses_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an outage, a database error all the same: no traceback (with -v there is one)."""
    role, url = asyncio.run(_role_without_rights())
    try:
        monkeypatch.setenv("ENGAGE_DATABASE_URL", url)
        code, _, err = engage(capsys, "db", "upgrade")
        assert code == 1
        assert _one_line(err).startswith("engage: database error: permission denied")
        code, _, err = engage(capsys, "-v", "db", "upgrade")
        assert code == 1 and "Traceback" in err
    finally:

        async def drop() -> None:
            connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
            try:
                await connection.execute(f'DROP ROLE IF EXISTS "{role}"')
            finally:
                await connection.close()

        asyncio.run(drop())


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"ENGAGE_SECRET_KEY": " " * 40}, "ENGAGE_SECRET_KEY"),
        ({"ENGAGE_PSEUDONYM_KEY": " " * 40}, "ENGAGE_PSEUDONYM_KEY"),
        ({"ENGAGE_ENV": "production", "ENGAGE_PSEUDONYM_KEY": TEST_SECRET}, "ENGAGE_PSEUDONYM_KEY"),
        ({"ENGAGE_ENV": "production", "MASTODON_ACCESS_TOKEN": "t"}, "MASTODON_API_BASE_URL"),
    ],
    ids=["blank secret key", "blank pseudonym key", "one key for both", "token alone"],
)
def test_a_weak_setting_stops_start_up_with_one_line(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    named: str,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    code, _, err = engage(capsys, "consultation", "list")
    assert code == 2
    assert _one_line(err).startswith(f"engage: configuration: {named}: ")


# -- ids ----------------------------------------------------------------------------------

TOO_BIG = "99999999999999999999"  # past a 64-bit integer
LARGEST = str(2**63 - 1)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (("inbox", "retry"), "ID"),
        (("moderation", "resolve", "--note", "called back"), "CASE"),
        (("moderation", "resolve", "--not-a-disclosure", "--note", "fine"), "CASE"),
        (("moderation", "approve"), "CASE"),
        (("moderation", "reject"), "CASE"),
    ],
    ids=["inbox retry", "resolve", "release", "approve", "reject"],
)
def test_an_id_out_of_range_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...], named: str
) -> None:
    head, rest = command[:2], command[2:]
    for given in (TOO_BIG, "abc", "-5", "²", "١٢"):
        code, _, err = engage(capsys, *head, given, *rest)
        assert code == 2, (given, err)
        assert _one_line(err).startswith(f"engage: {named}: {given!r} is not "), err
    # The largest id a row can have is looked up (and not found), not refused.
    code, _, err = engage(capsys, *head, LARGEST, *rest)
    assert code == 2
    assert LARGEST in _one_line(err) and "is not " not in err


# -- wrong names --------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   "])
def test_an_empty_note_names_the_note(
    env: Path, capsys: pytest.CaptureFixture[str], note: str
) -> None:
    code, _, err = engage(capsys, "moderation", "resolve", "3", "--note", note)
    assert code == 2
    assert _one_line(err).startswith("engage: --note: ")


@pytest.mark.parametrize("revision", ["", "@", "head@", "0021_ids_never_reused@"])
def test_a_revision_that_names_none_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str], revision: str
) -> None:
    assert engage(capsys, "db", "upgrade")[0] == 0
    code, out, err = engage(capsys, "db", "downgrade", revision)
    assert (code, out) == (2, "")
    assert _one_line(err).startswith(f"engage: REV: {revision!r} names no revision"), err
    code, out, _ = engage(capsys, "db", "current")
    assert (code, out.strip()) == (0, migrate.head_revision())


async def _run_until_it_stops(tmp_path: Path, **settings: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}",
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
        **settings,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        if name not in settings:
            env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        ENGAGE,
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return int(process.returncode or 0), err.decode()


@pytest.mark.timeout(300)
async def test_an_address_the_machine_lacks_names_the_host_and_a_busy_port_the_port(
    tmp_path: Path,
) -> None:
    port = _closed_port()
    code, err = await _run_until_it_stops(
        tmp_path, ENGAGE_HTTP_HOST="203.0.113.5", ENGAGE_HTTP_PORT=str(port)
    )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"engage: ENGAGE_HTTP_HOST: cannot listen on 203.0.113.5:{port}: "
        "this machine has no such address"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, err = await _run_until_it_stops(
            tmp_path, ENGAGE_HTTP_HOST="127.0.0.1", ENGAGE_HTTP_PORT=str(taken)
        )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"engage: ENGAGE_HTTP_PORT: cannot listen on 127.0.0.1:{taken}: the port is in use"
    )


@pytest.mark.timeout(300)
async def test_a_busy_port_stops_start_up_before_the_mastodon_stream_opens(
    tmp_path: Path,
) -> None:
    # The stream of an adapter started with the app held the process after the port
    # was refused, and no signal ended it: the address is now tried first.
    from tests.fakes.mastodon_server import MastodonServer

    with MastodonServer(ratelimit=None) as mastodon, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, err = await _run_until_it_stops(
            tmp_path,
            ENGAGE_HTTP_HOST="127.0.0.1",
            ENGAGE_HTTP_PORT=str(taken),
            MASTODON_API_BASE_URL=mastodon.base_url,
            MASTODON_ACCESS_TOKEN=mastodon.bot_token,
        )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"engage: ENGAGE_HTTP_PORT: cannot listen on 127.0.0.1:{taken}: the port is in use"
    )
    assert "streaming" not in err


@pytest.mark.parametrize(
    "args",
    [
        ("consultation", "show", "\udcff"),
        ("export", "\udcff", "--format", "json"),
        ("participant", "export", "--channel", "web", "--platform-id", "\udcff"),
        ("moderation", "resolve", "1", "--note", "done \udcfe"),
    ],
)
def test_an_argument_that_is_not_utf8_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    # A terminal or script in another encoding: bytes that are not UTF-8 reach Python as
    # lone surrogates; no command gets as far as the database with them.
    code, out, err = engage(capsys, *args)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("engage: an argument is not valid UTF-8: b'"), err


@pytest.mark.timeout(300)
def test_a_launch_telegram_does_not_answer_names_it_and_leaves_no_session_open(
    tmp_path: Path,
) -> None:
    # The HTTP sessions were opened before getMe failed; nothing closed them, and every
    # such launch ended with asyncio's "Unclosed client session" lines.
    import subprocess

    from tests.helpers import spec_data
    from tests.processes import open_consultation

    # Stored in this process: the launch is what is tested, and a command's start costs
    # seconds, more on a busy machine.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}"
    migrate.upgrade(database_url)
    asyncio.run(
        open_consultation(database_url, spec_data(channels=["web", "telegram"]), open_=False)
    )
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{_closed_port()}/bot",
    }
    env.pop("MASTODON_API_BASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ENGAGE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )

    launched = run("consultation", "launch", "outpatient-booking", "--channel", "telegram")
    assert launched.returncode == 1
    assert "telegram:" in launched.stderr
    assert "Unclosed" not in launched.stderr, launched.stderr


def test_a_relative_key_folder_stops_a_command_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGAGE_SECRET_KEY")
    monkeypatch.delenv("ENGAGE_PSEUDONYM_KEY")
    monkeypatch.setenv("ENGAGE_KEY_DIR", "keys")
    code, out, err = engage(capsys, "consultation", "list")
    assert (code, out) == (2, "")
    said = _one_line(err)
    assert said.startswith("engage: configuration: ENGAGE_KEY_DIR: 'keys' is relative"), err
    assert not (env / "keys").exists()
