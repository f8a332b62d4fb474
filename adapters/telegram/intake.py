"""Telegram intake: updates in by webhook or long polling, converted by PTB's handlers.

Updates are fed to :meth:`~telegram.ext.Application.process_update` by

* our aiohttp route ``/hooks/telegram`` (webhook mode), which answers 200 only once the
  update's events are committed to the inbox, so Telegram redelivers anything not stored
  (https://core.telegram.org/bots/api#setwebhook). What most updates are (a person
  writing in their private chat) is read from the JSON by
  :func:`adapters.telegram.convert.from_plain_update` instead, to the same event; or
* our own ``getUpdates`` loop (polling mode), which confirms an offset only after the
  commit (https://core.telegram.org/bots/api#getupdates: an update is confirmed by
  calling getUpdates with a higher offset). PTB's ``Updater`` confirms as soon as it has
  fetched, which could lose updates on a crash, so it is not used.

``process_update`` catches whatever a handler raises and, with no error handler, only
logs it (https://docs.python-telegram-bot.org/en/stable/telegram.ext.application.html
#telegram.ext.Application.process_error). An error handler registered here records the
failure instead, and the batch fails: the webhook answers 500 and polling keeps its
offset, so Telegram hands the update over again rather than it being lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import telegram
from aiohttp import web
from telegram import error as tg_error
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    PollHandler,
    filters,
)

from adapters.plumbing.intake import SavedCursor, StopIntake, intake_loop
from adapters.plumbing.timing import Stopper
from adapters.telegram import convert
from adapters.telegram.connection import BotConnection, retry_after_seconds, token_refused
from adapters.telegram.convert import CHANNEL, poll_ref
from channels.adapter import EventSink
from channels.events import InboundEvent
from channels.lease import Lease
from channels.store import ChannelStore, Tally
from consultations.keys import constant_time_equal, read_json

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/hooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Only what a consultation uses; everything else stays on Telegram's side.
ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "callback_query",
    "poll",
    "poll_answer",
    "my_chat_member",
]
# Seconds between looks at the polling lease while another worker holds it.
LEASE_WAIT = 1.0


class UpdateNotTaken(Exception):
    """A handler failed on an update: the batch is not stored, so it is not confirmed."""


@dataclass
class _Intake:
    """What the handlers made of a batch of updates, committed before acknowledging it."""

    events: list[InboundEvent] = field(default_factory=list)
    polls: list[tuple[str, telegram.Poll]] = field(default_factory=list)
    presses: list[tuple[str, str | None]] = field(default_factory=list)
    failure: BaseException | None = None


_INTAKE: ContextVar[_Intake | None] = ContextVar("telegram_intake", default=None)


async def record_poll_totals(
    store: ChannelStore, polls: Sequence[tuple[str | None, telegram.Poll]]
) -> int:
    """Store the totals of our anonymous group polls; ``key`` makes it once per update."""
    tallies: list[Tally] = []
    for key, poll in polls:
        post = await store.publication(CHANNEL, poll_ref(poll.id))
        if post is None or post.kind != "poll" or post.item_id is None:
            continue
        tallies.append(
            Tally(
                consultation_id=post.consultation_id,
                item_id=post.item_id,
                poll_id=poll.id,
                counts=convert.poll_counts(poll),
                final=poll.is_closed,
                event_id=key,
            )
        )
    return await store.record_tallies(CHANNEL, tallies) if tallies else 0


class TelegramIntake:
    """Turns updates into events and commits them before Telegram is told they arrived.

    Args:
        connection: the bot.
        store: poll tallies and the polling offset.
        stopper: the adapter's stop signal.
        blocked: private chats whose person blocked the bot; shared with the sender, and
            cleared when the person writes again.
        webhook_secret: the secret token Telegram sends with every webhook call.
        poll_timeout: long-polling timeout, seconds.
        lease: in polling mode, held while polling: of several workers sharing the
            store only the holder calls ``getUpdates``; the others try it every few
            seconds and take over when the holder dies.
    """

    def __init__(
        self,
        connection: BotConnection,
        store: ChannelStore,
        stopper: Stopper,
        *,
        blocked: set[int | str],
        webhook_secret: str,
        poll_timeout: int,
        lease: Lease | None = None,
    ) -> None:
        self.connection = connection
        self.lease = lease
        self.store = store
        self.stopper = stopper
        self.blocked = blocked
        self.webhook_secret = webhook_secret
        self.poll_timeout = poll_timeout
        self.sink: EventSink | None = None
        self._poller: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._add_handlers()

    @property
    def bot(self) -> telegram.Bot:
        return self.connection.bot

    def _add_handlers(self) -> None:
        app = self.connection.application
        private = filters.ChatType.PRIVATE
        # An edited text (before the others: PTB's message handlers see edits too).
        app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, self._on_edit))
        app.add_handler(CommandHandler(list(convert.COMMANDS), self._on_command, private))
        app.add_handler(MessageHandler(filters.COMMAND & private, self._on_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        # In a group a leading "/word" is a reply like any other ("/Fantastic/ idea"):
        # Telegram marks it as a command all the same.
        app.add_handler(MessageHandler(filters.TEXT & filters.COMMAND & ~private, self._on_text))
        # A photo, voice message, sticker or file sent privately: answered, not stored.
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & private & ~filters.TEXT & filters.ATTACHMENT,
                self._on_unreadable,
            )
        )
        app.add_handler(CallbackQueryHandler(self._on_press))
        app.add_handler(PollAnswerHandler(self._on_poll_answer))
        app.add_handler(PollHandler(self._on_poll))
        app.add_handler(ChatMemberHandler(self._on_member, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self._on_error)

    # -- lifecycle --------------------------------------------------------------------

    def start_polling(self) -> None:
        """Start the ``getUpdates`` loop (the webhook must be deleted first)."""
        self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        """Wait for the polling loop (the stopper is set) and for callback answers."""
        if self._poller is not None:
            await self._poller
            self._poller = None
            if self.lease is not None:
                await self.lease.release()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self.sink = None

    # -- handlers ---------------------------------------------------------------------

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

    async def _on_edit(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.edited_message is not None:
            self._collect(convert.from_edit(update.edited_message, self._key(update), self.bot.bot))

    async def _on_unreadable(
        self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        if update.message is not None:
            self._collect(convert.from_unreadable(update.message, self._key(update)))

    async def _on_text(self, update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            self._collect(convert.from_text(update.message, self._key(update), self.bot.bot))

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

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A handler raised: fail the batch instead of letting PTB log and drop the update."""
        intake = _INTAKE.get()
        if intake is None:
            log.error("telegram: a handler failed outside intake", exc_info=context.error)
            return
        intake.failure = context.error or RuntimeError("a handler failed")
        # Stops the remaining handler groups for this update
        # (https://docs.python-telegram-bot.org/en/stable/telegram.ext.application.html
        # #telegram.ext.Application.add_error_handler).
        raise ApplicationHandlerStop

    # -- taking a batch in ------------------------------------------------------------

    async def take_in(self, updates: Sequence[telegram.Update]) -> int:
        """Dispatch updates to the handlers, then store what they made; returns new events.

        Returns only after the inbox (and any poll tallies) are committed.

        Raises:
            UpdateNotTaken: a handler failed on one of the updates; nothing of the batch
                was stored, so it must not be confirmed to Telegram.
        """
        if self.sink is None:
            raise RuntimeError("the Telegram adapter is not started")
        intake = _Intake()
        token = _INTAKE.set(intake)
        try:
            for update in updates:
                await self.connection.application.process_update(update)
                if intake.failure is not None:
                    raise UpdateNotTaken(
                        f"update {update.update_id}: {intake.failure!r}"
                    ) from intake.failure
        finally:
            _INTAKE.reset(token)
        return await self._store(intake)

    async def take_in_events(self, events: Sequence[InboundEvent]) -> int:
        """Store events already read from their updates; returns how many were new.

        Returns only after the inbox is committed.
        """
        if self.sink is None:
            raise RuntimeError("the Telegram adapter is not started")
        return await self._store(_Intake(events=list(events)))

    async def _store(self, intake: _Intake) -> int:
        assert self.sink is not None
        new = await self.sink(intake.events) if intake.events else 0
        for event in intake.events:
            if isinstance(event.address, dict) and not event.public:
                self.blocked.discard(event.address.get("chat"))
        if intake.polls:
            await record_poll_totals(self.store, intake.polls)
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

    # -- webhook mode -----------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """The ``/hooks/telegram`` route: 200 only once the update is stored."""
        # Authenticate before reading a byte of the body
        # (https://core.telegram.org/bots/api#setwebhook, secret_token).
        given = request.headers.get(SECRET_HEADER, "")
        if not constant_time_equal(given, self.webhook_secret):
            return web.Response(status=403, text="forbidden")
        if self.sink is None or not self.connection.ready:
            return web.Response(status=503, text="not ready")  # Telegram will retry
        try:
            data = await request.json(loads=read_json)  # no update refused for its numbers
        except Exception:
            return web.Response(status=400, text="not an update")
        try:
            convert.check_update(data)
        except convert.MalformedUpdate as exc:
            # A client error, not ours: 400, and one line naming the field, never its
            # contents (a person's words, their chat).
            log.warning("telegram: an update that cannot be read was refused: %s", exc)
            return web.Response(status=400, text="not an update")
        try:
            # A person writing in their private chat is read from the JSON itself; any
            # other update goes through PTB's objects and handlers.
            plain = convert.from_plain_update(data, self.bot.id)
        except Exception:
            log.exception("telegram: an update could not be converted")
            return web.Response(status=500, text="not stored")  # Telegram will retry
        update: telegram.Update | None = None
        if plain is None:
            try:
                update = telegram.Update.de_json(data, self.bot)
            except Exception:
                return web.Response(status=400, text="not an update")
            if update is None:
                return web.Response(status=400, text="not an update")
        update_id = update.update_id if update is not None else data["update_id"]
        try:
            if update is not None:
                await self.take_in([update])
            elif plain is not None:
                await self.take_in_events([plain])
        except UpdateNotTaken:
            log.exception("telegram: update %s could not be converted", update_id)
            return web.Response(status=500, text="not stored")  # Telegram will retry
        except Exception as exc:
            # The store did not take it (most often a database outage): 503, so Telegram
            # delivers it again later (https://core.telegram.org/bots/api#setwebhook).
            log.warning(
                "telegram: update %s could not be stored (%s); Telegram will deliver it again",
                update_id,
                type(exc).__name__,
            )
            return web.Response(status=503, text="not stored", headers={"Retry-After": "5"})
        return web.Response(status=200)

    # -- polling mode -----------------------------------------------------------------

    async def _poll(self) -> None:
        """Long-poll getUpdates; store each batch, then confirm it with the next offset."""
        cursor = SavedCursor(self.store, CHANNEL, f"offset:{self.bot.id}")
        await cursor.load()
        holding = self.lease is None

        async def once() -> None:
            nonlocal holding
            if self.lease is not None:
                if not await self.lease.try_acquire():
                    if holding:
                        log.warning("telegram: polling lease lost; another worker polls")
                    holding = False
                    await self.stopper.pause(LEASE_WAIT)
                    return
                if not holding:
                    # The previous holder moved the offset on: start from where it stopped.
                    holding = True
                    await cursor.load()
            try:
                updates = await self.stopper.unless_stopping(
                    self.bot.get_updates(
                        offset=int(cursor.value) if cursor.value is not None else None,
                        timeout=timedelta(seconds=self.poll_timeout),
                        allowed_updates=ALLOWED_UPDATES,
                    )
                )
            except (tg_error.InvalidToken, tg_error.Forbidden) as exc:
                # The token revoked (or the bot deleted) while running: asking again
                # gets the same answer.
                raise StopIntake("the bot token was refused", refused=token_refused()) from exc
            if updates:
                # Network trouble, a conflicting poller, a failing handler or the store
                # being down all raise before the offset moves: the batch comes again.
                await self.take_in(updates)
                await cursor.save(str(updates[-1].update_id + 1))

        def server_wait(exc: Exception) -> float | None:
            return retry_after_seconds(exc) if isinstance(exc, tg_error.RetryAfter) else None

        await intake_loop(
            once, self.stopper, log=log, what="telegram: polling", server_wait=server_wait
        )
