"""Waiting, with a deadline, for something the code under test does in the background."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def scale() -> float:
    """``ENGAGE_TEST_TIMEOUT_SCALE``: the factor for :data:`PATIENCE` and each test's limit.

    Default 1; more on a machine slower or busier than a 2-core runner at load 15.
    """
    text = os.environ.get("ENGAGE_TEST_TIMEOUT_SCALE", "").strip()
    if not text:
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not factor > 0:
        raise ValueError(f"ENGAGE_TEST_TIMEOUT_SCALE must be a positive number, not {text!r}")
    return factor


# How long a test waits for something that should happen. A wait ends as soon as the thing
# happens, so a long deadline costs nothing when the code works; it only has to outlast a
# loaded machine (a 2-core runner at load 15 takes tens of seconds for what takes one when
# quiet). Waits that check that something does NOT happen keep their own short spans.
PATIENCE = 60.0 * scale()


async def wait_until(
    check: Callable[[], Awaitable[T]],
    *,
    within: float = PATIENCE,
    what: str = "the condition",
    every: float = 0.05,
    changed: Callable[[], asyncio.Event] | None = None,
) -> T:
    """Poll ``check()`` until it returns a truthy value, and return that value.

    Args:
        check: reads the state waited for; awaited once per round.
        within: seconds before the wait fails the test (default :data:`PATIENCE`).
        what: what is waited for, named in the failure.
        every: seconds between rounds.
        changed: the event a fake sets when its state changes; a round starts as soon as it
            is set, so the wait does not sleep through the change. The event is read before
            each check, so a change during the check is not missed.

    Raises:
        TimeoutError: ``check()`` was still falsy after ``within`` seconds; the message
            names ``what``.
    """
    scope = asyncio.timeout(within)
    try:
        async with scope:
            while True:
                event = changed() if changed is not None else None
                value = await check()
                if value:
                    return value
                if event is None:
                    await asyncio.sleep(every)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), every)
    except TimeoutError:
        if not scope.expired():
            raise  # from the check itself, not the deadline
        raise TimeoutError(f"timed out after {within:g} s waiting for {what}") from None
