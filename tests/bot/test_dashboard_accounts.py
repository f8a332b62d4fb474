"""The dashboard's Accounts page (admins only), and what account changes do to the
sessions already signed in, from the dashboard and from `engage user ...`."""

from __future__ import annotations

import asyncio
import getpass
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.platform import Platform
from bot.web import auth
from bot.web.app import DASHBOARD
from bot.web.dashboard import shown_once
from storage.tables import User, utcnow
from tests.bot.test_dashboard import (
    PASSWORD,
    Client,
    add_user,
    app_client,
    as_role,
    audit_trail,
    csrf_of,
    log_in,
)
from tests.helpers import engage, form_fields

ADMIN = "admin@health.example"
STAFF = "staff@health.example"


async def user(platform: Platform, email: str) -> User:
    async with platform.sessionmaker() as session:
        found = await session.scalar(select(User).where(User.email == email))
        assert found is not None
        return found


async def post(client: Client, path: str, **data: str) -> Any:
    """Post a form of the accounts page with the session's CSRF token; not followed."""
    csrf = await csrf_of(client)
    return await client.post(path, data={"csrf": csrf, **data}, allow_redirects=False)


async def staff_signed_in(platform: Platform, settings: Any, role: str = "moderator") -> Any:
    """An account of ``role`` and a second client (another person's browser) signed in."""
    await add_user(platform, STAFF, role)
    return app_client(settings)


async def test_admin_sees_every_account_without_passwords(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "lead")
    staff = await user(platform, STAFF)

    response = await web_client.get("/dashboard/accounts")

    assert response.status == 200
    page = await response.text()
    assert "<h1>Accounts</h1>" in page
    assert '<a href="/dashboard/accounts">Accounts</a>' in page
    assert re.search(rf'<th scope="row">{STAFF}</th>\s*<td>lead</td>', page)
    assert re.search(rf'<th scope="row">{ADMIN}</th>\s*<td>admin</td>', page)
    assert "argon2" not in page and staff.password_hash not in page
    # One form for each change, under the session's CSRF token.
    for change in ("role", "password", "remove"):
        fields = form_fields(page, f"/dashboard/accounts/{staff.id}/{change}")
        assert fields["csrf"] == await csrf_of(web_client)
    assert '<label for="role-' in page and '<select id="role-' in page


@pytest.mark.parametrize("role", ["lead", "moderator", "viewer"])
async def test_other_roles_are_refused_and_the_attempt_audited(
    platform: Platform, web_client: Client, role: str
) -> None:
    await as_role(platform, web_client, role)
    await add_user(platform, STAFF, "admin")
    staff = await user(platform, STAFF)
    home = await (await web_client.get("/dashboard")).text()
    assert "/dashboard/accounts" not in home  # no link to a page they may not see

    assert (await web_client.get("/dashboard/accounts")).status == 403
    for change, data in (
        ("role", {"role": "viewer"}),
        ("remove", {"confirm": "yes"}),
        ("password", {}),
    ):
        response = await post(web_client, f"/dashboard/accounts/{staff.id}/{change}", **data)
        assert response.status == 403, change
        assert "does not allow this" in await response.text()

    after = await user(platform, STAFF)
    assert (after.role, after.removed_at, after.password_hash) == (
        "admin",
        None,
        staff.password_hash,
    )
    denied = [row for row in await audit_trail(platform) if row[1] == "access.denied"]
    assert denied == [
        (
            f"{role}@health.example",
            "access.denied",
            path,
            {"method": method, "role": role, "needs": "accounts"},
        )
        for method, path in (
            ("GET", "/dashboard/accounts"),
            ("POST", f"/dashboard/accounts/{staff.id}/role"),
            ("POST", f"/dashboard/accounts/{staff.id}/remove"),
            ("POST", f"/dashboard/accounts/{staff.id}/password"),
        )
    ]
    assert not [row for row in await audit_trail(platform) if row[1].startswith("user.")]


