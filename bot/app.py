"""The web application and the background work of ``engage run``.

One aiohttp application serves the web channel, the dashboard, and platform webhooks;
its cleanup context starts and stops the channel adapters, the inbox processor and the
outbox sender, so a graceful stop finishes what was accepted and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.base import ChannelAdapter
from adapters.web.channel import WebAdapter, WebChannel
from bot.config import Settings
from bot.crypto import Keyring
from bot.dashboard import Dashboard
from bot.events import InboundEvent
from bot.outbox import OutboxSender
from bot.runtime import Runtime, TextAnalyser
from storage.db import create_engine, create_sessionmaker

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """The running parts, shared by the web app, the adapters and the CLI."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: Keyring
    runtime: Runtime
    adapters: dict[str, ChannelAdapter] = field(default_factory=dict)
    inbox_wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def sink(self, events: Sequence[InboundEvent]) -> int:
        """Store inbound events durably, then wake the inbox processor."""
        new = await self.runtime.receive_many(events)
        if new:
            self.inbox_wake.set()
        return new

    async def aclose(self) -> None:
        await self.engine.dispose()


def analyse_at_intake(text: str) -> tuple[float | None, dict[str, Any] | None]:
    """Sentiment and text features of a reply, computed once and stored beside it."""
    # Imported here: the analysis libraries take a second or two to load, which
    # commands that never see free text should not pay.
    from consultations.insights import analyse_text

    analysis = analyse_text(text)
    return analysis.sentiment, analysis.to_json()


def create_platform(settings: Settings, *, analyse: TextAnalyser | None = None) -> Platform:
    """Build the store, keys and runtime (no adapters yet; see :func:`attach_adapters`)."""
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    keyring = Keyring(settings.pseudonym_key)
    runtime = Runtime(sessionmaker, keyring, analyse=analyse or analyse_at_intake)
    return Platform(settings, engine, sessionmaker, keyring, runtime)


AdapterFactory = Callable[[Platform], Mapping[str, ChannelAdapter]]


def configured_adapters(platform: Platform) -> dict[str, ChannelAdapter]:
    """Every adapter whose settings are present (the web channel always is)."""
    settings = platform.settings
    adapters: dict[str, ChannelAdapter] = {"web": WebAdapter()}
    if settings.telegram_enabled:
        from adapters.telegram.adapter import TelegramAdapter

        adapters["telegram"] = TelegramAdapter.from_settings(settings, platform)
    if settings.mastodon_enabled:
        from adapters.mastodon.adapter import MastodonAdapter

        adapters["mastodon"] = MastodonAdapter.from_settings(settings, platform)
    return adapters


PLATFORM = web.AppKey("platform", Platform)


def create_app(
    settings: Settings,
    *,
    platform: Platform | None = None,
    adapters: AdapterFactory = configured_adapters,
    background: bool = True,
) -> web.Application:
    """The aiohttp application: web channel, dashboard, webhooks, and background work.

    Args:
        settings: the configuration.
        platform: share an existing platform (tests, benchmarks); else one is built.
        adapters: which channel adapters to run.
        background: run the inbox processor, outbox sender and adapters' intake.
    """
    platform = platform or create_platform(settings)
    platform.adapters = dict(adapters(platform))
    app = web.Application(client_max_size=256 * 1024)
    app[PLATFORM] = platform
    channel = WebChannel(
        platform.runtime,
        platform.sessionmaker,
        platform.keyring,
        settings.secret_key,
        secure_cookies=settings.public_url.startswith("https://"),
    )
    app.add_routes(channel.routes())

    async def close_intake(app: web.Application) -> None:
        await channel.intake.aclose()

    app.on_shutdown.append(close_intake)
    app.add_routes(Dashboard(platform).routes())
    app.add_routes([web.get("/healthz", _health)])
    for adapter in platform.adapters.values():
        add_routes = getattr(adapter, "add_routes", None)
        if add_routes is not None:
            add_routes(app)
    # Cleanup runs in reverse: the engine is disposed of after the background work stops.
    app.cleanup_ctx.append(_dispose)
    if background:
        app.cleanup_ctx.append(_background)
    return app


async def _health(request: web.Request) -> web.Response:
    platform = request.app[PLATFORM]
    async with platform.engine.connect() as connection:
        await connection.execute(text("select 1"))
    return web.json_response({"status": "ok"})


async def _dispose(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[PLATFORM].aclose()


async def _background(app: web.Application) -> AsyncIterator[None]:
    platform = app[PLATFORM]
    stopping = asyncio.Event()
    sender = OutboxSender(
        platform.sessionmaker,
        platform.keyring,
        {name: a for name, a in platform.adapters.items() if name != "web"},
    )
    tasks = [
        asyncio.create_task(_process_inbox(platform, sender, stopping), name="inbox"),
        asyncio.create_task(sender.run(stopping), name="outbox"),
    ]
    started: list[ChannelAdapter] = []
    for adapter in platform.adapters.values():
        await adapter.start(platform.sink)
        started.append(adapter)
    try:
        yield
    finally:
        # Stop intake first, then let the inbox and outbox finish what was accepted.
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.name)
        await platform.runtime.process_pending(limit=10_000)
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _process_inbox(platform: Platform, sender: OutboxSender, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            handled = await platform.runtime.process_pending(limit=200)
        except Exception:
            log.exception("inbox processing failed; retrying")
            handled = 0
        if handled:
            sender.wake.set()
            continue
        platform.inbox_wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(platform.inbox_wake.wait(), timeout=0.5)
