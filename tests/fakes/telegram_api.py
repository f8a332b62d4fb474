"""A fake Telegram Bot API served over HTTP on 127.0.0.1 for tests.

The real python-telegram-bot client talks to it unchanged::

    async with FakeTelegram(token="123:ABC") as fake:
        alice = fake.user(1001, "Alice")
        async with telegram.Bot(fake.token, base_url=fake.base_url) as bot:
            fake.send_text(alice, "hello")
            (update,) = await bot.get_updates()

Every object the fake returns or delivers is built from python-telegram-bot's own classes
(``telegram.Message``, ``telegram.Poll`` ...) and serialised with ``to_dict()``, so a
library upgrade that adds required fields breaks the fake loudly instead of letting it drift
from the real API.

Behaviour follows https://core.telegram.org/bots/api: ``getUpdates`` long polling with offset
confirmation, webhooks that keep an update pending until the receiver answers 2xx, error
bodies shaped ``{"ok": false, "error_code": N, "description": "..."}``, flood control
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this), the
documented length limits, and ``setWebhook`` refusing what Telegram refuses (an address
not HTTPS, or on a port it does not deliver to) except plain HTTP on the loopback address,
where tests receive updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html.parser
import json
import math
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import aiohttp
import telegram
from aiohttp import web

from tests.waiting import PATIENCE, wait_until

__all__ = [
    "MESSAGE_METHODS",
    "TEXT_LIMIT",
    "Call",
    "CallbackAnswer",
    "FakeMessage",
    "FakePoll",
    "FakeTelegram",
    "TelegramApiError",
    "WebhookDelivery",
    "WebhookState",
]

TEXT_LIMIT: Final = 4096
CALLBACK_DATA_LIMIT: Final = 64
POLL_QUESTION_LIMIT: Final = 300
POLL_OPTION_LIMIT: Final = 100
POLL_MIN_OPTIONS: Final = 2
POLL_MAX_OPTIONS: Final = 12
TOPIC_NAME_LIMIT: Final = 128
DEFAULT_TOPIC_ICON_COLOR: Final = 0x6FB9F0

# Methods that send or change messages: the ones Telegram's flood control counts, and the
# default target of ``inject_429``.
MESSAGE_METHODS: Final = frozenset(
    {
        "sendmessage",
        "sendpoll",
        "editmessagetext",
        "editmessagereplymarkup",
        "stoppoll",
        "createforumtopic",
    }
)

# Form-encoded requests carry strings as they are and everything else JSON-encoded (this is
# what python-telegram-bot's ``RequestData.json_parameters`` produces), so a value such as
# ``text=123`` is only known to be a string from its name.
_STRING_PARAMS: Final = frozenset(
    {
        "text",
        "question",
        "name",
        "description",
        "url",
        "secret_token",
        "callback_query_id",
        "parse_mode",
        "language_code",
        "explanation",
        "ip_address",
        "icon_custom_emoji_id",
        "inline_message_id",
        "action",
        "business_connection_id",
    }
)

_CONFLICT_WEBHOOK: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_CONFLICT_POLLING: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_NOT_MODIFIED: Final = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class TelegramApiError(Exception):
    """An error answered to the client in Telegram's shape."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {detail}")


#: The ports Telegram delivers webhooks to (https://core.telegram.org/bots/api#setwebhook).
WEBHOOK_PORTS: Final = (443, 80, 88, 8443)


def _webhook_refusal(url: str) -> str | None:
    """Why Telegram's setWebhook would refuse ``url`` (its own words), or ``None``.

    Telegram wants an HTTPS URL on one of :data:`WEBHOOK_PORTS`. One departure: a plain
    ``http`` URL on the loopback address is accepted, since the fake delivers to
    receivers on 127.0.0.1 that serve no TLS (Telegram itself refuses a reserved address).
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "Failed to resolve host: Name or service not known"
    if not parts.hostname:
        return "Failed to resolve host: Name or service not known"
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    if parts.scheme != "https":
        return "An HTTPS URL must be provided for webhook"
    if port is not None and port not in WEBHOOK_PORTS:
        return "Webhook can be set up only on ports 80, 88, 443 or 8443"
    return None


def _utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# A public username mentioned in a message: 5-32 letters, digits and underscores
# (https://core.telegram.org/api/entities: Telegram clients mark it as a ``mention``).
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")


def _mention_entities(text: str) -> tuple[telegram.MessageEntity, ...]:
    """The ``mention`` entities a Telegram client adds to ``text`` (UTF-16 offsets)."""
    return tuple(
        telegram.MessageEntity(
            type=telegram.MessageEntity.MENTION,
            offset=_utf16_len(text[: found.start()]),
            length=_utf16_len(found.group()),
        )
        for found in _MENTION.finditer(text)
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class _HtmlText(html.parser.HTMLParser):
    """Collects the visible text of a ``parse_mode=HTML`` message."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _update_dict(update: telegram.Update) -> dict[str, Any]:
    """The update as Telegram sends it.

    ``TelegramObject.to_dict()`` leaves out empty sequences, but a retracted vote arrives with
    ``"option_ids": []`` and PTB's own ``PollAnswer.de_json`` needs the key.
    """
    data = update.to_dict()
    answer = data.get("poll_answer")
    if answer is not None:
        answer.setdefault("option_ids", [])
        answer.setdefault("option_persistent_ids", [])
    return data


def _chat_key(update: telegram.Update) -> int:
    """Whose update it is, for delivering each chat's updates in order."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id  # a private chat's id is its user's
    return -update.update_id  # a poll's totals belong to no chat: on their own


def _visible_text(text: str, parse_mode: str | None) -> str:
    """The text a reader sees: Telegram strips HTML markup before storing a message."""
    if parse_mode is None or parse_mode.lower() != "html":
        return text
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


@dataclass
class Call:
    """One Bot API request as the fake received it."""

    method: str
    params: dict[str, Any]
    at: float
    """``time.monotonic()`` when the request arrived."""
    status: int = 200
    description: str | None = None


@dataclass
class CallbackAnswer:
    """What the bot answered to a callback query (``answerCallbackQuery``)."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the webhook."""

    update_id: int
    url: str
    status: int | None
    """HTTP status the receiver answered, or None when the connection failed."""
    error: str | None
    at: float


