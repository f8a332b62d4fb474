"""Launching and closing a consultation in Telegram groups and channels.

Each chat in the spec's ``telegram.chats`` gets an introduction carrying the consent
text and how to leave, then the items. Polls are anonymous there (Telegram allows no
others in channels, and a group's members see one another's votes otherwise); their
totals are stored as tallies. A thread becomes its own forum topic where the group has
topics.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import telegram
from telegram import error as tg_error

from adapters.plumbing import launch
from adapters.plumbing.timing import Sleep
from adapters.telegram import convert, render
from adapters.telegram.connection import BotConnection, retry_after_seconds, token_refused
from adapters.telegram.convert import message_ref, poll_ref
from adapters.telegram.intake import record_poll_totals
from adapters.telegram.pacing import ChatPacer
from channels.adapter import PublishedPost
from channels.store import ChannelStore
from consultations.spec import ConsultationSpec

log = logging.getLogger(__name__)

LAUNCH_ATTEMPTS = 5


class TelegramPublisher:
    """Posts a consultation in its chats at launch, and closes it there.

    Args:
        connection: the bot.
        store: where the final totals of stopped polls go.
        pacer: per-chat pacing (launch posts wait for their slot).
        sleep: how to wait between attempts.
    """

    def __init__(
        self, connection: BotConnection, store: ChannelStore, pacer: ChatPacer, *, sleep: Sleep
    ) -> None:
        self.connection = connection
        self.store = store
        self.pacer = pacer
        self.sleep = sleep

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the consultation in each of ``telegram.chats``: an intro, then the items."""
        posts: list[PublishedPost] = []
        failed: list[str] = []
        try:
            async with self.connection.connected():
                # Chats side by side: each is paced on its own (one post a second).
                results = await asyncio.gather(
                    *(self._publish_in(chat, spec) for chat in spec.telegram.chats),
                    return_exceptions=True,
                )
        except tg_error.InvalidToken:
            raise token_refused() from None  # its getMe (the command line's launch)
        for chat, result in zip(spec.telegram.chats, results, strict=True):
            if isinstance(result, tg_error.InvalidToken):
                # The token revoked while running: no chat gets further, nor any launch.
                raise token_refused() from result
            if isinstance(result, BaseException):
                log.error("telegram: publishing in %s failed: %s", chat, result)
                failed.append(f"{chat}: {result}")
            else:
                posts.extend(result)
        if failed and not posts:
            raise RuntimeError("; ".join(failed))
        return posts

    async def _publish_in(self, chat: int | str, spec: ConsultationSpec) -> list[PublishedPost]:
        bot = self.connection.bot
        intro = render.shorten(launch.intro_text(spec), render.TEXT_LIMIT)
        first = await self._post(chat, functools.partial(bot.send_message, chat, intro))
        chat_id = first.chat.id  # a public @username becomes the numeric id replies carry
        posts = [PublishedPost(None, message_ref(chat_id, first.message_id), kind="intro")]
        forum: bool | None = None
        for item in spec.items:
            if item.at is not None:
                continue  # a timed chat's question: posted at its time (post_question)
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
            text = render.shorten(launch.item_text(item, spec.wording()), render.TEXT_LIMIT)
            sent = await self._post(
                chat_id,
                functools.partial(bot.send_message, chat_id, text, message_thread_id=thread),
            )
            posts.append(PublishedPost(item.id, message_ref(chat_id, sent.message_id)))
        return posts

    async def post_question(
        self, spec: ConsultationSpec, text: str, item_id: str
    ) -> list[PublishedPost]:
        """Post a timed chat's question in each of ``telegram.chats``.

        Each chat is also recorded as a place (:func:`convert.answers_ref`) where messages
        opening with "A<n>" answer question n without replying to it.
        """
        bot = self.connection.bot
        posts: list[PublishedPost] = []
        async with self.connection.connected():
            for chat in spec.telegram.chats:
                sent = await self._post(
                    chat,
                    functools.partial(
                        bot.send_message, chat, render.shorten(text, render.TEXT_LIMIT)
                    ),
                )
                chat_id = sent.chat.id
                posts.append(PublishedPost(item_id, message_ref(chat_id, sent.message_id)))
                posts.append(PublishedPost(None, convert.answers_ref(chat_id), kind="answers"))
        return posts

    async def _post(self, chat: int | str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One launch-time call, paced, waiting out flood control (there is no outbox here)."""

        async def attempt() -> Any:
            await self.pacer.slot(chat, wait=False)
            return await call()

        def retry_in(exc: Exception, attempt: int) -> float | None:
            if not isinstance(exc, tg_error.RetryAfter):
                return None
            # The pacer holds the chat until then; the next slot waits for it.
            self.pacer.pause(chat, retry_after_seconds(exc))
            return 0.0

        try:
            return await launch.with_retries(
                attempt,
                retry_in=retry_in,
                sleep=self.sleep,
                attempts=LAUNCH_ATTEMPTS,
                log=log,
                what=f"telegram: posting in {chat}",
            )
        except tg_error.RetryAfter as exc:
            raise RuntimeError(f"Telegram kept refusing posts in {chat} (flood control)") from exc

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Stop the group polls (storing their final totals) and say the consultation closed."""
        by_chat: dict[int | str, list[tuple[PublishedPost, int]]] = {}
        for post in posts:
            target = convert.parse_message_ref(post.platform_ref)
            if target is not None:
                by_chat.setdefault(target[0], []).append((post, target[1]))
        async with self.connection.connected():
            results = await asyncio.gather(
                *(self._close_in(chat, spec, chat_posts) for chat, chat_posts in by_chat.items())
            )
        finals = [final for result in results for final in result]
        if finals:
            await record_poll_totals(self.store, finals)

    async def _close_in(
        self, chat: int | str, spec: ConsultationSpec, posts: Sequence[tuple[PublishedPost, int]]
    ) -> list[tuple[str | None, telegram.Poll]]:
        bot = self.connection.bot
        polls = {item.id for item in spec.items if item.type == "poll"}
        finals: list[tuple[str | None, telegram.Poll]] = []
        for post, message_id in posts:
            if post.kind == "item" and post.item_id in polls:
                try:
                    poll = await self._post(
                        chat, functools.partial(bot.stop_poll, chat, message_id)
                    )
                except tg_error.BadRequest as exc:
                    log.info("telegram: poll in %s not stopped: %s", chat, exc)
                    continue
                finals.append((None, poll))
            elif post.kind == "intro":
                await self._post(
                    chat,
                    functools.partial(
                        bot.send_message,
                        chat,
                        render.shorten(launch.closing_text(spec), render.TEXT_LIMIT),
                        reply_parameters=telegram.ReplyParameters(
                            message_id, allow_sending_without_reply=True
                        ),
                    ),
                )
        return finals