async def test_a_role_change_applies_to_a_live_session_at_once(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    async with await staff_signed_in(platform, settings, "admin") as other:
        assert (await log_in(other, STAFF)).status == 303
        assert (await other.get("/dashboard/accounts")).status == 200
        staff = await user(platform, STAFF)

        response = await post(web_client, f"/dashboard/accounts/{staff.id}/role", role="viewer")

        assert response.status == 303
        assert response.headers["Location"] == "/dashboard/accounts?done=role"
        page = await (await web_client.get(response.headers["Location"])).text()
        assert "The role is changed." in page
        assert (await user(platform, STAFF)).role == "viewer"
        # The demoted admin's old session: still signed in, but no admin page any more.
        assert (await other.get("/dashboard/accounts")).status == 403
        assert f"{STAFF} (viewer)" in await (await other.get("/dashboard")).text()
    trail = await audit_trail(platform)
    assert (
        ADMIN,
        "user.role",
        f"user:{staff.id}",
        {"email": STAFF, "from": "admin", "to": "viewer"},
    ) in trail


async def test_an_unknown_role_changes_nothing(platform: Platform, web_client: Client) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    response = await post(web_client, f"/dashboard/accounts/{staff.id}/role", role="owner")
    assert response.status == 400
    assert (await user(platform, STAFF)).role == "viewer"


async def test_removal_needs_the_box_ticked_then_ends_the_live_session(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    async with await staff_signed_in(platform, settings) as other:
        assert (await log_in(other, STAFF)).status == 303
        staff = await user(platform, STAFF)

        unticked = await post(web_client, f"/dashboard/accounts/{staff.id}/remove")
        assert unticked.headers["Location"] == "/dashboard/accounts?done=confirm"
        assert (await user(platform, STAFF)).removed_at is None
        assert (await other.get("/dashboard", allow_redirects=False)).status == 200

        response = await post(web_client, f"/dashboard/accounts/{staff.id}/remove", confirm="yes")

        assert response.headers["Location"] == "/dashboard/accounts?done=removed"
        # The leaver's open page: the next request goes to the login form.
        answer = await other.get("/dashboard", allow_redirects=False)
        assert answer.status == 303
        assert answer.headers["Location"].startswith("/dashboard/login")
        other.session.cookie_jar.clear()
        refused = await log_in(other, STAFF)
        assert refused.status == 200
        assert "That email and password do not match an account." in await refused.text()
    page = await (await web_client.get("/dashboard/accounts?done=removed")).text()
    assert "The account is removed" in page
    assert re.search(rf'<th scope="row">{STAFF}</th>.*?state-removed', page, re.S)
    assert f"/dashboard/accounts/{staff.id}/remove" not in page  # no changes offered
    removed = await user(platform, STAFF)
    assert removed.removed_at is not None  # the row stays, for the audit trail
    trail = await audit_trail(platform)
    assert (
        ADMIN,
        "user.remove",
        f"user:{staff.id}",
        {"email": STAFF, "role": "moderator"},
    ) in trail
    assert (STAFF, "login.failed", f"user:{staff.id}", None) in trail


async def test_a_session_of_an_account_marked_removed_is_refused(
    platform: Platform, web_client: Client
) -> None:
    # Marked removed some other way than `remove` (which also ends the sessions): the
    # session is refused all the same, since the account is read on every request.
    await as_role(platform, web_client, "viewer")
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(User).values(removed_at=utcnow()))
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def shown_password(client: Client, response: Any) -> str:
    """The password on the page a reset redirects to (followed once)."""
    assert response.status == 303
    page = await (await client.get(response.headers["Location"])).text()
    shown = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert shown is not None, page
    return shown.group(1)


async def test_a_password_reset_is_shown_once_and_ends_the_old_sessions(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    async with await staff_signed_in(platform, settings) as other:
        assert (await log_in(other, STAFF)).status == 303
        staff = await user(platform, STAFF)

        response = await post(web_client, f"/dashboard/accounts/{staff.id}/password")

        # Post, redirect, get: the page that shows it is asked for with a GET.
        assert response.headers["Location"] == f"/dashboard/accounts/{staff.id}/new-password"
        shown = await web_client.get(response.headers["Location"])
        assert shown.status == 200
        page = await shown.text()
        assert f"<h1>New password for {STAFF}</h1>" in page
        found = re.search(r'<code class="secret">([^<]+)</code>', page)
        assert found is not None
        password = found.group(1)
        assert len(password) >= 12 and password != PASSWORD
        assert password not in response.headers["Location"]
        assert shown.headers["Cache-Control"] == "no-store"
        assert (await other.get("/dashboard", allow_redirects=False)).status == 303
        other.session.cookie_jar.clear()
        assert (await log_in(other, STAFF, PASSWORD)).status == 200  # the old one fails
        assert (await log_in(other, STAFF, password)).status == 303
    listing = await (await web_client.get("/dashboard/accounts")).text()
    assert password not in listing
    trail = await audit_trail(platform)
    assert (
        ADMIN,
        "user.password",
        f"user:{staff.id}",
        {"email": STAFF, "password": "generated", "must_change": True},
    ) in trail
    assert password not in str(trail)


async def test_reloading_the_new_password_page_makes_and_shows_no_other(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    response = await post(web_client, f"/dashboard/accounts/{staff.id}/password")
    shown_at = response.headers["Location"]
    password = await shown_password(web_client, response)

    reloaded = await web_client.get(shown_at)

    assert reloaded.status == 200
    page = await reloaded.text()
    assert password not in page and 'class="secret"' not in page
    assert f"A new password for {STAFF} is shown once, just after it is made" in page
    stored = (await user(platform, STAFF)).password_hash
    assert auth.verify_password(password, stored)  # the one shown still stands
    resets = [e for e in await audit_trail(platform) if e[1] == "user.password"]
    assert len(resets) == 1

    # The address, copied to another admin's browser, shows nothing either; nor does a
    # sealed password carried to another session, or to another account's page.
    await add_user(platform, "other-admin@health.example", "admin")
    async with app_client(settings) as other:
        assert (await log_in(other, "other-admin@health.example")).status == 303
        response = await post(web_client, f"/dashboard/accounts/{staff.id}/password")
        sealed = response.cookies["engage_shown_once"].value
        other.session.cookie_jar.update_cookies({"engage_shown_once": sealed})
        page = await (await other.get(shown_at)).text()
        assert 'class="secret"' not in page and "Nothing to show" in page
        admin = await user(platform, ADMIN)
        page = await (await web_client.get(f"/dashboard/accounts/{admin.id}/new-password")).text()
        assert 'class="secret"' not in page
        # Its own session, on the account's page, still shows it (once).
        assert len(await shown_password(web_client, response)) >= 12


async def test_a_made_password_waits_a_few_minutes_for_its_page(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    dashboard = web_client.server.app[DASHBOARD]
    response = await post(web_client, f"/dashboard/accounts/{staff.id}/password")
    made = utcnow()
    dashboard.clock = lambda: made + timedelta(seconds=shown_once.SECONDS + 5)
    page = await (await web_client.get(response.headers["Location"])).text()
    assert 'class="secret"' not in page and "Nothing to show" in page


async def test_ones_own_password_is_not_reset_but_changed(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    admin = await user(platform, ADMIN)
    page = await (await web_client.get("/dashboard/accounts")).text()
    assert f'action="/dashboard/accounts/{admin.id}/password"' not in page
    response = await post(web_client, f"/dashboard/accounts/{admin.id}/password")
    assert (response.status, response.headers["Location"]) == (303, "/dashboard/password")
    assert (await user(platform, ADMIN)).password_hash == admin.password_hash
    assert (await web_client.get("/dashboard/accounts")).status == 200  # still signed in
    assert [e for e in await audit_trail(platform) if e[1] == "user.password"] == []


async def test_the_last_admin_keeps_its_role_and_access(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    admin = await user(platform, ADMIN)

    demoted = await post(web_client, f"/dashboard/accounts/{admin.id}/role", role="lead")
    removed = await post(web_client, f"/dashboard/accounts/{admin.id}/remove", confirm="yes")

    for response in (demoted, removed):
        assert response.headers["Location"] == "/dashboard/accounts?done=last-admin"
    page = await (await web_client.get("/dashboard/accounts?done=last-admin")).text()
    assert "That is the last admin" in page and 'role="alert"' in page
    after = await user(platform, ADMIN)
    assert after.role == "admin" and after.removed_at is None
    assert not [row for row in await audit_trail(platform) if row[1].startswith("user.")]


async def test_an_admin_who_removes_their_own_account_is_signed_out(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "admin")
    admin = await user(platform, ADMIN)

    response = await post(web_client, f"/dashboard/accounts/{admin.id}/remove", confirm="yes")

    assert response.headers["Location"] == "/dashboard/login"
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_an_admin_who_gives_up_the_role_goes_back_to_the_consultations(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "admin")
    admin = await user(platform, ADMIN)

    response = await post(web_client, f"/dashboard/accounts/{admin.id}/role", role="lead")

    assert response.headers["Location"] == "/dashboard"
    assert (await user(platform, ADMIN)).role == "lead"
    assert (await web_client.get("/dashboard/accounts")).status == 403


async def test_unknown_accounts_are_not_found_and_forms_need_their_token(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    for target in ("999999", "abc", "²", "9" * 30):
        response = await post(web_client, f"/dashboard/accounts/{target}/role", role="lead")
        assert response.status == 404, target
        assert "There is no account at this address." in await response.text()
    forged = await web_client.post(
        f"/dashboard/accounts/{staff.id}/role",
        data={"csrf": "0" * 40, "role": "admin"},
        allow_redirects=False,
    )
    assert forged.status == 403
    assert (await user(platform, STAFF)).role == "viewer"


# -- the command line against live dashboard sessions --------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """`engage` in a thread: it runs an event loop of its own."""
    return asyncio.to_thread(engage, capsys, *args)


async def test_a_leaver_removed_on_the_command_line_is_signed_out_at_once(
    env: Path, platform: Platform, web_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_user(platform, STAFF, "lead")
    assert (await log_in(web_client, STAFF)).status == 303
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
    staff = await user(platform, STAFF)

    code, out, err = await run(capsys, "user", "remove", STAFF)

    assert code == 0, err
    answer = await web_client.get("/dashboard", allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"].startswith("/dashboard/login")
    # Its token is refused for forms too: the CSRF guard sends it to the login form.
    forged = await web_client.post("/dashboard/logout", data={"csrf": "x"}, allow_redirects=False)
    assert forged.status == 303
    trail = await audit_trail(platform)
    assert (
        f"cli:{getpass.getuser()}",
        "user.remove",
        f"user:{staff.id}",
        {"email": STAFF, "role": "lead"},
    ) in trail


async def test_a_password_set_on_the_command_line_ends_the_sessions(
    env: Path,
    platform: Platform,
    web_client: Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_user(platform, STAFF, "viewer")
    assert (await log_in(web_client, STAFF)).status == 303
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))

    code, _, err = await run(capsys, "user", "password", STAFF)

    assert code == 0, err
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303
    web_client.session.cookie_jar.clear()
    assert (await log_in(web_client, STAFF, "another long password")).status == 303


async def test_a_role_set_on_the_command_line_applies_to_the_live_session(
    env: Path, platform: Platform, web_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_user(platform, "other@health.example", "admin")
    await as_role(platform, web_client, "admin")
    assert (await web_client.get("/dashboard/accounts")).status == 200

    code, _, err = await run(capsys, "user", "role", ADMIN, "--role", "moderator")

    assert code == 0, err
    assert (await web_client.get("/dashboard/accounts")).status == 403
    assert (await web_client.get("/dashboard/moderation")).status == 200


async def test_the_last_sign_in_is_recorded_and_listed(
    env: Path, platform: Platform, web_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_user(platform, STAFF, "viewer")
    code, out, _ = await run(capsys, "user", "list", "--json")
    assert json.loads(out)[0]["last_login_at"] is None

    assert (await log_in(web_client, STAFF)).status == 303

    signed_in = (await user(platform, STAFF)).last_login_at
    assert signed_in is not None
    code, out, _ = await run(capsys, "user", "list", "--json")
    assert code == 0
    assert json.loads(out)[0]["last_login_at"] == signed_in.isoformat()
    code, out, _ = await run(capsys, "user", "list")
    assert signed_in.strftime("%Y-%m-%d %H:%M") in out.splitlines()[1]


# -- adding an account on the dashboard ----------------------------------------------------

NEWCOMER = "newcomer@health.example"
ADD = "/dashboard/accounts/add"


def sent_to_choose(response: Any) -> bool:
    """Whether a response sends the browser to choose its own password first."""
    return response.status == 303 and response.headers["Location"].startswith(
        "/dashboard/password?"
    )


async def test_an_admin_adds_an_account_whose_password_is_shown_once_and_changed_first(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    page = await (await web_client.get("/dashboard/accounts")).text()
    assert "<h2>Add an account</h2>" in page
    assert form_fields(page, ADD)["csrf"] == await csrf_of(web_client)
    assert '<label for="add-email">Email</label>' in page
    assert '<label for="add-role">Role</label>' in page

    response = await post(web_client, ADD, email=" Newcomer@Health.example ", role="moderator")

    # Post, redirect, get, as a reset: the password is on the page, never in the address.
    assert response.status == 303
    newcomer = await user(platform, NEWCOMER)
    shown_at = response.headers["Location"]
    assert shown_at == f"/dashboard/accounts/{newcomer.id}/new-password"
    shown = await web_client.get(shown_at)
    assert shown.status == 200
    assert shown.headers["Cache-Control"] == "no-store"
    page = await shown.text()
    assert f"<h1>New account for {NEWCOMER}</h1>" in page
    assert "as moderator" in page and "It works for one sign-in" in page
    found = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert found is not None
    password = found.group(1)
    assert len(password) >= 20 and password not in shown_at
    assert password not in str(response.headers)  # sealed in its cookie, not in the clear

    # Shown once: a reload shows it no more, and makes no other.
    again = await (await web_client.get(shown_at)).text()
    assert password not in again and 'class="secret"' not in again
    assert "Nothing to show" in again
    newcomer = await user(platform, NEWCOMER)
    assert (newcomer.role, newcomer.removed_at) == ("moderator", None)
    assert newcomer.must_change_password
    assert auth.verify_password(password, newcomer.password_hash)  # only its hash is kept
    listing = await (await web_client.get("/dashboard/accounts")).text()
    assert password not in listing and newcomer.password_hash not in listing
    row = re.search(rf'<th scope="row">{NEWCOMER}</th>(.*?)</tr>', listing, re.S)
    assert row is not None and "new password due" in row.group(1)

    # The newcomer signs in with it, and chooses their own before anything else.
    async with app_client(settings) as theirs:
        signed_in = await log_in(theirs, NEWCOMER, password)
        assert sent_to_choose(signed_in)
        assert sent_to_choose(await theirs.get("/dashboard/moderation", allow_redirects=False))
        page = await (await theirs.get(signed_in.headers["Location"])).text()
        assert "<h1>Choose a new password</h1>" in page
        fields = form_fields(page, "/dashboard/password")
        fields.update(
            current_password=password,
            new_password="the newcomer's own password",
            new_password_again="the newcomer's own password",
        )
        chosen = await theirs.post("/dashboard/password", data=fields, allow_redirects=False)
        assert chosen.status == 303
        assert (await theirs.get("/dashboard/moderation", allow_redirects=False)).status == 200

    trail = await audit_trail(platform)
    assert (
        ADMIN,
        "user.add",
        f"user:{newcomer.id}",
        {"email": NEWCOMER, "role": "moderator", "must_change": True},
    ) in trail
    assert password not in str(trail) and "the newcomer's own password" not in str(trail)


@pytest.mark.parametrize("role", ["lead", "moderator", "viewer"])
async def test_other_roles_cannot_add_an_account(
    platform: Platform, web_client: Client, role: str
) -> None:
    await as_role(platform, web_client, role)

    response = await post(web_client, ADD, email=NEWCOMER, role="admin")

    assert response.status == 403
    assert "does not allow this" in await response.text()
    assert "engage_shown_once" not in response.cookies
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == NEWCOMER)) is None
    trail = await audit_trail(platform)
    assert (
        f"{role}@health.example",
        "access.denied",
        ADD,
        {"method": "POST", "role": role, "needs": "accounts"},
    ) in trail
    assert not [row for row in trail if row[1].startswith("user.")]


async def test_adding_an_account_needs_the_forms_token(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    forged = await web_client.post(
        ADD, data={"csrf": "0" * 40, "email": NEWCOMER, "role": "admin"}, allow_redirects=False
    )
    assert forged.status == 403
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == NEWCOMER)) is None
    assert not [row for row in await audit_trail(platform) if row[1].startswith("user.")]


@pytest.mark.parametrize(
    ("email", "role", "said", "field"),
    [
        ("not-an-email", "viewer", "Email: “not-an-email” is not an email address.", "email"),
        ("two words@health.example", "viewer", "is not an email address.", "email"),
        ("  ", "viewer", "Email: give the email address of the person", "email"),
        ("x" * 250 + "@health.example", "viewer", "has at most 254 characters", "email"),
        (
            NEWCOMER,
            "owner",
            "Role: “owner” is not a role; choose one of admin, lead, moderator, viewer.",
            "role",
        ),
        (NEWCOMER, "", "Role: choose one of admin, lead, moderator, viewer.", "role"),
    ],
)
async def test_a_bad_email_or_role_is_named_on_the_page_and_nothing_is_added(
    platform: Platform, web_client: Client, email: str, role: str, said: str, field: str
) -> None:
    await as_role(platform, web_client, "admin")

    response = await post(web_client, ADD, email=email, role=role)

    assert response.status == 400
    page = await response.text()
    assert "<h1>Accounts</h1>" in page and "No account was added" in page
    assert said in page and 'role="alert"' in page
    # The field at fault is marked and tied to what is wrong with it; the form keeps what
    # was sent, so it can be put right.
    assert f'aria-describedby="add-{field}-error"' in page
    assert f'<li id="add-{field}-error">' in page
    if field == "role":
        assert f'value="{NEWCOMER}"' in page
    async with platform.sessionmaker() as session:
        users = list(await session.scalars(select(User.email)))
    assert users == [ADMIN]
    assert "engage_shown_once" not in response.cookies
    assert not [row for row in await audit_trail(platform) if row[1].startswith("user.")]


async def test_what_is_said_back_is_escaped_and_both_faults_are_named(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")

    response = await post(web_client, ADD, email="<script>x</script>", role="<b>root</b>")

    assert response.status == 400
    page = await response.text()
    assert "<script>x" not in page and "<b>root" not in page
    assert "Email: “&lt;script&gt;x&lt;/script&gt;” is not an email address." in page
    assert "Role: “&lt;b&gt;root&lt;/b&gt;” is not a role" in page


async def test_an_email_that_has_an_account_is_refused_saying_so(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)

    for email in (STAFF.upper(), ADMIN):
        response = await post(web_client, ADD, email=email, role="admin")

        assert response.status == 409
        page = await response.text()
        assert f"Email: {email.lower()} already has an account, so no other was added." in page
        assert 'role="alert"' in page and "engage_shown_once" not in response.cookies
    after = await user(platform, STAFF)
    assert (after.role, after.password_hash) == ("viewer", staff.password_hash)
    assert not [row for row in await audit_trail(platform) if row[1].startswith("user.")]


async def test_a_removed_account_is_given_back_with_a_one_time_password(
    platform: Platform, web_client: Client, settings: Any
) -> None:
    await as_role(platform, web_client, "admin")
    await add_user(platform, STAFF, "viewer")
    staff = await user(platform, STAFF)
    removed = await post(web_client, f"/dashboard/accounts/{staff.id}/remove", confirm="yes")
    assert removed.headers["Location"] == "/dashboard/accounts?done=removed"
    gone = (await user(platform, STAFF)).removed_at
    assert gone is not None

    response = await post(web_client, ADD, email=STAFF, role="lead")

    assert response.headers["Location"] == f"/dashboard/accounts/{staff.id}/new-password"
    page = await (await web_client.get(response.headers["Location"])).text()
    assert f"<h1>Account given back to {STAFF}</h1>" in page
    assert "is given back as lead" in page
    found = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert found is not None
    password = found.group(1)
    back = await user(platform, STAFF)
    assert (back.id, back.role, back.removed_at) == (staff.id, "lead", None)
    assert back.must_change_password
    async with app_client(settings) as theirs:
        assert (await log_in(theirs, STAFF, PASSWORD)).status == 200  # the old one is gone
        assert sent_to_choose(await log_in(theirs, STAFF, password))
    trail = await audit_trail(platform)
    assert (
        ADMIN,
        "user.restore",
        f"user:{staff.id}",
        {
            "email": STAFF,
            "role": "lead",
            "removed_at": gone.isoformat(),
            "must_change": True,
        },
    ) in trail
    assert password not in str(trail)
