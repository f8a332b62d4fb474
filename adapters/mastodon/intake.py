"""Mastodon intake: mention notifications (streamed or polled) and consultation threads.

Notifications are read from the streaming API, falling back to polling
``/api/v1/notifications`` (from a saved cursor) whenever streaming is unavailable or
stalls, and the stream is tried again later. Each batch is committed to the inbox before
the cursor moves. Separately, the replies under each open consultation's thread are read
from ``/api/v1/statuses/:id/context``
(https://docs.joinmastodon.org/methods/statuses/#context): a reply to someone else's
reply mentions only that person, so Mastodon never notifies the bot of it. The same
request brings the polls' tallies, stored as snapshots (Mastodon polls are anonymous).

A lookup about one status failing (its thread refused, 403; gone, 404; a server error
for it alone) touches that status only: the notification is held aside and its lookup
tried again a poll interval later while the others are taken in; after
:data:`HELD_TRIES` tries, or as the adapter stops, it is taken in with what is known
(without the replies above it); until then the saved cursor stays before it, so a
process killed meanwhile reads it again. A thread sweep brings it in meanwhile, parents first,
if its thread is an open consultation's. The same for one consultation's thread in a
sweep: the other threads are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mastodon import MastodonAPIError, MastodonRatelimitError, MastodonUnauthorizedError

from adapters.mastodon.account import Account
from adapters.mastodon.api import account_refused, error_text, status_code, token_refused
from adapters.mastodon.convert import CHANNEL, Post, deletion_of, edit_of, event_of, post_of
from adapters.mastodon.stream import DELETED, EDITED, UserStream
from adapters.plumbing.intake import (
    FIRST_BACKOFF,
    SavedCursor,
    StopIntake,
    intake_loop,
    periodically,
)
from adapters.plumbing.timing import Clock, Stopper
from channels.adapter import CredentialsRejected, EventSink
from channels.events import CHOOSE, ERASE, EventKind, InboundEvent, OutboundMessage
from channels.store import ChannelStore, StoredPost, Tally

log = logging.getLogger(__name__)

# Notifications the bot acts on: mentions (replies, DMs) and polls that ended.
NOTIFICATION_TYPES = ["mention", "poll"]
PAGE = 40  # the most notifications Mastodon returns per page

# How long a reply to one of the bot's statuses waits for the outbox to record that
# status (see MastodonIntake._sent_message).
RECORD_WAIT = 5.0

# How many times the lookup about one mention (its thread) is tried, a poll interval
# apart, before the mention is taken in with what is known.
HELD_TRIES = 3

_START = re.compile(r"^(?:/?start\s+)?([a-z0-9]+(?:-[a-z0-9]+)*)$")


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


def about_one_status(error: BaseException) -> bool:
    """Whether a failed lookup about one status says nothing of the account or of the
    instance as a whole: an answer of its own (403 for a thread not shown to the bot,
    404 for a status deleted meanwhile, a 5xx for it alone). A refused token (401), a
    rate limit or a network failure is about every request: the intake round fails and
    is tried again."""
    return isinstance(error, MastodonAPIError) and not isinstance(
        error, MastodonUnauthorizedError | MastodonRatelimitError
    )


def _why(error: BaseException) -> str:
    """One line for the log: the HTTP status and Mastodon's words (never a status id)."""
    code = status_code(error)
    return f"HTTP {code}" if code is not None else error_text(error).splitlines()[0][:200]


@dataclass
class _Held:
    """A mention whose lookup failed, held aside to be tried again."""

    post: Post
    tries: int
    why: str
    #: The notification that brought it, when there was one: the saved cursor stays
    #: before it while it is held, so a process killed meanwhile reads it again.
    note_id: str | None = None


