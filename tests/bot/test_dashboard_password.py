"""One's own password on the dashboard: a password made for someone (an admin's reset or
new account, `--generate-password`) or given with `--temporary` is changed at the next
sign-in before anything else opens; one typed or piped to `engage user add` or `engage
user password` is ready to use; and everyone can change theirs, giving the current one."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from bot.platform import Platform
from bot.web import accounts, auth
from storage.tables import ModerationCase, UserSession, utcnow
from tests.bot.test_dashboard import (
    PASSWORD,
    Client,
    add_user,
    app_client,
    as_role,
    audit_trail,
    log_in,
)
from tests.bot.test_dashboard_accounts import ADMIN, STAFF, post, run, user
from tests.bot.test_dashboard_moderation import add_case
from tests.helpers import form_fields, launch, spec_data

CHANGE = "/dashboard/password"
NEW = "a password of my own choosing"


def asked_to_change(response: Any, then: str = "/dashboard") -> bool:
    """Whether a response sends the browser to choose a password, and on to ``then``."""
    return response.status == 303 and sent_to(response) == (CHANGE, {"next": then})


def sent_to(response: Any) -> tuple[str, dict[str, str]]:
    """Where a redirect goes: the path and the query's fields."""
    place = urlsplit(response.headers["Location"])
    return place.path, dict(parse_qsl(place.query))


async def change(
    client: Client, current: str, new: str, again: str | None = None, *, at: str = CHANGE
) -> Any:
    """Fill in and send the form to change one's password (on the page at ``at``); not
    followed."""
    page = await (await client.get(at)).text()
    fields = form_fields(page, CHANGE)
    fields.update(current_password=current, new_password=new, new_password_again=again or new)
    return await client.post(CHANGE, data=fields, allow_redirects=False)


async def test_a_reset_password_opens_nothing_but_the_page_to_choose_one(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=utcnow() - utcnow())
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "moderator")
    staff = await user(platform, STAFF)
    response = await post(web_client, f"/dashboard/accounts/{staff.id}/password")
    page = await (await web_client.get(response.headers["Location"])).text()
    shown = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert shown is not None
    given = shown.group(1)
    assert "they choose their own at once" in page

    async with app_client(settings) as other:
        signed_in = await log_in(other, STAFF, given, next="/dashboard/moderation")
        assert asked_to_change(signed_in, "/dashboard/moderation")
        # Every page, and every action, sends them back to choose one.
        for path in ("/dashboard", "/dashboard/moderation", "/dashboard/c/outpatient-booking"):
            assert asked_to_change(await other.get(path, allow_redirects=False), path)
        page = await (await other.get(f"{CHANGE}?next=/dashboard/moderation")).text()
        assert "<h1>Choose a new password</h1>" in page
        assert 'href="/dashboard/moderation"' not in page  # the bar offers no way round
        assert "Log out" in page
        csrf = form_fields(page, CHANGE)["csrf"]
        acknowledge = f"/dashboard/moderation/{case_id}/acknowledge"
        refused = await other.post(acknowledge, data={"csrf": csrf}, allow_redirects=False)
        assert asked_to_change(refused)
        async with platform.sessionmaker() as session:
            case = await session.get(ModerationCase, case_id)
        assert case is not None and case.status == "open"

        # The same rules as every password, and the one given is not kept.
        for current, new, again, said in (
            ("not it at all", NEW, NEW, "That is not your current password."),
            (given, NEW, NEW + "!", "The two new passwords are not the same."),
            (given, "too short", "too short", "Use at least 12 characters"),
            (given, "x" * 1025, "x" * 1025, "Use at most 1024 characters"),
            (given, given, given, "Choose a password other than the one you have now."),
        ):
            response = await change(other, current, new, again)
            assert response.status == 400
            assert said in await response.text()
            assert (await user(platform, STAFF)).must_change_password

        chosen = await change(other, given, NEW, at=f"{CHANGE}?next=/dashboard/moderation")
        assert chosen.status == 303
        assert sent_to(chosen) == (CHANGE, {"done": "changed", "next": "/dashboard/moderation"})
        page = await (await other.get(chosen.headers["Location"])).text()
        assert "Your password is changed." in page
        assert 'href="/dashboard/moderation"' in page
        assert (await other.get("/dashboard/moderation", allow_redirects=False)).status == 200

    staff = await user(platform, STAFF)
    assert not staff.must_change_password
    assert auth.verify_password(NEW, staff.password_hash)
    trail = await audit_trail(platform)
    changes = [(a, action, d) for a, action, s, d in trail if s == f"user:{staff.id}"]
    assert changes == [
        (ADMIN, "user.password", {"email": STAFF, "password": "generated", "must_change": True}),
        (STAFF, "password.failed", None),
        (STAFF, "user.password", {"email": STAFF, "password": "changed"}),
    ]
    assert NEW not in str(trail) and given not in str(trail)


