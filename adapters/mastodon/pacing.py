"""Keeps one account's requests under Mastodon's budget: 300 per 5 minutes by default.

Mastodon limits each account to 300 requests in any 5 minutes across all endpoints and
says where it stands in the ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` headers
of every response (https://docs.joinmastodon.org/api/rate-limits/). Mastodon.py's own
``"wait"`` mode sleeps inside the worker thread, out of sight of the event loop and of
the outbox, so it is never used; this pacer decides on the loop instead:

* a steady pace with a small burst (a generic cell rate algorithm), sized so that no
  window of ``period`` seconds ever holds more than ``limit - reserve`` requests of ours;
* the headers correct it: other clients of the same account (``engage consultation
  launch`` while ``engage run`` is running) use the same budget, so when the server says
  little is left, the burst shrinks, and when nothing is left, everything waits for the
  reset;
* a 429 pauses everything until the server's reset.
"""

from __future__ import annotations

import asyncio
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
        reserve: requests per window left unused: for other clients of the account
            (``engage consultation launch`` beside ``engage run``), for the stream's own
            lookups, and for clock differences.
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
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit - reserve - burst <= 0:
            raise ValueError("limit must exceed burst + reserve")
        self.period = period
        self.reserve = reserve
        self.clock = clock
        self.wallclock = wallclock
        self.sleep = sleep
        self.stats = PacerStats()
        self._configure(limit, burst)
        self._tat = clock()  # theoretical arrival time of the next request
        self._blocked_until = 0.0

    def _configure(self, limit: int, burst: int) -> None:
        self.limit = limit
        self.burst = max(1, min(burst, limit - self.reserve - 1))
        # burst + period / interval <= limit - reserve, for any window of `period` seconds.
        self.interval = self.period / (limit - self.reserve - self.burst)
        self._tolerance = (self.burst - 1) * self.interval

    def delay(self) -> float:
        """Seconds until a request could go now (without taking the slot)."""
        now = self.clock()
        allowed = max(now, self._tat - self._tolerance, self._blocked_until)
        return allowed - now

    async def acquire(self, *, max_wait: float | None = None) -> None:
        """Take the next slot, waiting for it.

        Raises:
            RetryLater: the slot is more than ``max_wait`` seconds away (the outbox then
                puts the message back instead of holding a sender).
        """
        wait = self.delay()
        if max_wait is not None and wait > max_wait:
            raise RetryLater("pacing under the Mastodon request budget", after=wait)
        now = self.clock()
        self._tat = max(self._tat, now, self._blocked_until) + self.interval
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
        until_reset = self.seconds_until_reset(reset)
        usable = remaining - self.reserve
        if usable <= 0:
            self._blocked_until = max(self._blocked_until, now + until_reset)
            return
        # No more than `usable` requests before the reset: shrink the burst available now.
        if usable < self.burst:
            self._tat = max(self._tat, now + self._tolerance - (usable - 1) * self.interval)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the server answered 429)."""
        self.stats.paused_by_server += 1
        self._blocked_until = max(self._blocked_until, self.clock() + max(0.0, seconds))

    def seconds_until_reset(self, reset: float | None, default: float = 5.0) -> float:
        """Seconds until the server's epoch ``reset``, or ``default`` when unknown."""
        if reset is None:
            return default
        return max(0.0, reset - self.wallclock())
