"""Keeps one account's requests under Mastodon's budget: 300 per 5 minutes by default.

Mastodon limits each account to 300 requests in each 5-minute window across all
endpoints and says where it stands in the ``X-RateLimit-Limit``, ``-Remaining`` and
``-Reset`` headers of every response (https://docs.joinmastodon.org/api/rate-limits/).
Mastodon.py's own ``"wait"`` mode sleeps inside the worker thread, out of sight of the
event loop and of the outbox, so it is never used; this pacer decides on the loop instead:

* a steady pace with a small burst (a generic cell rate algorithm). Until the server has
  said where its window stands, the pace is one that no window of ``period`` seconds,
  wherever it starts, can fill beyond ``limit - reserve``;
* once it has, the pace is the server's own (``limit`` per ``period``) and the count the
  server gave keeps each of its windows within budget: other clients of the same account
  (``engage consultation launch`` while ``engage run`` is running) spend from the same
  count, so when little is left everything waits for the reset;
* bulk requests (a follow-up's invitations, reminders) leave ``reserve`` requests for
  replies to people, a reserve that shrinks as the window runs out, since fewer replies
  can still arrive in it: invitations use nearly the whole budget, and a person answering
  one is not kept waiting for the next window;
* a 429 pauses everything until the server's reset.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.plumbing.timing import Sleep
from channels.adapter import RetryLater


@dataclass
class PacerStats:
    """What the pacer has done, for logs and benchmarks."""

    requests: int = 0
    waited: float = 0.0
    paused_by_server: int = 0


class RequestPacer:
    """Grants request slots for one account, waiting when the budget needs it.

    Args:
        limit: requests the server allows per ``period`` (Mastodon: 300 per 300 s).
        period: the server's window in seconds.
        burst: requests that may go at once after a quiet spell.
        reserve: requests per window that bulk requests leave for replies (the whole
            reserve at the window's start, shrinking to none at its end); until the
            server's window is known, left unused altogether.
        margin: requests left in every window for calls still in flight when the server
            last counted, and for clock differences.
        clock: monotonic seconds (tests pass a fake).
        wallclock: epoch seconds, to read the reset time the server sends.
        sleep: how to wait for a slot (tests pass one that advances their clock).
    """

    def __init__(
        self,
        *,
        limit: int = 300,
        period: float = 300.0,
        burst: int = 30,
        reserve: int = 20,
        margin: int = 3,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit - reserve - burst <= 0:
            raise ValueError("limit must exceed burst + reserve")
        self.period = period
        self.reserve = reserve
        self.margin = margin
        self.clock = clock
        self.wallclock = wallclock
        self.sleep = sleep
        self.stats = PacerStats()
        self._configure(limit, burst)
        self._tat = clock()  # theoretical arrival time of the next request
        self._blocked_until = 0.0
        # The server's current window as last reported: when it ends (monotonic) and how
        # many requests were left in it, less those granted since.
        self._window_end: float | None = None
        self._remaining = limit

    def _configure(self, limit: int, burst: int) -> None:
        self.limit = limit
        self.burst = max(1, min(burst, limit - self.reserve - 1))
        # burst + period / interval <= limit - reserve, for any window of `period` seconds.
        self._safe_interval = self.period / (limit - self.reserve - self.burst)
        self._server_interval = self.period / limit

    @property
    def interval(self) -> float:
        """Seconds between requests at the steady pace."""
        return self._safe_interval if self._window_end is None else self._server_interval

    def _roll(self, now: float) -> None:
        """Move on to the server's next window once the reported one has ended."""
        if self._window_end is not None and now >= self._window_end:
            passed = int((now - self._window_end) // self.period) + 1
            self._window_end += passed * self.period
            self._remaining = self.limit

    def _kept(self, now: float, bulk: bool) -> int:
        """Requests of the current window this request must leave unused."""
        if not bulk or self._window_end is None:
            return self.margin
        left = max(0.0, min(1.0, (self._window_end - now) / self.period))
        return self.margin + math.ceil(self.reserve * left)

    def delay(self, *, bulk: bool = False) -> float:
        """Seconds until a request could go now (without taking the slot)."""
        now = self.clock()
        self._roll(now)
        allowed = max(now, self._tat - (self.burst - 1) * self.interval, self._blocked_until)
        if self._window_end is not None and self._remaining <= self._kept(now, bulk):
            allowed = max(allowed, self._window_end)
        return allowed - now

    async def acquire(self, *, max_wait: float | None = None, bulk: bool = False) -> None:
        """Take the next slot, waiting for it.

        Raises:
            RetryLater: the slot is more than ``max_wait`` seconds away (the outbox then
                puts the message back instead of holding a sender).
        """
        wait = self.delay(bulk=bulk)
        if max_wait is not None and wait > max_wait:
            raise RetryLater("pacing under the Mastodon request budget", after=wait)
        now = self.clock()
        self._tat = max(self._tat, now, self._blocked_until) + self.interval
        if self._window_end is not None and now + wait >= self._window_end:
            self._roll(now + wait)
        self._remaining -= 1
        self.stats.requests += 1
        if wait > 0:
            self.stats.waited += wait
            await self.sleep(wait)

    def observe(self, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """Take in the server's view after a response (Mastodon.py's ``ratelimit_*``).

        ``reset`` is the epoch time at which the server's window restarts.
        """
        if limit is not None and 0 < limit < self.limit and limit > self.reserve + 1:
            self._configure(limit, self.burst)
        if remaining is None:
            return
        now = self.clock()
        if reset is None:
            # A count without its window (a 429 answered by a proxy, say): nothing to
            # plan by, so only a short wait when it says little is left.
            if remaining <= self.margin:
                default = self.seconds_until_reset(None)
                self._blocked_until = max(self._blocked_until, now + default)
            return
        end = now + self.seconds_until_reset(reset)
        if end <= now:
            return  # a reset already past: the next response says where the window is
        if self._window_end is not None and abs(end - self._window_end) < 1.0:
            # The same window: responses can arrive out of order, so the lower count holds.
            self._remaining = min(self._remaining, remaining)
        elif self._window_end is None or end > self._window_end:
            self._window_end, self._remaining = end, remaining

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the server answered 429)."""
        self.stats.paused_by_server += 1
        self._blocked_until = max(self._blocked_until, self.clock() + max(0.0, seconds))

    def seconds_until_reset(self, reset: float | None, default: float = 5.0) -> float:
        """Seconds until the server's epoch ``reset``, or ``default`` when unknown."""
        if reset is None:
            return default
        return max(0.0, reset - self.wallclock())