@dataclass
class WebhookState:
    """The webhook as set by ``setWebhook``; ``url == ""`` means none."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    last_error_date: dt.datetime | None = None
    last_error_message: str | None = None
    deliveries: list[WebhookDelivery] = field(default_factory=list)


@dataclass
class FakePoll:
    """A poll the bot sent, with every vote cast so far."""

    id: str
    question: str
    options: list[str]
    is_anonymous: bool
    type: str
    allows_multiple_answers: bool
    chat_id: int
    message_id: int
    allows_revoting: bool = True
    members_only: bool = False
    correct_option_ids: tuple[int, ...] = ()
    is_closed: bool = False
    votes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    """user id -> chosen option ids (retracted votes are removed)."""

    def persistent_ids(self, option_ids: Iterable[int]) -> list[str]:
        """Telegram's persistent option identifiers (Bot API 9.6) for option indexes."""
        return [f"{self.id}:{i}" for i in option_ids]

    @property
    def counts(self) -> list[int]:
        """Voters per option, in option order."""
        counts = [0] * len(self.options)
        for option_ids in self.votes.values():
            for option_id in option_ids:
                counts[option_id] += 1
        return counts

    def to_poll(self) -> telegram.Poll:
        """The poll as Telegram reports it now."""
        return telegram.Poll(
            id=self.id,
            question=self.question,
            options=[
                telegram.PollOption(text=text, voter_count=count, persistent_id=persistent_id)
                for text, count, persistent_id in zip(
                    self.options,
                    self.counts,
                    self.persistent_ids(range(len(self.options))),
                    strict=True,
                )
            ],
            total_voter_count=sum(1 for ids in self.votes.values() if ids),
            is_closed=self.is_closed,
            is_anonymous=self.is_anonymous,
            type=self.type,
            allows_multiple_answers=self.allows_multiple_answers,
            allows_revoting=self.allows_revoting,
            members_only=self.members_only,
            correct_option_ids=self.correct_option_ids or None,
        )


@dataclass
class FakeMessage:
    """A message in one of the fake's chats, sent by the bot or by a person.

    It reflects later edits (``text``, ``reply_markup``, ``edit_date``) and deletion.
    """

    chat: telegram.Chat
    message_id: int
    date: dt.datetime
    from_user: telegram.User | None
    text: str | None = None
    raw_text: str | None = None
    """The text as the bot sent it, before ``parse_mode`` markup was removed."""
    parse_mode: str | None = None
    entities: tuple[telegram.MessageEntity, ...] = ()
    sender_chat: telegram.Chat | None = None
    reply_to: FakeMessage | None = None
    message_thread_id: int | None = None
    is_topic_message: bool = False
    reply_markup: dict[str, Any] | None = None
    """The ``reply_markup`` exactly as sent (inline keyboard, force reply, ...)."""
    poll_state: FakePoll | None = None
    forum_topic_created: telegram.ForumTopicCreated | None = None
    voice: telegram.Voice | None = None
    edit_date: dt.datetime | None = None
    deleted: bool = False
    method: str | None = None
    """The Bot API method that created it, for messages from the bot."""

    @property
    def chat_id(self) -> int:
        """The id of the chat the message is in."""
        return self.chat.id

    @property
    def poll(self) -> telegram.Poll | None:
        """The poll's current state, for poll messages."""
        return self.poll_state.to_poll() if self.poll_state else None

    @property
    def reply_to_message_id(self) -> int | None:
        """The message this one explicitly replies to (not the forum topic's first message)."""
        if self.reply_to is None or self.reply_to.forum_topic_created is not None:
            return None
        return self.reply_to.message_id

    @property
    def inline_keyboard(self) -> telegram.InlineKeyboardMarkup | None:
        """The inline keyboard attached to the message, if any."""
        if self.reply_markup is None or "inline_keyboard" not in self.reply_markup:
            return None
        return telegram.InlineKeyboardMarkup.de_json(self.reply_markup, None)

    @property
    def callback_data(self) -> list[str]:
        """Every ``callback_data`` of the inline keyboard, row by row."""
        keyboard = self.inline_keyboard
        if keyboard is None:
            return []
        return [
            button.callback_data
            for row in keyboard.inline_keyboard
            for button in row
            if isinstance(button.callback_data, str)
        ]

    def to_message(self, *, with_reply: bool = True) -> telegram.Message:
        """The message as Telegram reports it now."""
        reply_to_message = None
        if with_reply and self.reply_to is not None:
            # Telegram includes the replied-to message one level deep only.
            reply_to_message = self.reply_to.to_message(with_reply=False)
        return telegram.Message(
            message_id=self.message_id,
            date=self.date,
            chat=self.chat,
            from_user=self.from_user,
            sender_chat=self.sender_chat,
            text=self.text,
            entities=self.entities or None,
            reply_to_message=reply_to_message,
            message_thread_id=self.message_thread_id,
            is_topic_message=True if self.is_topic_message else None,
            reply_markup=self.inline_keyboard,
            poll=self.poll,
            forum_topic_created=self.forum_topic_created,
            voice=self.voice,
            edit_date=self.edit_date,
        )


MessageRef = FakeMessage | telegram.Message
ChatRef = telegram.Chat | int


@dataclass
class _QueuedUpdate:
    update: telegram.Update
    kind: str


@dataclass
class _InjectedError:
    error: TelegramApiError
    remaining: int
    methods: frozenset[str] | None


