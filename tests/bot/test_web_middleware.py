"""The one middleware of the web app: security headers everywhere, CSRF on every form post.

Both surfaces go through it: the consultation pages (token tied to the participant
cookie) and the dashboard (token tied to the login session, or to the login cookie on
the login form). SQLite only: nothing here depends on the store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import logging
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text

from bot.config import Settings
from bot.console import CLIENT_FAULTS, ClientFaultFilter
from bot.platform import Platform
from bot.web.app import HEADER_TIMEOUT, create_app
from bot.web.middleware import (
    BODY_TIMEOUT,
    UNREADABLE_REQUEST,
    AppRunner,
    CsrfTokens,
    FormGuard,
    WebSecurity,
)
from consultations import service
from storage.tables import Consultation, Response
from tests.bot.test_dashboard import as_role, csrf_of
from tests.helpers import form_fields, launch
from tests.waiting import PATIENCE

Client = TestClient[Any, Any]
CONSENT = "/c/outpatient-booking/consent"
CLOSE = "/dashboard/c/outpatient-booking/close"
NON_ASCII = "é" * 32

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def assert_security_headers(response: Any) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp  # styles by their hashes only
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Server"] == "engage"  # no aiohttp or Python version


async def stored_responses(platform: Platform) -> int:
    async with platform.sessionmaker() as session:
        return int(await session.scalar(select(func.count(Response.id))) or 0)


# -- headers ----------------------------------------------------------------------------


@sqlite_only
async def test_participant_responses_carry_the_security_headers(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    page = await web_client.get("/c/outpatient-booking")
    responses = [
        page,
        await web_client.get("/"),
        await web_client.get("/c/no-such-thing"),
        await web_client.post(CONSENT, data={"csrf": "x" * 32, "nonce": "n" * 16}),
        await web_client.post(
            CONSENT,
            data={**form_fields(await page.text(), CONSENT), "answer": "yes"},
            allow_redirects=False,
        ),
    ]
    assert [r.status for r in responses] == [200, 200, 404, 403, 303]
    for response in responses:
        assert_security_headers(response)
        # The public address is http here: no HSTS, or a browser would refuse plain http.
        assert "Strict-Transport-Security" not in response.headers


@sqlite_only
async def test_dashboard_responses_carry_the_security_headers(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    responses = [
        await web_client.get("/dashboard/login"),
        await web_client.get("/dashboard", allow_redirects=False),
        await web_client.post(CLOSE, data={"csrf": "x"}, allow_redirects=False),
    ]
    await as_role(platform, web_client, "admin")
    responses += [
        await web_client.get("/dashboard"),
        await web_client.get("/dashboard/c/no-such-thing"),
        await web_client.post(CLOSE, data={"csrf": "x" * 32}),
        await web_client.get("/dashboard/c/outpatient-booking/report?stage=later"),
    ]
    assert [r.status for r in responses] == [200, 303, 303, 200, 404, 403, 400]
    for response in responses:
        assert_security_headers(response)
        assert "Strict-Transport-Security" not in response.headers


@sqlite_only
async def test_hsts_only_when_served_over_https(settings: Settings, platform: Platform) -> None:
    behind_https = dataclasses.replace(settings, public_url="https://engage.example")
    app = create_app(behind_https, platform=platform, background=False)
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/dashboard/login", "/no-such-page"):
            response = await client.get(path)
            assert_security_headers(response)
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def _style_allowed(page: str, csp: str) -> bool:
    """Whether the page's one style element is allowed by the CSP (by its hash)."""
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    return f"'sha256-{digest}'" in csp


