"""`engage run` when a platform is wrong or away at start-up, against the fakes.

A token the platform refuses stops start-up with one line naming the variable (exit 2,
never the token). A platform that cannot be reached leaves the web channel serving: the
adapter is tried again in the background, one log line per attempt, and ``/readyz``
says it has not started until it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.mastodon_server import MastodonServer
from tests.fakes.telegram_api import FakeTelegram
from tests.processes import ENGAGE, engage_env, free_port
from tests.waiting import wait_until

TOKEN = "424242:RIGHT-token"
WRONG = "424242:WRONG-token-never-shown"

pytestmark = pytest.mark.timeout(240)


def _env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    return engage_env(f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}", port, **settings)


@contextlib.asynccontextmanager
async def _serving(
    tmp_path: Path, port: int, settings: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``engage run`` with these settings, its output in ``engage.log``; killed on the way
    out if it is still running (a test that failed before stopping it)."""
    with (tmp_path / "engage.log").open("wb") as handle:
        server = await asyncio.create_subprocess_exec(
            ENGAGE,
            "run",
            env=_env(tmp_path, port, **settings),
            cwd=tmp_path,
            stdout=handle,
            stderr=handle,
        )
    try:
        yield server
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def _stop(server: asyncio.subprocess.Process) -> None:
    """SIGTERM, and the process gone within 30 s."""
    server.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        await server.wait()


async def _run_until_it_stops(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        ENGAGE,
        "run",
        env=env,
        cwd=cwd,
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


@pytest.mark.parametrize("refusal", ["wrong token", "403"])
async def test_a_telegram_token_refused_stops_start_up_naming_the_variable(
    tmp_path: Path, refusal: str
) -> None:
    """A wrong token (Telegram's 401) and a bot refused with 403 stop start-up alike:
    trying again gets the same answer for ever."""
    async with FakeTelegram(token=TOKEN) as fake:
        token = WRONG
        if refusal == "403":
            token = TOKEN
            fake.inject_error(403, "Forbidden: the bot was deleted", count=1000, methods=["getMe"])
        code, err = await _run_until_it_stops(
            _env(
                tmp_path,
                free_port(),
                TELEGRAM_BOT_TOKEN=token,
                TELEGRAM_API_BASE_URL=fake.base_url,
            ),
            tmp_path,
        )
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        "engage: TELEGRAM_BOT_TOKEN: Telegram rejected the bot token"
    )
    assert "Traceback" not in err and token not in err


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        ("wrong token", "rejected the access token"),
        ("403", "refused the bot account (403: Your login is currently disabled)"),
    ],
)
async def test_a_mastodon_token_refused_stops_start_up_naming_the_variable(
    tmp_path: Path, refusal: str, said: str
) -> None:
    with MastodonServer(ratelimit=None) as mastodon:
        token = "wrong-access-token-never-shown"
        if refusal == "403":
            token = mastodon.bot_token
            mastodon.fail_next(
                403,
                path="/api/v1/accounts/verify_credentials",
                times=None,
                error="Your login is currently disabled",
            )
        code, err = await _run_until_it_stops(
            _env(
                tmp_path,
                free_port(),
                MASTODON_API_BASE_URL=mastodon.base_url,
                MASTODON_ACCESS_TOKEN=token,
            ),
            tmp_path,
        )
    assert code == 2, err
    assert (
        err.strip().splitlines()[-1]
        == f"engage: MASTODON_ACCESS_TOKEN: the Mastodon instance {said}"
    )
    assert "Traceback" not in err and token not in err


async def test_a_webhook_address_telegram_refuses_stops_start_up_naming_the_variable(
    tmp_path: Path,
) -> None:
    """setWebhook's 400 (here: not HTTPS) is no passing failure: waiting cannot mend it."""
    async with FakeTelegram(token=TOKEN) as fake:
        code, err = await _run_until_it_stops(
            _env(
                tmp_path,
                free_port(),
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_API_BASE_URL=fake.base_url,
                TELEGRAM_MODE="webhook",
                ENGAGE_PUBLIC_URL="http://engage.example.org",
            ),
            tmp_path,
        )
        assert fake.webhook.url == ""
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        "engage: ENGAGE_PUBLIC_URL: Telegram refused the webhook address "
        "http://engage.example.org/hooks/telegram (Bad webhook: an https url must be "
        "provided for webhook)"
    )
    assert "Traceback" not in err and "RIGHT-token" not in err


