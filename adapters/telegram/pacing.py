"""Per-chat pacing that PTB's rate limiter leaves to us.

Telegram asks bots to send at most one message per second in a chat and at most 20 per
minute in a group (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i
-avoid-this). ``AIORateLimiter``'s group limit is a leaky bucket that lets 20 through at
once and 20 more over the next minute, which Telegram refuses, so both chat limits are
kept here as sliding windows.

The overall 30 a second is kept here too, for the outbox's messages, as a sliding window
of the times requests start: a leaky bucket of one that refills every 1/30 s loses the
time by which each wake-up is late, and sent 10,000 invitations some 5% slower than
Telegram allows. A sliding window gives a late request's time to the next one while no
second ever holds more than 30, and no two requests go closer than half the interval.
Replies to people go before bulk sends (invitations and reminders) waiting for the same
slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection

from adapters.plumbing.timing import Clock, Sleep, monotonic
from channels.adapter import RetryLater


class _Window:
    """At most ``limit`` slots in any ``period`` seconds, per key."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._slots: dict[int | str, deque[float]] = {}

    def next_free(self, key: int | str, now: float) -> float:
        slots = self._slots.get(key)
        if not slots:
            return now
        while slots and slots[0] <= now - self.period:
            slots.popleft()
        if len(slots) < self.limit:
            return now
        return slots[-self.limit] + self.period

    def take(self, key: int | str, at: float) -> None:
        slots = self._slots.setdefault(key, deque())
        slots.append(at)
        if len(slots) > self.limit:
            slots.popleft()

    def keys(self) -> set[int | str]:
        return set(self._slots)

    def forget(self, keys: Collection[int | str]) -> None:
        for key in keys:
            self._slots.pop(key, None)

    def forget_idle(self, now: float) -> None:
        """Drop keys whose slots have all expired, so memory follows active chats only."""
        for key in [k for k, s in self._slots.items() if not s or s[-1] <= now - self.period]:
            del self._slots[key]


