"""The dashboard over HTTP: logging in, sessions, the sign-in throttle, roles, CSRF,
per-object checks, moderation."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from sqlalchemy import delete, select, update

from bot.config import Settings
from bot.platform import Platform, configured_adapters, create_platform
from bot.web import auth
from bot.web.app import DASHBOARD, create_app
from channels.adapter import ChannelAdapter, PublishedPost
from consultations import service
from consultations.spec import ConsultationSpec, parse_spec
from storage.tables import (
    AuditEvent,
    Consultation,
    ModerationCase,
    SignInThrottle,
    User,
    UserSession,
    utcnow,
)
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery staple"
DISCLOSURE = "Honestly I have been thinking about ending my life"
LEAD = "lead@health.example"
# The client address a request comes from, as a reverse proxy would pass it on.
CLIENT_HEADER = "X-Test-Client-Address"


async def add_user(
    platform: Platform, email: str, role: str, password: str = PASSWORD, *, stored: str = ""
) -> None:
    """A dashboard account, as ``engage user add`` makes it (or with a given hash)."""
    async with platform.sessionmaker.begin() as session:
        session.add(
            User(email=email, password_hash=stored or auth.hash_password(password), role=role)
        )


async def log_in(
    client: Client,
    email: str,
    password: str = PASSWORD,
    *,
    address: str | None = None,
    **extra: str,
) -> Any:
    """Fill in and send the login form (from ``address``); the response is not followed."""
    headers = {CLIENT_HEADER: address} if address else {}
    page = await (await client.get("/dashboard/login", headers=headers)).text()
    fields = form_fields(page, "/dashboard/login")
    return await client.post(
        "/dashboard/login",
        data={**fields, "email": email, "password": password, **extra},
        headers=headers,
        allow_redirects=False,
    )


@web.middleware
async def client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stands in for a reverse proxy: the client address comes from a request header."""
    address = request.headers.get(CLIENT_HEADER)
    return await handler(request.clone(remote=address) if address else request)


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[Client]:
    """A client of a new app with a platform of its own: another worker, or a restart."""
    platform = create_platform(settings)
    app = create_app(settings, platform=platform, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()
    app.middlewares.insert(0, client_address)
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        await platform.aclose()


def session_cookie(client: Client) -> str:
    """The session token in a client's cookie jar."""
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard"))
    return jar[auth.SESSION_COOKIE].value


async def age_sessions(platform: Platform, **ago: timedelta) -> None:
    """Move every session's timestamps (``created_at``, ``last_seen_at``) into the past."""
    now = utcnow()
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(UserSession).values(**{k: now - v for k, v in ago.items()}))


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


async def disclose(client: Client, text: str = DISCLOSURE) -> None:
    """A participant on the web channel writes a safety disclosure (``text``)."""
    page = await (await client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await client.post("/c/outpatient-booking/consent", data={**fields, "answer": "yes"})
    ).text()
    fields = form_fields(page, "/c/outpatient-booking/answers")
    response = await client.post(
        "/c/outpatient-booking/answers", data={**fields, "item:one-thing": text}
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


async def test_a_page_showing_an_error_says_so_first_in_its_title(
    platform: Platform, web_client: Client
) -> None:
    import re

    def title(page: str) -> str:
        found = re.search(r"<title>(.*?)</title>", page)
        assert found is not None
        return found.group(1)

    await add_user(platform, "lead@health.example", "lead")
    page = await (await web_client.get("/dashboard/login")).text()
    assert title(page) == "Log in · engage dashboard"
    wrong = await log_in(web_client, "lead@health.example", "not the password at all")
    assert title(await wrong.text()) == "Error: Log in · engage dashboard"
    await log_in(web_client, "lead@health.example")
    listing = await web_client.get("/dashboard")
    assert title(await listing.text()) == "Consultations · engage dashboard"
    refused = await web_client.post(
        "/dashboard/password",
        data={
            "csrf": await csrf_of(web_client, "/dashboard/password"),
            "current_password": "not the password at all",
            "new_password": "a password of my own",
            "new_password_again": "a password of my own",
        },
    )
    assert 'role="alert"' in await refused.text()
    assert title(await refused.text()) == "Error: Your password · engage dashboard"


async def test_repeated_failures_are_throttled_per_account_and_address(
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


async def audit_trail(platform: Platform) -> list[tuple[str, str, str | None, Any]]:
    """Every audit event: actor, action, subject and detail, oldest first."""
    async with platform.sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.subject, row.detail) for row in rows]