@pytest.mark.parametrize("answer", ["not found", "not json"])
async def test_a_mastodon_address_that_is_no_mastodon_api_stops_start_up_naming_it(
    tmp_path: Path, answer: str
) -> None:
    """A 404 or a body that is not JSON where the account should be: a wrong address,
    which waiting cannot mend."""
    with MastodonServer(ratelimit=None) as mastodon:
        base_url = mastodon.base_url
        if answer == "not found":
            base_url += "/wrong/path"  # every API path under it answers 404
        else:
            mastodon.answer_not_json(path="/api/v1/accounts/verify_credentials")
        code, err = await _run_until_it_stops(
            _env(
                tmp_path,
                free_port(),
                MASTODON_API_BASE_URL=base_url,
                MASTODON_ACCESS_TOKEN=mastodon.bot_token,
            ),
            tmp_path,
        )
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"engage: MASTODON_API_BASE_URL: {base_url} does not answer as a Mastodon instance ("
    ), err
    assert ("404" in last) if answer == "not found" else ("not JSON" in last)
    assert "Traceback" not in err and mastodon.bot_token not in err


async def _status(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with http.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectionError:
        return 0, ""


@pytest.mark.parametrize("channel", ["telegram", "mastodon"])
async def test_a_platform_away_at_start_leaves_the_web_serving_and_is_tried_again(
    tmp_path: Path, channel: str
) -> None:
    away = free_port()  # nothing listens here until the fake starts on it
    if channel == "telegram":
        settings = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{away}/bot",
        }
    else:
        settings = {
            "MASTODON_API_BASE_URL": f"http://127.0.0.1:{away}",
            "MASTODON_ACCESS_TOKEN": "a-token-for-nowhere",
        }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "engage.log"
    async with _serving(tmp_path, port, settings) as server, aiohttp.ClientSession() as http:

        async def waiting() -> bool:
            status, body = await _status(http, f"{base}/readyz")
            return status == 503 and f"{channel} adapter not started yet" in body

        await wait_until(waiting, within=90, every=0.2, what="/readyz to name the adapter")
        assert (await _status(http, f"{base}/healthz"))[0] == 200
        assert (await _status(http, f"{base}/"))[0] == 200  # the web channel serves

        def failures() -> list[str]:
            return [
                line
                for line in log.read_text().splitlines()
                if f"the {channel} adapter did not start" in line
            ]

        async def failed_twice() -> bool:
            return len(failures()) >= 2

        await wait_until(failed_twice, within=30, every=0.2, what="a second attempt")
        # One line an attempt, saying when the next is, and no traceback.
        first, second = failures()[:2]
        assert first.endswith("; trying again in 1 s") and " WARNING bot.web.app: " in first
        assert second.endswith("; trying again in 2 s")
        assert "Traceback" not in log.read_text()
        if channel == "telegram":
            async with FakeTelegram(token=TOKEN, port=away):

                async def ready() -> bool:
                    return (await _status(http, f"{base}/readyz"))[0] == 200

                await wait_until(ready, within=60, every=0.2, what="the adapter to start")
                assert "the telegram adapter started" in log.read_text()
                await _stop(server)
        else:
            await _stop(server)
    output = log.read_text()
    assert server.returncode == 0, output
    assert "Traceback" not in output
    assert all(len(line) < 600 for line in failures())


async def test_a_token_rejected_once_the_platform_is_back_names_the_channel_in_readyz(
    tmp_path: Path,
) -> None:
    """Away at start, then reachable but refusing the token: one line naming the channel
    and the variable, the web channel serving, /readyz saying why."""
    away = free_port()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "engage.log"
    settings = {
        "TELEGRAM_BOT_TOKEN": WRONG,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{away}/bot",
    }
    async with _serving(tmp_path, port, settings) as server, aiohttp.ClientSession() as http:

        async def waiting() -> bool:
            status, body = await _status(http, f"{base}/readyz")
            return status == 503 and "telegram adapter not started yet" in body

        await wait_until(waiting, within=90, every=0.2, what="/readyz to name the adapter")
        async with FakeTelegram(token=TOKEN, port=away):

            async def refused() -> bool:
                return "the telegram adapter stays off" in log.read_text()

            await wait_until(refused, within=90, every=0.2, what="the token refused")
            status, body = await _status(http, f"{base}/readyz")
            assert status == 503
            assert json.loads(body)["problems"] == [
                "telegram adapter off: TELEGRAM_BOT_TOKEN: Telegram rejected the bot "
                "token; set it right and restart"
            ]
            assert (await _status(http, f"{base}/"))[0] == 200  # the web channel serves
        lines = [line for line in log.read_text().splitlines() if "stays off" in line]
        assert len(lines) == 1 and " ERROR bot.web.app: " in lines[0]
        assert lines[0].endswith(
            "TELEGRAM_BOT_TOKEN: Telegram rejected the bot token; the telegram adapter stays off"
        )
        await _stop(server)
    output = log.read_text()
    assert server.returncode == 0, output
    assert "Traceback" not in output and "WRONG-token" not in output


