"""Telegram sending: the outbox's messages as Bot API calls, paced, resumable.

A message becomes one or more calls (a long text in pieces, a poll with its lead-in);
if sending stops part way, a retry of the same outbox row sends only the rest
(:mod:`adapters.plumbing.sending`). Bot API errors are turned into the outbox's terms.

A safety reply to something said in a group never goes into the group: it goes to the
person's private chat, and only if Telegram refuses that (a bot cannot start a private
chat) is the message's general note posted in the group instead, replying to no one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import telegram
from telegram import error as tg_error

from adapters.plumbing.sending import Part, PartialSends
from adapters.telegram import convert, render
from adapters.telegram.connection import BotConnection, retry_after_seconds, token_refused
from adapters.telegram.convert import CHANNEL, message_ref, poll_ref
from adapters.telegram.pacing import ChatPacer
from adapters.telegram.request import not_sent
from channels.adapter import Delivery, RetryLater, Undeliverable, request_starting
from channels.events import OutboundMessage
from channels.store import ChannelStore

log = logging.getLogger(__name__)

Markup = telegram.InlineKeyboardMarkup | telegram.ForceReply


@dataclass(frozen=True, slots=True)
class Sent:
    """What is kept of a message Telegram took: where it is, and its poll if it is one."""

    chat_id: int | str
    message_id: int
    poll_id: str | None = None

    @classmethod
    def of(cls, message: telegram.Message) -> Sent:
        return cls(message.chat.id, message.message_id, message.poll.id if message.poll else None)


Step = Callable[[], Awaitable[Sent]]


async def send_text(
    bot: telegram.Bot,
    chat: int | str,
    text: str,
    *,
    thread: int | None = None,
    reply: telegram.ReplyParameters | None = None,
    markup: Markup | None = None,
) -> Sent:
    """``sendMessage``: the request ``Bot.send_message`` makes, without its ``Message``.

    The parameters go through PTB as ever (the bot's defaults, its rate limiter, the
    request, the errors mapped from the answer: ``Bot._post``); only the answer is read
    here, for the two fields the outbox keeps, instead of built into a
    ``telegram.Message`` with its chat and sender (``Message.de_json``: a third of the
    CPU of a send). Parameters left None are dropped, as ``send_message`` drops them.
    """
    data: dict[str, Any] = {
        "chat_id": chat,
        "text": text,
        "message_thread_id": thread,
        "reply_parameters": reply,
        "reply_markup": markup,
    }
    result = await bot._post("sendMessage", data)
    return Sent(result["chat"]["id"], result["message_id"])


class TelegramSender:
    """Sends the outbox's messages.

    Args:
        connection: the bot.
        store: consultation titles, and where private-chat polls are recorded.
        pacer: per-chat pacing.
        blocked: private chats whose person blocked the bot (shared with intake).
    """

    def __init__(
        self,
        connection: BotConnection,
        store: ChannelStore,
        pacer: ChatPacer,
        *,
        blocked: set[int | str],
    ) -> None:
        self.connection = connection
        self.store = store
        self.pacer = pacer
        # Messages already queued for a person who blocked the bot are refused here, not
        # sent to get another 403, until they write to it again.
        self.blocked = blocked
        self._partial: PartialSends[Sent] = PartialSends()
        # Sends in flight: stopping waits for them before closing the HTTP client, since
        # a request cut off half way may or may not have reached the person.
        self.closing = False
        self._sending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def chats(self) -> set[int | str]:
        """The chats this sender holds anything about: blocked, or a message part sent."""
        return set(self.blocked) | {sent.chat_id for sent in self._partial.kept()}

    def forget(self, chats: Collection[int | str]) -> None:
        """Hold nothing more about ``chats`` (people erased: their chat ids go too)."""
        gone = set(chats)
        self.blocked.difference_update(gone)
        self._partial.forget(lambda sent: sent.chat_id in gone)

    async def idle(self) -> None:
        """Until no send is in flight."""
        await self._idle.wait()

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        """Deliver one message to ``{"chat": id, "thread": n, "user": id}``.

        ``user`` (the writer of a group message) is where a safety reply to them goes.

        Raises:
            RetryLater: Telegram asked us to wait, or the network failed before sending.
            Undeliverable: Telegram refused the message; ``opted_out`` when the person
                blocked the bot or deleted their account.
        """
        chat, thread = _address(address)
        if chat in self.blocked:
            raise Undeliverable("Forbidden: bot was blocked by the user", opted_out=True)
        if self.closing:
            raise RetryLater("the Telegram adapter is stopping", after=1.0)
        self._sending += 1
        self._idle.clear()
        try:
            if message.kind == "safety" and not _private(chat):
                return await self._send_safety(_user(address), chat, thread, message, key)
            if message.private and not _private(chat):
                # Never in the group: the person's private chat, or not at all.
                user = _user(address)
                if user is None or user in self.blocked:
                    raise Undeliverable("no private chat with the person")
                return await self._send(user, None, replace(message, reply_to=None), key)
            return await self._send(chat, thread, message, key)
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()

    async def _send_safety(
        self,
        user: int | None,
        group: int | str,
        thread: int | None,
        message: OutboundMessage,
        key: str,
    ) -> Delivery:
        """A safety reply to someone in a group: privately, else a general note, never both.

        A bot cannot start a conversation: it can write to a person only after they have
        written to it (https://core.telegram.org/bots#how-are-bots-different-from-users).
        Until then Telegram answers 403 "bot can't initiate conversation with a user", or
        400 "chat not found" for someone it has never seen
        (https://core.telegram.org/bots/api#making-requests).
        Then the message's ``fallback`` is posted in the group (in the same forum topic):
        no reply parameters, so it neither quotes nor points at the person's message
        (https://core.telegram.org/bots/api#replyparameters), and its text names no one.

        Raises:
            RetryLater: Telegram asked us to wait, the network failed, or neither the
                private message nor the note could be delivered; the outbox tries again
                within its limits, so a safety reply never ends quietly.
        """
        refused = "no person to write to privately"
        if user is not None and user in self.blocked:
            refused = "the person blocked the bot"
        elif user is not None:
            private = replace(message, reply_to=None, fallback=None)
            try:
                # A private chat's id is the user's id (https://core.telegram.org/bots/api#chat),
                # and it has no topics, so no message_thread_id.
                return await self._send(user, None, private, key)
            except Undeliverable as exc:
                refused = str(exc)  # RetryLater goes to the outbox: the private chat may work
        if not message.fallback:
            log.error("telegram: a safety reply could not be sent privately (%s)", refused)
            raise RetryLater(f"safety reply not delivered privately ({refused}); no note to post")
        note = OutboundMessage(text=message.fallback, consultation_id=message.consultation_id)
        try:
            posted = await self._send(group, thread, note, f"{key}:note")
        except Undeliverable as exc:
            log.error(
                "telegram: a safety reply could not be sent privately (%s) "
                "nor its general note posted in the group (%s)",
                refused,
                exc,
            )
            raise RetryLater(f"safety reply not delivered: {refused}; note: {exc}") from exc
        return replace(posted, note_instead=True)

    async def _send(
        self, chat: int | str, thread: int | None, message: OutboundMessage, key: str
    ) -> Delivery:
        await self.connection.ensure_ready()
        if message.replaces is not None and _private(chat):
            edited = await self._edit(chat, message)
            if edited is not None:
                return edited
        steps = await self._steps(chat, thread, message)

        def part(step: Step) -> Part[Sent]:
            async def paced(previous: Sent | None) -> Sent:
                await self.pacer.slot(chat)
                await self.pacer.overall(bulk=message.bulk)
                # From here the part may reach the person: the outbox marks its row.
                await request_starting()
                await self.pacer.starting(chat)
                try:
                    return await step()
                finally:
                    self.pacer.answered(chat)

            return paced

        try:
            sent = await self._partial.send(key, [part(step) for step in steps])
        except tg_error.TelegramError as exc:
            self._fail(chat, exc)
        if sent is None:
            raise Undeliverable("nothing left to send")
        if sent.poll_id is not None and message.consultation_id and message.question:
            await self._remember_poll(
                sent.poll_id,
                message.consultation_id,
                message.question,
                message.round,
                person=str(chat) if _private(chat) else None,
            )
        return Delivery(platform_ref=message_ref(sent.chat_id, sent.message_id))

    async def _edit(self, chat: int | str, message: OutboundMessage) -> Delivery | None:
        """Put the next statement in place of the one just voted on, if that works.

        https://core.telegram.org/bots/api#editmessagetext: a bot edits its own messages,
        text and inline keyboard together. ``None`` means "send a new message instead":
        the reference names another chat, the text needs more than one message, or
        Telegram refuses the edit (a message too old or deleted). An edit repeated after
        a crash answers "message is not modified", which means it is already done.
        """
        target = convert.parse_message_ref(message.replaces or "")
        pieces = render.split_text(render.vote_text(message))
        if target is None or target[0] != chat or len(pieces) != 1:
            return None
        await self.pacer.slot(chat)
        await self.pacer.overall()
        try:
            await self.connection.bot.edit_message_text(
                pieces[0],
                chat_id=chat,
                message_id=target[1],
                reply_markup=render.option_keyboard(message) if message.options else None,
            )
        except tg_error.BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("telegram: the statement could not be edited in place (%s)", exc.message)
                return None
        except tg_error.TelegramError as exc:
            self._fail(chat, exc)
        return Delivery(platform_ref=message_ref(chat, target[1]))

    def _fail(self, chat: int | str, exc: tg_error.TelegramError) -> NoReturn:
        """Turn a Bot API error into the outbox's terms (always raises)."""
        if isinstance(exc, tg_error.RetryAfter):
            seconds = retry_after_seconds(exc)
            self.pacer.pause(chat, seconds)
            raise RetryLater(
                f"Telegram flood control: retry after {seconds:g} s", after=seconds, throttled=True
            )
        if isinstance(exc, tg_error.Forbidden):
            reason = exc.message.lower()
            # https://core.telegram.org/bots/api#making-requests: 403 when the person
            # blocked the bot or their account is gone; neither will ever take a message.
            opted_out = "blocked" in reason or "deactivated" in reason
            if opted_out:
                self.blocked.add(chat)
            raise Undeliverable(f"Forbidden: {exc.message}", opted_out=opted_out)
        if isinstance(exc, tg_error.ChatMigrated):
            raise Undeliverable(f"the group is now chat {exc.new_chat_id}; update the spec")
        if isinstance(exc, tg_error.InvalidToken):
            # The token revoked while running: no message goes until it is put right,
            # and this one waits for that in the outbox.
            raise token_refused()
        if isinstance(exc, tg_error.BadRequest):
            raise Undeliverable(f"Bad Request: {exc.message}")
        if isinstance(exc, tg_error.TimedOut):
            # Only a timeout before the request went out is safe to retry; after that the
            # message may have arrived, and a lost reply beats the same question twice.
            if not_sent(exc):
                raise RetryLater(f"timed out connecting: {exc.message}")
            raise Undeliverable(f"timed out waiting for Telegram (may have arrived): {exc}")
        raise RetryLater(f"{type(exc).__name__}: {exc.message}")

    async def _steps(
        self, chat: int | str, thread: int | None, message: OutboundMessage
    ) -> list[Step]:
        """The Bot API calls that deliver one message, in order."""
        bot = self.connection.bot
        private = _private(chat)
        reply = None
        if message.reply_to:
            target = convert.parse_message_ref(message.reply_to)
            if target is not None:
                reply = telegram.ReplyParameters(target[1], allow_sending_without_reply=True)

        def text_step(text: str, markup: Markup | None = None) -> Step:
            return lambda: send_text(bot, chat, text, thread=thread, reply=reply, markup=markup)

        markup: Markup | None = None
        kind = message.question_type
        if message.kind == "safety" or kind is None:
            markup = None
        elif kind == "poll" and private and render.fits_native_poll(message):
            lead, question = render.poll_question(message.text)
            steps = [text_step(piece) for piece in render.split_text(lead)] if lead else []
            options = list(message.options)

            async def poll_step() -> Sent:
                sent = await bot.send_poll(
                    chat,
                    question,
                    options,
                    is_anonymous=False,
                    allows_multiple_answers=message.multiple,
                    message_thread_id=thread,
                )
                return Sent.of(sent)

            steps.append(poll_step)
            return steps
        elif kind == "choose":
            markup = render.choose_keyboard(message.options, await self._titles(message.options))
        elif (kind in render.BUTTON_TYPES or kind in ("poll", "vote")) and message.options:
            markup = render.option_keyboard(message)
        elif kind in ("prompt", "thread") and private:
            markup = render.force_reply(message.language)
        pieces = render.split_text(render.vote_text(message))
        return [
            text_step(piece, markup if index == len(pieces) - 1 else None)
            for index, piece in enumerate(pieces)
        ]

    async def _titles(self, consultation_ids: Sequence[str]) -> dict[str, str]:
        return await self.store.consultation_titles(consultation_ids)

    async def _remember_poll(
        self,
        poll_id: str,
        consultation_id: str,
        item_id: str,
        round_number: int | None,
        *,
        person: str | None,
    ) -> None:
        """Record which item (and Delphi round) a private-chat poll asks, so its votes
        find their way back; and whose chat it is in (``person``, the user's id: a private
        chat's id is its user's), so that the record goes with their erasure.

        A ``poll_answer`` names only the poll; a publication keyed by the poll id is what
        the core already uses to tie replies to items. The poll stays in the chat, and
        Telegram lets its vote be changed at any time, so a round's poll must say which
        round it asked. The poll has already gone: if this cannot be stored, votes fall
        back to the person's pending question rather than the poll being sent again.
        """
        try:
            await self.store.add_publication(
                CHANNEL,
                consultation_id,
                item_id,
                poll_ref(poll_id),
                "dm-poll",
                round_number=round_number,
                person=person,
            )
        except Exception:
            log.exception("telegram: poll %s could not be recorded", poll_id)


def _address(address: Any) -> tuple[int | str, int | None]:
    """``(chat, thread)`` from a stored address."""
    if isinstance(address, dict) and isinstance(address.get("chat"), int | str):
        thread = address.get("thread")
        return address["chat"], thread if isinstance(thread, int) else None
    if isinstance(address, int | str):
        return address, None
    raise Undeliverable(f"not a Telegram address: {address!r}")


def _private(chat: int | str) -> bool:
    """Whether ``chat`` is a private chat: its id is a user's, which is positive.

    https://core.telegram.org/bots/api#chat: group, supergroup and channel ids are
    negative; a public group or channel may also be addressed as ``@username``.
    """
    return isinstance(chat, int) and chat > 0


def _user(address: Any) -> int | None:
    """The user id of the person whose group message ``address`` answers, if recorded."""
    if isinstance(address, dict):
        user = address.get("user")
        if isinstance(user, int) and not isinstance(user, bool) and user > 0:
            return user
    return None
