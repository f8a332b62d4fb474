"""`engage user ...`: listing, removing, roles and passwords of dashboard accounts, with
the last admin kept and every change audited."""

from __future__ import annotations

import asyncio
import getpass
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.platform import create_platform
from bot.web import auth
from storage.tables import AuditEvent, User
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.helpers import engage

PASSWORD = "a new password, long enough"
ACTOR = f"cli:{getpass.getuser()}"


def _settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY)


def accounts(database_url: str) -> dict[str, User]:
    """Every account row, by email."""

    async def read() -> dict[str, User]:
        platform = create_platform(_settings(database_url))
        try:
            async with platform.sessionmaker() as session:
                return {user.email: user for user in await session.scalars(select(User))}
        finally:
            await platform.aclose()

    return asyncio.run(read())


def trail(database_url: str) -> list[tuple[str, str, str | None, Any]]:
    """Every audit event: actor, action, subject and detail, oldest first."""

    async def read() -> list[tuple[str, str, str | None, Any]]:
        platform = create_platform(_settings(database_url))
        try:
            async with platform.sessionmaker() as session:
                rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                return [(r.actor, r.action, r.subject, r.detail) for r in rows]
        finally:
            await platform.aclose()

    return asyncio.run(read())


def add(capsys: pytest.CaptureFixture[str], email: str, role: str) -> str:
    """An account made by `engage user add --generate-password`; its password."""
    code, out, err = engage(capsys, "user", "add", email, "--role", role, "--generate-password")
    assert code == 0, err
    return out.split("keep it safe): ")[1].strip()


def with_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_list_shows_every_account_without_its_password(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = engage(capsys, "user", "list")
    assert code == 0 and "no accounts yet" in out
    code, out, _ = engage(capsys, "user", "list", "--json")
    assert code == 0 and json.loads(out) == []

    password = add(capsys, "lead@health.example", "lead")
    add(capsys, "admin@health.example", "admin")
    add(capsys, "gone@health.example", "viewer")
    assert engage(capsys, "user", "remove", "gone@health.example")[0] == 0

    code, out, _ = engage(capsys, "user", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [row["email"] for row in listed] == [
        "admin@health.example",
        "gone@health.example",
        "lead@health.example",
    ]
    assert all(
        set(row)
        == {
            "email",
            "role",
            "created_at",
            "last_login_at",
            "removed",
            "removed_at",
            "must_change_password",
        }
        for row in listed
    )
    by_email = {row["email"]: row for row in listed}
    assert by_email["lead@health.example"]["role"] == "lead"
    assert by_email["lead@health.example"]["removed"] is False
    assert by_email["lead@health.example"]["removed_at"] is None
    assert by_email["lead@health.example"]["last_login_at"] is None
    assert by_email["lead@health.example"]["created_at"].endswith("+00:00")
    # Made with a password someone else knows: to be changed at the first sign-in.
    assert by_email["lead@health.example"]["must_change_password"] is True
    assert by_email["gone@health.example"]["removed"] is True
    assert by_email["gone@health.example"]["removed_at"].endswith("+00:00")

    code, out, _ = engage(capsys, "user", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "CREATED", "LAST", "LOGIN", "STATUS"]
    lead = next(line for line in lines if line.startswith("lead@"))
    assert lead.split()[1] == "lead" and lead.endswith("active, new password due")
    gone = next(line for line in lines if line.startswith("gone@"))
    assert "removed on " in gone
    stored = accounts(database_url)["lead@health.example"].password_hash
    for shown in (out, json.dumps(listed)):
        assert password not in shown and stored not in shown and "argon2" not in shown


def test_remove_keeps_the_row_and_is_audited(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add(capsys, "admin@health.example", "admin")
    add(capsys, "leaver@health.example", "moderator")

    code, out, err = engage(capsys, "user", "remove", "Leaver@Health.example ")

    assert code == 0, err
    assert out.strip() == "removed leaver@health.example (moderator): it can no longer sign in"
    leaver = accounts(database_url)["leaver@health.example"]
    assert leaver.removed_at is not None
    assert trail(database_url)[-1] == (
        ACTOR,
        "user.remove",
        f"user:{leaver.id}",
        {"email": "leaver@health.example", "role": "moderator"},
    )
    # Again: nothing to do, nothing audited.
    code, out, _ = engage(capsys, "user", "remove", "leaver@health.example")
    assert code == 0 and out.strip() == "leaver@health.example was removed already"
    assert [action for _, action, _, _ in trail(database_url)].count("user.remove") == 1


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["remove", "nobody@health.example"], "EMAIL: nobody@health.example has no account"),
        (
            ["role", "nobody@health.example", "--role", "lead"],
            "EMAIL: nobody@health.example has no account",
        ),
        (["password", "nobody@health.example"], "EMAIL: nobody@health.example has no account"),
        (["remove", "not-an-email"], "EMAIL: 'not-an-email' is not an email address"),
        (["role", "@health.example", "--role", "lead"], "is not an email address"),
        (
            ["add", "two words@health.example", "--role", "viewer"],
            "EMAIL: 'two words@health.example' is not an email address",
        ),
    ],
)
def test_an_unknown_or_malformed_email_exits_2_naming_it(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    message: str,
) -> None:
    add(capsys, "admin@health.example", "admin")
    with_stdin(monkeypatch, PASSWORD + "\n")
    before = trail(database_url)

    code, out, err = engage(capsys, "user", *command)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert trail(database_url) == before


