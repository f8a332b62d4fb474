"""Launch-time posting: retries (there is no outbox to come back to) and the words used.

Launch and closing posts are made by ``engage consultation launch/close`` directly, not
through the outbox, so a rate limit or a passing server error is waited out here. Every
channel says the same things in the same words; each only fits them to its length count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.plumbing.timing import Sleep
from consultations.spec import ConsultationSpec, Item
from consultations.texts import ENGLISH, Texts

T = TypeVar("T")

# The English words, for callers that name them; posts use the consultation's own.
HOW_TO_TAKE_PART = ENGLISH("launch_how_to_take_part")
HOW_TO_LEAVE = ENGLISH("launch_how_to_leave")
INVITATIONS = {
    "poll": None,
    "prompt": "launch_prompt",
    "thread": "launch_thread",
    # Statement voting needs one statement at a time, so it happens in private.
    "statements": "statements_invite",
}
CLOSED = ENGLISH("launch_closed")
THANKS = ENGLISH("launch_thanks")


def intro_text(spec: ConsultationSpec) -> str:
    """The first post of a consultation: what it is, the consent text and how to leave."""
    texts = spec.wording()
    return (
        f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n"
        f"{texts('launch_how_to_take_part')} {texts('launch_how_to_leave')}"
    )


def item_text(item: Item, texts: Texts = ENGLISH) -> str:
    """The post for one item: its text and how to answer (a poll's own form says that)."""
    invitation = INVITATIONS.get(item.type)
    return f"{item.text}\n\n{texts(invitation)}" if invitation else item.text


def closing_text(spec: ConsultationSpec) -> str:
    """Posted under the introduction when the consultation closes."""
    texts = spec.wording()
    return f"{texts('launch_closed')} {spec.closing_message or texts('launch_thanks')}"


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    retry_in: Callable[[Exception, int], float | None],
    sleep: Sleep,
    attempts: int,
    log: logging.Logger,
    what: str,
) -> T:
    """``call()``, tried up to ``attempts`` times.

    ``retry_in(error, attempt)`` says how many seconds to wait before the next try, or
    ``None`` when the error is not worth another (it is raised at once). The last
    attempt's error is raised unchanged.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            wait = retry_in(exc, attempt)
            if attempt == attempts or wait is None:
                raise
            log.warning("%s failed (%s); trying again in %.0f s", what, exc, wait)
            if wait > 0:
                await sleep(wait)
    raise AssertionError("attempts must be at least 1")