async def test_signing_out_is_open_while_a_password_is_due(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, STAFF, "viewer")
    async with platform.sessionmaker.begin() as session:
        staff = await accounts.require_active(session, STAFF)
        staff.must_change_password = True
    assert asked_to_change(await log_in(web_client, STAFF))
    page = await (await web_client.get(CHANGE)).text()
    csrf = form_fields(page, "/dashboard/logout")["csrf"]
    response = await web_client.post("/dashboard/logout", data={"csrf": csrf})
    assert response.status == 200 and "You have logged out" in await response.text()
    assert (await web_client.get(CHANGE, allow_redirects=False)).status == 303


async def test_anyone_changes_their_own_password_and_their_other_sessions_end(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "viewer")
    viewer = "viewer@health.example"
    page = await (await web_client.get("/dashboard")).text()
    assert f'href="{CHANGE}"' in page  # in the bar, for every role
    page = await (await web_client.get(CHANGE)).text()
    assert "<h1>Change your password</h1>" in page
    async with app_client(settings) as elsewhere:
        assert (await log_in(elsewhere, viewer)).status == 303
        assert (await elsewhere.get("/dashboard", allow_redirects=False)).status == 200

        chosen = await change(web_client, PASSWORD, NEW)

        assert chosen.status == 303
        assert sent_to(chosen) == (CHANGE, {"done": "changed", "next": "/dashboard"})
        # This session carries on; the other one is over.
        assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
        assert (await elsewhere.get("/dashboard", allow_redirects=False)).status == 303
        async with platform.sessionmaker() as session:
            ended = list(await session.scalars(select(UserSession.ended_at)))
        assert sorted(moment is not None for moment in ended) == [False, True]
        elsewhere.session.cookie_jar.clear()
        assert (await log_in(elsewhere, viewer, PASSWORD)).status == 200  # the old one fails
        assert (await log_in(elsewhere, viewer, NEW)).status == 303
    account = await user(platform, viewer)
    changed = {"email": viewer, "password": "changed"}
    assert (viewer, "user.password", f"user:{account.id}", changed) in await audit_trail(platform)


async def test_a_change_whose_password_moved_meanwhile_stores_nothing(platform: Platform) -> None:
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    async with platform.sessionmaker.begin() as session:
        changed = await accounts.change_own(
            session,
            staff.id,
            "the hash read before another change",
            auth.hash_password(NEW),
            session_id="none",
            now=utcnow(),
        )
    assert changed is None
    assert (await user(platform, STAFF)).password_hash == staff.password_hash
    assert await audit_trail(platform) == []


async def test_wrong_current_passwords_are_throttled_as_sign_ins(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "viewer")
    statuses = [(await change(web_client, "a wrong guess", NEW)).status for _ in range(6)]
    assert statuses == [400, 400, 400, 400, 400, 429]  # five checks, as for signing in
    assert "Too many attempts" in await (await change(web_client, PASSWORD, NEW)).text()
    kept = (await user(platform, "viewer@health.example")).password_hash
    assert auth.verify_password(PASSWORD, kept)


