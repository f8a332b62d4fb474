"""What ``engage -v run`` writes to its log: the project's own debug lines, and never a
bot token, a chat id, a person's name or what they wrote (the libraries under it log
all of these at DEBUG)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console import LIBRARY_LEVELS, OWN_LOGGERS, configure_logging
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.telegram_api import FakeTelegram

ENGAGE = str(Path(sys.executable).parent / "engage")
TOKEN = "918273:SECRET-bot-token-never-logged"
CHAT = 5550123987
TEXT = "my private words about the clinic"


@pytest.fixture
def logger_levels() -> Iterator[None]:
    """Restore the levels configure_logging sets, for the tests after this one."""
    names = [*OWN_LOGGERS, *LIBRARY_LEVELS, ""]
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("logger_levels")
@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_turns_on_the_projects_debug_lines_and_no_librarys(verbose: bool) -> None:
    configure_logging(verbose=verbose, log_format="text")
    for name in ("bot.inbox", "adapters.telegram.intake", "engage", "storage.db"):
        assert logging.getLogger(name).isEnabledFor(logging.DEBUG) is verbose
    for name in (
        "telegram.ext.Application",
        "telegram.Bot",
        "httpx",
        "httpcore.http11",
        "urllib3.connectionpool",
        "requests",
        "mastodon",
        "asyncio",
        "aiohttp.client",
    ):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)  # it logs each URL


@pytest.mark.timeout(180)
async def test_verbose_run_logs_no_token_chat_name_or_text(tmp_path: Path) -> None:
    async with FakeTelegram(token=TOKEN) as fake:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MASTODON_", "TELEGRAM_"))},
            "ENGAGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}",
            "ENGAGE_HTTP_HOST": "127.0.0.1",
            "ENGAGE_HTTP_PORT": "0",
            "ENGAGE_SECRET_KEY": TEST_SECRET,
            "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_MODE": "polling",
        }
        log = tmp_path / "engage.log"
        with log.open("wb") as handle:
            server = await asyncio.create_subprocess_exec(
                ENGAGE, "-v", "run", env=env, cwd=tmp_path, stdout=handle, stderr=handle
            )
        try:
            person = fake.user(CHAT, "Secretname", username="secret_username")
            fake.send_text(person, TEXT)
            await fake.wait_for_sent(1, chat=CHAT, within=90)

            server.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await server.wait()
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()
    output = log.read_text()
    assert server.returncode == 0, output
    debug = [line for line in output.splitlines() if " DEBUG " in line]
    assert all(line.split(" DEBUG ")[1].startswith(OWN_LOGGERS) for line in debug)
    for secret in (TOKEN, TOKEN.split(":")[1], str(CHAT), "Secretname", "secret_username", TEXT):
        assert secret not in output