async def test_failed_sign_ins_are_audited_and_logged_without_the_password(
    platform: Platform, web_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await add_user(platform, LEAD, "lead")
    async with platform.sessionmaker() as session:
        lead_id = await session.scalar(select(User.id).where(User.email == LEAD))
    with caplog.at_level("INFO", logger="bot.web.dashboard.handlers"):
        assert (await log_in(web_client, LEAD, "wrong-guess-one")).status == 200
        # Someone typing their password into the email box: that text is kept nowhere.
        assert (await log_in(web_client, "typed-my-password-here", "x")).status == 200
        for number in range(4):
            assert (await log_in(web_client, LEAD, f"wrong-guess-{number}")).status == 200
        assert (await log_in(web_client, LEAD, PASSWORD)).status == 429

    trail = await audit_trail(platform)
    assert trail == [
        (LEAD, "login.failed", f"user:{lead_id}", None),
        ("unknown account", "login.failed", None, None),
        *[(LEAD, "login.failed", f"user:{lead_id}", None)] * 4,
        (LEAD, "login.throttled", f"user:{lead_id}", None),
    ]
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert messages[:2] == [
        f"dashboard: sign-in to user {lead_id} failed",
        "dashboard: sign-in to an unknown account failed",
    ]
    assert messages[-1] == f"dashboard: sign-in to user {lead_id} refused: too many attempts"
    for kept in (str(trail), caplog.text):
        assert "wrong-guess" not in kept and PASSWORD not in kept
        assert "typed-my-password-here" not in kept
    assert LEAD not in caplog.text  # the log names the account by its id


async def test_a_refused_action_is_audited_and_logged(
    platform: Platform, web_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await launch(platform)
    await as_role(platform, web_client, "viewer")
    csrf = await csrf_of(web_client)
    with caplog.at_level("WARNING", logger="bot.web.dashboard.handlers"):
        response = await web_client.post(
            "/dashboard/c/outpatient-booking/close", data={"csrf": csrf}
        )
        assert response.status == 403
        assert (await web_client.get("/dashboard/moderation")).status == 403
    assert await audit_trail(platform) == [
        (
            "viewer@health.example",
            "access.denied",
            "/dashboard/c/outpatient-booking/close",
            {"method": "POST", "role": "viewer", "needs": "manage"},
        ),
        (
            "viewer@health.example",
            "access.denied",
            "/dashboard/moderation",
            {"method": "GET", "role": "viewer", "needs": "moderate"},
        ),
    ]
    async with platform.sessionmaker() as session:
        viewer_id = await session.scalar(select(User.id).where(User.role == "viewer"))
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"dashboard: user {viewer_id} (viewer) refused POST "
        "/dashboard/c/outpatient-booking/close: the role lacks manage",
        f"dashboard: user {viewer_id} (viewer) refused GET /dashboard/moderation: "
        "the role lacks moderate",
    ]


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


async def test_unknown_session_cookies_are_refused(platform: Platform, web_client: Client) -> None:
    await as_role(platform, web_client, "admin")
    valid = session_cookie(web_client)
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(UserSession.id))
    # The table holds a hash of the token, never the token: the row id is no cookie.
    assert stored == hashlib.sha256(valid.encode()).hexdigest() != valid
    web_client.session.cookie_jar.clear()
    for cookie in (stored, valid[:-2] + "AA", "nonsense", "x" * 200):
        web_client.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: cookie})
        response = await web_client.get("/dashboard", allow_redirects=False)
        assert response.status == 303, cookie
    web_client.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: valid})
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200


async def test_a_role_change_applies_on_the_next_request(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    assert (await web_client.get("/dashboard/moderation")).status == 200
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(User).values(role="viewer"))

    page = await web_client.get("/dashboard", allow_redirects=False)

    assert page.status == 200
    assert "admin@health.example (viewer)" in await page.text()
    assert (await web_client.get("/dashboard/moderation")).status == 403


async def test_a_removed_account_is_signed_out_at_once(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "admin")
    async with platform.sessionmaker.begin() as session:
        await session.execute(delete(User))
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


# -- sessions in the database ----------------------------------------------------------


async def test_logout_on_one_app_ends_the_session_on_another(
    settings: Settings, platform: Platform
) -> None:
    await add_user(platform, LEAD, "lead")
    async with app_client(settings) as first, app_client(settings) as second:
        assert (await log_in(first, LEAD)).status == 303
        second.session.cookie_jar.update_cookies({auth.SESSION_COOKIE: session_cookie(first)})
        assert (await second.get("/dashboard", allow_redirects=False)).status == 200

        response = await first.post("/dashboard/logout", data={"csrf": await csrf_of(first)})

        assert response.status == 200
        assert (await second.get("/dashboard", allow_redirects=False)).status == 303