async def test_a_generated_password_from_the_command_line_is_changed_at_the_first_sign_in(
    env: Path,
    platform: Platform,
    web_client: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As `make run` makes its demo admin: usable, once its password is chosen.
    code, out, err = await run(
        capsys, "user", "add", ADMIN, "--role", "admin", "--generate-password", "--exists-ok"
    )
    assert code == 0, err
    assert f"{ADMIN} chooses a new password at the next sign-in" in out
    given = out.split("keep it safe): ")[1].strip()
    assert asked_to_change(await log_in(web_client, ADMIN, given))
    assert asked_to_change(
        await web_client.get("/dashboard/accounts", allow_redirects=False), "/dashboard/accounts"
    )
    assert (await change(web_client, given, NEW)).status == 303
    assert (await web_client.get("/dashboard/accounts", allow_redirects=False)).status == 200

    # A password made for someone with `engage user password` is for one sign-in too.
    await add_user(platform, STAFF, "viewer")
    code, out, err = await run(capsys, "user", "password", STAFF, "--generate-password")
    assert code == 0, err
    made = out.split("keep it safe): ")[1].strip()
    web_client.session.cookie_jar.clear()
    assert asked_to_change(await log_in(web_client, STAFF, made))


async def test_a_password_piped_to_the_command_line_signs_in_straight_to_the_dashboard(
    env: Path,
    platform: Platform,
    web_client: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An operator adds their own account, piping the password they chose.
    monkeypatch.setattr("sys.stdin", io.StringIO("the operator's own password\n"))
    code, out, err = await run(capsys, "user", "add", ADMIN, "--role", "admin")
    assert code == 0, err
    assert "chooses a new password" not in out

    signed_in = await log_in(web_client, ADMIN, "the operator's own password")

    assert (signed_in.status, signed_in.headers["Location"]) == (303, "/dashboard")
    home = await web_client.get("/dashboard", allow_redirects=False)
    assert home.status == 200
    assert "<h1>Choose a new password</h1>" not in await home.text()
    page = await web_client.get("/dashboard/accounts", allow_redirects=False)
    assert page.status == 200
    # Listed as active, with no new password due.
    row = re.search(rf'<th scope="row">{ADMIN}</th>(.*?)</tr>', await page.text(), re.S)
    assert row is not None and row.group(1).strip().endswith('active">active</span></td>')
    assert not (await user(platform, ADMIN)).must_change_password

    # A new password piped to `engage user password` is ready to use too.
    await add_user(platform, STAFF, "viewer")
    monkeypatch.setattr("sys.stdin", io.StringIO("typed by the administrator\n"))
    code, out, err = await run(capsys, "user", "password", STAFF)
    assert code == 0, err
    assert "chooses a new password" not in out
    web_client.session.cookie_jar.clear()
    signed_in = await log_in(web_client, STAFF, "typed by the administrator")
    assert (signed_in.status, signed_in.headers["Location"]) == (303, "/dashboard")
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200


@pytest.mark.parametrize("command", ["add", "password"])
async def test_a_temporary_password_from_the_command_line_is_changed_at_the_first_sign_in(
    env: Path,
    platform: Platform,
    web_client: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    if command == "password":
        await add_user(platform, STAFF, "viewer")
        args = ["password", STAFF, "--temporary"]
    else:
        args = ["add", STAFF, "--role", "viewer", "--temporary"]
    monkeypatch.setattr("sys.stdin", io.StringIO("typed by the administrator\n"))

    code, out, err = await run(capsys, "user", *args)

    assert code == 0, err
    assert f"{STAFF} chooses a new password at the next sign-in" in out
    assert asked_to_change(await log_in(web_client, STAFF, "typed by the administrator"))
    assert asked_to_change(await web_client.get("/dashboard", allow_redirects=False))
    assert (await change(web_client, "typed by the administrator", NEW)).status == 303
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
