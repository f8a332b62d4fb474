"""The intake loop every adapter runs, periodic work, and a cursor saved in the store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from adapters.plumbing.timing import Stopper
from channels.adapter import CredentialsRejected, report_refused
from channels.store import ChannelStore

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class StopIntake(Exception):
    """Raised by an intake step when retrying cannot help (the token was refused).

    ``refused``, when given, is reported (:func:`channels.adapter.report_refused`) and
    the adapter's ``stopper`` is set, so that its other periodic work ends too.
    """

    def __init__(self, reason: str, *, refused: CredentialsRejected | None = None) -> None:
        super().__init__(reason)
        self.refused = refused


async def intake_loop(
    step: Callable[[], Awaitable[None]],
    stopper: Stopper,
    *,
    log: logging.Logger,
    what: str,
    server_wait: Callable[[Exception], float | None] = lambda exc: None,
    first_backoff: float = FIRST_BACKOFF,
) -> None:
    """Run ``step`` until stopping, backing off (``first_backoff``, 1 s by default,
    doubling to 60 s) after failures.

    A failed step took nothing for good (a batch is acknowledged only after its commit),
    so the same work simply comes again. ``server_wait`` says how long the platform
    asked us to wait after an error (a rate limit), if it did; :class:`StopIntake` ends
    the loop.
    """
    backoff = first_backoff
    while not stopper.is_set():
        try:
            await step()
            backoff = first_backoff
        except StopIntake as exc:
            if exc.refused is not None:
                stopper.set()
                if report_refused(exc.refused):
                    return  # whoever started the adapter says so, once
            log.error("%s stopped: %s", what, exc)
            return
        except Exception as exc:
            wait = max(backoff, server_wait(exc) or 0.0)
            log.warning("%s failed (%s); retrying in %.0f s", what, exc, wait)
            await stopper.pause(wait)
            backoff = min(backoff * 2, MAX_BACKOFF)


async def periodically(
    work: Callable[[], Awaitable[object]],
    stopper: Stopper,
    interval: Callable[[], float],
    *,
    log: logging.Logger,
    what: str,
) -> None:
    """Run ``work`` every ``interval()`` seconds until stopping; a failure waits its turn."""
    while not stopper.is_set():
        try:
            await work()
        except Exception as exc:
            log.warning("%s failed (%s)", what, exc)
        await stopper.pause(interval())


class SavedCursor:
    """A channel's position in a platform's stream of updates, kept in the store.

    Args:
        store: where it is saved.
        channel: the channel it belongs to.
        name: which of the channel's cursors (one per bot account).
    """

    def __init__(self, store: ChannelStore, channel: str, name: str) -> None:
        self.store = store
        self.channel = channel
        self.name = name
        self.value: str | None = None

    async def load(self) -> str | None:
        """Read the saved value (``None`` before the first save)."""
        self.value = await self.store.load_cursor(self.channel, self.name)
        return self.value

    async def save(self, value: str) -> None:
        """Move on to ``value``; call only once what it covers is committed."""
        await self.store.save_cursor(self.channel, self.name, value)
        self.value = value
