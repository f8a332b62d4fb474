"""The Telegram adapter running for real against the fake Bot API, over HTTP.

``running`` starts the whole platform (web app, inbox processor, outbox sender and the
adapter) in polling or webhook mode; people act through the fake and tests wait for what
the bot says back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import telegram
from aiohttp.test_utils import TestServer, unused_port
from sqlalchemy import func, select

from adapters.telegram.adapter import WEBHOOK_PATH, TelegramAdapter
from bot.platform import Platform
from bot.web.app import create_app
from storage.channel_store import SqlChannelStore
from storage.tables import Base
from tests.fakes.telegram_api import FakeMessage, FakeTelegram
from tests.waiting import PATIENCE, wait_until

TOKEN = "123456:TEST-TOKEN"
SECRET = "webhook-secret-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram_api:
        yield telegram_api


def make_adapter(
    fake: FakeTelegram, platform: Platform, *, mode: str = "polling", port: int = 0, **options: Any
) -> TelegramAdapter:
    """An adapter talking to the fake; no per-chat pause unless a test asks for one."""
    options.setdefault("chat_interval", 0.0)
    return TelegramAdapter(
        fake.token,
        store=SqlChannelStore(platform.sessionmaker, platform.keyring),
        base_url=fake.base_url,
        mode=mode,
        webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        webhook_secret=SECRET,
        poll_timeout=5,
        **options,
    )


def unreachable_adapter(platform: Platform, port: int) -> TelegramAdapter:
    """An adapter whose Bot API is to be at ``port``, where nothing listens yet (a fake
    started there later plays the platform coming back)."""
    return TelegramAdapter(
        TOKEN,
        store=SqlChannelStore(platform.sessionmaker, platform.keyring),
        base_url=f"http://127.0.0.1:{port}/bot",
        chat_interval=0.0,
        poll_timeout=5,
    )


@dataclass
class Running:
    """The platform serving Telegram, and the fake it talks to."""

    fake: FakeTelegram
    platform: Platform
    adapter: TelegramAdapter
    server: TestServer

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{WEBHOOK_PATH}"

    async def said(self, user: telegram.User, count: int, within: float = PATIENCE) -> FakeMessage:
        """The bot's ``count``-th message to ``user`` (1-based), once it has been sent."""
        sent = await self.fake.wait_for_sent(count, chat=user, within=within)
        return sent[count - 1]

    async def count(self, table: type[Base], *where: Any) -> int:
        async with self.platform.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(table).where(*where)))

    async def wait_for_count(self, table: type[Base], count: int, *where: Any) -> None:
        """Wait until ``count`` rows of ``table`` match ``where``."""

        async def reached() -> bool:
            return await self.count(table, *where) == count

        await wait_until(reached, what=f"{count} rows in {table.__tablename__}")


@pytest.fixture(params=["polling", "webhook"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def start(fake: FakeTelegram, platform: Platform, mode: str, **options: Any) -> Running:
    port = unused_port()
    adapter = make_adapter(fake, platform, mode=mode, port=port, **options)
    app = create_app(platform.settings, platform=platform, adapters=lambda p: {"telegram": adapter})
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return Running(fake, platform, adapter, server)


@pytest.fixture
async def running(fake: FakeTelegram, platform: Platform, mode: str) -> AsyncIterator[Running]:
    """The platform with the Telegram adapter in ``mode``, started and stopped cleanly."""
    served = await start(fake, platform, mode)
    try:
        yield served
    finally:
        await stop(served)


async def stop(served: Running) -> None:
    """Stop the platform once the fake has handed over every update.

    A webhook delivery cut off by the server closing would leave the fake's client
    connection half-open until the fake closes.
    """
    with contextlib.suppress(TimeoutError):
        await served.fake.wait_until_consumed(within=2.0)
    await served.server.close()