@sqlite_only
async def test_every_page_s_style_is_allowed_by_its_hash(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    await as_role(platform, web_client, "admin")
    for path in ("/c/outpatient-booking", "/dashboard", "/dashboard/c/outpatient-booking/report"):
        response = await web_client.get(path)
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
        assert _style_allowed(await response.text(), csp), path
    # An injected style element is not allowed.
    assert not _style_allowed("<style>body{display:none}</style>", csp)


@sqlite_only
async def test_an_error_no_handler_caught_carries_the_security_headers(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    # A real fault under the page, not an outage: a stored spec that is not one (and a
    # new creation time, so no spec read before is used). aiohttp answers 500 itself.
    async with platform.engine.begin() as connection:
        await connection.execute(
            text("UPDATE consultation SET spec = '{}', created_at = '2001-01-01 00:00:00'")
        )
    page = await web_client.get("/c/outpatient-booking", headers={"Accept": "text/html"})
    assert page.status == 500
    assert_security_headers(page)
    assert "Traceback" not in await page.text()


# -- slow clients ---------------------------------------------------------------------------


@pytest.fixture
async def impatient(settings: Settings, platform: Platform) -> AsyncIterator[TestServer]:
    """The web app with one second for a request's headers and one for a form's body."""
    app = create_app(
        settings, platform=platform, background=False, header_timeout=1.0, body_timeout=1.0
    )
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    async with TestServer(app) as server:
        yield server


async def _trickle(server: TestServer, start: bytes, drip: bytes) -> tuple[bytes, float]:
    """Send ``start``, then ``drip`` every 0.2 s; what came back, and after how long."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    loop = asyncio.get_running_loop()
    began = loop.time()
    writer.write(start)
    try:
        while loop.time() - began < 10:
            try:
                answer = await asyncio.wait_for(reader.read(200), 0.2)
            except TimeoutError:
                writer.write(drip)
                continue
            except ConnectionResetError:
                # Closed while bytes it never read were in its buffer: the kernel resets
                # rather than ends the connection. Either way nothing was answered.
                answer = b""
            return answer, loop.time() - began
        return b"still open", loop.time() - began
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@sqlite_only
async def test_a_client_slow_with_its_headers_or_silent_is_cut_off(
    platform: Platform, impatient: TestServer
) -> None:
    # Slowloris: header lines a few bytes at a time, never the blank line that ends them.
    answer, took = await _trickle(impatient, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n")
    assert answer == b"" and took < 5  # closed, without an answer
    # A connection that says nothing at all.
    answer, took = await _trickle(impatient, b"", b"")
    assert answer == b"" and took < 5
    # A request sent at once is answered as usual.
    answer, _ = await _trickle(impatient, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"")
    assert answer.startswith(b"HTTP/1.1 200 ")


@sqlite_only
async def test_a_form_body_trickled_in_gets_408_and_stores_nothing(
    platform: Platform, impatient: TestServer
) -> None:
    await launch(platform)
    head = (
        "POST /c/outpatient-booking/consent HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n"
        f"Cookie: engage_p={'a' * 32}\r\n\r\nanswer=yes&csrf="
    )
    answer, took = await _trickle(impatient, head.encode(), b"a")
    assert answer.startswith(b"HTTP/1.1 408 ") and took < 5
    assert await stored_responses(platform) == 0


def test_slow_clients_are_given_a_bounded_time() -> None:
    assert 0 < HEADER_TIMEOUT <= 120 and 0 < BODY_TIMEOUT <= 120


# -- CSRF on both surfaces ----------------------------------------------------------------


@sqlite_only
async def test_participant_post_with_a_wrong_token_is_refused_and_stores_nothing(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, CONSENT)
    for csrf in (None, "", "x" * 32, fields["csrf"][:-1], NON_ASCII):
        data = {"nonce": fields["nonce"], "answer": "yes"}
        if csrf is not None:
            data["csrf"] = csrf
        response = await web_client.post(CONSENT, data=data)
        assert response.status == 403, csrf
        assert "This form has expired" in await response.text()
    assert await stored_responses(platform) == 0
    # The token of another participant's cookie does not do either.
    tokens = CsrfTokens(platform.settings.secret_key, "engage web csrf")
    other = tokens.token("someone-else-entirely")
    response = await web_client.post(CONSENT, data={**fields, "csrf": other, "answer": "yes"})
    assert response.status == 403


@sqlite_only
async def test_dashboard_post_with_a_wrong_token_is_refused_and_changes_nothing(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform)
    await as_role(platform, web_client, "admin")
    good = await csrf_of(web_client)
    for data in ({}, {"csrf": good[:-1]}, {"csrf": NON_ASCII}):
        response = await web_client.post(CLOSE, data=data)
        assert response.status == 403
        page = await response.text()
        assert "This form has expired" in page
        assert "admin@health.example (admin)" in page  # the refusal keeps the bar
    async with platform.sessionmaker() as session:
        row = await session.get(Consultation, "outpatient-booking")
        assert row is not None and row.state == service.OPEN
    # The participant page's token is no good on the dashboard, and the reverse.
    participant = CsrfTokens(platform.settings.secret_key, "engage web csrf")
    response = await web_client.post(CLOSE, data={"csrf": participant.token("x")})
    assert response.status == 403


@sqlite_only
async def test_login_form_refuses_a_non_ascii_token_and_cookie(
    platform: Platform, web_client: Client
) -> None:
    response = await web_client.post(
        "/dashboard/login",
        data={"csrf": NON_ASCII, "email": "a@b.example", "password": "x"},
        headers={"Cookie": "engage_login=" + "é" * 20},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "The form expired. Please log in again." in await response.text()


@sqlite_only
async def test_non_ascii_cookies_get_a_4xx_or_a_fresh_start(
    platform: Platform, settings: Settings
) -> None:
    await launch(platform)
    app = create_app(settings, platform=platform, background=False)
    app.cleanup_ctx.clear()
    # Each request on its own, with only the cookie it is given (no jar).
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        odd = {"Cookie": "engage_p=" + "é" * 24}
        page = await client.get("/c/outpatient-booking", headers=odd)
        assert page.status == 200  # treated as no cookie: a new one is handed out
        assert any(c.startswith("engage_p=") for c in page.headers.getall("Set-Cookie"))
        fields = form_fields(await page.text(), CONSENT)
        post = await client.post(CONSENT, data={**fields, "answer": "yes"}, headers=odd)
        assert post.status == 400
        assert "needs cookies" in await post.text()
        dashboard = {"Cookie": "engage_dash=" + "é" * 10 + "." + "é" * 10}
        get = await client.get("/dashboard", headers=dashboard, allow_redirects=False)
        assert get.status == 303  # not a session: to the login form
        post = await client.post(
            CLOSE, data={"csrf": NON_ASCII}, headers=dashboard, allow_redirects=False
        )
        assert post.status == 303
    assert await stored_responses(platform) == 0


@sqlite_only
@pytest.mark.parametrize(
    ("content_type", "body", "encoding"),
    [
        ("application/x-www-form-urlencoded", b"csrf=\xff\xfe&answer=yes", None),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage", None),
        ("multipart/form-data", b"no boundary at all", None),
        ("application/x-www-form-urlencoded", b"answer=yes", "gzip"),
        ("application/x-www-form-urlencoded", b"answer=yes", "deflate"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form", "gzip"),
    ],
)
async def test_unreadable_form_bodies_get_400(
    platform: Platform, web_client: Client, content_type: str, body: bytes, encoding: str | None
) -> None:
    # The last three say they are compressed and are not: aiohttp fails to decompress them.
    await launch(platform)
    await web_client.get("/c/outpatient-booking")
    headers = {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    response = await web_client.post(CONSENT, data=body, headers=headers)
    assert response.status == 400
    assert_security_headers(response)
    assert await stored_responses(platform) == 0


@sqlite_only
async def test_a_file_in_a_form_is_never_kept_open_whatever_comes_after_it(
    platform: Platform, web_client: Client
) -> None:
    """No form takes files. A multipart body with a file part and then a part that is not
    text in its encoding gets 400, and leaves no spooled file open behind it (aiohttp's
    own reading left the file for a handler that never got the form)."""
    import gc
    import tempfile
    import warnings

    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    token = form_fields(page, CONSENT)["csrf"]
    body = (
        b'--x\r\nContent-Disposition: form-data; name="upload"; filename="a.txt"\r\n\r\n'
        + b"file contents\r\n"
        + b'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        + token.encode()
        + b'\r\n--x\r\nContent-Disposition: form-data; name="answer"\r\n\r\n\xff\xfe\r\n--x--\r\n'
    )

    def spooled() -> list[tempfile.SpooledTemporaryFile[bytes]]:
        gc.collect()
        return [
            found
            for found in gc.get_objects()
            if isinstance(found, tempfile.SpooledTemporaryFile) and not found.closed
        ]

    before = len(spooled())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # what this test looks for itself
        response = await web_client.post(
            CONSENT, data=body, headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert response.status == 400
        assert len(spooled()) == before
    # A file part before good text fields is read past, not refused: the form still works.
    fields = form_fields(page, CONSENT)
    parts = b'--x\r\nContent-Disposition: form-data; name="upload"; filename="a.txt"\r\n\r\nx\r\n'
    for name, value in {**fields, "answer": "no"}.items():
        parts += (
            b'--x\r\nContent-Disposition: form-data; name="'
            + name.encode()
            + b'"\r\n\r\n'
            + value.encode()
            + b"\r\n"
        )
    response = await web_client.post(
        CONSENT,
        data=parts + b"--x--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status == 200
    assert "won" in await response.text()  # "we won't ask you anything"


# -- declarations -------------------------------------------------------------------------


@pytest.fixture
async def bare_client() -> AsyncIterator[Client]:
    """A small app behind the middleware: a guarded form, an exempt hook, an undeclared post."""
    tokens = CsrfTokens("a-secret-key-of-at-least-32-characters", "test forms")

    async def subject(request: web.Request) -> str | None:
        return request.cookies.get("who")

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=403, text="refused")

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="done")

    app = web.Application()
    security = WebSecurity(https=False)
    security.install(app)
    security.exempt("/hooks/", because="the hook checks a secret of its own")
    security.protect(app.add_routes([web.post("/form", ok)]), FormGuard(tokens, subject, refuse))
    app.add_routes([web.post("/hooks/platform", ok), web.post("/undeclared", ok)])
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({"who": "alice"})
        yield client


async def test_only_declared_routes_take_posts(bare_client: Client) -> None:
    good = CsrfTokens("a-secret-key-of-at-least-32-characters", "test forms").token("alice")
    assert (await bare_client.post("/form", data={"csrf": good})).status == 200
    assert (await bare_client.post("/form", data={"csrf": good.upper()})).status == 403
    assert (await bare_client.post("/hooks/platform", json={"update": 1})).status == 200
    refused = await bare_client.post("/undeclared", data={"csrf": good})
    assert refused.status == 403  # declared neither way: closed, not open by accident
    assert (await bare_client.post("/no-such-route")).status == 404
    assert_security_headers(refused)


def test_tokens_compare_any_text_without_raising() -> None:
    tokens = CsrfTokens("a-secret-key-of-at-least-32-characters", "test forms")
    token = tokens.token("subject")
    assert tokens.matches("subject", token)
    for given in ("", NON_ASCII, "\udcff" * 32, token + "x", token[:-1] + "é"):
        assert not tokens.matches("subject", given)
    assert tokens.token("é") != tokens.token("e")


# -- what a client's broken request leaves in the log -----------------------------------


@sqlite_only
async def test_a_request_aiohttp_cannot_parse_is_one_info_line_without_the_client(
    web_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    server = logging.getLogger("aiohttp.server")
    server.addFilter(CLIENT_FAULTS)  # as `engage run` installs it (configure_logging)
    try:
        reader, writer = await asyncio.open_connection(web_client.host, web_client.port)
        writer.write(b"GET /c/x?page=\xef\xbc\x91 HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        writer.close()
        assert b" 400 " in status
        for _ in range(50):
            if any(r.name == "aiohttp.server" for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    finally:
        server.removeFilter(CLIENT_FAULTS)
    logged = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert logged and all(r.levelname == "INFO" and r.exc_info is None for r in logged)
    assert "InvalidURLError" in logged[0].getMessage()
    assert "127.0.0.1" not in logged[0].getMessage()


@sqlite_only
async def test_a_header_too_long_is_logged_by_its_kind_never_its_contents(
    web_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    server = logging.getLogger("aiohttp.server")
    server.addFilter(CLIENT_FAULTS)
    cookie = "engage_p=secret-participant-token-" + "x" * 9000
    try:
        reader, writer = await asyncio.open_connection(web_client.host, web_client.port)
        writer.write(f"GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode())
        await writer.drain()
        status = await reader.readline()
        writer.close()
        assert b" 400 " in status
        for _ in range(50):
            if any(r.name == "aiohttp.server" for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    finally:
        server.removeFilter(CLIENT_FAULTS)
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"]
    assert logged == [
        "a request was refused or dropped by its client: LineTooLong (header line too long)"
    ]
    assert "secret-participant-token" not in caplog.text and "engage_p" not in caplog.text


def test_errors_of_the_platform_itself_keep_their_level_and_traceback() -> None:
    try:
        raise ValueError("ours")
    except ValueError:
        failure = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (), failure
    )
    assert ClientFaultFilter().filter(record)
    assert record.levelname == "ERROR" and record.exc_info is not None


# -- what a request the parser cannot read is answered -------------------------------------


async def _raw(host: str, port: int, request: bytes) -> bytes:
    """What the server answers ``request`` sent on a raw connection, to its close."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(PATIENCE):
            return await reader.read()
    finally:
        writer.close()


@sqlite_only
async def test_a_request_the_parser_cannot_read_gets_a_plain_400_naming_no_server(
    settings: Settings, platform: Platform
) -> None:
    from bot.platform import configured_adapters

    app = create_app(settings, platform=platform, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    runner = AppRunner(app, handle_signals=False, access_log=None)  # as `engage run` has it
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        broken = [
            b"GARBAGE\r\n\r\n",  # no request line
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",  # a bad header
            b"GET /c/x?page=\xef\xbc\x91 HTTP/1.1\r\nHost: x\r\n\r\n",  # a bad URL
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"y" * 9000 + b"\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
        ]
        for request in broken:
            answer = await _raw(host, port, request)
            head, _, body = answer.partition(b"\r\n\r\n")
            status, *lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            assert status.split(" ", 1)[1] == "400 Bad Request", request
            assert headers["Server"] == "engage"
            assert headers["Content-Type"].startswith("text/plain")
            assert body == UNREADABLE_REQUEST.encode()
            # The same protections as every other answer.
            assert headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Frame-Options"] == "DENY"
            for telling in (b"aiohttp", b"Python", b"GARBAGE", b"no colon", b"message", b"yyy"):
                assert telling not in answer, (request, telling)
        # A request it can read is answered as ever, under the same name.
        answer = await _raw(host, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nServer: engage\r\n" in answer
    finally:
        await runner.cleanup()