class ChatPacer:
    """Reserves a sending slot for a chat, waiting for it or asking to retry later.

    Args:
        chat_interval: seconds between messages in one chat.
        group_per_minute: messages per minute in one group or channel.
        max_wait: longest wait spent here; a later slot raises :class:`RetryLater` so the
            outbox row goes back to the queue instead of holding a sender.
        margin: extra seconds on every window, for clock and network jitter.
        overall_per_second: messages a second for the whole bot (``0``: not kept here).
        overall_margin: extra seconds on the overall one-second window.
        clock: monotonic seconds.
        sleep: how to wait for a slot (tests pass one that advances their clock).
    """

    def __init__(
        self,
        *,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        max_wait: float = 3.0,
        margin: float = 0.05,
        overall_per_second: int = 30,
        overall_margin: float = 0.02,
        clock: Clock = monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._overall = (
            _Window(overall_per_second, 1.0 + overall_margin) if overall_per_second else None
        )
        # Never a burst: requests at least half an interval apart, so a late one's time is
        # made up over the next few, not sent all at once for the network to bunch up.
        self._overall_gap = 0.5 / overall_per_second if overall_per_second else 0.0
        self._overall_last = float("-inf")
        # The same window over the times requests really start (see starting()).
        self._overall_started = (
            _Window(overall_per_second, 1.0 + overall_margin) if overall_per_second else None
        )
        self._replies_waiting = 0
        self._chat = _Window(1, chat_interval + margin) if chat_interval > 0 else None
        self._spacing = chat_interval + margin
        self._last_request: dict[int | str, float] = {}
        self._group = _Window(group_per_minute, 60.0 + margin) if group_per_minute else None
        self._paused: dict[int | str, float] = {}
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._taken = 0

    async def slot(self, chat: int | str, *, wait: bool = True) -> None:
        """Wait for ``chat``'s next slot and take it; :class:`RetryLater` if it is far off.

        With ``wait=False`` (launch posts, which have no outbox to come back to) every
        wait is spent here.
        """
        now = self.clock()
        paused = self._paused.get(chat)
        if paused is not None and paused <= now:
            del self._paused[chat]
            paused = None
        due = max(now, paused or now)
        if self._chat is not None:
            due = max(due, self._chat.next_free(chat, now))
        if self._group is not None and is_group(chat):
            due = max(due, self._group.next_free(chat, now))
        delay = due - now
        if wait and delay > self.max_wait:
            # The reason is kept on the outbox row: it names no chat (ids stay sealed).
            kind = "group" if is_group(chat) else "private chat"
            raise RetryLater(f"the {kind} is paced: next slot in {delay:.1f} s", after=delay)
        # Take the slot before sleeping, so a concurrent send to the same chat queues
        # behind this one instead of both waking at once.
        if self._chat is not None:
            self._chat.take(chat, due)
        if self._group is not None and is_group(chat):
            self._group.take(chat, due)
        self._taken += 1
        if self._taken % 1000 == 0:
            for window in (self._chat, self._group):
                if window is not None:
                    window.forget_idle(now)
            self._last_request = {
                k: t for k, t in self._last_request.items() if t > now - self._spacing
            }
        if delay > 0:
            await self.sleep(delay)

    async def overall(self, *, bulk: bool = False) -> None:
        """Wait for room in the bot's overall pace and take it, just before a request.

        A ``bulk`` request (an invitation, a reminder) also waits while a reply is waiting.
        """
        if self._overall is None:
            return
        if not bulk:
            self._replies_waiting += 1
        try:
            while True:
                now = self.clock()
                due = max(
                    self._overall.next_free(OVERALL, now), self._overall_last + self._overall_gap
                )
                if due <= now and (not bulk or not self._replies_waiting):
                    self._overall.take(OVERALL, now)
                    self._overall_last = now
                    return
                await self.sleep(max(due - now, 0.001))
        finally:
            if not bulk:
                self._replies_waiting -= 1

    async def starting(self, chat: int | str) -> None:
        """Just before the request: keep one chat's requests apart as they really start.

        A slot is a plan; between it and the request the outbox commits that the message
        is being sent, which takes longer at one time than another. Telegram counts the
        requests as they arrive, so a request is held until the interval since the
        chat's previous request has passed (a few milliseconds at most, normally); the
        same for the bot's overall pace, planned by :meth:`overall`.
        """
        if self._overall_started is not None:
            while (due := self._overall_started.next_free(OVERALL, self.clock())) > self.clock():
                await self.sleep(due - self.clock())
            self._overall_started.take(OVERALL, self.clock())
        if self._chat is None:
            return
        last = self._last_request.get(chat)
        if last is not None:
            wait = last + self._spacing - self.clock()
            if wait > 0:
                await self.sleep(wait)
        self._last_request[chat] = self.clock()

    def answered(self, chat: int | str) -> None:
        """``chat``'s request was answered: the next is kept an interval from now.

        Telegram counts a request when it arrives, which is some time after it started
        and before its answer came back. On a busy machine or network that time varies,
        so an interval kept from the start alone can let two requests arrive closer
        than it; kept from the answer, the next can never arrive too soon.
        """
        if self._chat is not None:
            self._last_request[chat] = self.clock()

    def chats(self) -> set[int | str]:
        """Every chat this pacer holds anything about."""
        chats = set(self._last_request) | set(self._paused)
        for window in (self._chat, self._group):
            if window is not None:
                chats |= window.keys()
        return chats

    def forget(self, chats: Collection[int | str]) -> None:
        """Hold nothing more about ``chats`` (people erased: their chat ids go too)."""
        for window in (self._chat, self._group):
            if window is not None:
                window.forget(chats)
        for chat in chats:
            self._last_request.pop(chat, None)
            self._paused.pop(chat, None)

    def pause(self, chat: int | str, seconds: float) -> None:
        """Telegram said to wait: send nothing more to ``chat`` before then."""
        self._paused[chat] = max(self._paused.get(chat, 0.0), self.clock() + seconds)


OVERALL = "overall"
"""The overall window's key (chat keys are ids and @usernames, never this)."""


def is_group(chat: int | str) -> bool:
    """Groups, supergroups and channels have negative ids (or a public @username)."""
    return isinstance(chat, str) or chat < 0