def test_a_bad_role_exits_2_naming_it(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add(capsys, "lead@health.example", "lead")
    with pytest.raises(SystemExit) as stopped:
        engage(capsys, "user", "role", "lead@health.example", "--role", "owner")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --role: invalid choice: 'owner'" in err
    code, out, _ = engage(capsys, "user", "list", "--json")
    assert json.loads(out)[0]["role"] == "lead"


def test_role_changes_the_role_and_is_audited(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add(capsys, "admin@health.example", "admin")
    add(capsys, "staff@health.example", "viewer")

    code, out, _ = engage(capsys, "user", "role", "staff@health.example", "--role", "lead")

    assert code == 0 and out.strip() == "staff@health.example is now lead (was viewer)"
    staff = accounts(database_url)["staff@health.example"]
    assert staff.role == "lead"
    assert trail(database_url)[-1] == (
        ACTOR,
        "user.role",
        f"user:{staff.id}",
        {"email": "staff@health.example", "from": "viewer", "to": "lead"},
    )
    code, out, _ = engage(capsys, "user", "role", "staff@health.example", "--role", "lead")
    assert code == 0 and out.strip() == "staff@health.example is already lead"
    assert [a for _, a, _, _ in trail(database_url)].count("user.role") == 1


def test_the_last_admin_is_neither_removed_nor_demoted(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add(capsys, "first@health.example", "admin")
    add(capsys, "lead@health.example", "lead")

    code, _, err = engage(capsys, "user", "remove", "first@health.example")
    assert code == 2
    assert "first@health.example is the last admin, so it cannot be removed" in err
    assert "make another account admin first" in err
    code, _, err = engage(capsys, "user", "role", "first@health.example", "--role", "lead")
    assert code == 2 and "is the last admin, so it cannot be made lead" in err
    first = accounts(database_url)["first@health.example"]
    assert first.role == "admin" and first.removed_at is None

    # A second admin: now either may go, and then the other is the last again.
    assert engage(capsys, "user", "role", "lead@health.example", "--role", "admin")[0] == 0
    assert engage(capsys, "user", "role", "first@health.example", "--role", "viewer")[0] == 0
    code, _, err = engage(capsys, "user", "remove", "lead@health.example")
    assert code == 2 and "lead@health.example is the last admin" in err
    # A removed admin counts for nothing.
    assert engage(capsys, "user", "role", "first@health.example", "--role", "admin")[0] == 0
    assert engage(capsys, "user", "remove", "first@health.example")[0] == 0
    code, _, err = engage(capsys, "user", "role", "lead@health.example", "--role", "viewer")
    assert code == 2 and "last admin" in err
    assert accounts(database_url)["lead@health.example"].role == "admin"


@pytest.mark.parametrize("temporary", [False, True], ids=["ready", "temporary"])
def test_password_from_standard_input_replaces_the_old_one(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    temporary: bool,
) -> None:
    old = add(capsys, "lead@health.example", "lead")
    with_stdin(monkeypatch, PASSWORD + "\n")
    flags = ["--temporary"] if temporary else []

    code, out, _ = engage(capsys, "user", "password", "lead@health.example", *flags)

    assert code == 0
    said = ["new password for lead@health.example: its sign-ins are ended"]
    if temporary:
        said.append(
            "lead@health.example chooses a new password at the next sign-in, before anything else"
        )
    assert out.splitlines() == said
    lead = accounts(database_url)["lead@health.example"]
    assert auth.verify_password(PASSWORD, lead.password_hash)
    assert not auth.verify_password(old, lead.password_hash)
    assert trail(database_url)[-1] == (
        ACTOR,
        "user.password",
        f"user:{lead.id}",
        {"email": "lead@health.example", "password": "given", "must_change": temporary},
    )
    # A password given is ready to use (the change due since `add` is gone with the one it
    # replaced), unless --temporary makes it for one sign-in.
    assert lead.must_change_password is temporary
    assert PASSWORD not in str(trail(database_url))


@pytest.mark.parametrize("temporary", [False, True], ids=["ready", "temporary"])
def test_a_password_given_to_add_is_ready_to_use_unless_temporary(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    temporary: bool,
) -> None:
    with_stdin(monkeypatch, PASSWORD + "\n")
    flags = ["--temporary"] if temporary else []

    code, out, err = engage(capsys, "user", "add", "me@health.example", "--role", "admin", *flags)

    assert code == 0, err
    said = ["added me@health.example as admin"]
    if temporary:
        said.append(
            "me@health.example chooses a new password at the next sign-in, before anything else"
        )
    assert out.splitlines() == said
    me = accounts(database_url)["me@health.example"]
    assert auth.verify_password(PASSWORD, me.password_hash)
    assert me.must_change_password is temporary
    assert trail(database_url) == [
        (
            ACTOR,
            "user.add",
            f"user:{me.id}",
            {"email": "me@health.example", "role": "admin", "must_change": temporary},
        )
    ]
    assert PASSWORD not in str(trail(database_url))
    code, out, _ = engage(capsys, "user", "list")
    listed = next(line for line in out.splitlines() if line.startswith("me@"))
    assert listed.endswith("active, new password due" if temporary else "active")
    code, out, _ = engage(capsys, "user", "list", "--json")
    assert json.loads(out)[0]["must_change_password"] is temporary


def test_a_generated_password_is_for_one_sign_in_with_or_without_temporary(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for email, flags in (
        ("one@health.example", []),
        ("two@health.example", ["--temporary"]),
    ):
        code, out, err = engage(
            capsys, "user", "add", email, "--role", "viewer", "--generate-password", *flags
        )
        assert code == 0, err
        assert f"{email} chooses a new password at the next sign-in" in out
        assert accounts(database_url)[email].must_change_password


def test_a_generated_password_is_shown_once(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add(capsys, "lead@health.example", "lead")

    code, out, _ = engage(capsys, "user", "password", "lead@health.example", "--generate-password")

    assert code == 0
    shown = out.split("keep it safe): ")[1].strip()
    assert len(shown) >= 12
    assert auth.verify_password(shown, accounts(database_url)["lead@health.example"].password_hash)
    assert trail(database_url)[-1][3] == {
        "email": "lead@health.example",
        "password": "generated",
        "must_change": True,
    }
    assert shown not in str(trail(database_url))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("short\n", "engage: password: use at least 12 characters"),
        ("\n", "engage: password: use at least 12 characters"),
        ("x" * 1025 + "\n", "engage: password: use at most 1024 characters"),
        # The sign-in form drops control characters: such a password could never sign in.
        (
            "ctrl\x01password-123\n",
            "engage: password: use no control characters (tabs, line breaks, ...)",
        ),
    ],
)
def test_a_weak_password_exits_2_and_changes_nothing(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    typed: str,
    message: str,
) -> None:
    old = add(capsys, "lead@health.example", "lead")
    with_stdin(monkeypatch, typed)

    code, out, err = engage(capsys, "user", "password", "lead@health.example")

    assert code == 2 and out == ""
    assert err.strip() == message
    assert auth.verify_password(old, accounts(database_url)["lead@health.example"].password_hash)
    assert "user.password" not in [action for _, action, _, _ in trail(database_url)]


def test_a_password_file_with_windows_line_endings_signs_in(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_stdin(monkeypatch, "crlf-password-123\r\n")
    code, _, err = engage(capsys, "user", "add", "crlf@health.example", "--role", "viewer")
    assert code == 0, err
    stored = accounts(database_url)["crlf@health.example"].password_hash
    assert auth.verify_password("crlf-password-123", stored)


def test_a_removed_account_is_changed_only_by_adding_it_again(
    env: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add(capsys, "admin@health.example", "admin")
    add(capsys, "back@health.example", "moderator")
    assert engage(capsys, "user", "remove", "back@health.example")[0] == 0

    code, _, err = engage(capsys, "user", "role", "back@health.example", "--role", "lead")
    assert code == 2 and "EMAIL: back@health.example was removed on " in err
    with_stdin(monkeypatch, PASSWORD + "\n")
    code, _, err = engage(capsys, "user", "password", "back@health.example")
    assert code == 2 and "was removed on " in err and "`engage user add`" in err
    # A script run at every start (make run) does not give it back.
    code, out, _ = engage(
        capsys,
        "user",
        "add",
        "back@health.example",
        "--role",
        "admin",
        "--generate-password",
        "--exists-ok",
    )
    assert code == 0 and "it stays removed" in out
    assert accounts(database_url)["back@health.example"].removed_at is not None

    with_stdin(monkeypatch, PASSWORD + "\n")
    code, out, _ = engage(capsys, "user", "add", "back@health.example", "--role", "viewer")

    assert code == 0 and out.startswith("gave back back@health.example's account as viewer")
    assert "chooses a new password" not in out
    back = accounts(database_url)["back@health.example"]
    assert back.removed_at is None and back.role == "viewer"
    assert not back.must_change_password  # the password given is ready to use
    assert auth.verify_password(PASSWORD, back.password_hash)
    actor, action, subject, detail = trail(database_url)[-1]
    assert (actor, action, subject) == (ACTOR, "user.restore", f"user:{back.id}")
    assert detail["email"] == "back@health.example" and detail["role"] == "viewer"
    assert detail["must_change"] is False

    # Removed again and given back with --temporary: for one sign-in.
    assert engage(capsys, "user", "remove", "back@health.example")[0] == 0
    with_stdin(monkeypatch, PASSWORD + "\n")
    code, out, _ = engage(
        capsys, "user", "add", "back@health.example", "--role", "viewer", "--temporary"
    )
    assert code == 0 and "back@health.example chooses a new password" in out
    assert accounts(database_url)["back@health.example"].must_change_password
    assert trail(database_url)[-1][3]["must_change"] is True


def test_adding_an_account_is_audited(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    password = add(capsys, "new@health.example", "moderator")
    new = accounts(database_url)["new@health.example"]
    assert trail(database_url) == [
        (
            ACTOR,
            "user.add",
            f"user:{new.id}",
            {"email": "new@health.example", "role": "moderator", "must_change": True},
        )
    ]
    assert password not in str(trail(database_url))


def test_help_lists_the_account_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        engage(capsys, "user", "--help")
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    for command in ("add", "list", "remove", "role", "password"):
        assert f"    {command} " in out


@pytest.mark.parametrize("command", ["add", "password"])
def test_help_says_a_given_password_is_ready_unless_temporary(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        engage(capsys, "user", command, "--help")
    assert stopped.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--temporary" in out and "--generate-password" in out
    assert "is ready to use" in out


def test_a_password_that_is_not_utf8_exits_2(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape).
    with_stdin(monkeypatch, "\udcff\udcfe a long password here\n")
    code, out, err = engage(capsys, "user", "add", "g@health.example", "--role", "viewer")
    assert (code, out) == (2, "")
    assert err == "engage: the password on standard input is not valid UTF-8\n"