@pytest.mark.parametrize("channel", ["telegram", "mastodon"])
async def test_a_platform_failing_with_server_errors_at_start_is_tried_again_until_it_starts(
    tmp_path: Path, channel: str
) -> None:
    """A 5xx passes by waiting: tried again with backoff, and the adapter starts."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "engage.log"
    async with contextlib.AsyncExitStack() as stack:
        if channel == "telegram":
            fake = await stack.enter_async_context(FakeTelegram(token=TOKEN))
            fake.inject_error(500, "Internal Server Error", count=2, methods=["getMe"])
            settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url}
        else:
            mastodon = stack.enter_context(MastodonServer(ratelimit=None))
            mastodon.fail_next(503, path="/api/v1/accounts/verify_credentials", times=2)
            settings = {
                "MASTODON_API_BASE_URL": mastodon.base_url,
                "MASTODON_ACCESS_TOKEN": mastodon.bot_token,
            }
        async with _serving(tmp_path, port, settings) as server:
            async with aiohttp.ClientSession() as http:

                async def ready() -> bool:
                    return (await _status(http, f"{base}/readyz"))[0] == 200

                await wait_until(ready, within=90, every=0.2, what="the adapter to start")
            failures = [
                line
                for line in log.read_text().splitlines()
                if f"the {channel} adapter did not start" in line
            ]
            assert [line.rsplit("; ", 1)[-1] for line in failures] == [
                "trying again in 1 s",
                "trying again in 2 s",
            ]
            assert f"the {channel} adapter started" in log.read_text()
            await _stop(server)
    output = log.read_text()
    assert server.returncode == 0, output
    assert "Traceback" not in output and "stays off" not in output


def _outbox(tmp_path: Path, channel: str) -> list[tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(tmp_path / "engage.db")) as db:
        return list(
            db.execute(
                "SELECT status, attempts FROM outbox WHERE channel = ? ORDER BY id", (channel,)
            )
        )


@pytest.mark.parametrize("revoked", ["telegram", "mastodon"])
async def test_a_token_revoked_while_running_leaves_that_adapter_off_and_its_messages_queued(
    tmp_path: Path, revoked: str
) -> None:
    """Sending and intake answered 401 while running: one ERROR line naming the variable,
    /readyz naming it, the web channel and the other adapter serving on, and the refused
    channel's messages pending, sent after a restart with the token good again."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "engage.log"
    async with contextlib.AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeTelegram(token=TOKEN))
        mastodon = stack.enter_context(MastodonServer(ratelimit=None))
        person = fake.user(7001, "Ada")
        env = _env(
            tmp_path,
            port,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            MASTODON_API_BASE_URL=mastodon.base_url,
            MASTODON_ACCESS_TOKEN=mastodon.bot_token,
        )

        async def run() -> asyncio.subprocess.Process:
            with log.open("ab") as handle:
                return await asyncio.create_subprocess_exec(
                    ENGAGE, "run", env=env, cwd=tmp_path, stdout=handle, stderr=handle
                )

        async def stop(server: asyncio.subprocess.Process) -> None:
            server.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await server.wait()
            finally:
                if server.returncode is None:
                    server.kill()
                    await server.wait()

        async def answered_on_telegram() -> bool:
            return bool(fake.messages_to(person))

        async def answered_on_mastodon() -> bool:
            return bool(mastodon.received("ada"))

        server = await run()
        try:
            async with aiohttp.ClientSession() as http:

                async def ready() -> bool:
                    return (await _status(http, f"{base}/readyz"))[0] == 200

                await wait_until(ready, within=90, every=0.2, what="both adapters to start")

                async def mastodon_reading() -> bool:
                    # Mentions from before its first read of notifications are history.
                    with contextlib.closing(sqlite3.connect(tmp_path / "engage.db")) as db:
                        return bool(
                            db.execute(
                                "SELECT 1 FROM channel_cursor WHERE channel = 'mastodon'"
                            ).fetchall()
                        )

                await wait_until(mastodon_reading, within=90, what="Mastodon's first read")
                # The token is revoked: sending is refused first, then intake.
                if revoked == "telegram":
                    fake.inject_error(401, "Unauthorized", count=10_000, methods=["sendMessage"])
                    fake.send_command(person, "/help")
                    setting = "TELEGRAM_BOT_TOKEN"
                    why = "Telegram rejected the bot token"
                else:
                    mastodon.revoke(mastodon.bot_token, paths=["/api/v1/statuses"])
                    mastodon.dm("ada", "HELP")
                    setting = "MASTODON_ACCESS_TOKEN"
                    why = "the Mastodon instance rejected the access token"

                async def refused() -> bool:
                    return "stays off" in log.read_text()

                await wait_until(refused, within=90, every=0.2, what="the token refused")
                if revoked == "telegram":
                    fake.inject_error(401, "Unauthorized", count=10_000, methods=["getUpdates"])
                else:
                    mastodon.revoke(mastodon.bot_token)
                status, body = await _status(http, f"{base}/readyz")
                assert status == 503
                assert json.loads(body)["problems"] == [
                    f"{revoked} adapter off: {setting}: {why}; set it right and restart"
                ]
                assert (await _status(http, f"{base}/"))[0] == 200  # the web channel serves
                # The other adapter serves on: it takes a message in and answers it.
                if revoked == "telegram":
                    mastodon.dm("ada", "HELP")
                    await wait_until(answered_on_mastodon, within=90, what="Mastodon's answer")
                else:
                    fake.send_command(person, "/help")
                    await wait_until(answered_on_telegram, within=90, what="Telegram's answer")
                queued = _outbox(tmp_path, revoked)
                assert queued and all(row == ("pending", 0) for row in queued), queued
            await stop(server)
            lines = [line for line in log.read_text().splitlines() if "stays off" in line]
            assert len(lines) == 1 and " ERROR " in lines[0], lines
            assert lines[0].endswith(f"{setting}: {why}; the {revoked} adapter stays off")
            assert _outbox(tmp_path, revoked) == queued  # nothing lost, nothing failed
            assert server.returncode == 0, log.read_text()

            # Put right (here: the platform takes the token again) and restarted, the
            # messages kept go.
            fake.clear_errors()
            mastodon.restore()
            server = await run()
            await wait_until(
                answered_on_telegram if revoked == "telegram" else answered_on_mastodon,
                within=90,
                what="the kept message sent",
            )
            await stop(server)
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()
    output = log.read_text()
    assert server.returncode == 0, output
    assert "Traceback" not in output and "RIGHT-token" not in output
    assert mastodon.bot_token not in output
    assert all(status == "sent" for status, _ in _outbox(tmp_path, revoked))