class _SlidingWindow:
    """At most ``limit`` hits per ``period`` seconds for each key."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._hits: dict[object, deque[float]] = {}

    def wait_needed(self, key: object, now: float) -> float:
        """Seconds until one more hit is allowed (0 when allowed now)."""
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        while hits and hits[0] <= now - self.period:
            hits.popleft()
        if len(hits) < self.limit:
            return 0.0
        return hits[0] + self.period - now

    def hit(self, key: object, now: float) -> None:
        self._hits.setdefault(key, deque()).append(now)


class _Params:
    """Request parameters with Telegram's type coercions and error messages."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def str_(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        raise _bad_request(f'field "{name}" must be of type String')

    def int_(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be of type Integer')

    def bool_(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0"}:
            return value.lower() in {"true", "1"}
        raise _bad_request(f'field "{name}" must be of type Boolean')

    def json_(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise _bad_request(f"can't parse {name} JSON object") from exc
        return value

    def dict_(self, name: str) -> dict[str, Any] | None:
        value = self.json_(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _bad_request(f'field "{name}" must be an Object')
        return value

    def list_(self, name: str) -> list[Any] | None:
        value = self.json_(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise _bad_request(f'field "{name}" must be an Array')
        return value

    def chat_id(self) -> int | str:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.startswith("@"):
                return value
            try:
                return int(value)
            except ValueError:
                pass
        raise _bad_request("chat not found")


def _decode_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


Handler = Callable[[_Params], Awaitable[Any]]


class FakeTelegram:
    """An in-process Telegram Bot API for one bot, served on ``127.0.0.1``.

    Args:
        token: the bot token the client must use; any other token gets 404.
        bot_username: the bot's ``@username`` (without ``@``).
        bot_first_name: the bot's display name.
        privacy_mode: when True, group messages reach the bot only if they are commands,
            replies to the bot's messages or mention it (Telegram's default for bots).
        webhook_retry_interval: seconds between webhook delivery attempts after a failure.
        webhook_connections: webhook deliveries in flight at once (Telegram's
            ``max_connections``). With more than one, updates of different chats go side
            by side while each chat's go one at a time, in order; with one (the
            default) every update waits for the one before it.
        first_update_id: the ``update_id`` of the first update.
        port: TCP port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "engage_test_bot",
        bot_first_name: str = "Engage",
        privacy_mode: bool = False,
        webhook_retry_interval: float = 0.1,
        webhook_connections: int = 1,
        first_update_id: int = 1,
        port: int = 0,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like '123456:secret'")
        self.token = token
        self.bot_user = telegram.User(
            id=int(bot_id),
            first_name=bot_first_name,
            is_bot=True,
            username=bot_username,
            can_join_groups=True,
            can_read_all_group_messages=not privacy_mode,
            supports_inline_queries=False,
        )
        self.privacy_mode = privacy_mode
        self.webhook_retry_interval = webhook_retry_interval
        self.webhook_connections = webhook_connections
        self._port = port

        # What happened, for assertions.
        self.sent: list[FakeMessage] = []
        """Every message the bot sent (``sendMessage``, ``sendPoll``), in order."""
        self.calls: list[Call] = []
        """Every request received, in order, including rejected ones."""
        self.rate_limited_count = 0
        """How many 429 answers were served (injected or from enforced limits)."""
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.webhook = WebhookState()
        self.polls: dict[str, FakePoll] = {}
        self.commands: dict[tuple[str, str], list[telegram.BotCommand]] = {}
        """(scope as JSON or "default", language code) -> commands from ``setMyCommands``."""

        # Telegram's state.
        self._users: dict[int, telegram.User] = {}
        self._chats: dict[int, telegram.Chat] = {}
        self._blocked: set[int] = set()
        self._started: set[int] = set()
        self._messages: dict[tuple[int, int], FakeMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._topics: dict[tuple[int, int], telegram.ForumTopic] = {}
        self._queue: list[_QueuedUpdate] = []
        self._next_update_id = first_update_id
        self._allowed_updates: list[str] | None = None
        self._open_queries: dict[str, telegram.CallbackQuery] = {}
        self._next_query_id = 1
        self._next_poll_id = 1
        self._poll_generation = 0

        # Fault injection and flood control.
        self._injected: list[_InjectedError] = []
        self._global_window: _SlidingWindow | None = None
        self._chat_window: _SlidingWindow | None = None
        self._group_window: _SlidingWindow | None = None

        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendpoll": self._send_poll,
            "stoppoll": self._stop_poll,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "createforumtopic": self._create_forum_topic,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendchataction": self._send_chat_action,
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on 127.0.0.1 and start delivering to webhooks (again after
        :meth:`close`, given a port: a platform that went away and came back)."""
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._client = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())

    async def close(self) -> None:
        """Answer pending long polls, stop webhook delivery and stop listening."""
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        """The TCP port the fake listens on."""
        if self._runner is None:
            raise RuntimeError("FakeTelegram is not started")
        address = self._runner.addresses[0]
        return int(address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Bot API base for clients: the token and method are appended to it."""
        return f"{self.url}/bot"

    # ------------------------------------------------------------------ people and chats

    def user(
        self,
        id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> telegram.User:
        """A person, with a private chat with the bot (chat id == user id).

        With ``started=False`` the person has never opened the chat, so the bot gets
        403 "bot can't initiate conversation with a user" until they send something.
        """
        if id <= 0:
            raise ValueError("user ids are positive")
        user = telegram.User(
            id=id,
            first_name=first_name,
            is_bot=False,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._users[id] = user
        self._chats[id] = telegram.Chat(
            id=id,
            type=telegram.Chat.PRIVATE,
            first_name=first_name,
            last_name=last_name,
            username=username,
        )
        if started:
            self._started.add(id)
        return user

    def private_chat(self, user: telegram.User | int) -> telegram.Chat:
        """The private chat between ``user`` and the bot."""
        return self._chat(user if isinstance(user, int) else user.id)

    def group(
        self,
        id: int,
        title: str = "Test group",
        *,
        supergroup: bool = False,
        forum: bool = False,
        username: str | None = None,
    ) -> telegram.Chat:
        """A group the bot is a member of; ``forum=True`` makes a forum supergroup."""
        if id >= 0:
            raise ValueError("group ids are negative")
        chat = telegram.Chat(
            id=id,
            type=telegram.Chat.SUPERGROUP if (supergroup or forum) else telegram.Chat.GROUP,
            title=title,
            username=username,
            is_forum=True if forum else None,
        )
        self._chats[id] = chat
        return chat

    def channel(
        self, id: int, title: str = "Test channel", *, username: str | None = None
    ) -> telegram.Chat:
        """A channel where the bot is an administrator."""
        if id >= 0:
            raise ValueError("channel ids are negative")
        chat = telegram.Chat(id=id, type=telegram.Chat.CHANNEL, title=title, username=username)
        self._chats[id] = chat
        return chat

    def block(self, user: telegram.User, *, notify: bool = True) -> telegram.Update | None:
        """The person blocks the bot: later sends to their chat get 403.

        Telegram tells the bot with a ``my_chat_member`` update (status ``kicked``); returns
        it, or None with ``notify=False``.
        """
        self._blocked.add(user.id)
        if not notify:
            return None
        return self._chat_member_update(
            user,
            old=telegram.ChatMemberMember(user=self.bot_user),
            new=telegram.ChatMemberBanned(
                user=self.bot_user, until_date=dt.datetime.fromtimestamp(0, dt.UTC)
            ),
        )

    def unblock(self, user: telegram.User, *, notify: bool = True) -> telegram.Update | None:
        """The person unblocks the bot (sending it a message also does this)."""
        was_blocked = user.id in self._blocked
        self._blocked.discard(user.id)
        self._started.add(user.id)
        if not notify or not was_blocked:
            return None
        return self._chat_member_update(
            user,
            old=telegram.ChatMemberBanned(
                user=self.bot_user, until_date=dt.datetime.fromtimestamp(0, dt.UTC)
            ),
            new=telegram.ChatMemberMember(user=self.bot_user),
        )

    def is_blocked(self, user: telegram.User | int) -> bool:
        """Whether the person currently blocks the bot."""
        return (user if isinstance(user, int) else user.id) in self._blocked

    # ------------------------------------------------------------------ people acting

    def send_text(
        self,
        user: telegram.User,
        text: str,
        chat: ChatRef | None = None,
        reply_to: MessageRef | None = None,
        message_thread_id: int | None = None,
    ) -> telegram.Update:
        """The person sends ``text`` (to their private chat unless ``chat`` is given).

        A leading ``/command`` gets a ``bot_command`` entity, as Telegram clients add.
        In a forum topic, a message that replies to nothing replies to the topic's first
        message, as in Telegram.
        """
        target = self._chat(user.id if chat is None else self._chat_id(chat))
        if target.type == telegram.Chat.CHANNEL:
            raise ValueError("people do not write in channels; use channel_post()")
        replied = self._resolve(reply_to) if reply_to is not None else None
        if replied is not None and replied.chat_id != target.id:
            raise ValueError("reply_to is in another chat")
        if replied is not None and message_thread_id is None:
            message_thread_id = replied.message_thread_id
        if (
            message_thread_id is not None
            and target.is_forum
            and (target.id, message_thread_id) not in self._topics
        ):
            raise ValueError(f"no forum topic {message_thread_id} in chat {target.id}")
        entities: tuple[telegram.MessageEntity, ...] = ()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = (
                telegram.MessageEntity(
                    type=telegram.MessageEntity.BOT_COMMAND,
                    offset=0,
                    length=_utf16_len(command),
                ),
            )
        entities += _mention_entities(text)
        if target.type == telegram.Chat.PRIVATE:
            if target.id != user.id:
                raise ValueError("people write only in their own private chat with the bot")
            self.unblock(user, notify=False)
        message = self._store(
            chat=target,
            from_user=user,
            text=text,
            entities=entities,
            reply_to=replied,
            message_thread_id=message_thread_id,
        )
        update = telegram.Update(update_id=self._take_update_id(), message=message.to_message())
        if self._visible_to_bot(message):
            self._enqueue(update, "message")
        return update

    def send_voice(self, user: telegram.User, seconds: int = 4) -> telegram.Update:
        """The person sends a voice message (no text) to their private chat with the bot."""
        chat = self._chat(user.id)
        self.unblock(user, notify=False)
        number = self._take_update_id()
        voice = telegram.Voice(f"voice-{number}", f"unique-{number}", seconds)
        message = self._store(chat=chat, from_user=user, voice=voice)
        update = telegram.Update(update_id=number, message=message.to_message())
        self._enqueue(update, "message")
        return update

    def send_command(
        self,
        user: telegram.User,
        command: str,
        args: Sequence[str] | str = (),
        chat: ChatRef | None = None,
    ) -> telegram.Update:
        """The person sends ``/command args...`` (e.g. ``send_command(u, "/start", "c-1")``)."""
        if not command.startswith("/"):
            command = "/" + command
        words = [args] if isinstance(args, str) else list(args)
        return self.send_text(user, " ".join([command, *words]), chat=chat)

    def reply(self, user: telegram.User, to_message: MessageRef, text: str) -> telegram.Update:
        """The person replies to a message, in whatever chat and forum topic it is in."""
        replied = self._resolve(to_message)
        return self.send_text(user, text, chat=replied.chat, reply_to=replied)

    def edit(self, user: telegram.User, message: MessageRef, text: str) -> telegram.Update:
        """The person edits one of their messages: an ``edited_message`` update."""
        stored = self._resolve(message)
        if stored.from_user is None or stored.from_user.id != user.id:
            raise ValueError("people edit only their own messages")
        stored.text = text
        stored.raw_text = text
        stored.edit_date = _now()
        update = telegram.Update(
            update_id=self._take_update_id(), edited_message=stored.to_message()
        )
        if self._visible_to_bot(stored):
            self._enqueue(update, "edited_message")
        return update

    def create_topic(self, user: telegram.User, group: ChatRef, name: str) -> telegram.Update:
        """The person opens a forum topic; its thread id is the update's message id."""
        chat = self._chat(self._chat_id(group))
        if not chat.is_forum:
            raise ValueError("the chat is not a forum")
        message = self._new_topic(chat, name, DEFAULT_TOPIC_ICON_COLOR, from_user=user)
        update = telegram.Update(update_id=self._take_update_id(), message=message.to_message())
        self._enqueue(update, "message")
        return update

    def channel_post(self, channel: ChatRef, text: str) -> telegram.Update:
        """An administrator posts in a channel: a ``channel_post`` update."""
        chat = self._chat(self._chat_id(channel))
        if chat.type != telegram.Chat.CHANNEL:
            raise ValueError("not a channel")
        message = self._store(chat=chat, from_user=None, sender_chat=chat, text=text)
        update = telegram.Update(
            update_id=self._take_update_id(), channel_post=message.to_message()
        )
        self._enqueue(update, "channel_post")
        return update

    def press_button(
        self, user: telegram.User, message: MessageRef, callback_data: str
    ) -> telegram.Update:
        """The person presses the inline button carrying ``callback_data``.

        Raises ValueError when the message's current keyboard has no such button, so a test
        cannot press a button the bot never showed (or has since removed).
        """
        stored = self._resolve(message)
        if stored.deleted:
            raise ValueError("the message was deleted")
        if callback_data not in stored.callback_data:
            raise ValueError(
                f"no button with callback_data {callback_data!r}; the message has "
                f"{stored.callback_data!r}"
            )
        query_id = str(self._next_query_id)
        self._next_query_id += 1
        query = telegram.CallbackQuery(
            id=query_id,
            from_user=user,
            chat_instance=f"instance{stored.chat_id}",
            message=stored.to_message(),
            data=callback_data,
        )
        self._open_queries[query_id] = query
        update = telegram.Update(update_id=self._take_update_id(), callback_query=query)
        self._enqueue(update, "callback_query")
        return update

    def vote(
        self,
        user: telegram.User,
        poll: FakeMessage | telegram.Message | telegram.Poll | FakePoll | str,
        option_ids: Sequence[int],
    ) -> telegram.Update:
        """The person votes (empty ``option_ids`` retracts their vote).

        A non-anonymous poll yields a ``poll_answer`` update (returned). Telegram also sends
        the bot a ``poll`` update with the new totals for every poll it sent, so one is
        queued after it; for an anonymous poll that ``poll`` update is the one returned.
        """
        state = self._poll_state(poll)
        if state.is_closed:
            raise ValueError("the poll is closed")
        chosen = tuple(option_ids)
        if len(set(chosen)) != len(chosen) or any(not 0 <= i < len(state.options) for i in chosen):
            raise ValueError(f"invalid option ids {chosen!r}")
        if len(chosen) > 1 and not state.allows_multiple_answers:
            raise ValueError("this poll allows one answer")
        if user.id in state.votes and not state.allows_revoting:
            raise ValueError("this poll does not allow changing a vote")
        if chosen:
            state.votes[user.id] = chosen
        else:
            state.votes.pop(user.id, None)
        answer_update: telegram.Update | None = None
        if not state.is_anonymous:
            answer_update = telegram.Update(
                update_id=self._take_update_id(),
                poll_answer=telegram.PollAnswer(
                    poll_id=state.id,
                    option_ids=chosen,
                    user=user,
                    option_persistent_ids=state.persistent_ids(chosen),
                ),
            )
            self._enqueue(answer_update, "poll_answer")
        poll_update = self._poll_update(state)
        return answer_update if answer_update is not None else poll_update

    # ------------------------------------------------------------------ fault injection

    def inject_429(
        self, count: int = 1, retry_after: int = 1, methods: Iterable[str] | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with 429 "Too Many Requests".

        ``methods`` defaults to the message-sending methods (sendMessage, sendPoll, the
        edits, stopPoll, createForumTopic); name others (e.g. ``["getUpdates"]``) to hit
        them.
        """
        self.inject_error(
            429,
            f"Too Many Requests: retry after {retry_after}",
            count=count,
            methods=methods,
            parameters={"retry_after": retry_after},
        )

    def inject_error(
        self,
        error_code: int,
        description: str,
        *,
        count: int = 1,
        methods: Iterable[str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with this error (see ``inject_429``).

        A long poll already waiting when getUpdates is named is answered at once, with no
        updates (as Telegram may answer one early), so the next poll meets the error
        without waiting out the poll's timeout.
        """
        self._injected.append(
            _InjectedError(
                error=TelegramApiError(error_code, description, parameters),
                remaining=count,
                methods=None if methods is None else frozenset(m.lower() for m in methods),
            )
        )
        self._notify()

    def clear_errors(self) -> None:
        """Drop the injected errors still waiting to fire."""
        self._injected.clear()

    def enforce_rate_limits(
        self,
        global_per_second: int | None = 30,
        per_chat_per_second: int | None = 1,
        per_group_per_minute: int | None = 20,
    ) -> None:
        """Answer 429 when the bot sends faster than Telegram allows (sliding windows).

        Only the message-sending methods count; None turns a limit off. The ``retry_after``
        served is the whole number of seconds until the window has room again.
        """
        self._global_window = _SlidingWindow(global_per_second, 1.0) if global_per_second else None
        self._chat_window = (
            _SlidingWindow(per_chat_per_second, 1.0) if per_chat_per_second else None
        )
        self._group_window = (
            _SlidingWindow(per_group_per_minute, 60.0) if per_group_per_minute else None
        )

    def disable_rate_limits(self) -> None:
        """Stop enforcing rate limits (injected errors still apply)."""
        self.enforce_rate_limits(None, None, None)

    # ------------------------------------------------------------------ inspection

    def messages_to(self, chat: ChatRef | telegram.User) -> list[FakeMessage]:
        """The bot's messages in a chat that are not deleted, oldest first."""
        chat_id = chat.id if isinstance(chat, telegram.Chat | telegram.User) else chat
        return [m for m in self.sent if m.chat_id == chat_id and not m.deleted]

    def message(self, chat: ChatRef, message_id: int) -> FakeMessage:
        """Any stored message (from the bot or a person) by chat and id."""
        return self._messages[(self._chat_id(chat), message_id)]

    def calls_to(self, method: str) -> list[Call]:
        """The requests for one method (case-insensitive), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> list[telegram.Update]:
        """Updates not yet confirmed by getUpdates offset nor delivered to the webhook."""
        return [queued.update for queued in self._queue]

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[telegram.BotCommand]:
        """The commands set for a scope and language (default scope when None)."""
        return list(self.commands.get((self._scope_key(scope), language_code), []))

    async def wait_for(self, predicate: Callable[[], bool], within: float = PATIENCE) -> None:
        """Wait until ``predicate()`` is true; raises TimeoutError after ``within`` seconds.

        The predicate is also re-checked now and then: it may read state the fake does not
        see change (a handler's own list, say).
        """

        async def check() -> bool:
            return predicate()

        await wait_until(
            check, within=within, what="the fake's state", every=0.02, changed=lambda: self._changed
        )

    async def wait_for_sent(
        self, count: int = 1, chat: ChatRef | telegram.User | None = None, within: float = PATIENCE
    ) -> list[FakeMessage]:
        """Wait until the bot has sent ``count`` messages (to ``chat`` if given); return all."""

        def matching() -> list[FakeMessage]:
            return self.sent if chat is None else self.messages_to(chat)

        await self.wait_for(lambda: len(matching()) >= count, within)
        return matching()

    async def wait_for_call(self, method: str, count: int = 1, within: float = PATIENCE) -> Call:
        """Wait until ``method`` has been called ``count`` times; return the last call."""
        await self.wait_for(lambda: len(self.calls_to(method)) >= count, within)
        return self.calls_to(method)[-1]

    async def wait_until_consumed(self, within: float = PATIENCE) -> None:
        """Wait until every queued update is confirmed or delivered to the webhook."""
        await self.wait_for(lambda: not self._queue, within)

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            values = await self._read_params(request)
        except TelegramApiError as error:
            values = {}
            self.calls.append(Call(method, values, time.monotonic(), error.error_code))
            return web.json_response(error.body(), status=error.error_code)
        call = Call(method=method, params=values, at=time.monotonic())
        self.calls.append(call)
        try:
            if request.match_info["token"] != self.token:
                raise TelegramApiError(404, "Not Found")
            handler = self._handlers.get(method.lower())
            if handler is None:
                raise TelegramApiError(404, "Not Found")
            self._check_injected(method.lower())
            self._check_rate_limits(method.lower(), values)
            result = await handler(_Params(values))
        except TelegramApiError as error:
            call.status = error.error_code
            call.description = error.description
            if error.error_code == 429:
                self.rate_limited_count += 1
            self._notify()
            return web.json_response(error.body(), status=error.error_code)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        """Query string plus a JSON, form-encoded or multipart body, as Telegram accepts."""
        values: dict[str, Any] = {
            key: _decode_form_value(key, value) for key, value in request.query.items()
        }
        if not request.can_read_body:
            return values
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request("can't parse JSON body") from exc
            if not isinstance(body, dict):
                raise _bad_request("the JSON body must be an object")
            values.update(body)
            return values
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                values[key] = _decode_form_value(key, value)
            elif isinstance(value, web.FileField):
                values[key] = {"file_name": value.filename}
                value.file.close()  # aiohttp spools uploads to a file the handler closes
        return values

    def _error_waits(self, method: str) -> bool:
        """Whether an injected error waits for the next request of ``method``."""
        return any(
            injected.methods is not None and method in injected.methods and injected.remaining
            for injected in self._injected
        )

    def _check_injected(self, method: str) -> None:
        for injected in self._injected:
            wanted = MESSAGE_METHODS if injected.methods is None else injected.methods
            if method in wanted and injected.remaining > 0:
                injected.remaining -= 1
                if injected.remaining == 0:
                    self._injected.remove(injected)
                raise injected.error

    def _check_rate_limits(self, method: str, values: dict[str, Any]) -> None:
        if method not in MESSAGE_METHODS:
            return
        windows = [self._global_window, self._chat_window, self._group_window]
        if not any(windows):
            return
        chat_id = values.get("chat_id")
        with contextlib.suppress(TelegramApiError):
            chat_id = _Params(values).chat_id()
        chat = self._find_chat(chat_id)
        is_group = chat is not None and chat.type != telegram.Chat.PRIVATE
        now = time.monotonic()
        checks: list[tuple[_SlidingWindow, object]] = []
        if self._global_window is not None:
            checks.append((self._global_window, "global"))
        if self._chat_window is not None and chat_id is not None:
            checks.append((self._chat_window, chat_id))
        if self._group_window is not None and is_group:
            checks.append((self._group_window, chat_id))
        wait = max((window.wait_needed(key, now) for window, key in checks), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise TelegramApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for window, key in checks:
            window.hit(key, now)

    # ------------------------------------------------------------------ updates

    async def _get_me(self, params: _Params) -> Any:
        return self.bot_user.to_dict()

    async def _get_updates(self, params: _Params) -> Any:
        if self.webhook.url:
            raise TelegramApiError(409, _CONFLICT_WEBHOOK)
        offset = params.int_("offset")
        limit = params.int_("limit") or 100
        if not 1 <= limit <= 100:
            limit = 100
        timeout = params.int_("timeout") or 0
        allowed = params.list_("allowed_updates")
        if allowed is not None:
            # Telegram remembers allowed_updates until the next call that sets them.
            self._allowed_updates = [str(kind) for kind in allowed] or None
        self._poll_generation += 1
        generation = self._poll_generation
        if offset is not None:
            self._confirm(offset)
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            event = self._changed
            if generation != self._poll_generation:
                raise TelegramApiError(409, _CONFLICT_POLLING)
            self._drop_unwanted(self._allowed_updates)
            if self._queue or self._closing or self._error_waits("getupdates"):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return [_update_dict(queued.update) for queued in self._queue[:limit]]

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            # A negative offset keeps only the last -offset updates.
            self._queue = self._queue[offset:]
        else:
            self._queue = [q for q in self._queue if q.update.update_id >= offset]

    def _drop_unwanted(self, allowed: list[str] | None) -> None:
        if allowed is not None:
            self._queue = [q for q in self._queue if q.kind in allowed]

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _enqueue(self, update: telegram.Update, kind: str) -> None:
        self._queue.append(_QueuedUpdate(update, kind))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _visible_to_bot(self, message: FakeMessage) -> bool:
        """Whether privacy mode lets the bot see a message in a group."""
        if not self.privacy_mode or message.chat.type == telegram.Chat.PRIVATE:
            return True
        text = message.text or ""
        replied = message.reply_to
        return (
            text.startswith("/")
            or f"@{self.bot_user.username}" in text
            or (replied is not None and replied.from_user == self.bot_user)
        )

    # ------------------------------------------------------------------ webhook

    async def _set_webhook(self, params: _Params) -> Any:
        url = params.str_("url") or ""
        if not url:
            return await self._delete_webhook(params)
        refused = _webhook_refusal(url)
        if refused is not None:
            raise _bad_request(f"bad webhook: {refused}")
        secret = params.str_("secret_token")
        if secret is not None and (
            not 1 <= len(secret) <= 256
            or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)
        ):
            raise _bad_request("secret token contains unallowed characters")
        allowed = params.list_("allowed_updates")
        if params.bool_("drop_pending_updates"):
            self._queue.clear()
        self.webhook.url = url
        self.webhook.secret_token = secret
        self.webhook.allowed_updates = None if allowed is None else [str(a) for a in allowed]
        self.webhook.max_connections = params.int_("max_connections") or 40
        self.webhook.last_error_date = None
        self.webhook.last_error_message = None
        if allowed is not None:
            self._allowed_updates = self.webhook.allowed_updates or None
        return True

    async def _delete_webhook(self, params: _Params) -> Any:
        if params.bool_("drop_pending_updates"):
            self._queue.clear()
        self.webhook.url = ""
        self.webhook.secret_token = None
        return True

    async def _get_webhook_info(self, params: _Params) -> Any:
        info = telegram.WebhookInfo(
            url=self.webhook.url,
            has_custom_certificate=False,
            pending_update_count=len(self._queue),
            last_error_date=self.webhook.last_error_date,
            last_error_message=self.webhook.last_error_message,
            max_connections=self.webhook.max_connections if self.webhook.url else None,
            allowed_updates=self.webhook.allowed_updates if self.webhook.url else None,
        )
        return info.to_dict()

    async def _deliver_webhooks(self) -> None:
        """POST pending updates to the webhook in order; a failed one is retried, not skipped."""
        if self.webhook_connections > 1:
            await self._deliver_side_by_side()
            return
        while True:
            event = self._changed
            url = self.webhook.url
            self._drop_unwanted(self._allowed_updates if url else None)
            if not url or not self._queue:
                await event.wait()
                continue
            queued = self._queue[0]
            status, error = await self._post_update(url, queued.update)
            self.webhook.deliveries.append(
                WebhookDelivery(
                    update_id=queued.update.update_id,
                    url=url,
                    status=status,
                    error=error,
                    at=time.monotonic(),
                )
            )
            if status is not None and 200 <= status <= 299:
                if queued in self._queue:
                    self._queue.remove(queued)
                self._notify()
                continue
            self.webhook.last_error_date = _now()
            self.webhook.last_error_message = error or f"Wrong response from the webhook: {status}"
            self._notify()
            await asyncio.sleep(self.webhook_retry_interval)

    async def _deliver_side_by_side(self) -> None:
        """Up to ``webhook_connections`` deliveries at once, one per chat, each chat in order."""
        busy: dict[int, asyncio.Task[None]] = {}  # chat (or user) -> its delivery in flight
        resting: dict[int, float] = {}  # chat -> when its failed update may be tried again

        async def deliver(url: str, queued: _QueuedUpdate, key: int) -> None:
            status, error = await self._post_update(url, queued.update)
            self.webhook.deliveries.append(
                WebhookDelivery(queued.update.update_id, url, status, error, time.monotonic())
            )
            if status is not None and 200 <= status <= 299:
                if queued in self._queue:
                    self._queue.remove(queued)
            else:
                self.webhook.last_error_date = _now()
                self.webhook.last_error_message = (
                    error or f"Wrong response from the webhook: {status}"
                )
                resting[key] = time.monotonic() + self.webhook_retry_interval
            del busy[key]
            self._notify()

        try:
            while True:
                event = self._changed
                url = self.webhook.url
                self._drop_unwanted(self._allowed_updates if url else None)
                now = time.monotonic()
                waiting: set[int] = set()
                for queued in list(self._queue) if url else []:
                    key = _chat_key(queued.update)
                    if key in waiting:
                        continue  # an earlier update of this chat goes first
                    waiting.add(key)
                    if key in busy or resting.get(key, 0.0) > now:
                        continue
                    if len(busy) >= self.webhook_connections:
                        break
                    resting.pop(key, None)
                    busy[key] = asyncio.create_task(deliver(url, queued, key))
                wake = min(resting.values(), default=now + 1.0) - now
                changed = asyncio.ensure_future(event.wait())
                try:
                    await asyncio.wait({changed}, timeout=max(0.01, min(wake, 1.0)))
                finally:
                    changed.cancel()
        finally:
            for task in busy.values():
                task.cancel()

    async def _post_update(
        self, url: str, update: telegram.Update
    ) -> tuple[int | None, str | None]:
        assert self._client is not None
        headers = {}
        if self.webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook.secret_token
        try:
            async with self._client.post(
                url,
                json=_update_dict(update),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"Connection failed: {exc}"

    # ------------------------------------------------------------------ messages

    async def _send_message(self, params: _Params) -> Any:
        chat = self._target_chat(params)
        parse_mode = params.str_("parse_mode")
        raw_text = params.str_("text") or ""
        text = _visible_text(raw_text, parse_mode)
        self._check_text(text)
        reply_markup = self._reply_markup(params)
        thread_id = self._thread_id(chat, params)
        reply_to = self._reply_target(chat, params)
        message = self._store(
            chat=chat,
            from_user=self._bot_sender(chat),
            sender_chat=chat if chat.type == telegram.Chat.CHANNEL else None,
            text=text,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_to=reply_to,
            message_thread_id=thread_id,
            reply_markup=reply_markup,
            method="sendMessage",
        )
        self.sent.append(message)
        return message.to_message().to_dict()

    async def _send_poll(self, params: _Params) -> Any:
        chat = self._target_chat(params)
        question = params.str_("question") or ""
        if not question:
            raise _bad_request("poll question must be non-empty")
        if _utf16_len(question) > POLL_QUESTION_LIMIT:
            raise _bad_request(f"poll question length must not exceed {POLL_QUESTION_LIMIT}")
        raw_options = params.list_("options") or []
        options = [o.get("text") if isinstance(o, dict) else o for o in raw_options]
        if len(options) < POLL_MIN_OPTIONS:
            raise _bad_request(f"poll must have at least {POLL_MIN_OPTIONS} option")
        if len(options) > POLL_MAX_OPTIONS:
            raise _bad_request(f"poll can't have more than {POLL_MAX_OPTIONS} options")
        for option in options:
            if not isinstance(option, str) or not option:
                raise _bad_request("poll options must be non-empty")
            if _utf16_len(option) > POLL_OPTION_LIMIT:
                raise _bad_request(f"poll options length must not exceed {POLL_OPTION_LIMIT}")
        is_anonymous = params.bool_("is_anonymous", default=True)
        if not is_anonymous and chat.type == telegram.Chat.CHANNEL:
            raise _bad_request("non-anonymous polls can't be sent to channel chats")
        poll_type = params.str_("type") or telegram.Poll.REGULAR
        if poll_type not in {telegram.Poll.REGULAR, telegram.Poll.QUIZ}:
            raise _bad_request("poll type is invalid")
        # Bot API 9.6 replaced correct_option_id with correct_option_ids; accept both.
        correct = params.list_("correct_option_ids")
        if correct is None and params.has("correct_option_id"):
            correct = [params.int_("correct_option_id")]
        correct_option_ids = tuple(int(i) for i in correct or ())
        if poll_type == telegram.Poll.QUIZ and not correct_option_ids:
            raise _bad_request("quiz poll must have correct option")
        reply_markup = self._reply_markup(params)
        thread_id = self._thread_id(chat, params)
        reply_to = self._reply_target(chat, params)
        message = self._store(
            chat=chat,
            from_user=self._bot_sender(chat),
            sender_chat=chat if chat.type == telegram.Chat.CHANNEL else None,
            reply_to=reply_to,
            message_thread_id=thread_id,
            reply_markup=reply_markup,
            method="sendPoll",
        )
        poll_id = f"poll{self._next_poll_id}"
        self._next_poll_id += 1
        state = FakePoll(
            id=poll_id,
            question=question,
            options=[str(o) for o in options],
            is_anonymous=is_anonymous,
            type=poll_type,
            allows_multiple_answers=params.bool_("allows_multiple_answers"),
            chat_id=chat.id,
            message_id=message.message_id,
            allows_revoting=params.bool_(
                "allows_revoting", default=poll_type == telegram.Poll.REGULAR
            ),
            members_only=params.bool_("members_only"),
            correct_option_ids=correct_option_ids,
        )
        self.polls[poll_id] = state
        message.poll_state = state
        self.sent.append(message)
        return message.to_message().to_dict()

    async def _stop_poll(self, params: _Params) -> Any:
        chat = self._target_chat(params)
        message = self._existing(chat, params, "message with poll to stop not found")
        state = message.poll_state
        if state is None:
            raise _bad_request("message with poll to stop not found")
        if state.is_closed:
            raise _bad_request("poll has already been closed")
        if params.has("reply_markup"):
            message.reply_markup = self._reply_markup(params)
        state.is_closed = True
        # Telegram reports manually stopped polls with a ``poll`` update.
        self._poll_update(state)
        return state.to_poll().to_dict()

    async def _answer_callback_query(self, params: _Params) -> Any:
        query_id = params.str_("callback_query_id") or ""
        if self._open_queries.pop(query_id, None) is None:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers[query_id] = CallbackAnswer(
            callback_query_id=query_id,
            text=params.str_("text"),
            show_alert=params.bool_("show_alert"),
            url=params.str_("url"),
        )
        return True

    async def _edit_message_text(self, params: _Params) -> Any:
        if params.has("inline_message_id"):
            raise _bad_request("inline messages are not supported by this fake")
        chat = self._target_chat(params)
        message = self._existing(chat, params, "message to edit not found")
        if message.from_user != self.bot_user and message.sender_chat is None:
            raise _bad_request("message can't be edited")
        if message.text is None:
            raise _bad_request("there is no text in the message to edit")
        parse_mode = params.str_("parse_mode")
        raw_text = params.str_("text") or ""
        text = _visible_text(raw_text, parse_mode)
        self._check_text(text)
        reply_markup = self._reply_markup(params)
        if text == message.text and reply_markup == message.reply_markup:
            raise _bad_request(_NOT_MODIFIED)
        message.text = text
        message.raw_text = raw_text
        message.parse_mode = parse_mode
        message.reply_markup = reply_markup
        message.edit_date = _now()
        return message.to_message().to_dict()

    async def _edit_message_reply_markup(self, params: _Params) -> Any:
        if params.has("inline_message_id"):
            raise _bad_request("inline messages are not supported by this fake")
        chat = self._target_chat(params)
        message = self._existing(chat, params, "message to edit not found")
        if message.from_user != self.bot_user and message.sender_chat is None:
            raise _bad_request("message can't be edited")
        reply_markup = self._reply_markup(params)
        if reply_markup == message.reply_markup:
            raise _bad_request(_NOT_MODIFIED)
        message.reply_markup = reply_markup
        message.edit_date = _now()
        return message.to_message().to_dict()

    async def _delete_message(self, params: _Params) -> Any:
        chat = self._target_chat(params)
        message = self._existing(chat, params, "message to delete not found")
        message.deleted = True
        return True

    async def _create_forum_topic(self, params: _Params) -> Any:
        chat = self._target_chat(params)
        if not chat.is_forum:
            raise _bad_request("the chat is not a forum")
        name = params.str_("name") or ""
        if not 1 <= _utf16_len(name) <= TOPIC_NAME_LIMIT:
            raise _bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        icon_color = params.int_("icon_color") or DEFAULT_TOPIC_ICON_COLOR
        message = self._new_topic(chat, name, icon_color, from_user=self.bot_user)
        topic = self._topics[(chat.id, message.message_id)]
        return topic.to_dict()

    async def _set_my_commands(self, params: _Params) -> Any:
        raw = params.list_("commands") or []
        commands: list[telegram.BotCommand] = []
        for item in raw:
            if not isinstance(item, dict):
                raise _bad_request("can't parse commands JSON object")
            command = str(item.get("command", ""))
            description = str(item.get("description", ""))
            if not (
                1 <= len(command) <= 32
                and all(c.islower() or c.isdigit() or c == "_" for c in command)
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad_request("command description is empty")
            commands.append(telegram.BotCommand(command=command, description=description))
        key = (self._scope_key(params.dict_("scope")), params.str_("language_code") or "")
        self.commands[key] = commands
        return True

    async def _get_my_commands(self, params: _Params) -> Any:
        scope = params.dict_("scope")
        commands = self.my_commands(scope, params.str_("language_code") or "")
        return [command.to_dict() for command in commands]

    async def _delete_my_commands(self, params: _Params) -> Any:
        key = (self._scope_key(params.dict_("scope")), params.str_("language_code") or "")
        self.commands.pop(key, None)
        return True

    async def _send_chat_action(self, params: _Params) -> Any:
        self._target_chat(params)
        return True

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None) -> str:
        if not scope or scope.get("type") == "default":
            return "default"
        return json.dumps(scope, sort_keys=True)

    @staticmethod
    def _chat_id(chat: ChatRef) -> int:
        return chat.id if isinstance(chat, telegram.Chat) else chat

    def _chat(self, chat_id: int) -> telegram.Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}: create it with user(), group() or channel()")
        return chat

    def _find_chat(self, chat_id: object) -> telegram.Chat | None:
        if isinstance(chat_id, int):
            return self._chats.get(chat_id)
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            for chat in self._chats.values():
                if chat.username is not None and chat.username.lower() == name:
                    return chat
        return None

    def _target_chat(self, params: _Params) -> telegram.Chat:
        """The chat a bot request addresses, refusing blocked and never-started chats."""
        chat = self._find_chat(params.chat_id())
        if chat is None:
            raise _bad_request("chat not found")
        if chat.type == telegram.Chat.PRIVATE:
            if chat.id in self._blocked:
                raise TelegramApiError(403, "Forbidden: bot was blocked by the user")
            if chat.id not in self._started:
                raise TelegramApiError(
                    403, "Forbidden: bot can't initiate conversation with a user"
                )
        return chat

    def _bot_sender(self, chat: telegram.Chat) -> telegram.User | None:
        # Channel posts have no sender user, only sender_chat.
        return None if chat.type == telegram.Chat.CHANNEL else self.bot_user

    def _existing(self, chat: telegram.Chat, params: _Params, missing: str) -> FakeMessage:
        message_id = params.int_("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat.id, message_id))
        if message is None or message.deleted:
            raise _bad_request(missing)
        return message

    @staticmethod
    def _check_text(text: str) -> None:
        if not text.strip():
            raise _bad_request("message text is empty")
        if _utf16_len(text) > TEXT_LIMIT:
            raise _bad_request("message is too long")

    @staticmethod
    def _reply_markup(params: _Params) -> dict[str, Any] | None:
        markup = params.dict_("reply_markup")
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request('field "inline_keyboard" must be an Array of Array')
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad_request("BUTTON_TEXT_INVALID")
                    data = button.get("callback_data")
                    if data is not None and not (
                        isinstance(data, str) and 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
            # Parse it with the library so malformed keyboards fail here, not later.
            telegram.InlineKeyboardMarkup.de_json(markup, None)
        return markup

    def _thread_id(self, chat: telegram.Chat, params: _Params) -> int | None:
        thread_id = params.int_("message_thread_id")
        if thread_id is None or not chat.is_forum:
            return None
        if (chat.id, thread_id) not in self._topics:
            raise _bad_request("message thread not found")
        return thread_id

    def _reply_target(self, chat: telegram.Chat, params: _Params) -> FakeMessage | None:
        reply = params.dict_("reply_parameters")
        message_id = params.int_("reply_to_message_id")
        allow_missing = params.bool_("allow_sending_without_reply")
        reply_chat = chat
        if reply is not None:
            message_id = _Params(reply).int_("message_id")
            allow_missing = _Params(reply).bool_("allow_sending_without_reply")
            if reply.get("chat_id") is not None:
                found = self._find_chat(_Params(reply).chat_id())
                if found is None:
                    raise _bad_request("chat not found")
                reply_chat = found
        if message_id is None:
            return None
        message = self._messages.get((reply_chat.id, message_id))
        if message is None or message.deleted:
            if allow_missing:
                return None
            raise _bad_request("message to be replied not found")
        return message

    def _resolve(self, message: MessageRef) -> FakeMessage:
        key = (message.chat.id, message.message_id)
        stored = self._messages.get(key)
        if stored is None:
            raise ValueError(f"unknown message {key}")
        return stored

    def _poll_state(
        self, poll: FakeMessage | telegram.Message | telegram.Poll | FakePoll | str
    ) -> FakePoll:
        if isinstance(poll, FakePoll):
            return poll
        if isinstance(poll, str):
            poll_id = poll
        elif isinstance(poll, telegram.Poll):
            poll_id = poll.id
        else:
            state = self._resolve(poll).poll_state
            if state is None:
                raise ValueError("the message is not a poll")
            return state
        found = self.polls.get(poll_id)
        if found is None:
            raise ValueError(f"unknown poll {poll_id!r}")
        return found

    def _poll_update(self, state: FakePoll) -> telegram.Update:
        update = telegram.Update(update_id=self._take_update_id(), poll=state.to_poll())
        self._enqueue(update, "poll")
        return update

    def _store(
        self,
        *,
        chat: telegram.Chat,
        from_user: telegram.User | None,
        text: str | None = None,
        raw_text: str | None = None,
        parse_mode: str | None = None,
        entities: tuple[telegram.MessageEntity, ...] = (),
        sender_chat: telegram.Chat | None = None,
        reply_to: FakeMessage | None = None,
        message_thread_id: int | None = None,
        reply_markup: dict[str, Any] | None = None,
        forum_topic_created: telegram.ForumTopicCreated | None = None,
        voice: telegram.Voice | None = None,
        method: str | None = None,
    ) -> FakeMessage:
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        in_topic = bool(chat.is_forum) and message_thread_id is not None
        if forum_topic_created is not None:
            message_thread_id = message_id
            in_topic = True
        if not chat.is_forum:
            message_thread_id = None
        elif reply_to is None and message_thread_id is not None:
            # In a forum topic, a message that replies to nothing replies to the topic's
            # first (service) message.
            reply_to = self._messages.get((chat.id, message_thread_id))
        message = FakeMessage(
            chat=chat,
            message_id=message_id,
            date=_now(),
            from_user=from_user,
            text=text,
            raw_text=text if raw_text is None else raw_text,
            parse_mode=parse_mode,
            entities=entities,
            sender_chat=sender_chat,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
            is_topic_message=in_topic,
            reply_markup=reply_markup,
            forum_topic_created=forum_topic_created,
            voice=voice,
            method=method,
        )
        self._messages[(chat.id, message_id)] = message
        return message

    def _new_topic(
        self,
        chat: telegram.Chat,
        name: str,
        icon_color: int,
        *,
        from_user: telegram.User,
    ) -> FakeMessage:
        # A topic's thread id is the id of the service message that opened it.
        message = self._store(
            chat=chat,
            from_user=from_user,
            forum_topic_created=telegram.ForumTopicCreated(name=name, icon_color=icon_color),
        )
        self._topics[(chat.id, message.message_id)] = telegram.ForumTopic(
            message_thread_id=message.message_id, name=name, icon_color=icon_color
        )
        return message

    def _chat_member_update(
        self,
        user: telegram.User,
        *,
        old: telegram.ChatMember,
        new: telegram.ChatMember,
    ) -> telegram.Update:
        update = telegram.Update(
            update_id=self._take_update_id(),
            my_chat_member=telegram.ChatMemberUpdated(
                chat=self.private_chat(user),
                from_user=user,
                date=_now(),
                old_chat_member=old,
                new_chat_member=new,
            ),
        )
        self._enqueue(update, "my_chat_member")
        return update