async def test_idle_sessions_end_after_thirty_minutes(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "viewer")
    await age_sessions(platform, last_seen_at=timedelta(minutes=29))
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
    await age_sessions(platform, last_seen_at=timedelta(minutes=30, seconds=1))
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_sessions_end_eight_hours_after_sign_in_however_busy(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "viewer")
    await age_sessions(
        platform, created_at=timedelta(hours=7, minutes=59), last_seen_at=timedelta()
    )
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
    await age_sessions(platform, created_at=timedelta(hours=8, seconds=1), last_seen_at=timedelta())
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 303


async def test_last_seen_is_written_at_most_once_a_minute(
    platform: Platform, web_client: Client
) -> None:
    await as_role(platform, web_client, "viewer")
    await age_sessions(platform, last_seen_at=timedelta(minutes=5))

    async def last_seen() -> Any:
        async with platform.sessionmaker() as session:
            return await session.scalar(select(UserSession.last_seen_at))

    await web_client.get("/dashboard")
    touched = await last_seen()
    assert utcnow() - touched < timedelta(seconds=30)
    await web_client.get("/dashboard")
    assert await last_seen() == touched


async def test_an_old_scrypt_hash_is_verified_and_replaced_by_argon2id(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, LEAD, "lead", stored=auth.scrypt_hash(PASSWORD))

    assert (await log_in(web_client, LEAD)).status == 303

    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(User.password_hash))
    assert stored is not None and stored.startswith("$argon2id$")
    assert auth.verify_password(PASSWORD, stored)
    assert (await web_client.get("/dashboard", allow_redirects=False)).status == 200
    web_client.session.cookie_jar.clear()
    assert (await log_in(web_client, LEAD, "wrong password")).status == 200
    assert (await log_in(web_client, LEAD)).status == 303


# -- the sign-in throttle --------------------------------------------------------------


async def test_concurrent_guesses_get_at_most_the_limit_of_password_checks(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, LEAD, "lead")
    dashboard = web_client.app[DASHBOARD]
    checked: list[str] = []
    check = dashboard.check_password

    def counting(password: str, stored: str | None) -> bool:
        checked.append(password)
        return bool(check(password, stored))

    dashboard.check_password = counting
    page = await (await web_client.get("/dashboard/login")).text()
    fields = form_fields(page, "/dashboard/login")

    responses = await asyncio.gather(
        *(
            web_client.post(
                "/dashboard/login",
                data={**fields, "email": LEAD, "password": f"guess {n}"},
                allow_redirects=False,
            )
            for n in range(60)
        )
    )

    assert sorted(r.status for r in responses) == [200] * 5 + [429] * 55
    assert len(checked) == 5
    async with platform.sessionmaker() as session:
        counts = sorted((await session.scalars(select(SignInThrottle.failures))).all())
    assert counts == [5, 60, 60]  # account: checked attempts only; address and pair: all


async def test_throttle_is_shared_by_workers_and_survives_a_restart(
    settings: Settings, platform: Platform
) -> None:
    await add_user(platform, LEAD, "lead")
    async with app_client(settings) as first, app_client(settings) as second:
        for client in (first, second, first, second, first):
            assert (await log_in(client, LEAD, "guess")).status == 200
        assert (await log_in(first, LEAD)).status == 429
        assert (await log_in(second, LEAD)).status == 429
    async with app_client(settings) as restarted:
        assert (await log_in(restarted, LEAD)).status == 429
        assert (await log_in(restarted, LEAD, address="10.0.0.7")).status == 303


async def test_an_attacker_elsewhere_cannot_lock_the_real_user_out(
    settings: Settings, platform: Platform
) -> None:
    await add_user(platform, LEAD, "lead")
    async with app_client(settings) as client:
        dashboard = client.app[DASHBOARD]
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        dashboard.sleep = record
        for _ in range(5):
            assert (await log_in(client, LEAD, "guess", address="10.6.6.6")).status == 200
        # That address is refused for that account, even with the right password ...
        assert (await log_in(client, LEAD, address="10.6.6.6")).status == 429
        # ... while the real user, elsewhere, signs in.
        assert (await log_in(client, LEAD, address="10.0.0.7")).status == 303
        client.session.cookie_jar.clear()
        # Guessing from many addresses slows every check of the account, never locks it.
        for n in range(8):
            assert (await log_in(client, LEAD, "guess", address=f"10.9.0.{n}")).status == 200
        assert (await log_in(client, LEAD, address="10.0.0.7")).status == 303
        assert waits == [0.5, 1.0, 2.0, 4.0]


