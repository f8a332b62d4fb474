"""The Mastodon channel adapter: launch threads, intake of replies and DMs, sending.

Launch (:meth:`MastodonAdapter.publish`) posts an introduction carrying the consent text
and how to leave, then each item as a reply in that thread: polls as native Mastodon
polls, prompts and threads as posts inviting replies. The instance's own limits
(``/api/v2/instance``) are checked first, so nothing is posted when something won't fit.

Intake reads mention notifications from the streaming API and falls back to polling
``/api/v1/notifications`` (from a saved cursor) whenever streaming is unavailable or
stalls, and tries the stream again later. Each batch is committed to the inbox before the
cursor moves. Separately, the replies under each open consultation's thread are read from
``/api/v1/statuses/:id/context`` (https://docs.joinmastodon.org/methods/statuses/#context):
a reply to someone else's reply mentions only that person, so Mastodon never notifies
the bot of it. The same request brings the polls' tallies, stored as
:class:`storage.tables.PollTally` snapshots (Mastodon polls are anonymous).

Sending goes through the outbox: each message becomes one or more direct-visibility
statuses to the person, in reply to what they wrote.

Every request runs through :class:`adapters.mastodon.api.MastodonAPI`: off the event
loop, with a timeout, paced under the account's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mastodon import Mastodon, MastodonNotFoundError, MastodonRatelimitError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.mastodon import limits, render, store
from adapters.mastodon.api import (
    DEFAULT_TIMEOUT,
    MastodonAPI,
    as_delivery_error,
    error_text,
    is_transient,
    make_client,
)
from adapters.mastodon.convert import CHANNEL, Post, event_of, post_of
from adapters.mastodon.pacing import RequestPacer
from adapters.mastodon.stream import UserStream
from channels.adapter import (
    Capabilities,
    Delivery,
    EventSink,
    PublishedPost,
    RetryLater,
    Undeliverable,
)
from channels.events import CHOOSE, EventKind, InboundEvent, OutboundMessage
from consultations.spec import ConsultationSpec, SpecError

log = logging.getLogger(__name__)

# Notifications the bot acts on: mentions (replies, DMs) and polls that ended.
NOTIFICATION_TYPES = ["mention", "poll"]
PAGE = 40  # the most notifications Mastodon returns per page

_START = re.compile(r"^(?:/?start\s+)?([a-z0-9]+(?:-[a-z0-9]+)*)$")


class PublishError(Exception):
    """Launch posts could not be made; the message names the item."""


class _Seen:
    """Status ids already handed to the inbox (bounded), to skip repeats cheaply."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, status_id: object) -> bool:
        return status_id in self._ids

    def add(self, status_id: str) -> None:
        self._ids[status_id] = None
        self._ids.move_to_end(status_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class MastodonAdapter:
    """Mastodon as a :class:`channels.adapter.ChannelAdapter`, for one bot account.

    Args:
        base_url: the instance (``MASTODON_API_BASE_URL``).
        access_token: the bot account's token.
        sessionmaker: the store, for the cursor, launch posts, tallies and sent questions.
        streaming: use the streaming API when the instance has it.
        poll_interval: seconds between notification polls when not streaming.
        reconcile_interval: seconds between notification polls while streaming, to catch
            anything a reconnect missed.
        sweep_interval: seconds between reads of each open consultation's thread
            (replies to replies, and poll tallies).
        stall_timeout: seconds without a keep-alive after which the stream is given up.
        probe_timeout: seconds to wait for a new stream's first keep-alive.
        stream_retry: seconds of polling before the stream is tried again.
        timeout: seconds allowed for one request.
        pacer: the account's request budget (default: 300 per 5 minutes).
        send_max_wait: longest wait for a request slot when sending; beyond it the outbox
            row is put back to retry later.
    """

    name = CHANNEL
    capabilities = Capabilities(
        native_polls=True,
        per_person_polls=False,
        buttons=False,
        threads=True,
        limits=limits.DEFAULT_CONFIG.channel_limits(),
        max_per_second=1.0,
    )

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        streaming: bool = True,
        poll_interval: float = 30.0,
        reconcile_interval: float = 300.0,
        sweep_interval: float = 60.0,
        stall_timeout: float = 45.0,
        probe_timeout: float = 10.0,
        stream_retry: float = 300.0,
        timeout: float = DEFAULT_TIMEOUT,
        pacer: RequestPacer | None = None,
        send_max_wait: float = 5.0,
    ) -> None:
        self.base_url = base_url
        self._token = access_token
        self.sessionmaker = sessionmaker
        self.streaming = streaming
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval
        self.sweep_interval = sweep_interval
        self.stall_timeout = stall_timeout
        self.probe_timeout = probe_timeout
        self.stream_retry = stream_retry
        self.send_max_wait = send_max_wait
        self.client: Mastodon = make_client(base_url, access_token, timeout=timeout)
        self.api = MastodonAPI(self.client, pacer or RequestPacer(), timeout=timeout)
        self.config = limits.DEFAULT_CONFIG
        self.mode = "stopped"  # stopped | streaming | polling
        self._me_id: str | None = None
        self._connect_lock = asyncio.Lock()
        self._sink: EventSink | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stream: UserStream | None = None
        self._next_stream_try = 0.0
        self._streamed: asyncio.Queue[Any] = asyncio.Queue()
        self._cursor: str | None = None
        self._seen = _Seen()
        self._known: set[str] = set()  # launch posts' status ids
        self._open_ids: set[str] = set()
        self._polls: dict[str, tuple[str, str]] = {}  # poll id -> (consultation, item)
        # Parts of a long message already posted, so a retry posts only the rest.
        self._delivered: dict[str, tuple[int, str]] = {}

    @property
    def _cursor_name(self) -> str:
        return f"notifications:{self._me_id}"

    # -- connecting -----------------------------------------------------------------------

    async def _connect(self, *, refresh: bool = False) -> None:
        """Learn who the bot is and the instance's limits (once, or again if ``refresh``)."""
        async with self._connect_lock:
            if self._me_id is None:
                me: Mapping[str, Any] = await self.api.call(self.client.me)
                self._me_id = str(me["id"])
            if refresh or self.config is limits.DEFAULT_CONFIG:
                try:
                    self.config = await self.api.call(limits.fetch_config, self.client)
                except Exception as exc:
                    log.warning("mastodon: instance limits unavailable (%s); using defaults", exc)
                self.capabilities = replace(self.capabilities, limits=self.config.channel_limits())

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Connect, then read notifications (streaming or polling) and watch open threads."""
        await self._connect(refresh=True)
        self._sink = sink
        self._stopping.clear()
        async with self.sessionmaker() as session:
            self._cursor = await store.load_cursor(session, self._cursor_name)
        await self._refresh_posts()
        self._tasks = [
            asyncio.create_task(self._intake(), name="mastodon-intake"),
            asyncio.create_task(self._sweeping(), name="mastodon-threads"),
        ]

    async def stop(self) -> None:
        """Stop reading; what was read is already committed to the inbox."""
        self._stopping.set()
        if self._stream is not None:
            await self._stream.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._stream = None
        self._sink = None
        self.mode = "stopped"
        await asyncio.to_thread(self.client.session.close)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))

    # -- intake: notifications ----------------------------------------------------------

    async def _intake(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                if (
                    self._stream is None
                    and self.streaming
                    and time.monotonic() >= self._next_stream_try
                ):
                    await self._open_stream()
                # After a stream opens this catches up on what came before it; while
                # polling it is the intake itself.
                await self.poll_notifications()
                if self._stream is not None:
                    await self._follow_stream()
                else:
                    await self._pause(self.poll_interval)
                backoff = 1.0
            except Exception as exc:
                wait = backoff
                if isinstance(exc, MastodonRatelimitError):
                    wait = max(wait, self.api.retry_after())
                log.warning("mastodon: intake failed (%s); retrying in %.0f s", exc, wait)
                await self._pause(wait)
                backoff = min(backoff * 2, 60.0)

    async def _open_stream(self) -> None:
        stream = UserStream(
            lambda session: make_client(
                self.base_url, self._token, timeout=self.api.timeout, session=session
            ),
            self._streamed.put_nowait,
            stall_timeout=self.stall_timeout,
        )
        # Opening a stream costs three requests of the budget: Mastodon.py looks up the
        # instance (v1 and v2) for the streaming URL, then connects.
        for _ in range(3):
            await self.api.pacer.acquire()
        if await stream.open(probe_timeout=self.probe_timeout):
            self._stream = stream
            if self.mode != "streaming":
                log.info("mastodon: streaming notifications")
            self.mode = "streaming"
            return
        self._next_stream_try = time.monotonic() + self.stream_retry
        if self.mode != "polling":
            log.warning(
                "mastodon: streaming unavailable (%s); polling notifications every %g s",
                stream.error,
                self.poll_interval,
            )
        self.mode = "polling"

    async def _follow_stream(self) -> None:
        """Take streamed notifications until the stream ends or a reconcile poll is due."""
        stream = self._stream
        assert stream is not None
        due = time.monotonic() + self.reconcile_interval
        while not self._stopping.is_set() and stream.alive and time.monotonic() < due:
            batch = await self._next_streamed(within=min(1.0, max(0.0, due - time.monotonic())))
            if batch:
                await self._take(batch)
        if not stream.alive and not self._stopping.is_set():
            # Anything still queued came before the end; take it, then poll.
            leftover = self._drain_streamed()
            if leftover:
                await self._take(leftover)
            log.warning(
                "mastodon: the stream ended (%s); polling every %g s until it is back",
                stream.error or "closed",
                self.poll_interval,
            )
            self._stream = None
            self.mode = "polling"
            self._next_stream_try = time.monotonic() + min(self.stream_retry, 30.0)

    async def _next_streamed(self, within: float) -> list[Any]:
        try:
            first = await asyncio.wait_for(self._streamed.get(), within)
        except TimeoutError:
            return []
        return [first, *self._drain_streamed()]

    def _drain_streamed(self) -> list[Any]:
        batch: list[Any] = []
        while not self._streamed.empty():
            batch.append(self._streamed.get_nowait())
        return batch

    async def poll_notifications(self) -> int:
        """Read notifications after the saved cursor, oldest first; returns new events.

        Each page is committed to the inbox before the cursor moves past it
        (https://docs.joinmastodon.org/methods/notifications/#get: ``min_id`` gives the
        page just after it).
        """
        if self._cursor is None:
            return await self._first_run()
        new = 0
        while not self._stopping.is_set():
            page: Sequence[Mapping[str, Any]] = await self.api.call(
                self.client.notifications,
                types=NOTIFICATION_TYPES,
                min_id=self._cursor,
                limit=PAGE,
            )
            if not page:
                return new
            new += await self._take(sorted(page, key=_id))
            await self._save_cursor(str(max(map(_id, page))))
            if len(page) < PAGE:
                return new
        return new

    async def _first_run(self, *, max_pages: int = 25) -> int:
        """With no cursor yet: what arrived since the open consultations were posted.

        Older mentions of the account (before any consultation) are not answers, and a
        welcome sent to each would be spam, so pages are read back (newest first, with
        ``max_id``) only as far as the oldest open launch post.
        """
        async with self.sessionmaker() as session:
            posts = await store.open_posts(session)
        since = min((p.created_at for p in posts), default=None)
        collected: list[Mapping[str, Any]] = []
        max_id: int | None = None
        newest: int | None = None
        for _ in range(max_pages):
            page: Sequence[Mapping[str, Any]] = await self.api.call(
                self.client.notifications, types=NOTIFICATION_TYPES, max_id=max_id, limit=PAGE
            )
            if not page:
                break
            notes = sorted(page, key=_id)
            newest = newest if newest is not None else _id(notes[-1])
            collected = notes + collected
            if since is None or _created(notes[0]) < since or len(page) < PAGE:
                break
            max_id = _id(notes[0])
        keep = [n for n in collected if since is not None and _created(n) >= since]
        new = await self._take(keep)
        # "0": nothing has arrived yet, so everything from now on is new.
        await self._save_cursor(str(newest) if newest is not None else "0")
        return new

    async def _save_cursor(self, value: str) -> None:
        self._cursor = value
        async with self.sessionmaker.begin() as session:
            await store.save_cursor(session, self._cursor_name, value)

    async def _take(self, notifications: Sequence[Mapping[str, Any]]) -> int:
        """Turn notifications into events and commit them; returns how many were new."""
        events: list[InboundEvent] = []
        tallies: list[store.Tally] = []
        for note in notifications:
            status = note.get("status")
            if not status:
                continue
            post = post_of(status)
            if note.get("type") == "poll":
                tally = self._tally_of(post, final=True)
                if tally is not None:
                    tallies.append(tally)
                continue
            if note.get("type") != "mention" or post.account_id == self._me_id:
                continue
            if post.id in self._seen:
                continue
            events.extend(await self._events_for(post))
        new = await self._commit(events)
        if tallies:
            async with self.sessionmaker.begin() as session:
                await store.record_tallies(session, tallies)
        return new

    async def _commit(self, events: Sequence[InboundEvent]) -> int:
        if not events:
            return 0
        if self._sink is None:
            raise RuntimeError("the Mastodon adapter is not started")
        new = await self._sink(events)
        for event in events:
            self._seen.add(event.event_id)
        return new

    async def _events_for(self, post: Post) -> list[InboundEvent]:
        """The events for one mention: a DM turn, or a public reply (with its missing parents)."""
        if post.direct:
            return [await self._direct_event(post)]
        event = event_of(post)
        if event is None:
            return []
        if post.in_reply_to_id is None:
            return [event]
        parents = await self._missing_parents(post)
        return [*(e for e in map(event_of, parents) if e is not None), event]

    async def _direct_event(self, post: Post) -> InboundEvent:
        """A DM: text for the dialogue, or a request to start a named consultation."""
        word = post.text.strip().lower()
        match = _START.match(word)
        if match is not None and match.group(1) in await self._open_consultations():
            return _required(event_of(post, kind=EventKind.START, consultation_id=match.group(1)))
        if post.in_reply_to_id is not None and word.isdigit():
            # A number in reply to the list of consultations the bot offered.
            async with self.sessionmaker() as session:
                asked = await store.sent_question(session, post.in_reply_to_id)
            if asked is not None and asked.question == CHOOSE:
                number = int(word)
                if 1 <= number <= len(asked.options):
                    return _required(
                        event_of(
                            post, kind=EventKind.START, consultation_id=asked.options[number - 1]
                        )
                    )
        return _required(event_of(post))

    async def _open_consultations(self) -> set[str]:
        async with self.sessionmaker() as session:
            self._open_ids = await store.open_consultation_ids(session)
        return self._open_ids

    async def _missing_parents(self, post: Post) -> list[Post]:
        """Replies between ``post`` and the bot's launch post that the inbox hasn't seen.

        Walks ``in_reply_to_id`` up the thread (one context request gives every ancestor)
        so that a reply to a reply arriving first still keeps its place in the thread.
        Returns them oldest first; nothing when the thread is not a consultation's.
        """
        parent = post.in_reply_to_id
        if parent is None or parent in self._known or parent in self._seen:
            return []
        async with self.sessionmaker() as session:
            if await store.is_known_status(session, parent):
                return []
        context: Mapping[str, Any] = await self.api.call(self.client.status_context, post.id)
        ancestors = {p.id: p for p in map(post_of, context.get("ancestors") or ())}
        missing: list[Post] = []
        current: str | None = parent
        while current is not None and current in ancestors:
            ancestor = ancestors[current]
            if current in self._known or current in self._seen:
                break
            if ancestor.account_id == self._me_id or ancestor.direct:
                break
            missing.append(ancestor)
            current = ancestor.in_reply_to_id
        reached = current is not None and (
            current in self._known
            or current in self._seen
            or (current in ancestors and ancestors[current].account_id == self._me_id)
        )
        return list(reversed(missing)) if reached else []

    # -- intake: the threads of open consultations -----------------------------------

    async def _refresh_posts(self) -> list[store.OpenPost]:
        async with self.sessionmaker() as session:
            posts = await store.open_posts(session)
            self._open_ids = await store.open_consultation_ids(session)
        for post in posts:
            if post.kind == "poll" and post.item_id is not None:
                self._polls[post.platform_ref.removeprefix("poll:")] = (
                    post.consultation_id,
                    post.item_id,
                )
            else:
                self._known.add(post.platform_ref)
        return posts

    async def _sweeping(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep_threads()
            except Exception as exc:
                log.warning("mastodon: reading consultation threads failed (%s)", exc)
            await self._pause(self.sweep_interval)

    async def sweep_threads(self) -> int:
        """Read every open consultation's thread: store new replies and poll tallies.

        One context request per consultation: its introduction's descendants are the
        items (posted as a thread under it) and every reply to them, at any depth.
        Returns how many replies were new.
        """
        posts = await self._refresh_posts()
        roots = [p for p in posts if p.kind == "intro"]
        # Posts made without an introduction (none are, today) are read one by one.
        introduced = {p.consultation_id for p in roots}
        roots += [p for p in posts if p.kind == "item" and p.consultation_id not in introduced]
        new = 0
        for root in roots:
            if self._stopping.is_set():
                break
            context: Mapping[str, Any] = await self.api.call(
                self.client.status_context, root.platform_ref
            )
            descendants = sorted(
                map(post_of, context.get("descendants") or ()), key=lambda p: int(p.id)
            )
            events: list[InboundEvent] = []
            tallies: list[store.Tally] = []
            for post in descendants:
                if post.account_id == self._me_id:
                    tally = self._tally_of(post)
                    if tally is not None:
                        tallies.append(tally)
                    continue
                if post.direct or post.id in self._seen:
                    continue
                event = event_of(post)
                if event is not None:
                    events.append(event)
            new += await self._commit(events)
            if tallies:
                async with self.sessionmaker.begin() as session:
                    await store.record_tallies(session, tallies)
        return new

    def _tally_of(self, post: Post, *, final: bool = False) -> store.Tally | None:
        """Totals of one of the bot's launch polls; ``None`` for any other status."""
        if post.poll is None or post.account_id != self._me_id:
            return None
        owner = self._polls.get(post.poll.id)
        if owner is None:
            return None
        return store.Tally(
            consultation_id=owner[0],
            item_id=owner[1],
            poll_id=post.poll.id,
            counts=post.poll.by_label(),
            final=final or post.poll.expired,
        )

    # -- sending -----------------------------------------------------------------------

    async def send(self, address: Any, message: OutboundMessage) -> Delivery:
        """Deliver one message as direct status(es) to ``{"acct", "reply_to", "visibility"}``.

        A message longer than one status goes as a thread of them; if sending stops part
        way, a retry posts only the rest. Safety messages always go privately.

        Raises:
            RetryLater: rate limited, the request budget is spent for now, or the server
                or network failed.
            Undeliverable: Mastodon refused the status (422 and other client errors).
        """
        acct, reply_to, visibility = _address(address)
        if message.kind == "safety":
            visibility = "direct"
        reply_to = message.reply_to or reply_to
        try:
            await self._connect()
        except Exception as exc:
            raise as_delivery_error(exc, self.api) from exc
        chunks = render.split_status(
            render.message_text(message),
            prefix=f"@{acct} ",
            limit=self.config.max_characters,
            url_length=self.config.characters_reserved_per_url,
        )
        key = hashlib.sha256(
            json.dumps([address, message.to_json()], sort_keys=True).encode()
        ).hexdigest()
        done, parent = self._delivered.get(key, (0, reply_to))
        for index in range(done, len(chunks)):
            try:
                status = await self._post_reply(chunks[index], parent, visibility, f"{key}:{index}")
            except RetryLater:
                raise
            except Exception as exc:
                raise as_delivery_error(exc, self.api) from exc
            parent = str(status["id"])
            self._delivered[key] = (index + 1, parent)
        self._delivered.pop(key, None)
        return Delivery(platform_ref=parent)

    async def _post_reply(
        self, text: str, reply_to: str | None, visibility: str, key: str
    ) -> Mapping[str, Any]:
        # The idempotency key makes a retry after a lost response return the status
        # already made instead of posting it twice
        # (https://docs.joinmastodon.org/methods/statuses/#create, Idempotency-Key).
        idempotency = hashlib.sha256(key.encode()).hexdigest()[:32]
        try:
            status: Mapping[str, Any] = await self.api.call(
                self.client.status_post,
                text,
                in_reply_to_id=reply_to,
                visibility=visibility,
                idempotency_key=idempotency,
                max_wait=self.send_max_wait,
            )
        except MastodonNotFoundError:
            if reply_to is None:
                raise
            # The status being answered was deleted: say it outside the thread.
            status = await self.api.call(
                self.client.status_post,
                text,
                visibility=visibility,
                idempotency_key=idempotency + "-u",
                max_wait=self.send_max_wait,
            )
        return status

    # -- launch and close ----------------------------------------------------------

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the introduction, then each item as a reply under the one before.

        The spec is checked against the instance's limits first; if a post is refused
        part way, the posts already made are deleted, so a launch either happens whole or
        can simply be run again.

        Raises:
            SpecError: the spec does not fit this instance; each problem names its item.
            PublishError: Mastodon refused a post; the message names the item.
        """
        await self._connect(refresh=True)
        now = datetime.now(UTC)
        problems = limits.check_spec(spec, self.config, now=now)
        if problems:
            raise SpecError(problems)
        visibility = spec.mastodon.visibility
        duration = limits.poll_duration(spec, self.config, now)
        nonce = secrets.token_hex(8)
        posted: list[PublishedPost] = []
        where = "the introduction"
        try:
            intro = await self._post_launch(
                render.intro_text(spec), None, visibility, f"{spec.id}:{nonce}:intro"
            )
            posted.append(PublishedPost(None, str(intro["id"]), "intro"))
            parent = str(intro["id"])
            for index, item in enumerate(spec.items):
                where = f"items[{index}] ({item.id})"
                poll = None
                if item.type == "poll":
                    poll = self.client.make_poll(
                        list(item.options), expires_in=duration, multiple=item.multiple
                    )
                status = await self._post_launch(
                    render.item_text(item), parent, visibility, f"{spec.id}:{nonce}:{item.id}", poll
                )
                parent = str(status["id"])
                posted.append(PublishedPost(item.id, parent, "item"))
                if status.get("poll"):
                    poll_id = str(status["poll"]["id"])
                    posted.append(PublishedPost(item.id, f"poll:{poll_id}", "poll"))
        except Exception as exc:
            await self._withdraw(posted)
            raise PublishError(f"{where}: Mastodon refused the post: {error_text(exc)}") from exc
        return posted

    async def _post_launch(
        self,
        text: str,
        reply_to: str | None,
        visibility: str,
        key: str,
        poll: Any = None,
        *,
        attempts: int = 4,
    ) -> Mapping[str, Any]:
        """One launch post, retried through rate limits and server errors (same key)."""
        idempotency = hashlib.sha256(key.encode()).hexdigest()[:32]
        for attempt in range(1, attempts + 1):
            try:
                status: Mapping[str, Any] = await self.api.call(
                    self.client.status_post,
                    text,
                    in_reply_to_id=reply_to,
                    visibility=visibility,
                    poll=poll,
                    idempotency_key=idempotency,
                )
                return status
            except Exception as exc:
                if attempt == attempts or not is_transient(exc):
                    raise
                wait = 2.0 ** (attempt - 1)
                if isinstance(exc, MastodonRatelimitError):
                    wait = self.api.retry_after()
                log.warning("mastodon: posting failed (%s); trying again in %.0f s", exc, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _withdraw(self, posted: Sequence[PublishedPost]) -> None:
        for post in reversed(posted):
            if post.kind == "poll":
                continue
            try:
                await self.api.call(self.client.status_delete, post.platform_ref)
            except Exception as exc:
                log.warning("mastodon: could not delete launch post %s: %s", post.platform_ref, exc)

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Store each poll's final tally and post in the thread that the consultation closed.

        Mastodon has no way to end a poll early; it ends at the expiry set at launch (the
        consultation's ``closes_at``). The final tally stored here is what counts; votes
        after it are not read.
        """
        await self._connect()
        tallies: list[store.Tally] = []
        for post in posts:
            if post.kind != "poll" or post.item_id is None:
                continue
            poll_id = post.platform_ref.removeprefix("poll:")
            poll: Mapping[str, Any] = await self.api.call(self.client.poll, poll_id)
            tallies.append(
                store.Tally(
                    consultation_id=spec.id,
                    item_id=post.item_id,
                    poll_id=poll_id,
                    counts={
                        str(o["title"]): int(o.get("votes_count") or 0) for o in poll["options"]
                    },
                    final=True,
                )
            )
        if tallies:
            async with self.sessionmaker.begin() as session:
                await store.record_tallies(session, tallies)
        intro = next((p for p in posts if p.kind == "intro"), None)
        if intro is not None:
            await self._post_launch(
                render.closing_text(spec),
                intro.platform_ref,
                spec.mastodon.visibility,
                f"{spec.id}:closed",
            )


def _id(note: Mapping[str, Any]) -> int:
    """A notification's id as a number (ids are numeric strings, ordered by time)."""
    return int(str(note["id"]))


def _created(note: Mapping[str, Any]) -> datetime:
    created = note.get("created_at")
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    if isinstance(created, str):
        return datetime.fromisoformat(created.replace("Z", "+00:00"))
    return datetime.now(UTC)


def _required(event: InboundEvent | None) -> InboundEvent:
    # Only public replies without words yield no event; a DM always yields one.
    assert event is not None
    return event


def _address(address: Any) -> tuple[str, str | None, str]:
    if not isinstance(address, Mapping) or not address.get("acct"):
        raise Undeliverable("not a Mastodon address (no acct)")
    reply_to = address.get("reply_to")
    return (
        str(address["acct"]),
        str(reply_to) if reply_to is not None else None,
        str(address.get("visibility") or "direct"),
    )
