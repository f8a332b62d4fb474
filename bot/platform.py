"""The running parts of one ``engage`` process: store, keys, runtime and channel adapters.

This is where the configuration meets the code: adapters get their settings passed in
here and nowhere read the environment themselves.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.web import WebAdapter
from bot import plain_batch
from bot.config import Settings
from bot.inbox import Inbox
from bot.leases import Leases
from bot.runtime import Runtime, TextAnalyser
from channels.adapter import ChannelAdapter
from channels.events import InboundEvent
from consultations.keys import Keyring
from storage.channel_store import SqlChannelStore
from storage.db import create_engine, create_sessionmaker


@dataclass
class Platform:
    """The running parts, shared by the web app, the adapters and the CLI."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: Keyring
    runtime: Runtime
    inbox: Inbox
    leases: Leases
    adapters: dict[str, ChannelAdapter] = field(default_factory=dict)

    async def sink(self, events: Sequence[InboundEvent]) -> int:
        """Where adapters put events: stored durably, then handled by the inbox."""
        return await self.inbox.receive_many(events)

    async def aclose(self) -> None:
        await self.leases.aclose()
        await self.engine.dispose()


def analyse_at_intake(text: str) -> tuple[float | None, dict[str, Any] | None]:
    """Sentiment and text features of a reply, computed once and stored beside it."""
    # Imported here: the analysis libraries take a second or two to load, which
    # commands that never see free text should not pay.
    from consultations.insights import analyse_text

    analysis = analyse_text(text)
    return analysis.sentiment, analysis.to_json()


def warm_up() -> None:
    """Load what the first answer would otherwise wait for, then set the heap aside.

    The text analysis and the safety screen load their models on first use. What is
    loaded by then (modules, models, lexicons: a few hundred thousand objects that live
    as long as the process) is moved out of the garbage collector's reach with
    :func:`gc.freeze`, so its full collections walk only what requests create rather
    than all of it again each time (https://docs.python.org/3/library/gc.html#gc.freeze).
    """
    from consultations import screening

    analyse_at_intake("Loading the text analysis before the first answer arrives.")
    screening.screen("Loading the safety screen before the first answer: I feel hopeless.")
    gc.collect()
    gc.freeze()


def create_platform(settings: Settings, *, analyse: TextAnalyser | None = None) -> Platform:
    """Build the store, keys and runtime (no adapters yet; see :func:`attach_adapters`)."""
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessionmaker = create_sessionmaker(engine)
    keyring = Keyring(settings.pseudonym_key)
    runtime = Runtime(
        sessionmaker,
        keyring,
        inline_channels=inline_channels({WebAdapter.name: WebAdapter()}),
        analyse=analyse or analyse_at_intake,
        plain_batch=plain_batch.handle,
        chat_messages_per_minute=settings.chat_messages_per_minute,
    )
    inbox = Inbox(sessionmaker, keyring, runtime)
    return Platform(settings, engine, sessionmaker, keyring, runtime, inbox, Leases(sessionmaker))


def inline_channels(adapters: Mapping[str, ChannelAdapter]) -> frozenset[str]:
    """The channels whose capabilities say they show replies within the request."""
    return frozenset(name for name, a in adapters.items() if a.capabilities.inline_replies)


def totals_only_channels(adapters: Mapping[str, ChannelAdapter]) -> frozenset[str]:
    """The channels whose native polls report only totals, not who voted."""
    return frozenset(
        name
        for name, a in adapters.items()
        if a.capabilities.native_polls and not a.capabilities.per_person_polls
    )


AdapterFactory = Callable[[Platform], Mapping[str, ChannelAdapter]]


def configured_adapters(platform: Platform) -> dict[str, ChannelAdapter]:
    """Every adapter whose settings are present (the web channel always is)."""
    settings = platform.settings
    adapters: dict[str, ChannelAdapter] = {"web": WebAdapter()}
    if settings.telegram_enabled and settings.telegram_bot_token:
        from adapters.telegram.adapter import WEBHOOK_PATH, TelegramAdapter

        adapters["telegram"] = TelegramAdapter(
            settings.telegram_bot_token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            base_url=settings.telegram_api_base_url,
            mode=settings.telegram_mode,
            webhook_url=settings.public_url.rstrip("/") + WEBHOOK_PATH,
            webhook_secret=settings.telegram_webhook_secret,
            messages_per_second=settings.telegram_messages_per_second,
            # One getUpdates poller per bot among the workers sharing the database.
            poller_lease=platform.leases.lease(
                f"telegram poller {settings.telegram_bot_token.split(':', 1)[0]}"
            ),
        )
    if settings.mastodon_api_base_url and settings.mastodon_access_token:
        from adapters.mastodon.adapter import MastodonAdapter

        adapters["mastodon"] = MastodonAdapter(
            settings.mastodon_api_base_url,
            settings.mastodon_access_token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            stall_timeout=settings.mastodon_stream_timeout,
        )
    return adapters