async def test_one_address_is_limited_across_accounts(
    settings: Settings, platform: Platform
) -> None:
    await add_user(platform, LEAD, "lead")
    async with app_client(settings) as client:
        dashboard = client.app[DASHBOARD]
        dashboard.throttle = auth.LoginThrottle(settings.secret_key, address_limit=3)
        for n in range(3):
            email = f"guess{n}@health.example"
            assert (await log_in(client, email, address="10.6.6.6")).status == 200
        assert (await log_in(client, LEAD, address="10.6.6.6")).status == 429
        assert (await log_in(client, LEAD, address="10.0.0.7")).status == 303


async def test_throttle_keeps_no_email_or_address(platform: Platform, web_client: Client) -> None:
    await add_user(platform, LEAD, "lead")
    await log_in(web_client, LEAD, "guess")
    async with platform.sessionmaker() as session:
        keys = (await session.scalars(select(SignInThrottle.key))).all()
    assert sorted(k.split(":")[0] for k in keys) == ["acct", "addr", "pair"]
    assert all(re.fullmatch(r"[a-z]{4}:[0-9a-f]{64}", k) for k in keys)


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


async def test_a_consultations_own_words_are_marked_with_its_language(
    platform: Platform, web_client: Client
) -> None:
    """The dashboard is in English; a Welsh (or Arabic, right to left) consultation's
    title and questions are marked with its language on the list, its page and its
    report (WCAG 3.1.2)."""
    welsh = "Gwella trefnu apwyntiadau"
    await launch(platform, spec_data(segments=[], language="cy", title=welsh))
    arabic = "تحسين حجز المواعيد"
    await launch(platform, spec_data(id="in-arabic", segments=[], language="ar", title=arabic))
    await launch(platform, spec_data(id="in-english", segments=[]))
    await as_role(platform, web_client, "viewer")

    listing = await (await web_client.get("/dashboard")).text()
    assert f'href="/dashboard/c/outpatient-booking" lang="cy">{welsh}</a>' in listing
    assert f'href="/dashboard/c/in-arabic" lang="ar" dir="rtl">{arabic}</a>' in listing
    assert 'href="/dashboard/c/in-english">' in listing  # English: the page's own
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert '<html lang="en"' in page
    assert f'<h1 lang="cy">{welsh}</h1>' in page
    question = "How easy was it to book your last appointment?"
    assert f'<th scope="row"><span lang="cy">{question}</span>' in page
    page = await (await web_client.get("/dashboard/c/in-arabic")).text()
    assert f'<h1 lang="ar" dir="rtl">{arabic}</h1>' in page
    page = await (await web_client.get("/dashboard/c/in-english")).text()
    assert "<h1>Improving outpatient booking</h1>" in page
    report = await (await web_client.get("/dashboard/c/in-arabic/report")).text()
    assert '<html lang="en">' in report
    assert f'<h1 lang="ar" dir="rtl">{arabic}</h1>' in report
    assert f'<h3 lang="ar" dir="rtl">{question}</h3>' in report
    # Its option labels and segment groups too: its words, in the report's tables.
    assert '<td lang="ar" dir="rtl">Very easy</td><td>0</td>' in report


async def test_a_follow_ups_preview_is_marked_with_its_language(
    platform: Platform, web_client: Client
) -> None:
    """What a Welsh follow-up will send, previewed per channel on the English dashboard,
    is in Welsh: each text as sent is marked so (its row names stay English)."""
    await launch(platform, spec_data(segments=[]))
    follow_up = {"of": ["outpatient-booking"], "invite": "recontact"}
    await launch(
        platform,
        spec_data(id="booking-loop", segments=[], language="cy", follow_up=follow_up),
    )
    await as_role(platform, web_client, "viewer")
    page = await (await web_client.get("/dashboard/c/booking-loop")).text()
    preview = page.split('<table class="preview">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<tr><th scope="row">[^<]*</th><td( lang="cy")?>', preview)
    assert cells and all(marked == ' lang="cy"' for marked in cells), cells


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
    closed = [row for row in await audit_trail(platform) if row[1] == "consultation.close"]
    assert [row[:3] for row in closed] == [
        ("lead@health.example", "consultation.close", "consultation:outpatient-booking")
    ]


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
    launched = [row for row in await audit_trail(platform) if row[1] == "consultation.launch"]
    assert launched == [
        (
            "lead@health.example",
            "consultation.launch",
            "consultation:outpatient-booking",
            {"published": ["web"], "failed": [], "undone": False},
        )
    ]
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
    tokens = auth.csrf_tokens(platform.settings.secret_key)
    wrong = tokens.token(auth.session_id("another session's token"))
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
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert auth.verify_password(PASSWORD, stored)
    assert not auth.verify_password(PASSWORD + "!", stored)
    assert not auth.needs_rehash(stored)
    old = auth.scrypt_hash(PASSWORD)
    assert old.startswith("scrypt$16384$8$1$")
    assert auth.verify_password(PASSWORD, old)
    assert not auth.verify_password(PASSWORD + "!", old)
    assert auth.needs_rehash(old)
    for broken in ("md5$abc", "scrypt$x$y$z$salt$digest", "$argon2id$v=19$nonsense", ""):
        assert not auth.verify_password(PASSWORD, broken)


