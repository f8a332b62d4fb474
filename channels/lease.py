"""A lease: work that one process at a time may do, among workers sharing one store.

Some loops must run once however many workers serve the platform: a Telegram bot's
``getUpdates`` poller (Telegram refuses two at once, and two would race for the offset),
a channel account's outbox sender (the platform's rate limits are per account). The
platform gives such an adapter a :class:`Lease`; ``bot.leases`` implements it.
"""

from __future__ import annotations

from typing import Protocol


class Lease(Protocol):
    """A named lease held by at most one process at a time.

    Callers poll: :meth:`try_acquire` every few seconds while not holding it, and
    :meth:`check` before each piece of work while holding it. Neither ever blocks on
    another holder.
    """

    @property
    def name(self) -> str:
        """What the lease is for (logs only)."""

    @property
    def held(self) -> bool:
        """Whether this process held it when last acquired or checked."""

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; ``True`` if this process holds it now."""

    async def check(self) -> bool:
        """Whether the lease is still held (it goes if the store connection is lost)."""

    async def release(self) -> None:
        """Give the lease up, so another worker takes it at its next try."""
