"""The Telegram channel adapter: intake by webhook or long polling, sending, launch posts.

The adapter is the :class:`channels.adapter.ChannelAdapter` face of three parts sharing
one PTB application (:mod:`adapters.telegram.connection`):

* :mod:`adapters.telegram.intake`: updates in by webhook or ``getUpdates``, converted by
  PTB's handlers and committed to the inbox before Telegram is told they arrived;
* :mod:`adapters.telegram.sending`: the outbox's messages, paced per chat, resumable;
* :mod:`adapters.telegram.publishing`: launch posts in groups and channels, and closing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import telegram
from aiohttp import web
from telegram import error as tg_error

from adapters.plumbing.timing import Clock, Sleep, Stopper, monotonic
from adapters.telegram.connection import BotConnection, token_refused
from adapters.telegram.convert import CHANNEL
from adapters.telegram.intake import ALLOWED_UPDATES, SECRET_HEADER, WEBHOOK_PATH, TelegramIntake
from adapters.telegram.limits import TELEGRAM_LIMITS
from adapters.telegram.pacing import ChatPacer, is_group
from adapters.telegram.publishing import TelegramPublisher
from adapters.telegram.sending import TelegramSender
from channels.adapter import (
    Capabilities,
    CredentialsRejected,
    Delivery,
    EventSink,
    PlatformUnreachable,
    PublishedPost,
)
from channels.events import OutboundMessage
from channels.lease import Lease
from channels.store import ChannelStore
from consultations.spec import ConsultationSpec
from consultations.texts import available_languages, texts_for

__all__ = ["ALLOWED_UPDATES", "SECRET_HEADER", "WEBHOOK_PATH", "TelegramAdapter"]

log = logging.getLogger(__name__)

BOT_COMMANDS = [
    ("start", "command_start"),
    ("help", "command_help"),
    ("stop", "command_stop"),
    ("delete", "command_delete"),
]
"""The bot's commands and the keys of their descriptions (consultations/texts)."""