@pytest.mark.parametrize("channel", ["telegram", "mastodon"])
async def test_a_token_revoked_while_reading_leaves_the_adapter_off_naming_the_variable(
    tmp_path: Path, channel: str
) -> None:
    """Telegram's getUpdates, or Mastodon's stream and notifications, answering 401 while
    running, nothing to send: the same one line and /readyz, not a warning a minute for
    ever, nor a stop nobody is told of."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "engage.log"
    async with contextlib.AsyncExitStack() as stack:
        if channel == "telegram":
            fake = await stack.enter_async_context(FakeTelegram(token=TOKEN))
            settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url}
            problem = (
                "telegram adapter off: TELEGRAM_BOT_TOKEN: Telegram rejected the bot token; "
                "set it right and restart"
            )
        else:
            mastodon = stack.enter_context(MastodonServer(ratelimit=None))
            settings = {
                "MASTODON_API_BASE_URL": mastodon.base_url,
                "MASTODON_ACCESS_TOKEN": mastodon.bot_token,
            }
            problem = (
                "mastodon adapter off: MASTODON_ACCESS_TOKEN: the Mastodon instance rejected "
                "the access token; set it right and restart"
            )
        async with _serving(tmp_path, port, settings) as server:
            async with aiohttp.ClientSession() as http:

                async def ready() -> bool:
                    return (await _status(http, f"{base}/readyz"))[0] == 200

                await wait_until(ready, within=90, every=0.2, what="the adapter to start")
                if channel == "telegram":
                    fake.inject_error(401, "Unauthorized", count=10_000, methods=["getUpdates"])
                else:

                    async def streaming() -> bool:
                        return "mastodon: streaming notifications" in log.read_text()

                    await wait_until(streaming, within=90, what="the stream open")
                    mastodon.revoke(mastodon.bot_token)

                async def off() -> bool:
                    status, body = await _status(http, f"{base}/readyz")
                    return status == 503 and f"{channel} adapter off" in body

                await wait_until(off, within=90, every=0.2, what="/readyz to name it")
                status, body = await _status(http, f"{base}/readyz")
                assert json.loads(body)["problems"] == [problem]
                assert (await _status(http, f"{base}/"))[0] == 200
            await _stop(server)
    output = log.read_text()
    assert server.returncode == 0, output
    lines = [line for line in output.splitlines() if "stays off" in line]
    assert len(lines) == 1 and " ERROR bot.web.app: " in lines[0], output
    assert "intake failed" not in output and "polling failed" not in output
    assert "Traceback" not in output
