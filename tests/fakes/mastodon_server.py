"""A Mastodon instance on 127.0.0.1 for adapter tests: mastodon-mock 0.6.1 plus a thin layer.

The adapter under test talks to it with the real Mastodon.py over real HTTP. Other people
(accounts with their own tokens) act through the same client library.

What comes from mastodon-mock 0.6.1, unchanged
(https://github.com/matthewdeanmartin/mastodon_mock):

- the REST API and its SQLite state (a private temporary file per server): statuses with
  ``in_reply_to_id`` and ``visibility`` (including ``direct``), polls created with a status
  and their tallies (``votes_count``, ``voters_count``, per-option ``votes_count``),
  ``POST /api/v1/polls/:id/votes``, the hashtag timeline (``/api/v1/timelines/tag/:tag``,
  public statuses only), mention notifications with ``max_id``/``min_id``/
  ``since_id`` paging and ``Link`` headers, conversations;
- the streaming API as server-sent events (``/api/v1/streaming/user`` and friends), with a
  ``:connected`` comment on open and ``:thump`` keep-alives; switched off, the streaming
  routes answer 404 and the instance advertises no streaming URL;
- fixed-window rate limiting per token with ``X-RateLimit-Limit``/``-Remaining``/``-Reset``
  on every response and 429 past the limit (off by default in the mock, on here);
- fault injection (``/api/v1/_mock/faults``): a forced status with an optional body and
  headers, a 429 with rate-limit headers, latency, malformed JSON or a hung request, for
  the next N matching requests;
- its own 422 for blank statuses and statuses over 500 characters;
- accounts and tokens (``/api/v1/_mock/dev_user``).

What this module adds, because the adapter needs it and the mock lacks it:

- a server stricter than Mastodon, as some independent ones are: ``strict_slash`` makes
  every path with a trailing slash answer 404 (Mastodon.py asks ``/api/v2/instance/``),
  and :class:`InstanceLimits` can enforce a status limit below the one advertised and
  count links at their real length; :attr:`MastodonServer.instance_lookups` counts the
  requests for the instance document;
- configurable instance limits (:class:`InstanceLimits`): the mock always advertises
  Mastodon's defaults, so ``configuration.statuses.max_characters`` and
  ``configuration.polls`` in ``/api/v1/instance`` and ``/api/v2/instance`` are rewritten
  to the configured values;
- enforcement of those limits on ``POST /api/v1/statuses`` with Mastodon's 422 messages:
  status length (URLs count as 23 characters and remote mentions by their local part, as
  Mastodon counts them; the content warning counts too), number of poll options, option
  length, duplicate options and ``expires_in`` bounds. The mock accepts any poll;
- ``X-RateLimit-Reset`` as an ISO 8601 timestamp, the form Mastodon sends
  (https://docs.joinmastodon.org/api/rate-limits/); the mock sends epoch seconds;
- :meth:`MastodonServer.expire_poll`: the mock never ends a poll on its own;
- :meth:`MastodonServer.stall_streams`: streams stay open but go silent (no events, no
  keep-alives), as a stream behind a stuck proxy does; new streams open and stay silent
  too, until the stall ends; :attr:`MastodonServer.streams_opened` counts connections;
- :meth:`MastodonServer.hold_responses`: the next matching requests (by method, path
  and, optionally, whose token) are served in full (a new status is stored, streamed
  and notified) but their responses are held back until the test releases them
  (:class:`HeldResponses`), as a response still on its way back is: the rest of the
  instance sees the effect while the client that asked has not heard yet;
- a deleted status's ``delete`` event on the user streams of the accounts it mentions, as
  Mastodon sends it (the mock sends it to the author and followers only);
- an edited status's ``status.update`` event (the status as it now is) on the user
  streams of the accounts it mentions, as Mastodon sends it to those connected to the
  streaming API (``FanOutOnWriteService``, "pushes the update to mentioned users
  through the notifications streaming channel"); the mock sends its ``status_update``
  to the author and followers only. As on Mastodon, an edit brings no notification to
  the accounts mentioned, so a client that polls is not told of it;
- :meth:`MastodonServer.revoke`: a token answered 401 from now on (on every path or on
  some), as Mastodon answers a revoked one, and its open streams closed, as Mastodon
  closes them, until :meth:`MastodonServer.restore`;
- helpers that act as other people (:meth:`MastodonServer.reply`,
  :meth:`MastodonServer.mention`, :meth:`MastodonServer.post`, :meth:`MastodonServer.dm`,
  :meth:`MastodonServer.vote`).

Still not enforced (the adapter's own checks are tested directly): voting rules (voting
twice, voting on one's own or an ended poll, several choices on a single-choice poll) and
who may see a status of a given visibility.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import parse_qs

import requests
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mastodon import Mastodon
from mastodon.errors import MastodonInternalServerError, MastodonNetworkError
from mastodon.return_types import Poll, Status
from mastodon_mock.app import create_app
from mastodon_mock.config import (
    DatabaseConfig,
    MastodonMockConfig,
    RateLimitConfig,
    SeedAccount,
    SeedConfig,
    StreamingConfig,
)
from mastodon_mock.db.models import Poll as PollRow
from mastodon_mock.db.models import Status as StatusRow
from mastodon_mock.db.models import StatusMention
from mastodon_mock.serializers.statuses import serialize_status
from mastodon_mock.streaming import publish, user_channel
from sqlalchemy import select

__all__ = ["BOT_USERNAME", "HeldResponses", "InstanceLimits", "MastodonServer"]

_ONE_STATUS = re.compile(r"/api/v1/statuses/(\d+)")

BOT_USERNAME = "engage"
"""Username of the bot account the adapter logs in as."""

_BOT_TOKEN = "engage-bot-token"  # a token for a throwaway mock server, not a credential
_HOST = "127.0.0.1"

# The mock itself rejects statuses longer than this, whatever the instance advertises.
_MOCK_MAX_CHARACTERS = 500

# Mastodon counts every URL as this many characters
# (https://docs.joinmastodon.org/user/posting/#text).
_URL_LENGTH = 23
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(@\w+)@[\w.-]*\w")

# Keep-alive cadence of the mock's event streams. Short, so a reader thread blocked on
# the socket notices a closed handle quickly and tests end without waiting.
_HEARTBEAT_SECONDS = 0.2

_Handler = Callable[[Request], Awaitable[Response]]
_T = TypeVar("_T")

# The header fail_next's 429s carry to this module's middleware: seconds from the refusal
# to the end of the window, written as X-RateLimit-Reset when the request is refused.
_RESET_IN = "X-Engage-Reset-In"

# How many times a person's read is asked before the mock's 500 is let through.
_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class InstanceLimits:
    """Limits the instance advertises under ``configuration`` and enforces on new statuses.

    The defaults are Mastodon's (https://docs.joinmastodon.org/entities/Instance/).
    """

    max_characters: int = 500
    max_options: int = 4
    max_characters_per_option: int = 50
    min_expiration: int = 300
    max_expiration: int = 2_629_746
    enforced_characters: int | None = None
    """A status limit enforced below the advertised ``max_characters`` (``None``: the same)."""
    url_length: int | None = _URL_LENGTH
    """How a link counts in a status: 23 as Mastodon counts it; ``None``, its real length."""

    @property
    def status_limit(self) -> int:
        """The status length enforced on new statuses."""
        return self.enforced_characters or self.max_characters

    def __post_init__(self) -> None:
        if self.max_characters > _MOCK_MAX_CHARACTERS:
            raise ValueError(
                f"max_characters={self.max_characters}: mastodon-mock rejects statuses over "
                f"{_MOCK_MAX_CHARACTERS} characters itself"
            )


class HeldResponses:
    """Responses a :class:`MastodonServer` holds back: see :meth:`MastodonServer.hold_responses`.

    The server serves each matching request in full, then keeps its response until
    :meth:`release`. Thread-safe: the server's thread holds, the test's releases.
    """

    def __init__(
        self, *, method: str | None, path: str, token: str | None, times: int | None
    ) -> None:
        self.method = method.upper() if method is not None else None
        self.path = path
        self.token = token
        self.left = times
        self.count = 0
        """How many responses have been held so far."""
        self.held = threading.Event()
        """Set once a response is held: its request has been served, and not yet answered."""
        self._released = threading.Event()

    def matches(self, method: str, path: str, authorization: str) -> bool:
        """Whether a request is one to hold (and there are holds left)."""
        if self.left is not None and self.left <= 0:
            return False
        if self.method is not None and method.upper() != self.method:
            return False
        if not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.token is None or authorization == f"Bearer {self.token}"

    def wait_held(self, timeout: float | None = None) -> bool:
        """Block until a response is held (``False`` if ``timeout`` passes first)."""
        return self.held.wait(timeout)

    def release(self) -> None:
        """Send the held responses, and any later matching ones at once. Idempotent."""
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()


class MastodonServer:
    """mastodon-mock served on 127.0.0.1 with the additions described in the module docstring.

    Use as a context manager, sync or async::

        with MastodonServer() as server:
            bot = server.bot()
            status = bot.status_post("Hello", poll=bot.make_poll(["Yes", "No"], expires_in=3600))
            server.vote("alice", status.poll.id, 0)

        async with MastodonServer(streaming=False) as server:
            ...

    The helpers are blocking (Mastodon.py is); the server runs on its own thread, so a
    coroutine may call them directly, or through ``asyncio.to_thread`` to keep its loop
    free while they run.

    Args:
        limits: what the instance advertises and enforces on new statuses.
        streaming: ``False`` makes the streaming API unavailable, as on an instance without
            a streaming server: its routes answer 404 and no streaming URL is advertised.
        ratelimit: requests allowed per token per window, or ``None`` for no limit and no
            ``X-RateLimit-*`` headers. Mastodon's default is 300 per 5 minutes.
        ratelimit_window: the window in seconds.
        bot_username: username of the bot account (:data:`BOT_USERNAME`).
        strict_slash: answer 404 to any path ending in a slash, as some non-Mastodon
            servers do (Mastodon itself accepts both forms).
        instance: ``False`` makes the instance document unavailable (404 on every form).
    """

    def __init__(
        self,
        *,
        limits: InstanceLimits | None = None,
        streaming: bool = True,
        ratelimit: int | None = 300,
        ratelimit_window: int = 300,
        bot_username: str = BOT_USERNAME,
        strict_slash: bool = False,
        instance: bool = True,
    ) -> None:
        self.limits = limits or InstanceLimits()
        self.strict_slash = strict_slash
        self.instance = instance
        self.instance_lookups = 0
        self.streaming = streaming
        self.bot_username = bot_username
        self.bot_token = _BOT_TOKEN
        self._ratelimit = ratelimit
        self._ratelimit_window = ratelimit_window
        self._app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._http: requests.Session | None = None
        self._clients: list[Mastodon] = []
        self._tokens: dict[str, str] = {}
        self._people: dict[str, Mastodon] = {}
        self._bot: Mastodon | None = None
        self._lock = threading.Lock()
        self._stalled = threading.Event()
        self._holds: list[HeldResponses] = []
        # Revoked tokens, each with the paths (globs) it is refused on, or None for all.
        self._revoked: dict[str, tuple[str, ...] | None] = {}
        self.streams_opened = 0
        """Connections made to the user stream (the adapter's reconnections show here)."""
        self.requests: Counter[str] = Counter()
        """Requests answered so far, by method and path (``"GET /api/v1/notifications"``)."""

    # --- lifecycle ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, the value for ``MASTODON_API_BASE_URL``."""
        if self._port is None:
            raise RuntimeError("MastodonServer is not running")
        return f"http://{_HOST}:{self._port}"

    def start(self, *, timeout: float = 10.0) -> Self:
        """Bind an ephemeral port, serve the mock on a thread and wait until it answers."""
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((_HOST, 0))
            port = int(sock.getsockname()[1])
            app = self._build_app(port)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    # uvicorn's "auto" choice imports the legacy websockets implementation,
                    # which warns about its own deprecation.
                    ws="websockets-sansio",
                    timeout_graceful_shutdown=2,
                    # A pooled connection the server closes as idle just as a client
                    # reuses it is reset under the request ("connection reset by peer"):
                    # keep idle connections for longer than any test runs.
                    timeout_keep_alive=600,
                )
            )
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="mastodon-mock", daemon=True
            )
            thread.start()
            deadline = time.monotonic() + timeout
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("mastodon-mock stopped while starting")
                if time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(timeout)
                    raise TimeoutError(f"mastodon-mock did not start within {timeout:g}s")
                time.sleep(0.01)
        except BaseException:
            sock.close()
            raise
        self._app, self._server, self._thread = app, server, thread
        self._socket, self._port = sock, port
        self._http = requests.Session()
        self._tokens[self.bot_username] = self.bot_token
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        """Close every client this server handed out, then stop the mock. Idempotent.

        Held responses are released first, then stream handles closed: an open stream
        keeps the mock's shutdown waiting.
        """
        with self._lock:
            holds, self._holds = self._holds, []
        for hold in holds:
            hold.release()
        for client in self._clients:
            client.session.close()
        self._clients.clear()
        self._people.clear()
        self._tokens.clear()
        self._bot = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"mastodon-mock did not stop within {timeout:g}s")
        if self._socket is not None:
            self._socket.close()
        self._app = self._server = self._thread = self._socket = self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # --- clients and people ---------------------------------------------------------

    def client(self, access_token: str, **options: Any) -> Mastodon:
        """A Mastodon.py client for ``access_token``; closed when the server stops.

        ``options`` go to ``Mastodon(...)``; by default ``ratelimit_method="throw"`` and
        ``version_check_mode="none"``.
        """
        settings: dict[str, Any] = {"ratelimit_method": "throw", "version_check_mode": "none"}
        settings.update(options)
        client = Mastodon(api_base_url=self.base_url, access_token=access_token, **settings)
        with self._lock:
            self._clients.append(client)
        return client

    def bot(self) -> Mastodon:
        """A client logged in as the bot account (the same one on every call)."""
        if self._bot is None:
            self._bot = self.client(self.bot_token)
        return self._bot

    def token(self, username: str) -> str:
        """The access token of ``username``, creating the account on first use."""
        with self._lock:
            known = self._tokens.get(username)
        if known is not None:
            return known
        created = self._control("POST", "/api/v1/_mock/dev_user", {"username": username})
        token = str(created["access_token"])
        with self._lock:
            self._tokens[username] = token
        return token

    def person(self, username: str) -> Mastodon:
        """A client logged in as ``username`` (the same one on every call)."""
        if username not in self._people:
            self._people[username] = self.client(self.token(username))
        return self._people[username]

    def account_id(self, username: str) -> str:
        """The account id of ``username``, creating the account on first use."""
        return str(_read(self.person(username).me)["id"])

    # --- acting as other people -----------------------------------------------------

    def reply(
        self,
        person: str,
        status_id: int | str,
        text: str,
        *,
        visibility: str = "public",
        mention_author: bool = True,
    ) -> Status:
        """``person`` replies to a status.

        Like Mastodon's own clients, the reply starts with the author's handle (unless
        ``mention_author`` is false, the text already has it, or it is their own status),
        which is what makes the author get a mention notification.
        """
        client = self.person(person)
        parent = _read(client.status, status_id)
        handle = f"@{parent['account']['acct']}"
        if mention_author and parent["account"]["username"] != person and handle not in text:
            text = f"{handle} {text}"
        return cast(
            Status, client.status_post(text, in_reply_to_id=status_id, visibility=visibility)
        )

    def mention(self, person: str, text: str, *, visibility: str = "public") -> Status:
        """``person`` posts a new status mentioning the bot."""
        return cast(
            Status, self.person(person).status_post(self._to_bot(text), visibility=visibility)
        )

    def post(self, person: str, text: str, *, visibility: str = "public") -> Status:
        """``person`` posts a status of their own (hashtags in it reach the tag timeline)."""
        return cast(Status, self.person(person).status_post(text, visibility=visibility))

    def dm(self, person: str, text: str, *, in_reply_to_id: int | str | None = None) -> Status:
        """``person`` sends the bot a direct message (a ``direct`` status mentioning it)."""
        status = self.person(person).status_post(
            self._to_bot(text), visibility="direct", in_reply_to_id=in_reply_to_id
        )
        return cast(Status, status)

    def edit(self, person: str, status_id: int | str, text: str) -> Status:
        """``person`` edits a status of their own to ``text``.

        Like Mastodon's own clients, the handles the status began with are kept at the
        start of the new text (unless it already has them).
        """
        client = self.person(person)
        status = _read(client.status, status_id)
        handles = [f"@{m['acct']}" for m in status["mentions"]]
        lead = " ".join(h for h in handles if h not in text)
        return cast(Status, client.status_update(status_id, f"{lead} {text}" if lead else text))

    def delete(self, person: str, status_id: int | str) -> None:
        """``person`` deletes a status of their own."""
        self.person(person).status_delete(status_id)

    def vote(self, person: str, poll_id: int | str, choices: int | Sequence[int]) -> Poll:
        """``person`` votes on a poll; ``choices`` are option indexes."""
        picked = [choices] if isinstance(choices, int) else list(choices)
        return cast(Poll, self.person(person).poll_vote(poll_id, picked))

    def received(self, person: str, *, since_id: int | str | None = None) -> list[Status]:
        """Statuses that mention ``person`` (replies and direct messages to them), oldest first."""
        notifications = _read(
            self.person(person).notifications, types=["mention"], since_id=since_id
        )
        return [n["status"] for n in reversed(notifications)]

    def expire_poll(self, poll_id: int | str) -> None:
        """End a poll now, as its expiry would on Mastodon. The mock never ends one itself."""
        app = self._running_app()
        with app.state.session_factory() as db:
            row = db.get(PollRow, int(poll_id))
            if row is None:
                raise LookupError(f"no poll {poll_id}")
            row.expired = True
            row.expires_at = datetime.now(UTC)
            db.commit()

    # --- fault injection ------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        path: str | None = None,
        path_regex: str | None = None,
        methods: Sequence[str] | None = None,
        times: int | None = 1,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        reset_in: float = 300.0,
    ) -> str:
        """Make the next ``times`` matching requests fail with ``status``; returns the rule id.

        ``path`` is exact or a glob (``/api/v1/statuses/*``); without ``path`` or
        ``path_regex`` every request matches, including the instance lookup Mastodon.py
        makes before it opens a stream. ``times=None`` fails until :meth:`clear_faults`.
        The body is ``{"error": error}`` (a Mastodon-shaped default when ``error`` is
        omitted). A 429 also carries ``X-RateLimit-Limit`` (the server's limit),
        ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` ``reset_in`` seconds after
        the request is refused (ISO 8601, as Mastodon sends it), which Mastodon.py's
        ``ratelimit_method="wait"`` sleeps until. Counted from the refusal, not from this
        call: a window that ended before the request came would be no window at all.
        """
        extra = dict(headers or {})
        effect: dict[str, Any] = {"type": "status", "status": status}
        if status == 429:
            effect["type"] = "ratelimit"
            if self._ratelimit is not None:
                extra.setdefault("X-RateLimit-Limit", str(self._ratelimit))
            if "X-RateLimit-Reset" not in extra:
                extra[_RESET_IN] = repr(float(reset_in))
            extra.setdefault("Retry-After", str(max(0, round(reset_in))))
        if status == 422 and error is None:
            error = "Validation failed: Text can't be blank"
        if error is not None:
            effect["body"] = {"error": error}
        if extra:
            effect["headers"] = extra
        rule = {
            "match": {
                "methods": list(methods) if methods is not None else None,
                "path": path,
                "path_regex": path_regex,
            },
            "effect": effect,
            "count": times,
        }
        return str(self._control("POST", "/api/v1/_mock/faults", rule)["id"])

    def answer_not_json(self, *, path: str, times: int | None = None) -> str:
        """Make matching requests answer 200 with a body that is not JSON (as a web page
        or a proxy's error page at that address would); returns the rule id."""
        rule = {
            "match": {"methods": None, "path": path, "path_regex": None},
            "effect": {"type": "malformed", "status": 200},
            "count": times,
        }
        return str(self._control("POST", "/api/v1/_mock/faults", rule)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules still waiting to fire, with their remaining counts."""
        return cast(list[dict[str, Any]], self._control("GET", "/api/v1/_mock/faults"))

    def clear_faults(self) -> None:
        """Drop every fault rule."""
        self._control("DELETE", "/api/v1/_mock/faults")

    def stall_streams(self, stalled: bool = True) -> None:
        """Make every stream silent (``True``) but open, or let them speak again.

        Open streams stop passing on anything, keep-alives included, without closing; a
        stream opened while stalled says nothing at all. Only the client's own read
        timeout can tell such a stream from a quiet one.
        """
        if stalled:
            self._stalled.set()
        else:
            self._stalled.clear()

    def hold_responses(
        self,
        path: str,
        *,
        method: str | None = "POST",
        username: str | None = None,
        times: int | None = 1,
    ) -> HeldResponses:
        """Hold back the responses to the next ``times`` matching requests until released.

        A matching request is served in full (a status is stored, streamed and notified
        as usual); only its response waits, until :meth:`HeldResponses.release`, so the
        rest of the instance sees the effect before the client that asked hears of it.
        ``path`` is exact or a glob (``/api/v1/statuses/*``); ``method`` ``None`` matches
        any; ``username`` limits the hold to requests made with that person's token
        (:data:`BOT_USERNAME` for the bot's). ``times=None`` holds every match until the
        release. Every hold is released when the server stops.

        For example, the bot's next new status, held while a person answers it::

            held = server.hold_responses("/api/v1/statuses", username=BOT_USERNAME)
            ...  # the bot posts; held.wait_held() returns once the status exists
            held.release()
        """
        token = self.token(username) if username is not None else None
        hold = HeldResponses(method=method, path=path, token=token, times=times)
        with self._lock:
            self._holds.append(hold)
        return hold

    # --- internals ------------------------------------------------------------------

    def revoke(self, token: str, *, paths: Sequence[str] | None = None) -> None:
        """Refuse ``token`` (the bot's, or a person's from :meth:`token`) from now on, with
        401 as Mastodon answers a revoked one; with ``paths`` (globs), only on those.
        :meth:`restore` takes it back."""
        with self._lock:
            self._revoked[token] = None if paths is None else tuple(paths)

    def restore(self) -> None:
        """Take every revoked token again."""
        with self._lock:
            self._revoked.clear()

    def _revoked_for(self, request: Request) -> bool:
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ") if authorization else ""
        token = token or request.query_params.get("access_token", "")
        with self._lock:
            if token not in self._revoked:
                return False
            paths = self._revoked[token]
        return paths is None or any(fnmatch.fnmatchcase(request.url.path, p) for p in paths)

    def _to_bot(self, text: str) -> str:
        handle = f"@{self.bot_username}"
        return text if handle in text else f"{handle} {text}"

    def _hold_for(self, request: Request) -> HeldResponses | None:
        """The first unreleased hold that ``request`` matches, counted as used."""
        authorization = request.headers.get("authorization", "")
        with self._lock:
            for hold in self._holds:
                if not hold.released and hold.matches(
                    request.method, request.url.path, authorization
                ):
                    if hold.left is not None:
                        hold.left -= 1
                    hold.count += 1
                    return hold
        return None

    def _running_app(self) -> FastAPI:
        if self._app is None:
            raise RuntimeError("MastodonServer is not running")
        return self._app

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._http is None:
            raise RuntimeError("MastodonServer is not running")
        response = self._http.request(method, self.base_url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def _build_app(self, port: int) -> FastAPI:
        config = MastodonMockConfig(
            domain=f"{_HOST}:{port}",
            url_scheme="http",
            title="engage test instance",
            database=DatabaseConfig(path=":memory:"),
            streaming=StreamingConfig(enabled=self.streaming, heartbeat_seconds=_HEARTBEAT_SECONDS),
            ratelimit=RateLimitConfig(
                enabled=self._ratelimit is not None,
                limit=self._ratelimit or 1,
                window_seconds=self._ratelimit_window,
            ),
            seed=SeedConfig(
                accounts=[
                    SeedAccount(
                        username=self.bot_username,
                        display_name="Engage",
                        bot=True,
                        access_token=self.bot_token,
                    )
                ]
            ),
        )
        app = create_app(config)
        limits = self.limits

        # Added after create_app, so it wraps the mock's own middleware, fault injection
        # included.
        @app.middleware("http")
        async def additions(request: Request, call_next: _Handler) -> Response:
            with self._lock:
                self.requests[f"{request.method} {request.url.path}"] += 1
            if self._revoked_for(request):
                return JSONResponse(
                    status_code=401, content={"error": "The access token was revoked"}
                )
            response = await instance_limits(request, call_next)
            hold = self._hold_for(request)
            if hold is not None:
                hold.held.set()
                # Released from the test's thread, so a threading.Event, polled here.
                while not hold.released:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            return response

        async def instance_limits(request: Request, call_next: _Handler) -> Response:
            path = request.url.path
            deleted = _ONE_STATUS.fullmatch(path) if request.method == "DELETE" else None
            if deleted is not None:
                return await mentioned_told(request, call_next, deleted.group(1))
            edited = _ONE_STATUS.fullmatch(path) if request.method == "PUT" else None
            if edited is not None:
                return await edit_told(request, call_next, edited.group(1))
            if path.rstrip("/") in ("/api/v1/instance", "/api/v2/instance"):
                self.instance_lookups += 1
                if not self.instance:
                    return JSONResponse(status_code=404, content={"error": "Not Found"})
            if self.strict_slash and len(path) > 1 and path.endswith("/"):
                return JSONResponse(status_code=404, content={"error": "Not Found"})
            if request.method == "POST" and request.url.path == "/api/v1/statuses":
                problem = _status_problem(await _status_params(request), limits)
                if problem is not None:
                    return JSONResponse(status_code=422, content={"error": problem})
            response = await call_next(request)
            body = getattr(response, "body_iterator", None)
            if path.startswith("/api/v1/streaming/user") and body is not None:
                self.streams_opened += 1
                response.body_iterator = self._until_revoked(  # type: ignore[attr-defined]
                    self._unless_stalled(body), request
                )
            if (
                request.method == "GET"
                and request.url.path.rstrip("/") in ("/api/v1/instance", "/api/v2/instance")
                and response.status_code == 200
            ):
                response = await _advertise(response, limits)
            reset_in = response.headers.get(_RESET_IN)
            if reset_in is not None:
                # A 429 of fail_next's: its window ends reset_in seconds from now.
                del response.headers[_RESET_IN]
                reset_at = datetime.now(UTC) + timedelta(seconds=float(reset_in))
                response.headers["X-RateLimit-Reset"] = _iso(reset_at)
                return response
            reset = response.headers.get("x-ratelimit-reset")
            if reset is not None and reset.isdigit():
                reset_at = datetime.fromtimestamp(int(reset), UTC)
                response.headers["X-RateLimit-Reset"] = _iso(reset_at)
            return response

        async def mentioned_told(request: Request, call_next: _Handler, status_id: str) -> Response:
            # Mastodon tells the local accounts a deleted status mentions, on their user
            # streams (RemoveStatusService); the mock tells only the author and followers.
            with request.app.state.session_factory() as db:
                mentioned = set(
                    db.scalars(
                        select(StatusMention.account_id).where(
                            StatusMention.status_id == int(status_id)
                        )
                    )
                )
            response = await call_next(request)
            if response.status_code == 200 and mentioned:
                publish(request.app, "delete", status_id, {user_channel(a) for a in mentioned})
            return response

        async def edit_told(request: Request, call_next: _Handler, status_id: str) -> Response:
            # Mastodon streams an edit to the local accounts the status mentions
            # (FanOutOnWriteService#notify_mentioned_accounts!); the mock streams it to
            # the author and followers only.
            response = await call_next(request)
            if response.status_code != 200:
                return response
            with request.app.state.session_factory() as db:
                status = db.get(StatusRow, int(status_id))
                if status is None:
                    return response
                mentioned = set(
                    db.scalars(
                        select(StatusMention.account_id).where(StatusMention.status_id == status.id)
                    )
                )
                payload = serialize_status(db, status, config, None)
            if mentioned:
                publish(request.app, "status.update", payload, {user_channel(a) for a in mentioned})
            return response

        return app

    async def _until_revoked(
        self, body: AsyncIterator[Any], request: Request
    ) -> AsyncIterator[Any]:
        """Pass a stream's chunks on until its token is revoked: then Mastodon closes it."""
        async for chunk in body:
            if self._revoked_for(request):
                return
            yield chunk

    async def _unless_stalled(self, body: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Pass a stream's chunks on except while stalled: then it is open and silent.

        What comes during a stall (events and keep-alives) is dropped, as a stalled proxy
        would; once the stall ends the same stream speaks again, so a stream the client
        opened during the stall is not closed under it when the stall ends.
        """
        # The flag is set from the test's thread, so it is a threading.Event, read here.
        async for chunk in body:
            if not self._stalled.is_set():
                yield chunk


def _read(request: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """A person's read (a GET), asked again after a 500 from the mock or a connection
    reset, as a person reloads.

    Under load the mock's stacked Starlette ``BaseHTTPMiddleware`` layers now and then
    cancel a request's own task and uvicorn answers 500. Only reads are asked again: a
    repeated post or vote would act twice. The adapter's own requests are never retried
    here; it handles a 5xx and a lost connection itself.
    """
    for _ in range(_READ_ATTEMPTS - 1):
        try:
            return request(*args, **kwargs)
        except (MastodonInternalServerError, MastodonNetworkError):
            time.sleep(0.05)
    return request(*args, **kwargs)


def _iso(moment: datetime) -> str:
    """``2026-12-01T09:05:00.000Z``, the timestamp form of Mastodon's headers."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _status_params(request: Request) -> dict[str, Any]:
    """The parameters of a new status, from JSON or a urlencoded form (empty for others).

    Reads the raw body, which Starlette keeps for the route that runs next.
    """
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, Any] = {key: values[-1] for key, values in form.items()}
    if "poll[options][]" in form:
        params["poll"] = {
            "options": form["poll[options][]"],
            "expires_in": params.get("poll[expires_in]"),
        }
    return params


def _status_length(text: str, url_length: int | None = _URL_LENGTH) -> int:
    """Length as Mastodon counts it: URLs as 23 characters, remote mentions by local part.

    ``url_length`` ``None`` counts URLs at their real length, as some other servers do.
    """
    if url_length is not None:
        text = _URL.sub("x" * url_length, text)
    return len(_REMOTE_MENTION.sub(r"\1", text))


def _status_problem(params: dict[str, Any], limits: InstanceLimits) -> str | None:
    """Mastodon's 422 message for a new status that breaks ``limits``, else ``None``.

    Messages follow Mastodon's ``config/locales/en.yml`` (``statuses.over_character_limit``
    and ``polls.errors``).
    """
    text = str(params.get("status") or "") + str(params.get("spoiler_text") or "")
    if _status_length(text, limits.url_length) > limits.status_limit:
        return f"Validation failed: Text character limit of {limits.status_limit} exceeded"
    poll = params.get("poll")
    if not isinstance(poll, dict):
        return None
    raw_options = poll.get("options")
    options = [str(o) for o in raw_options] if isinstance(raw_options, list) else []
    if len(options) < 2:
        return "Validation failed: Poll options must have more than one item"
    if len(options) > limits.max_options:
        return f"Validation failed: Poll options can't contain more than {limits.max_options} items"
    if any(len(option) > limits.max_characters_per_option for option in options):
        return (
            "Validation failed: Poll options cannot be longer than "
            f"{limits.max_characters_per_option} characters each"
        )
    if len({option.strip() for option in options}) != len(options):
        return "Validation failed: Poll options contain duplicate items"
    try:
        expires_in = int(poll.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    if expires_in < limits.min_expiration:
        return "Validation failed: Poll expires at is too soon"
    if expires_in > limits.max_expiration:
        return "Validation failed: Poll expires at is too far into the future"
    return None


async def _advertise(response: Response, limits: InstanceLimits) -> Response:
    """The instance document from ``response`` with ``limits`` in its configuration."""
    chunks = [chunk async for chunk in cast(Any, response).body_iterator]
    document = json.loads(b"".join(c if isinstance(c, bytes) else str(c).encode() for c in chunks))
    configuration = document["configuration"]
    configuration["statuses"]["max_characters"] = limits.max_characters
    configuration["polls"] = {
        "max_options": limits.max_options,
        "max_characters_per_option": limits.max_characters_per_option,
        "min_expiration": limits.min_expiration,
        "max_expiration": limits.max_expiration,
    }
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return JSONResponse(content=document, status_code=response.status_code, headers=headers)