def test_roles_carry_what_they_should() -> None:
    table = {
        role: sorted(
            p
            for p in (auth.READ, auth.MODERATE, auth.MANAGE, auth.ACCOUNTS)
            if auth.allowed(role, p)
        )
        for role in (*auth.ROLES, "stranger")
    }
    assert table == {
        "admin": ["accounts", "manage", "moderate", "read"],
        "lead": ["manage", "read"],
        "moderator": ["moderate", "read"],
        "viewer": ["read"],
        "stranger": [],
    }


async def test_throttle_forgets_old_failures(platform: Platform) -> None:
    throttle = auth.LoginThrottle(platform.settings.secret_key, pair_limit=2)
    start = utcnow()
    async with platform.sessionmaker.begin() as session:
        for _ in range(2):
            assert not (await throttle.attempt(session, LEAD, "10.0.0.1", now=start)).refused
        later = start + timedelta(minutes=14)
        assert (await throttle.attempt(session, LEAD, "10.0.0.1", now=later)).refused
        window_over = start + timedelta(minutes=15, seconds=1)
        assert not (await throttle.attempt(session, LEAD, "10.0.0.1", now=window_over)).refused


async def test_a_launch_that_publishes_nowhere_leaves_a_draft(
    platform: Platform, settings: Settings
) -> None:
    from tests.fakes.channel import FakeChannel

    class Refusing(FakeChannel):
        async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
            raise RuntimeError("the server refused the introduction")

    def adapters(p: Platform) -> dict[str, ChannelAdapter]:
        return {**configured_adapters(p), "telegram": Refusing()}

    spec = parse_spec(spec_data(channels=["telegram"]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    app = create_app(settings, platform=platform, adapters=adapters, background=False)
    app.cleanup_ctx.clear()
    async with TestClient(TestServer(app)) as client:
        await as_role(platform, client, "lead")
        page = await (await client.get("/dashboard/c/outpatient-booking")).text()
        fields = form_fields(page, "/dashboard/c/outpatient-booking/launch")
        response = await client.post("/dashboard/c/outpatient-booking/launch", data=fields)
        page = await response.text()
    assert "published on none of its channels, so it is still a draft" in page
    assert "Could not reach: telegram." in page
    assert await state_of(platform) == service.DRAFT


async def test_a_draft_whose_closes_at_has_passed_is_not_launched(
    platform: Platform, web_client: Client
) -> None:
    spec = parse_spec(
        spec_data(
            channels=["web"],
            opens_at="2020-03-01T09:00:00+10:00",
            closes_at="2020-03-15T17:00:00+10:00",
        )
    )
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
    await as_role(platform, web_client, "lead")
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    fields = form_fields(page, "/dashboard/c/outpatient-booking/launch")
    response = await web_client.post(
        "/dashboard/c/outpatient-booking/launch", data=fields, allow_redirects=False
    )
    assert response.headers["Location"] == "/dashboard/c/outpatient-booking?done=ended"
    page = await (await web_client.get(response.headers["Location"])).text()
    assert "Not launched: its closing time has passed" in page
    assert "Not ready: closes_at: 2020-03-15T17:00:00+10:00 has passed" in page
    assert await state_of(platform) == service.DRAFT


async def test_the_cases_a_consultation_page_counts_are_its_safety_cases_in_the_queue(
    platform: Platform, web_client: Client
) -> None:
    # An acknowledged disclosure is still waiting for a moderator; a statement waiting
    # for approval is not a safety case.
    from consultations import moderation

    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    async with platform.sessionmaker.begin() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
        assert await moderation.acknowledge(session, case.id, "test")
        for _ in range(2):
            session.add(ModerationCase(consultation_id="outpatient-booking", reason="statement"))
    await as_role(platform, web_client, "viewer")
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert "1 safety case needs a moderator." in page