class TelegramAdapter:
    """Telegram as a :class:`channels.adapter.ChannelAdapter`.

    Args:
        token: the bot token.
        store: the channel store, for poll tallies, poll references and the polling offset.
        base_url: the Bot API base; the token is appended.
        mode: ``polling`` or ``webhook``.
        webhook_url: where Telegram posts updates in webhook mode.
        webhook_secret: the secret token Telegram sends with every webhook call.
        messages_per_second: the overall sending pace.
        chat_interval: seconds between messages in one chat.
        group_per_minute: messages per minute in one group.
        poll_timeout: long-polling timeout, seconds.
        poller_lease: in polling mode, the lease a worker must hold to poll, so that of
            several workers sharing the store exactly one calls ``getUpdates``.
        clock: monotonic seconds (per-chat pacing).
        sleep: how to wait (pacing, pauses between polls, launch retries).
    """

    name = CHANNEL
    capabilities = Capabilities(
        native_polls=True,
        per_person_polls=True,
        buttons=True,
        threads=True,
        limits=TELEGRAM_LIMITS,
        max_per_second=30.0,
        announces_requests=True,
    )

    def __init__(
        self,
        token: str,
        *,
        store: ChannelStore,
        base_url: str = "https://api.telegram.org/bot",
        mode: str = "polling",
        webhook_url: str | None = None,
        webhook_secret: str = "",
        messages_per_second: float = 30.0,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        poll_timeout: int = 10,
        poller_lease: Lease | None = None,
        clock: Clock = monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode must be polling or webhook, not {mode!r}")
        if mode == "webhook" and not webhook_url:
            raise ValueError("webhook mode needs the webhook URL")
        self.store = store
        self.mode = mode
        self.webhook_url = webhook_url
        # An empty secret would accept every caller; never run without one.
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(32)
        self.connection = BotConnection(
            token, base_url=base_url, messages_per_second=messages_per_second
        )
        self.pacer = ChatPacer(
            chat_interval=chat_interval,
            group_per_minute=group_per_minute,
            overall_per_second=max(1, round(messages_per_second)),
            clock=clock,
            sleep=sleep,
        )
        self.stopper = Stopper(sleep)
        blocked: set[int | str] = set()
        self.intake = TelegramIntake(
            self.connection,
            store,
            self.stopper,
            blocked=blocked,
            webhook_secret=self.webhook_secret,
            poll_timeout=poll_timeout,
            lease=poller_lease,
        )
        self.sender = TelegramSender(self.connection, store, self.pacer, blocked=blocked)
        self.publisher = TelegramPublisher(self.connection, store, self.pacer, sleep=sleep)

    @property
    def bot(self) -> telegram.Bot:
        """The PTB bot (with the rate limiter)."""
        return self.connection.bot

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Register commands and the webhook, or start long polling.

        Raises :class:`CredentialsRejected` when Telegram refuses the token (401, 403,
        404) or, in webhook mode, the webhook address (400, naming ``ENGAGE_PUBLIC_URL``),
        and :class:`PlatformUnreachable` when it cannot be reached.
        """
        try:
            await self._start(sink)
        except (tg_error.InvalidToken, tg_error.Forbidden):
            # 401 and 404 (an unknown or revoked token), 403 (a bot Telegram refuses):
            # asking again gets the same answer. PTB's message may quote the token itself:
            # never passed on.
            raise token_refused() from None
        except tg_error.NetworkError as exc:  # TimedOut too; InvalidToken is caught above
            raise PlatformUnreachable(f"Telegram could not be reached ({exc})") from None

    async def _start(self, sink: EventSink) -> None:
        await self.connection.ensure_ready()
        self.intake.sink = sink
        self.connection.running = True
        self.sender.closing = False
        self.stopper.clear()
        # English for everyone, and each shipped language for people whose Telegram is
        # set to it (https://core.telegram.org/bots/api#setmycommands, language_code).
        for language in available_languages():
            texts = texts_for(language)
            await self.bot.set_my_commands(
                [telegram.BotCommand(command, texts(key)) for command, key in BOT_COMMANDS],
                language_code=None if language == "en" else language,
            )
        if self.mode == "webhook":
            try:
                await self.bot.set_webhook(
                    url=self.webhook_url or "",
                    secret_token=self.webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except tg_error.BadRequest as exc:
                # Not HTTPS, a port Telegram does not deliver to, a host it cannot
                # resolve: the same address gets the same answer however long we wait.
                raise CredentialsRejected(
                    "ENGAGE_PUBLIC_URL",
                    f"Telegram refused the webhook address {self.webhook_url} ({exc})",
                ) from None
            log.info("telegram: webhook registered at %s", self.webhook_url)
        else:
            # getUpdates is refused while a webhook is set.
            await self.bot.delete_webhook()
            self.intake.start_polling()
            log.info("telegram: polling for updates")

    async def stop(self) -> None:
        """Stop taking updates and sending (the webhook stays registered: Telegram keeps them).

        Messages the outbox offers after this stay queued for the next start.
        """
        self.stopper.set()
        self.sender.closing = True
        await self.intake.stop()
        await self.sender.idle()
        self.connection.running = False
        await self.connection.shutdown()

    def add_routes(self, app: web.Application) -> None:
        """Serve the webhook at ``/hooks/telegram`` (webhook mode only)."""
        if self.mode == "webhook":
            app.router.add_post(WEBHOOK_PATH, self.intake.webhook)

    async def forget_erased(self) -> None:
        """Drop the pacing, blocks and part-sent messages of private chats whose person
        is no longer held (``channels.adapter.RemembersPeople``): after an erasure
        nothing in memory names them. A private chat's id is its person's user id
        (https://core.telegram.org/bots/api#chat); groups are nobody's, and stay paced.
        """
        chats = {chat for chat in self.pacer.chats() | self.sender.chats() if not is_group(chat)}
        if not chats:
            return
        held = await self.store.still_held(CHANNEL, [str(chat) for chat in chats])
        gone = {chat for chat in chats if str(chat) not in held}
        self.pacer.forget(gone)
        self.sender.forget(gone)

    # -- the rest of the protocol -----------------------------------------------------

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        """Deliver one message; see :meth:`adapters.telegram.sending.TelegramSender.send`."""
        return await self.sender.send(address, message, key=key)

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the consultation in its chats; see :mod:`adapters.telegram.publishing`."""
        return await self.publisher.publish(spec)

    async def post_question(
        self, spec: ConsultationSpec, item_id: str, text: str, posts: Sequence[PublishedPost]
    ) -> list[PublishedPost]:
        """Post a timed question in the spec's chats (``channels.adapter.QuestionPoster``)."""
        return await self.publisher.post_question(spec, text, item_id)

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Stop the group polls (storing their final totals) and say the consultation closed."""
        await self.publisher.close(spec, posts)
