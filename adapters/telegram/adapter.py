"""The Telegram channel adapter: intake by webhook or long polling, sending, launch posts.

python-telegram-bot's :class:`~telegram.ext.Application` parses updates and dispatches
them to handlers, which turn them into core events (:mod:`adapters.telegram.convert`).
The application runs without its own updater or webhook server: updates are fed to
:meth:`~telegram.ext.Application.process_update` by

* our aiohttp route ``/hooks/telegram`` (webhook mode), which answers 200 only once the
  update's events are committed to the inbox, so Telegram redelivers anything not stored
  (https://core.telegram.org/bots/api#setwebhook); or
* our own ``getUpdates`` loop (polling mode), which confirms an offset only after the
  commit (https://core.telegram.org/bots/api#getupdates: an update is confirmed by
  calling getUpdates with a higher offset). PTB's ``Updater`` confirms as soon as it has
  fetched, which could lose updates on a crash, so it is not used.

Sending is paced by PTB's ``AIORateLimiter`` (30 messages a second overall) and
:class:`adapters.telegram.pacing.ChatPacer` (one a second per chat, 20 a minute per
group). The outbox owns retries, so the limiter never retries by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

import httpx
import telegram
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import error as tg_error
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    PollHandler,
    filters,
)

from adapters.telegram import convert, render
from adapters.telegram.convert import CHANNEL, message_ref, poll_ref
from adapters.telegram.limits import TELEGRAM_LIMITS
from adapters.telegram.pacing import ChatPacer
from channels.adapter import (
    Capabilities,
    Delivery,
    EventSink,
    PublishedPost,
    RetryLater,
    Undeliverable,
)
from channels.events import InboundEvent, OutboundMessage
from consultations.keys import constant_time_equal
from consultations.spec import ConsultationSpec
from storage import queries
from storage.tables import ChannelCursor, Consultation, PollTally, Publication, utcnow

log = logging.getLogger(__name__)


def _not_a_retry_report(record: logging.LogRecord) -> bool:
    # With max_retries=0 the limiter logs every 429 as an error with a traceback; the
    # outbox handles them (RetryLater) and logs them itself.
    return not str(record.msg).startswith("Rate limit hit after maximum of")


logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_not_a_retry_report)

WEBHOOK_PATH = "/hooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Only what a consultation uses; everything else stays on Telegram's side.
ALLOWED_UPDATES = ["message", "callback_query", "poll", "poll_answer", "my_chat_member"]
BOT_COMMANDS = [
    ("start", "Take part in a consultation"),
    ("help", "How this works"),
    ("stop", "Leave: no more questions"),
    ("delete", "Erase your answers"),
]

TelegramApplication = Application[Any, Any, Any, Any, Any, Any]
Step = Callable[[], Awaitable[telegram.Message]]
Markup = telegram.InlineKeyboardMarkup | telegram.ForceReply


@dataclass
class _Intake:
    """What the handlers made of a batch of updates, committed before acknowledging it."""

    events: list[InboundEvent] = field(default_factory=list)
    polls: list[tuple[str, telegram.Poll]] = field(default_factory=list)
    presses: list[tuple[str, str | None]] = field(default_factory=list)


_INTAKE: ContextVar[_Intake | None] = ContextVar("telegram_intake", default=None)


class TelegramAdapter:
    """Telegram as a :class:`channels.adapter.ChannelAdapter`.

    Args:
        token: the bot token.
        sessionmaker: the store, for poll tallies, poll references and the polling offset.
        base_url: the Bot API base; the token is appended.
        mode: ``polling`` or ``webhook``.
        webhook_url: where Telegram posts updates in webhook mode.
        webhook_secret: the secret token Telegram sends with every webhook call.
        messages_per_second: the overall sending pace.
        chat_interval: seconds between messages in one chat.
        group_per_minute: messages per minute in one group.
        poll_timeout: long-polling timeout, seconds.
    """

    name = CHANNEL
    capabilities = Capabilities(
        native_polls=True,
        per_person_polls=True,
        buttons=True,
        threads=True,
        limits=TELEGRAM_LIMITS,
        max_per_second=30.0,
    )

    def __init__(
        self,
        token: str,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        base_url: str = "https://api.telegram.org/bot",
        mode: str = "polling",
        webhook_url: str | None = None,
        webhook_secret: str = "",
        messages_per_second: float = 30.0,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        poll_timeout: int = 10,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode must be polling or webhook, not {mode!r}")
        if mode == "webhook" and not webhook_url:
            raise ValueError("webhook mode needs the webhook URL")
        self.sessionmaker = sessionmaker
        self.mode = mode
        self.webhook_url = webhook_url
        # An empty secret would accept every caller; never run without one.
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(32)
        self.poll_timeout = poll_timeout
        self.pacer = ChatPacer(chat_interval=chat_interval, group_per_minute=group_per_minute)
        # A bucket of one that refills every 1/30 s: a steady pace, never a burst, so a
        # sliding one-second window (as Telegram counts) never sees more than 30.
        limiter = AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / messages_per_second,
            group_max_rate=0,  # kept by ChatPacer as a sliding window
            max_retries=0,  # the outbox retries, with backoff, and knows what was sent
        )
        self.application: TelegramApplication = (
            Application.builder()
            .token(token)
            .base_url(base_url)
            .updater(None)
            .rate_limiter(limiter)
            .build()
        )
        self._add_handlers()
        self._lock = asyncio.Lock()
        self._ready = False
        self._sink: EventSink | None = None
        self._stopping = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # Pieces of a long message already delivered, so a retry sends only the rest.
        self._delivered_steps: dict[str, int] = {}
        # Private chats whose person blocked the bot, until they write to it again:
        # messages already queued for them are refused here, not sent to get another 403.
        self._blocked: set[int | str] = set()
        # Sends in flight: stop() waits for them before closing the HTTP client, since a
        # request cut off half way may or may not have reached the person.
        self._closing = False
        self._sending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def bot(self) -> telegram.Bot:
        """The PTB bot (with the rate limiter)."""
        bot: telegram.Bot = self.application.bot
        return bot

    # -- lifecycle --------------------------------------------------------------------

    async def _ensure_ready(self) -> None:
        async with self._lock:
            if not self._ready:
                await self.application.initialize()  # getMe: checks the token
                self._ready = True

    async def _shutdown(self) -> None:
        async with self._lock:
            if self._ready:
                await self.application.shutdown()
                self._ready = False

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[None]:
        """The bot ready for a one-off job (launch, close), shut down after if not running."""
        running = self._sink is not None
        await self._ensure_ready()
        try:
            yield
        finally:
            if not running:
                await self._shutdown()

    async def start(self, sink: EventSink) -> None:
        """Register commands and the webhook, or start long polling."""
        await self._ensure_ready()
        self._sink = sink
        self._closing = False
        self._stopping.clear()
        await self.bot.set_my_commands(
            [telegram.BotCommand(command, text) for command, text in BOT_COMMANDS]
        )
        if self.mode == "webhook":
            await self.bot.set_webhook(
                url=self.webhook_url or "",
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: webhook registered at %s", self.webhook_url)
        else:
            # getUpdates is refused while a webhook is set.
            await self.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram: polling for updates")

    async def stop(self) -> None:
        """Stop taking updates and sending (the webhook stays registered: Telegram keeps them).

        Messages the outbox offers after this stay queued for the next start.
        """
        self._stopping.set()
        self._closing = True
        if self._poller is not None:
            await self._poller
            self._poller = None
        await self._idle.wait()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self._sink = None
        await self._shutdown()

    # -- intake -----------------------------------------------------------------------

    def _add_handlers(self) -> None:
        app = self.application
        private = filters.ChatType.PRIVATE
        app.add_handler(CommandHandler(list(convert.COMMANDS), self._on_command, private))
        app.add_handler(MessageHandler(filters.COMMAND & private, self._on_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        app.add_handler(CallbackQueryHandler(self._on_press))
        app.add_handler(PollAnswerHandler(self._on_poll_answer))
        app.add_handler(PollHandler(self._on_poll))
        app.add_handler(ChatMemberHandler(self._on_member, ChatMemberHandler.MY_CHAT_MEMBER))

    def _key(self, update: telegram.Update) -> str:
        return convert.event_id(self.bot.id, update.update_id)

    @staticmethod
    def _collector() -> _Intake:
        intake = _INTAKE.get()
        if intake is None:
            raise RuntimeError("updates reach the handlers only through the adapter's intake")
        return intake

    def _collect(self, event: InboundEvent | None) -> None:
        if event is not None:
            self._collector().events.append(event)

    async def _on_command(
        self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        if update.message is not None:
            args = list(context.args or [])
            self._collect(convert.from_command(update.message, self._key(update), args))

    async def _on_text(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            self._collect(convert.from_text(update.message, self._key(update)))

    async def _on_press(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        press = convert.from_callback(query, self._key(update))
        self._collect(press.event)
        self._collector().presses.append((query.id, press.notice))

    async def _on_poll_answer(
        self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        if update.poll_answer is not None:
            self._collect(convert.from_poll_answer(update.poll_answer, self._key(update)))

    async def _on_poll(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Totals of anonymous polls posted in groups; private-chat polls are counted per
        # person from their poll_answer updates instead.
        if update.poll is not None and update.poll.is_anonymous:
            self._collector().polls.append((self._key(update), update.poll))

    async def _on_member(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.my_chat_member is not None:
            self._collect(convert.from_my_chat_member(update.my_chat_member, self._key(update)))

    async def take_in(self, updates: Sequence[telegram.Update]) -> int:
        """Dispatch updates to the handlers, then store what they made; returns new events.

        Returns only after the inbox (and any poll tallies) are committed.
        """
        if self._sink is None:
            raise RuntimeError("the Telegram adapter is not started")
        intake = _Intake()
        token = _INTAKE.set(intake)
        try:
            for update in updates:
                await self.application.process_update(update)
        finally:
            _INTAKE.reset(token)
        new = await self._sink(intake.events) if intake.events else 0
        for event in intake.events:
            if isinstance(event.address, dict) and not event.public:
                self._blocked.discard(event.address.get("chat"))
        if intake.polls:
            await self._record_tallies(intake.polls)
        for query_id, notice in intake.presses:
            self._in_background(self._answer_press(query_id, notice))
        return new

    def _in_background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer_press(self, query_id: str, notice: str | None) -> None:
        # Stops the button's progress spinner; a second answer to a repeated update fails
        # harmlessly (https://core.telegram.org/bots/api#answercallbackquery).
        try:
            await self.bot.answer_callback_query(query_id, text=notice)
        except tg_error.TelegramError as exc:
            log.debug("telegram: answering callback %s: %s", query_id, exc)

    async def _record_tallies(self, polls: Sequence[tuple[str | None, telegram.Poll]]) -> None:
        """Store the totals of our anonymous group polls, once per update."""
        async with self.sessionmaker.begin() as session:
            for key, poll in polls:
                if key is not None:
                    new = await queries.insert_inbox(session, CHANNEL, key, None, processed=True)
                    if new is None:
                        continue  # the same update again
                post = await queries.publication_by_ref(session, CHANNEL, poll_ref(poll.id))
                if post is None or post.kind != "poll" or post.item_id is None:
                    continue
                session.add(
                    PollTally(
                        consultation_id=post.consultation_id,
                        item_id=post.item_id,
                        channel=CHANNEL,
                        platform_ref=poll.id,
                        counts=convert.poll_counts(poll),
                        final=poll.is_closed,
                        taken_at=utcnow(),
                    )
                )

    # webhook mode

    def add_routes(self, app: web.Application) -> None:
        """Serve the webhook at ``/hooks/telegram`` (webhook mode only)."""
        if self.mode == "webhook":
            app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def _webhook(self, request: web.Request) -> web.Response:
        # Authenticate before reading a byte of the body
        # (https://core.telegram.org/bots/api#setwebhook, secret_token).
        given = request.headers.get(SECRET_HEADER, "")
        if not constant_time_equal(given, self.webhook_secret):
            return web.Response(status=403, text="forbidden")
        if self._sink is None or not self._ready:
            return web.Response(status=503, text="not ready")  # Telegram will retry
        try:
            data = await request.json()
            update = telegram.Update.de_json(data, self.bot)
        except Exception:
            return web.Response(status=400, text="not an update")
        if update is None:
            return web.Response(status=400, text="not an update")
        try:
            await self.take_in([update])
        except Exception:
            log.exception("telegram: update %s could not be stored", update.update_id)
            return web.Response(status=500, text="not stored")  # Telegram will retry
        return web.Response(status=200)

    # polling mode

    @property
    def _cursor_name(self) -> str:
        return f"offset:{self.bot.id}"

    async def _load_offset(self) -> int | None:
        async with self.sessionmaker() as session:
            row = await session.get(ChannelCursor, (CHANNEL, self._cursor_name))
        return int(row.value) if row is not None else None

    async def _save_offset(self, offset: int) -> None:
        async with self.sessionmaker.begin() as session:
            row = await session.get(ChannelCursor, (CHANNEL, self._cursor_name))
            if row is None:
                session.add(
                    ChannelCursor(channel=CHANNEL, name=self._cursor_name, value=str(offset))
                )
            else:
                row.value = str(offset)
                row.updated_at = utcnow()

    async def _poll(self) -> None:
        """Long-poll getUpdates; store each batch, then confirm it with the next offset."""
        offset = await self._load_offset()
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                updates = await self._unless_stopping(
                    self.bot.get_updates(
                        offset=offset,
                        timeout=timedelta(seconds=self.poll_timeout),
                        allowed_updates=ALLOWED_UPDATES,
                    )
                )
                if updates is None:
                    return
                if updates:
                    await self.take_in(updates)
                    offset = updates[-1].update_id + 1
                    await self._save_offset(offset)
                backoff = 1.0
            except tg_error.RetryAfter as exc:
                await self._pause(_seconds(exc))
            except tg_error.InvalidToken:
                log.error("telegram: the bot token was refused; polling stopped")
                return
            except Exception as exc:
                # Network trouble, a conflicting poller, or the store is down: the batch
                # was not confirmed, so it comes again.
                log.warning("telegram: polling failed (%s); retrying in %.0f s", exc, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _unless_stopping(
        self, work: Awaitable[tuple[telegram.Update, ...]]
    ) -> tuple[telegram.Update, ...] | None:
        fetch = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, tg_error.TelegramError):
                await fetch
            return None
        return fetch.result()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    # -- sending ----------------------------------------------------------------------

    async def send(self, address: Any, message: OutboundMessage) -> Delivery:
        """Deliver one message to ``{"chat": id, "thread": n}``.

        Raises:
            RetryLater: Telegram asked us to wait, or the network failed before sending.
            Undeliverable: Telegram refused the message; ``opted_out`` when the person
                blocked the bot or deleted their account.
        """
        chat, thread = _address(address)
        if chat in self._blocked:
            raise Undeliverable("Forbidden: bot was blocked by the user", opted_out=True)
        if self._closing:
            raise RetryLater("the Telegram adapter is stopping", after=1.0)
        self._sending += 1
        self._idle.clear()
        try:
            return await self._send(chat, thread, address, message)
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()

    async def _send(
        self, chat: int | str, thread: int | None, address: Any, message: OutboundMessage
    ) -> Delivery:
        await self._ensure_ready()
        key = hashlib.sha256(
            json.dumps([address, message.to_json()], sort_keys=True).encode()
        ).hexdigest()
        steps = await self._steps(chat, thread, message)
        done = self._delivered_steps.get(key, 0)
        sent: telegram.Message | None = None
        try:
            for index, step in enumerate(steps):
                if index < done:
                    continue
                await self.pacer.slot(chat)
                sent = await step()
                self._delivered_steps[key] = index + 1
        except tg_error.TelegramError as exc:
            self._fail(chat, exc)
        finally:
            if sent is not None and self._delivered_steps.get(key) == len(steps):
                del self._delivered_steps[key]
        if sent is None:
            raise Undeliverable("nothing left to send")
        if sent.poll is not None and message.consultation_id and message.question:
            await self._remember_poll(sent.poll.id, message.consultation_id, message.question)
        return Delivery(platform_ref=message_ref(sent.chat.id, sent.message_id))

    def _fail(self, chat: int | str, exc: tg_error.TelegramError) -> NoReturn:
        """Turn a Bot API error into the outbox's terms (always raises)."""
        if isinstance(exc, tg_error.RetryAfter):
            seconds = _seconds(exc)
            self.pacer.pause(chat, seconds)
            raise RetryLater(f"Telegram flood control: retry after {seconds:g} s", after=seconds)
        if isinstance(exc, tg_error.Forbidden):
            reason = exc.message.lower()
            # https://core.telegram.org/bots/api#making-requests: 403 when the person
            # blocked the bot or their account is gone; neither will ever take a message.
            opted_out = "blocked" in reason or "deactivated" in reason
            if opted_out:
                self._blocked.add(chat)
            raise Undeliverable(f"Forbidden: {exc.message}", opted_out=opted_out)
        if isinstance(exc, tg_error.ChatMigrated):
            raise Undeliverable(f"the group is now chat {exc.new_chat_id}; update the spec")
        if isinstance(exc, tg_error.BadRequest | tg_error.InvalidToken):
            raise Undeliverable(f"Bad Request: {exc.message}")
        if isinstance(exc, tg_error.TimedOut):
            # Only a timeout before the request went out is safe to retry; after that the
            # message may have arrived, and a lost reply beats the same question twice.
            if isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
                raise RetryLater(f"timed out connecting: {exc.message}")
            raise Undeliverable(f"timed out waiting for Telegram (may have arrived): {exc}")
        raise RetryLater(f"{type(exc).__name__}: {exc.message}")

    async def _steps(
        self, chat: int | str, thread: int | None, message: OutboundMessage
    ) -> list[Step]:
        """The Bot API calls that deliver one message, in order."""
        bot = self.bot
        private = isinstance(chat, int) and chat > 0
        reply = None
        if message.reply_to:
            target = convert.parse_message_ref(message.reply_to)
            if target is not None:
                reply = telegram.ReplyParameters(target[1], allow_sending_without_reply=True)

        def text_step(text: str, markup: Markup | None = None) -> Step:
            return lambda: bot.send_message(
                chat,
                text,
                message_thread_id=thread,
                reply_parameters=reply,
                reply_markup=markup,
            )

        markup: Markup | None = None
        kind = message.question_type
        if message.kind == "safety" or kind is None:
            markup = None
        elif kind == "poll" and private and render.fits_native_poll(message):
            lead, question = render.poll_question(message.text)
            steps = [text_step(piece) for piece in render.split_text(lead)] if lead else []
            options = list(message.options)
            steps.append(
                lambda: bot.send_poll(
                    chat,
                    question,
                    options,
                    is_anonymous=False,
                    allows_multiple_answers=message.multiple,
                    message_thread_id=thread,
                )
            )
            return steps
        elif kind == "choose":
            markup = render.choose_keyboard(message.options, await self._titles(message.options))
        elif (kind in render.BUTTON_TYPES or kind == "poll") and message.options:
            markup = render.option_keyboard(message)
        elif kind in ("prompt", "thread") and private:
            markup = render.force_reply()
        pieces = render.split_text(message.text)
        return [
            text_step(piece, markup if index == len(pieces) - 1 else None)
            for index, piece in enumerate(pieces)
        ]

    async def _titles(self, consultation_ids: Sequence[str]) -> dict[str, str]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Consultation.id, Consultation.title).where(
                    Consultation.id.in_(list(consultation_ids))
                )
            )
            return {row[0]: row[1] for row in rows}

    async def _remember_poll(self, poll_id: str, consultation_id: str, item_id: str) -> None:
        """Record which item a private-chat poll asks, so its votes find their way back.

        A ``poll_answer`` names only the poll; a ``Publication`` row keyed by the poll id
        is what the core already uses to tie replies to items. The poll has already gone:
        if this cannot be stored, votes fall back to the person's pending question rather
        than the poll being sent again.
        """
        try:
            async with self.sessionmaker.begin() as session:
                session.add(
                    Publication(
                        consultation_id=consultation_id,
                        item_id=item_id,
                        channel=CHANNEL,
                        platform_ref=poll_ref(poll_id),
                        kind="dm-poll",
                    )
                )
        except Exception:
            log.exception("telegram: poll %s could not be recorded", poll_id)

    # -- launching and closing --------------------------------------------------------

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the consultation in each of ``telegram.chats``: an intro, then the items.

        Polls are anonymous there (Telegram allows no others in channels, and a group's
        members see one another's votes otherwise); their totals are stored as tallies.
        A thread becomes its own forum topic where the group has topics.
        """
        posts: list[PublishedPost] = []
        failed: list[str] = []
        async with self._connected():
            # Chats side by side: each is paced on its own (one post a second).
            results = await asyncio.gather(
                *(self._publish_in(chat, spec) for chat in spec.telegram.chats),
                return_exceptions=True,
            )
        for chat, result in zip(spec.telegram.chats, results, strict=True):
            if isinstance(result, BaseException):
                log.error("telegram: publishing in %s failed: %s", chat, result)
                failed.append(f"{chat}: {result}")
            else:
                posts.extend(result)
        if failed and not posts:
            raise RuntimeError("; ".join(failed))
        return posts

    async def _publish_in(self, chat: int | str, spec: ConsultationSpec) -> list[PublishedPost]:
        bot = self.bot
        intro = (
            f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n"
            "To take part, reply to the posts below or vote in the polls: doing so means "
            "you agree to the above. Reply STOP to leave."
        )
        first = await self._post(
            chat, functools.partial(bot.send_message, chat, render.shorten(intro, 4096))
        )
        chat_id = first.chat.id  # a public @username becomes the numeric id replies carry
        posts = [PublishedPost(None, message_ref(chat_id, first.message_id), kind="intro")]
        forum: bool | None = None
        for item in spec.items:
            if item.type == "poll":
                sent = await self._post(
                    chat_id,
                    functools.partial(
                        bot.send_poll,
                        chat_id,
                        render.shorten(item.text, render.POLL_QUESTION_LIMIT),
                        list(item.options),
                        is_anonymous=True,
                        allows_multiple_answers=item.multiple,
                    ),
                )
                posts.append(PublishedPost(item.id, message_ref(chat_id, sent.message_id)))
                if sent.poll is not None:
                    posts.append(PublishedPost(item.id, poll_ref(sent.poll.id), kind="poll"))
                continue
            thread: int | None = None
            if item.type == "thread" and forum is not False:
                try:
                    topic = await self._post(
                        chat_id,
                        functools.partial(
                            bot.create_forum_topic,
                            chat_id,
                            render.shorten(item.text, render.TOPIC_NAME_LIMIT),
                        ),
                    )
                except tg_error.BadRequest as exc:
                    # Not a forum (or no right to manage topics): a plain post instead.
                    log.info("telegram: no forum topic in %s (%s); posting instead", chat, exc)
                    forum = False
                else:
                    forum = True
                    thread = topic.message_thread_id
                    posts.append(PublishedPost(item.id, message_ref(chat_id, thread), kind="topic"))
            how = (
                "Reply to this message to answer."
                if item.type == "prompt"
                else ("Reply here to join the discussion; reply to others to build on their ideas.")
            )
            text = render.shorten(f"{item.text}\n\n{how}", render.TEXT_LIMIT)
            sent = await self._post(
                chat_id,
                functools.partial(bot.send_message, chat_id, text, message_thread_id=thread),
            )
            posts.append(PublishedPost(item.id, message_ref(chat_id, sent.message_id)))
        return posts

    async def _post(self, chat: int | str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One launch-time call, paced, waiting out flood control (there is no outbox here)."""
        for _ in range(5):
            await self.pacer.slot(chat, wait=False)
            try:
                return await call()
            except tg_error.RetryAfter as exc:
                self.pacer.pause(chat, _seconds(exc))
        raise RuntimeError(f"Telegram kept refusing posts in {chat} (flood control)")

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Stop the group polls (storing their final totals) and say the consultation closed."""
        by_chat: dict[int | str, list[tuple[PublishedPost, int]]] = {}
        for post in posts:
            target = convert.parse_message_ref(post.platform_ref)
            if target is not None:
                by_chat.setdefault(target[0], []).append((post, target[1]))
        async with self._connected():
            results = await asyncio.gather(
                *(self._close_in(chat, spec, chat_posts) for chat, chat_posts in by_chat.items())
            )
        finals = [final for result in results for final in result]
        if finals:
            await self._record_tallies(finals)

    async def _close_in(
        self, chat: int | str, spec: ConsultationSpec, posts: Sequence[tuple[PublishedPost, int]]
    ) -> list[tuple[str | None, telegram.Poll]]:
        polls = {item.id for item in spec.items if item.type == "poll"}
        finals: list[tuple[str | None, telegram.Poll]] = []
        for post, message_id in posts:
            if post.kind == "item" and post.item_id in polls:
                try:
                    poll = await self._post(
                        chat, functools.partial(self.bot.stop_poll, chat, message_id)
                    )
                except tg_error.BadRequest as exc:
                    log.info("telegram: poll in %s not stopped: %s", chat, exc)
                    continue
                finals.append((None, poll))
            elif post.kind == "intro":
                closing = "This consultation has closed. Thank you to everyone who took part."
                if spec.closing_message:
                    closing = f"{closing}\n\n{spec.closing_message}"
                await self._post(
                    chat,
                    functools.partial(
                        self.bot.send_message,
                        chat,
                        closing,
                        reply_parameters=telegram.ReplyParameters(
                            message_id, allow_sending_without_reply=True
                        ),
                    ),
                )
        return finals


def _address(address: Any) -> tuple[int | str, int | None]:
    """``(chat, thread)`` from a stored address."""
    if isinstance(address, dict) and isinstance(address.get("chat"), int | str):
        thread = address.get("thread")
        return address["chat"], thread if isinstance(thread, int) else None
    if isinstance(address, int | str):
        return address, None
    raise Undeliverable(f"not a Telegram address: {address!r}")


def _seconds(exc: tg_error.RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type this PTB reports it as."""
    value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
