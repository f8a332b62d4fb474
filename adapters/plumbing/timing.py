"""Time as a parameter: adapters and pacers take a clock and a sleep, never reach for them.

Tests pass a fake clock and a sleep that advances it, instead of patching
``asyncio.sleep`` for the whole process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Clock = Callable[[], float]
"""Monotonic seconds."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given seconds."""


class Stopper:
    """The stop signal of an adapter's background work, and pauses that end with it.

    Args:
        sleep: how to wait (``asyncio.sleep`` unless a test passes its own).
    """

    def __init__(self, sleep: Sleep = asyncio.sleep) -> None:
        self.sleep = sleep
        self._event = asyncio.Event()

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        return self._event.is_set()

    def set(self) -> None:
        """Ask background work to stop: pauses end at once."""
        self._event.set()

    def clear(self) -> None:
        """Ready for another start."""
        self._event.clear()

    async def wait(self) -> None:
        """Until stopping is asked for."""
        await self._event.wait()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if stopping is asked for meanwhile."""
        if self.is_set():
            return
        await self.unless_stopping(self.sleep(max(0.0, seconds)))

    async def unless_stopping(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or ``None`` (``work`` cancelled) if stopping comes first."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task.cancelled():
            return None
        return task.result()


def monotonic() -> float:
    """The default clock."""
    return time.monotonic()
