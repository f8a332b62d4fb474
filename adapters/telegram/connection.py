"""The bot as every part of the Telegram adapter sees it: one PTB application, started once.

python-telegram-bot's :class:`~telegram.ext.Application` runs without its own updater
or webhook server (``.updater(None)``): intake feeds it updates itself
(:mod:`adapters.telegram.intake`). Sending is paced by PTB's ``AIORateLimiter`` (30
messages a second overall) and :class:`adapters.telegram.pacing.ChatPacer` (one a
second per chat, 20 a minute per group). The outbox owns retries, so the limiter never
retries by itself. Requests go out through aiohttp (:mod:`adapters.telegram.request`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import telegram
from telegram import error as tg_error
from telegram.ext import AIORateLimiter, Application

from adapters.telegram.request import AiohttpRequest
from channels.adapter import CredentialsRejected

TelegramApplication = Application[Any, Any, Any, Any, Any, Any]


def _not_a_retry_report(record: logging.LogRecord) -> bool:
    # With max_retries=0 the limiter logs every 429 as an error with a traceback; the
    # outbox handles them (RetryLater) and logs them itself.
    return not str(record.msg).startswith("Rate limit hit after maximum of")


logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_not_a_retry_report)


def token_refused() -> CredentialsRejected:
    """What to raise when Telegram refuses the bot token (never quoting it)."""
    return CredentialsRejected("TELEGRAM_BOT_TOKEN", "Telegram rejected the bot token")


class BotConnection:
    """The PTB application and whether it is initialised (``getMe`` done).

    Args:
        token: the bot token.
        base_url: the Bot API base; the token is appended.
        messages_per_second: the overall sending pace.
    """

    def __init__(self, token: str, *, base_url: str, messages_per_second: float) -> None:
        # The outbox's messages keep the overall pace in ChatPacer (a sliding window of
        # request starts); this bucket of a second's worth is a backstop for the rest
        # (launch posts, answers to button presses), never slower than that window.
        limiter = AIORateLimiter(
            overall_max_rate=messages_per_second,
            overall_time_period=1,
            group_max_rate=0,  # kept by ChatPacer as a sliding window
            max_retries=0,  # the outbox retries, with backoff, and knows what was sent
        )
        # Kept here too: PTB opens their sessions before its getMe, and when that fails it
        # counts itself not initialised, so its shutdown would not close them.
        self._requests = (AiohttpRequest(), AiohttpRequest(1))
        self.application: TelegramApplication = (
            Application.builder()
            .token(token)
            .base_url(base_url)
            .updater(None)
            .request(self._requests[0])
            # Long polling holds one request open at a time.
            .get_updates_request(self._requests[1])
            .rate_limiter(limiter)
            .build()
        )
        self._lock = asyncio.Lock()
        self.ready = False
        self.running = False

    @property
    def bot(self) -> telegram.Bot:
        """The PTB bot (with the rate limiter)."""
        bot: telegram.Bot = self.application.bot
        return bot

    async def ensure_ready(self) -> None:
        """Initialise the application once (``getMe``: checks the token)."""
        async with self._lock:
            if not self.ready:
                try:
                    await self.application.initialize()
                except BaseException:
                    # Telegram not reached, or the token refused: no session left open.
                    # The bot is shut down too, so that the next attempt (a start tried
                    # again once Telegram answers) opens the sessions again; PTB counts
                    # them open after the first attempt whether or not its getMe worked.
                    with contextlib.suppress(Exception):
                        await self.application.bot.shutdown()
                    for request in self._requests:
                        await request.shutdown()
                    raise
                self.ready = True

    async def shutdown(self) -> None:
        """Release the application's HTTP client."""
        async with self._lock:
            if self.ready:
                await self.application.shutdown()
                self.ready = False

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The bot ready for a one-off job (launch, close), shut down after if not running."""
        running = self.running
        await self.ensure_ready()
        try:
            yield
        finally:
            if not running:
                await self.shutdown()


def retry_after_seconds(exc: tg_error.RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type this PTB reports it as."""
    value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