class MastodonIntake:
    """Reads what people say to the bot account and in its consultation threads.

    Args:
        account: the bot account.
        store: cursors, launch posts, tallies and the questions the bot sent.
        stopper: the adapter's stop signal.
        clock: monotonic seconds.
        streaming: use the streaming API when the instance has it.
        poll_interval: seconds between notification polls when not streaming.
        reconcile_interval: seconds between notification polls while streaming, to catch
            anything a reconnect missed.
        sweep_interval: seconds between reads of each open consultation's thread.
        stall_timeout: seconds without a keep-alive after which the stream is given up.
        probe_timeout: seconds to wait for a new stream's first keep-alive.
        stream_retry: seconds of polling before the stream is tried again.
        retry_backoff: seconds before a failed round is tried again (doubling).
    """

    def __init__(
        self,
        account: Account,
        store: ChannelStore,
        stopper: Stopper,
        *,
        clock: Clock,
        streaming: bool,
        poll_interval: float,
        reconcile_interval: float,
        sweep_interval: float,
        stall_timeout: float,
        probe_timeout: float,
        stream_retry: float,
        retry_backoff: float = FIRST_BACKOFF,
    ) -> None:
        self.account = account
        self.store = store
        self.stopper = stopper
        self.clock = clock
        self.streaming = streaming
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval
        self.sweep_interval = sweep_interval
        self.stall_timeout = stall_timeout
        self.probe_timeout = probe_timeout
        self.stream_retry = stream_retry
        self.retry_backoff = retry_backoff
        #: Seconds at a time the intake waits on the stream for the next notification (a
        #: stop or the stream's end cuts it short).
        self.stream_turn = 1.0
        self.mode = "stopped"  # stopped | streaming | polling
        self.cursor: SavedCursor | None = None
        self._sink: EventSink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stream: UserStream | None = None
        self._next_stream_try = 0.0
        # Why notifications are polled instead of streamed, to be said once a poll has
        # worked: a stream ended by the token's revocation is followed by the poll's
        # refusal, and the operator is told only that.
        self._polling_because: str | None = None
        self._streamed: asyncio.Queue[Any] = asyncio.Queue()
        self._seen = _Seen()
        self._known: set[str] = set()  # launch posts' status ids
        self._open_ids: set[str] = set()
        self._polls: dict[str, tuple[str, str]] = {}  # poll id -> (consultation, item)
        # Mentions whose lookup failed, by status id, oldest first (see the module doc).
        self._held: dict[str, _Held] = {}
        self._held_due = 0.0  # when they are tried again: a poll interval apart

    @property
    def me_id(self) -> str | None:
        return self.account.me_id

    async def start(self, sink: EventSink) -> None:
        """Load the cursor and the open threads, then read notifications and sweep threads."""
        self._sink = sink
        self.cursor = SavedCursor(self.store, CHANNEL, f"notifications:{self.me_id}")
        await self.cursor.load()
        await self._refresh_posts()
        self._tasks = [
            asyncio.create_task(self._intake(), name="mastodon-intake"),
            asyncio.create_task(self._sweeping(), name="mastodon-threads"),
        ]

    async def stop(self) -> None:
        """End the stream and wait for the loops (the stopper is already set)."""
        if self._stream is not None:
            await self._stream.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._held and self._sink is not None:
            # Taken in now rather than read again by the next process (the cursor was
            # kept before them, but a sweep or another notification may be long coming).
            try:
                await self._take_held(give_up=True)
            except Exception:
                log.exception("mastodon: taking in the mentions held aside failed")
        if self._stream is not None:
            # A stream that was opening as the stop came is open by now: it is closed
            # too, or its connection kept a stopping process waiting.
            await self._stream.close()
        self._tasks = []
        self._stream = None
        self._sink = None
        self.mode = "stopped"

    # -- notifications ----------------------------------------------------------------

    async def _intake(self) -> None:
        def server_wait(exc: Exception) -> float | None:
            return (
                self.account.api.retry_after() if isinstance(exc, MastodonRatelimitError) else None
            )

        async def round_() -> None:
            try:
                await self._intake_round()
            except MastodonUnauthorizedError as exc:
                # The token revoked while running: asking again gets the same answer.
                raise StopIntake("the access token was refused", refused=token_refused()) from exc
            except CredentialsRejected as exc:
                # The account's own notifications refused (403): the same.
                raise StopIntake(str(exc), refused=exc) from None

        await intake_loop(
            round_,
            self.stopper,
            log=log,
            what="mastodon: intake",
            server_wait=server_wait,
            first_backoff=self.retry_backoff,
        )

    async def _intake_round(self) -> None:
        await self._take_held()
        if self._stream is None and self.streaming and self.clock() >= self._next_stream_try:
            await self._open_stream()
        # After a stream opens this catches up on what came before it; while polling it
        # is the intake itself.
        await self.poll_notifications()
        if self._polling_because is not None:
            log.warning("%s", self._polling_because)
            self._polling_because = None
        if self._stream is not None:
            await self._follow_stream()
        else:
            await self.stopper.pause(self.poll_interval)

    async def _open_stream(self) -> None:
        stream = UserStream(
            self.account.stream_client,
            self._streamed.put_nowait,
            stall_timeout=self.stall_timeout,
        )
        # Opening a stream costs three requests of the budget: Mastodon.py looks up the
        # instance (v1 and v2) for the streaming URL, then connects.
        for _ in range(3):
            await self.account.api.pacer.acquire()
        if await stream.open(probe_timeout=self.probe_timeout):
            self._stream = stream
            self._polling_because = None  # back before a poll said it was gone
            if self.mode != "streaming":
                log.info("mastodon: streaming notifications")
            self.mode = "streaming"
            return
        self._next_stream_try = self.clock() + self.stream_retry
        if self.mode != "polling":
            self._polling_because = (
                f"mastodon: streaming unavailable ({stream.error}); "
                f"polling notifications every {self.poll_interval:g} s"
            )
        self.mode = "polling"

    async def _follow_stream(self) -> None:
        """Take streamed notifications until the stream ends or a reconcile poll is due."""
        stream = self._stream
        assert stream is not None
        due = self.clock() + self.reconcile_interval
        while not self.stopper.is_set() and stream.alive and self.clock() < due:
            until = min(due, self._held_due) if self._held else due
            batch = await self._next_streamed(
                stream, within=min(self.stream_turn, until - self.clock())
            )
            if batch:
                await self._take(batch)
            await self._take_held()
        if not stream.alive and not self.stopper.is_set():
            # Anything still queued came before the end; take it, then poll.
            leftover = self._drain_streamed()
            if leftover:
                await self._take(leftover)
            self._polling_because = (
                f"mastodon: the stream ended ({stream.error or 'closed'}); "
                f"polling every {self.poll_interval:g} s until it is back"
            )
            self._stream = None
            self.mode = "polling"
            self._next_stream_try = self.clock() + min(self.stream_retry, 30.0)

    async def _next_streamed(self, stream: UserStream, within: float) -> list[Any]:
        """What the stream brings within ``within`` seconds; nothing, at once, when the
        stream ends or stopping is asked for meanwhile (not at the end of the wait)."""
        if within <= 0:
            return self._drain_streamed()
        getting = asyncio.ensure_future(self._streamed.get())
        others = [
            asyncio.ensure_future(stream.wait_ended(within)),
            asyncio.ensure_future(self.stopper.wait()),
        ]
        try:
            await asyncio.wait(
                [getting, *others], timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in others:
                waiter.cancel()
            if not getting.done():
                # A get cancelled before it took anything leaves the item in the queue.
                getting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getting
        if getting.cancelled():
            return self._drain_streamed()
        return [getting.result(), *self._drain_streamed()]

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
        assert self.cursor is not None, "the intake is not started"
        if self.cursor.value is None:
            return await self._first_run()
        new = 0
        after = self.cursor.value
        while not self.stopper.is_set():
            page: Sequence[Mapping[str, Any]] = await self._notifications(min_id=after)
            if not page:
                return new
            notes = sorted(page, key=_by_id)
            new += await self._take(notes)
            after = _id(notes[-1])
            kept = self._short_of_held(notes, after)
            if kept is not None:
                await self.cursor.save(kept)
            if len(page) < PAGE:
                return new
        return new

    def _short_of_held(self, notes: Sequence[Mapping[str, Any]], newest: str) -> str | None:
        """Where the saved cursor may go after ``notes`` were taken: ``newest``, or, while a
        mention among them (or before them) is held aside in memory only, the last
        notification before the first held one (``None``: it stays where it is). A process
        killed before the held mention is taken in reads it again on restart; what is
        read twice is known by its event id and stored once."""
        held = [h.note_id for h in self._held.values() if h.note_id is not None]
        if not held:
            return newest
        first = min(map(_order, held))
        before = [_id(n) for n in notes if _by_id(n) < first]
        return max(before, key=_order) if before else None

    async def _notifications(
        self, *, min_id: str | None = None, max_id: str | None = None
    ) -> Sequence[Mapping[str, Any]]:
        """One page of the account's notifications.

        Raises :class:`CredentialsRejected` for a 403: the account's own notifications
        refused is about the account (disabled, suspended, a token without the scope),
        not about one status (:func:`adapters.mastodon.api.account_refused`).
        """
        api = self.account.api
        try:
            found: Sequence[Mapping[str, Any]] = await api.call(
                self.account.client.notifications,
                types=NOTIFICATION_TYPES,
                min_id=min_id,
                max_id=max_id,
                limit=PAGE,
            )
        except MastodonAPIError as exc:
            if status_code(exc) == 403:
                raise account_refused(exc) from None
            raise
        return found

    async def _first_run(self, *, max_pages: int = 25) -> int:
        """With no cursor yet: what arrived since the consultations were posted.

        Older mentions of the account (before any consultation) are not answers, and a
        welcome sent to each would be spam, so pages are read back (newest first, with
        ``max_id``) only as far as the first launch post. Closed consultations count: a
        reply to one of their posts is still screened (a disclosure gets the helplines
        and a case), so one that came while the intake was not yet reading, and the
        consultation closed meanwhile, is read too, not passed over.
        """
        assert self.cursor is not None
        since = await self.store.first_post_at(CHANNEL)
        collected: list[Mapping[str, Any]] = []
        max_id: str | None = None
        newest: str | None = None
        for _ in range(max_pages):
            page: Sequence[Mapping[str, Any]] = await self._notifications(max_id=max_id)
            if not page:
                break
            notes = sorted(page, key=_by_id)
            newest = newest if newest is not None else _id(notes[-1])
            collected = notes + collected
            if since is None or _created(notes[0]) < _aware(since) or len(page) < PAGE:
                break
            max_id = _id(notes[0])
        keep = [n for n in collected if since is not None and _created(n) >= _aware(since)]
        new = await self._take(keep)
        # "0": nothing has arrived yet, so everything from now on is new. With a mention
        # held aside, short of it; with none before it, no cursor yet (read again).
        kept = self._short_of_held(keep, str(newest)) if newest is not None else "0"
        if kept is not None:
            await self.cursor.save(kept)
        return new

    async def _take(self, notifications: Sequence[Mapping[str, Any]]) -> int:
        """Turn notifications into events and commit them; returns how many were new."""
        events: list[InboundEvent] = []
        tallies: list[Tally] = []
        for note in notifications:
            if note.get("type") == DELETED:
                events.append(deletion_of(note["status_id"]))
                continue
            status = note.get("status")
            if not status:
                continue
            post = post_of(status)
            if note.get("type") == EDITED:
                # Someone's status edited: the core replaces the answer stored from it,
                # if there is one. An edit comes only on the stream (Mastodon notifies
                # none), and never for a status the bot was not shown.
                edit = edit_of(post, status.get("edited_at"))
                if post.account_id != self.me_id and edit is not None:
                    events.append(edit)
                continue
            if note.get("type") == "poll":
                tally = self._tally_of(post, final=True)
                if tally is not None:
                    tallies.append(tally)
                continue
            if note.get("type") != "mention" or post.account_id == self.me_id:
                continue
            if post.id in self._seen or post.id in self._held:
                continue
            try:
                events.extend(await self._events_for(post))
            except Exception as exc:
                if not about_one_status(exc):
                    raise
                # The others are taken in; this one is tried again at the next round.
                if not self._held:
                    self._held_due = self.clock() + self.poll_interval
                note_id = _id(note) if note.get("id") is not None else None
                self._held[post.id] = _Held(post, 1, _why(exc), note_id)
                log.warning(
                    "mastodon: the thread of a mention could not be read (%s); it is held "
                    "aside and tried again (%d held)",
                    _why(exc),
                    len(self._held),
                )
        new = await self._commit(events)
        if tallies:
            await self.store.record_tallies(CHANNEL, tallies)
        return new

    async def _take_held(self, *, give_up: bool = False) -> int:
        """Try the held mentions' lookups again; take in those that work now, and, with
        ``give_up`` or after :data:`HELD_TRIES` tries, those that still fail, with what
        is known. Returns how many events were new."""
        if not self._held or (not give_up and self.clock() < self._held_due):
            return 0
        self._held_due = self.clock() + self.poll_interval
        events: list[InboundEvent] = []
        for status_id, held in list(self._held.items()):
            if status_id in self._seen:
                del self._held[status_id]  # a thread sweep brought it in meanwhile
                continue
            found: list[InboundEvent] | None = None
            if not give_up:
                try:
                    found = await self._events_for(held.post)
                except Exception as exc:
                    if not about_one_status(exc):
                        raise
                    held.tries += 1
                    held.why = _why(exc)
                    if held.tries < HELD_TRIES:
                        continue
            if found is None:
                log.warning(
                    "mastodon: the thread of a mention still could not be read (%s); it is "
                    "taken in without the replies above it",
                    held.why,
                )
                event = event_of(held.post)
                found = [event] if event is not None else []
            del self._held[status_id]
            events.extend(found)
        return await self._commit(events)

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
            payload = await self._sent_message(post)
            asked = OutboundMessage.from_json(payload) if payload is not None else None
            if asked is not None and asked.question == CHOOSE:
                number = int(word)
                if 1 <= number <= len(asked.options):
                    return _required(
                        event_of(
                            post, kind=EventKind.START, consultation_id=asked.options[number - 1]
                        )
                    )
            if asked is not None and asked.question == ERASE and word in ("1", "2"):
                # "Erase everything?" 1 erases; 2 keeps them, and the person is offered
                # the consultations again (never an answer to the question pending).
                kind = EventKind.ERASE if word == "1" else EventKind.START
                return _required(event_of(post, kind=kind))
        return _required(event_of(post))

    async def _sent_message(self, post: Post) -> dict[str, Any] | None:
        """The bot's message that ``post`` replies to, as the outbox recorded it.

        The person sees a status as soon as the server has it, and may answer it before
        the outbox has recorded which status it sent (its request still returning, the
        record not yet committed); read then, a number picked from the list of
        consultations was taken as words and the list was offered again. So a reply to
        one of the bot's own statuses that is not recorded yet waits for the record, up
        to :data:`RECORD_WAIT` seconds. A reply to one of the bot's launch posts is read
        at once: those are recorded before they are posted, and a public thread's
        numbered replies must not hold up the replies behind them.
        """
        assert post.in_reply_to_id is not None
        payload = await self.store.sent_message(CHANNEL, post.in_reply_to_id)
        if payload is not None or post.in_reply_to_account_id != self.me_id:
            return payload
        if await self.store.is_known_post(CHANNEL, post.in_reply_to_id):
            return None
        deadline = self.clock() + RECORD_WAIT
        while payload is None and self.clock() < deadline and not self.stopper.is_set():
            await self.stopper.pause(0.05)
            payload = await self.store.sent_message(CHANNEL, post.in_reply_to_id)
        return payload

    async def _open_consultations(self) -> set[str]:
        self._open_ids = await self.store.open_consultation_ids()
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
        if await self.store.is_known_post(CHANNEL, parent):
            return []
        context: Mapping[str, Any] = await self.account.api.call(
            self.account.client.status_context, post.id
        )
        ancestors = {p.id: p for p in map(post_of, context.get("ancestors") or ())}
        missing: list[Post] = []
        current: str | None = parent
        while current is not None and current in ancestors:
            ancestor = ancestors[current]
            if current in self._known or current in self._seen:
                break
            if ancestor.account_id == self.me_id or ancestor.direct:
                break
            missing.append(ancestor)
            current = ancestor.in_reply_to_id
        reached = current is not None and (
            current in self._known
            or current in self._seen
            or (current in ancestors and ancestors[current].account_id == self.me_id)
        )
        return list(reversed(missing)) if reached else []

    # -- the threads of open consultations -------------------------------------------

    async def _refresh_posts(self) -> Sequence[StoredPost]:
        posts = await self.store.open_posts(CHANNEL)
        self._open_ids = await self.store.open_consultation_ids()
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
        await periodically(
            self.sweep_threads,
            self.stopper,
            lambda: self.sweep_interval,
            log=log,
            what="mastodon: reading consultation threads",
        )

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
            if self.stopper.is_set():
                break
            try:
                context: Mapping[str, Any] = await self.account.api.call(
                    self.account.client.status_context, root.platform_ref
                )
            except Exception as exc:
                if not about_one_status(exc):
                    raise
                # That thread is read again at the next sweep; the others are read now.
                log.warning("mastodon: a consultation's thread could not be read (%s)", _why(exc))
                continue
            descendants = sorted(
                ((post_of(s), s) for s in context.get("descendants") or ()),
                key=lambda pair: _order(str(pair[0].id)),
            )
            events: list[InboundEvent] = []
            tallies: list[Tally] = []
            for post, status in descendants:
                if post.account_id == self.me_id:
                    tally = self._tally_of(post)
                    if tally is not None:
                        tallies.append(tally)
                    continue
                if post.direct:
                    continue
                if post.id not in self._seen:
                    # New here: taken in with its words as they now are.
                    event = event_of(post)
                    if event is not None:
                        events.append(event)
                    continue
                # An edit the stream did not bring (made while polling, or to a reply
                # that mentions only someone else): the thread shows the status as it
                # now is. Each version is taken in once (the inbox knows its id).
                edited_at = status.get("edited_at")
                edit = edit_of(post, edited_at) if edited_at else None
                if edit is not None and edit.event_id not in self._seen:
                    events.append(edit)
            new += await self._commit(events)
            if tallies:
                await self.store.record_tallies(CHANNEL, tallies)
        return new

    def _tally_of(self, post: Post, *, final: bool = False) -> Tally | None:
        """Totals of one of the bot's launch polls; ``None`` for any other status."""
        if post.poll is None or post.account_id != self.me_id:
            return None
        owner = self._polls.get(post.poll.id)
        if owner is None:
            return None
        return Tally(
            consultation_id=owner[0],
            item_id=owner[1],
            poll_id=post.poll.id,
            counts=post.poll.by_label(),
            final=final or post.poll.expired,
        )


def _id(note: Mapping[str, Any]) -> str:
    """A notification's id, as the server gave it."""
    return str(note["id"])


def _order(object_id: str) -> tuple[int, str]:
    """Sort key for ids in time order: Mastodon's numeric snowflakes (shorter is older),
    and other servers' fixed-length sortable ids such as ULIDs (GoToSocial)."""
    return len(object_id), object_id


def _by_id(note: Mapping[str, Any]) -> tuple[int, str]:
    return _order(_id(note))


def _created(note: Mapping[str, Any]) -> datetime:
    created = note.get("created_at")
    if isinstance(created, datetime):
        return _aware(created)
    if isinstance(created, str):
        return datetime.fromisoformat(created.replace("Z", "+00:00"))
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _required(event: InboundEvent | None) -> InboundEvent:
    # Only public replies without words yield no event; a DM always yields one.
    assert event is not None
    return event
