"""The dashboard over HTTP: logging in, roles, CSRF, per-object checks, moderation."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot.platform import Platform
from bot.web import auth
from consultations import service
from consultations.spec import parse_spec
from storage.tables import Consultation, ModerationCase, User
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery staple"
DISCLOSURE = "Honestly I have been thinking about ending my life"


async def add_user(platform: Platform, email: str, role: str, password: str = PASSWORD) -> None:
    """A dashboard account, as ``engage user add`` makes it."""
    async with platform.sessionmaker.begin() as session:
        session.add(User(email=email, password_hash=auth.hash_password(password), role=role))


async def log_in(client: Client, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """Fill in and send the login form; the response is not followed."""
    page = await (await client.get("/dashboard/login")).text()
    fields = form_fields(page, "/dashboard/login")
    return await client.post(
        "/dashboard/login",
        data={**fields, "email": email, "password": password, **extra},
        allow_redirects=False,
    )


async def as_role(platform: Platform, client: Client, role: str) -> None:
    """Make an account with ``role`` and log in with it."""
    email = f"{role}@health.example"
    await add_user(platform, email, role)
    response = await log_in(client, email)
    assert response.status == 303


async def csrf_of(client: Client, path: str = "/dashboard") -> str:
    """The CSRF token on the forms of a dashboard page."""
    page = await (await client.get(path)).text()
    return form_fields(page, "/dashboard/logout")["csrf"]


async def state_of(platform: Platform, cid: str = "outpatient-booking") -> str:
    async with platform.sessionmaker() as session:
        row = await session.get(Consultation, cid)
        assert row is not None
        return row.state


async def disclose(client: Client) -> None:
    """A participant on the web channel writes a safety disclosure."""
    page = await (await client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await client.post("/c/outpatient-booking/consent", data={**fields, "answer": "yes"})
    ).text()
    fields = form_fields(page, "/c/outpatient-booking/answers")
    response = await client.post(
        "/c/outpatient-booking/answers", data={**fields, "item:one-thing": DISCLOSURE}
    )
    assert "Lifeline" in await response.text()


# -- logging in ---------------------------------------------------------------------------


async def test_login_opens_the_consultation_list(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    await add_user(platform, "viewer@health.example", "viewer")

    response = await log_in(web_client, "Viewer@Health.example ")

    assert response.status == 303
    assert response.headers["Location"] == "/dashboard"
    cookie = next(
        c for c in response.headers.getall("Set-Cookie") if c.startswith(auth.SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/dashboard" in cookie
    assert "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # the public URL is http here
    page = await (await web_client.get("/dashboard")).text()
    assert "Improving outpatient booking" in page
    assert 'href="/dashboard/c/outpatient-booking"' in page
    assert "viewer@health.example (viewer)" in page
    assert "Moderation queue" not in page


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, "lead@health.example", "lead")

    wrong = await log_in(web_client, "lead@health.example", "not the password at all")
    unknown = await log_in(web_client, "nobody@health.example", PASSWORD)

    for response in (wrong, unknown):
        assert response.status == 200
        assert "That email and password do not match an account." in await response.text()
        assert not any(
            c.startswith(auth.SESSION_COOKIE + "=")
            for c in response.headers.getall("Set-Cookie", [])
        )
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_repeated_failures_are_throttled_per_email(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, "lead@health.example", "lead")
    for _ in range(5):
        assert (await log_in(web_client, "lead@health.example", "guess")).status == 200

    response = await log_in(web_client, "lead@health.example")

    assert response.status == 429
    assert "Too many attempts" in await response.text()
    await add_user(platform, "viewer@health.example", "viewer")
    assert (await log_in(web_client, "viewer@health.example")).status == 303


async def test_login_form_needs_its_csrf_token(platform: Platform, web_client: Client) -> None:
    await add_user(platform, "lead@health.example", "lead")
    await web_client.get("/dashboard/login")
    response = await web_client.post(
        "/dashboard/login",
        data={"csrf": "0" * 32, "email": "lead@health.example", "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 403
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_login_returns_to_the_page_asked_for_but_never_off_site(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, "viewer@health.example", "viewer")
    response = await log_in(
        web_client, "viewer@health.example", next="/dashboard/c/outpatient-booking"
    )
    assert response.headers["Location"] == "/dashboard/c/outpatient-booking"
    for target in (
        "//evil.example/dashboard",
        "https://evil.example/",
        "/dashboard\\x",
        "/dashboard/../elsewhere",
        "/dashboard/c/x\r\nX-Header: 1",
    ):
        web_client.session.cookie_jar.clear()
        response = await log_in(web_client, "viewer@health.example", next=target)
        assert response.headers["Location"] == "/dashboard"


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/c/outpatient-booking", "/dashboard/moderation"]
)
async def test_pages_need_a_login_session(
    platform: Platform, web_client: Client, path: str
) -> None:
    response = await web_client.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/dashboard/login?next=/dashboard")
    page = await (await web_client.get(response.headers["Location"])).text()
    assert "<h1>Log in to the dashboard</h1>" in page
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page


async def test_forged_or_expired_session_cookies_are_refused(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, "admin@health.example", "admin")
    async with platform.sessionmaker() as session:
        user = await session.scalar(select(User))
        assert user is not None
    signer = auth.Signer(platform.settings.secret_key)
    expired, _ = signer.issue(user.id, "admin", user.password_hash, now=1_000_000)
    other_key, _ = auth.Signer("another-secret-key-0123456789-abcdefghij").issue(
        user.id, "admin", user.password_hash
    )
    valid, _ = signer.issue(user.id, "admin", user.password_hash)
    body, signature = valid.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    for cookie in (expired, other_key, tampered, "nonsense"):
        web_client.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: cookie})
        response = await web_client.get("/dashboard", allow_redirects=False)
        assert response.status == 303, cookie
    web_client.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: valid})
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200


async def test_changing_the_role_ends_the_session(platform: Platform, web_client: Client) -> None:
    await as_role(platform, web_client, "admin")
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(User).values(role="viewer"))
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_logout_ends_the_session(platform: Platform, web_client: Client) -> None:
    await as_role(platform, web_client, "viewer")
    jar = web_client.session.cookie_jar
    cookie = jar.filter_cookies(web_client.make_url("/dashboard"))[auth.SESSION_COOKIE].value
    csrf = await csrf_of(web_client)

    refused = await web_client.post("/dashboard/logout", data={"csrf": "x" * 32})
    assert refused.status == 403
    response = await web_client.post("/dashboard/logout", data={"csrf": csrf})

    assert response.status == 200
    assert "You have logged out" in await response.text()
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303
    # The old cookie, kept by someone, no longer works either.
    web_client.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: cookie})
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


# -- consultations ---------------------------------------------------------------------


async def test_consultation_page_shows_counts_and_the_public_link(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await web_client.post("/c/outpatient-booking/consent", data={**fields, "answer": "yes"})
    ).text()
    fields = form_fields(page, "/c/outpatient-booking/answers")
    await web_client.post(
        "/c/outpatient-booking/answers",
        data={**fields, "item:ease": "Hard", "item:one-thing": "Evening appointments"},
    )
    await as_role(platform, web_client, "viewer")

    response = await web_client.get("/dashboard/c/outpatient-booking")

    assert response.status == 200
    page = await response.text()
    assert "<h1>Improving outpatient booking</h1>" in page
    assert "2 responses from 1 participant." in page
    rows = dict(
        re.findall(
            r'<span class="hint">([a-z-]+)</span></th><td>\w+</td><td class="num">(\d+)<', page
        )
    )
    assert rows == {"ease": "1", "one-thing": "1", "reminder": "0"}
    states = dict(
        re.findall(r'<th scope="row">(\w+)</th><td>[^<]*</td><td class="num">(\d+)<', page)
    )
    # every question answered; the discussion thread stays open but is not a step
    assert states == {"finished": "1"}
    assert 'href="http://127.0.0.1:8080/c/outpatient-booking"' in page
    assert "Evening appointments" not in page  # free text is for reports, not this page
    assert "Close consultation" not in page  # a viewer has no such button
    assert 'href="/dashboard/c/outpatient-booking/report?stage=plan"' in page
    assert page.count("<h1>") == 1


async def test_security_headers_on_every_page(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    login = await web_client.get("/dashboard/login")
    await as_role(platform, web_client, "admin")
    for response in (
        login,
        await web_client.get("/dashboard"),
        await web_client.get("/dashboard/c/outpatient-booking"),
        await web_client.get("/dashboard/c/no-such-thing"),
        await web_client.get("/dashboard/moderation"),
    ):
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


async def test_lead_closes_a_consultation(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    await as_role(platform, web_client, "lead")
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    fields = form_fields(page, "/dashboard/c/outpatient-booking/close")

    response = await web_client.post("/dashboard/c/outpatient-booking/close", data=fields)

    assert response.status == 200
    assert str(response.url).endswith("/dashboard/c/outpatient-booking?done=closed")
    page = await response.text()
    assert "The consultation is closed." in page
    assert "Close consultation" not in page
    assert await state_of(platform) == service.CLOSED
    public = await web_client.get("/c/outpatient-booking")
    assert "has closed and is no longer taking answers" in await public.text()


async def test_lead_launches_a_draft(platform: Platform, web_client: Client) -> None:
    spec = parse_spec(spec_data(channels=["web", "telegram"]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    await as_role(platform, web_client, "lead")
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    fields = form_fields(page, "/dashboard/c/outpatient-booking/launch")

    response = await web_client.post("/dashboard/c/outpatient-booking/launch", data=fields)

    page = await response.text()
    assert "The consultation is open." in page
    assert "Not configured here, so not published: telegram." in page
    assert await state_of(platform) == service.OPEN
    assert "Before you start" in await (await web_client.get("/c/outpatient-booking")).text()


async def test_viewer_cannot_close(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    await as_role(platform, web_client, "viewer")
    csrf = await csrf_of(web_client)

    response = await web_client.post("/dashboard/c/outpatient-booking/close", data={"csrf": csrf})

    assert response.status == 403
    assert "Your role (viewer) does not allow this." in await response.text()
    assert await state_of(platform) == service.OPEN


async def test_posts_without_the_csrf_token_change_nothing(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    await as_role(platform, web_client, "admin")
    signer = auth.Signer(platform.settings.secret_key)
    _, other_session = signer.issue(1, "admin", "x")
    wrong = signer.csrf(other_session.nonce)
    for data in ({}, {"csrf": ""}, {"csrf": wrong}):
        response = await web_client.post("/dashboard/c/outpatient-booking/close", data=data)
        assert response.status == 403
        assert "This form has expired" in await response.text()
    assert await state_of(platform) == service.OPEN


async def test_unknown_ids_are_not_found(platform: Platform, web_client: Client) -> None:
    await as_role(platform, web_client, "admin")
    csrf = await csrf_of(web_client)
    for method, path in [
        ("GET", "/dashboard/c/no-such-thing"),
        ("GET", "/dashboard/c/no-such-thing/report"),
        ("POST", "/dashboard/c/no-such-thing/close"),
        ("POST", "/dashboard/c/no-such-thing/launch"),
        ("POST", "/dashboard/moderation/999/resolve"),
        ("POST", "/dashboard/moderation/abc/resolve"),
    ]:
        response = await web_client.request(method, path, data={"csrf": csrf})
        assert response.status == 404, path
        assert "<h1>Not found</h1>" in await response.text()


# -- moderation ---------------------------------------------------------------------------


async def test_moderator_sees_the_queue_and_resolves_a_case(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    await as_role(platform, web_client, "moderator")

    page = await (await web_client.get("/dashboard/moderation")).text()

    assert DISCLOSURE in page
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None and case.status == "open"
    action = f"/dashboard/moderation/{case.id}/resolve"
    response = await web_client.post(
        action, data={**form_fields(page, action), "note": "Called back; referred to the GP."}
    )
    page = await response.text()
    assert "The case is marked resolved." in page
    assert DISCLOSURE not in page
    assert "No open cases." in page
    async with platform.sessionmaker() as session:
        resolved = await session.get(ModerationCase, case.id)
        assert resolved is not None
        assert resolved.status == "resolved" and resolved.resolved_at is not None


@pytest.mark.parametrize("role", ["viewer", "lead"])
async def test_other_roles_never_see_safety_texts(
    platform: Platform, web_client: Client, role: str
) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    await as_role(platform, web_client, role)

    queue = await web_client.get("/dashboard/moderation")
    assert queue.status == 403
    assert DISCLOSURE not in await queue.text()
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert "1 safety case needs a moderator." in page
    assert DISCLOSURE not in page
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
    csrf = await csrf_of(web_client)
    response = await web_client.post(
        f"/dashboard/moderation/{case.id}/resolve", data={"csrf": csrf, "note": "done"}
    )
    assert response.status == 403


# -- reports ----------------------------------------------------------------------------------


async def test_report_for_a_stage(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    await as_role(platform, web_client, "viewer")

    response = await web_client.get("/dashboard/c/outpatient-booking/report?stage=study")

    assert response.status == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    page = await response.text()
    assert "Improving outpatient booking" in page
    assert "study" in page
    assert DISCLOSURE not in page
    bad = await web_client.get("/dashboard/c/outpatient-booking/report?stage=later")
    assert bad.status == 400


async def test_report_defaults_to_the_consultations_stage(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    await as_role(platform, web_client, "viewer")

    default = await web_client.get("/dashboard/c/outpatient-booking/report")
    chosen = await web_client.get("/dashboard/c/outpatient-booking/report?stage=act")

    assert default.status == 200 and chosen.status == 200
    assert "<title>Improving outpatient booking: plan report</title>" in await default.text()
    assert "<title>Improving outpatient booking: act report</title>" in await chosen.text()
    assert chosen.headers["X-Content-Type-Options"] == "nosniff"


# -- the parts on their own -----------------------------------------------------------------


async def test_cookies_are_secure_behind_https(platform: Platform) -> None:
    from aiohttp import web

    from bot.web.dashboard import Dashboard

    behind_https = dataclasses.replace(
        platform,
        settings=dataclasses.replace(platform.settings, public_url="https://engage.example"),
    )
    response = web.Response()
    Dashboard(behind_https)._set_cookie(response, auth.SESSION_COOKIE, "value", 60)
    morsel = response.cookies[auth.SESSION_COOKIE]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    plain = web.Response()
    Dashboard(platform)._set_cookie(plain, auth.SESSION_COOKIE, "value", 60)
    assert not plain.cookies[auth.SESSION_COOKIE]["secure"]


def test_passwords_hash_and_verify() -> None:
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$")
    assert auth.verify_password(PASSWORD, stored)
    assert not auth.verify_password(PASSWORD + "!", stored)
    assert not auth.verify_password(PASSWORD, "md5$abc")
    assert not auth.verify_password(PASSWORD, "scrypt$x$y$z$salt$digest")


def test_roles_carry_what_they_should() -> None:
    table = {
        role: sorted(p for p in (auth.READ, auth.MODERATE, auth.MANAGE) if auth.allowed(role, p))
        for role in (*auth.ROLES, "stranger")
    }
    assert table == {
        "admin": ["manage", "moderate", "read"],
        "lead": ["manage", "read"],
        "moderator": ["moderate", "read"],
        "viewer": ["read"],
        "stranger": [],
    }


def test_throttle_forgets_old_failures() -> None:
    throttle = auth.LoginThrottle(limit=2, window=60, max_tracked=2)
    throttle.failed("a@x", now=0)
    throttle.failed("a@x", now=1)
    assert throttle.blocked("a@x", now=30)
    assert not throttle.blocked("a@x", now=62)
    throttle.failed("b@x", now=100)
    throttle.failed("c@x", now=100)
    throttle.failed("d@x", now=100)  # over max_tracked: the oldest entry goes
    assert len(throttle._failures) <= 2
