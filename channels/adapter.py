"""The one interface every channel adapter provides.

An adapter turns platform payloads into :class:`channels.events.InboundEvent` (handing them
to an :class:`EventSink`), renders :class:`channels.events.OutboundMessage` for its platform,
and publishes a consultation's items where the spec asks. The outbox sender calls
:meth:`ChannelAdapter.send`; it owns retries and pacing, the adapter owns the platform.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from channels.events import InboundEvent, OutboundMessage
from consultations.spec import ChannelLimits, ConsultationSpec

EventSink = Callable[[Sequence[InboundEvent]], Awaitable[int]]
"""Where adapters put events: stores them durably and returns how many were new."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do, so the core and the validator can plan around it."""

    native_polls: bool = False
    per_person_polls: bool = False  # polls report who voted (else only totals)
    buttons: bool = False
    threads: bool = False
    # The channel shows the core's replies in answer to the person's own request (a web
    # page), so nothing goes through the outbox and there is no address to keep.
    inline_replies: bool = False
    limits: ChannelLimits | None = None
    # Pacing for the outbox sender (messages per second across the account).
    max_per_second: float = 30.0
    # The adapter awaits :func:`request_starting` immediately before each request to the
    # platform, after its own pacing: the outbox then counts a message as possibly
    # delivered only from that moment, not while it waits for its turn.
    announces_requests: bool = False


@dataclass(frozen=True)
class Delivery:
    """A message the platform accepted, with its reference there (for replies to it).

    ``note_instead``: what was posted is the message's general note, where it was said,
    because the person could not be written to privately (a safety reply in a Telegram
    group to someone who never started a chat with the bot).
    """

    platform_ref: str | None = None
    note_instead: bool = False


@dataclass(frozen=True)
class PublishedPost:
    """A post made when a consultation is launched: its intro or one of its items."""

    item_id: str | None
    platform_ref: str
    kind: str = "item"


class RetryLater(Exception):
    """The platform asked us to wait (rate limit) or failed in a way worth retrying.

    ``throttled`` is true when the platform itself refused for its rate limit (HTTP
    429), as opposed to our own pacing asking the outbox to come back later.
    """

    def __init__(self, reason: str, after: float | None = None, *, throttled: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.throttled = throttled


class Undeliverable(Exception):
    """The message can never be delivered (bad request, or the person blocked us)."""

    def __init__(self, reason: str, *, opted_out: bool = False) -> None:
        super().__init__(reason)
        self.opted_out = opted_out


class CredentialsRejected(Exception):
    """The platform refused the adapter's credentials, or a setting it was given (an
    address it will not use): trying again cannot help.

    ``setting`` names the variable to put right; the message never holds a secret.
    """

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(reason)
        self.setting = setting


RefusalHook = Callable[[CredentialsRejected], None]
"""Told when a running adapter's platform refuses its credentials (a token revoked)."""

_on_refused: ContextVar[RefusalHook | None] = ContextVar("on_refused", default=None)


@contextlib.contextmanager
def refusals_reported_to(hook: RefusalHook) -> Iterator[None]:
    """Within this block, and in the tasks an adapter starts from it (they copy the
    context), :func:`report_refused` tells ``hook``. Wrap ``adapter.start`` in it."""
    token = _on_refused.set(hook)
    try:
        yield
    finally:
        _on_refused.reset(token)


def report_refused(error: CredentialsRejected) -> bool:
    """Say that the platform now refuses the adapter's credentials, while it runs (its
    intake stops: no retry mends that). ``False`` when nobody listens."""
    hook = _on_refused.get()
    if hook is None:
        return False
    hook(error)
    return True


class PlatformUnreachable(Exception):
    """The platform could not be reached at start (network, timeout, its server's error):
    worth trying again later. The message says why, without addresses or secrets."""


RequestStarting = Callable[[], Awaitable[None]]
"""Called by an adapter right before a platform request that delivers an outbox message."""

_request_starting: ContextVar[RequestStarting | None] = ContextVar("request_starting", default=None)


async def request_starting() -> None:
    """Tell the outbox a request that may deliver the current message is about to start.

    Adapters whose :class:`Capabilities` set ``announces_requests`` await this after
    their pacing, before every request of :meth:`ChannelAdapter.send` (each part of a
    message sent in parts). Outside a send it does nothing. It may raise, for a message
    withdrawn meanwhile (the person said STOP): the adapter lets that propagate and sends
    nothing.
    """
    hook = _request_starting.get()
    if hook is not None:
        await hook()


@contextlib.contextmanager
def requests_announced_to(hook: RequestStarting) -> Iterator[None]:
    """Within the block, :func:`request_starting` calls ``hook`` (the outbox's side)."""
    token = _request_starting.set(hook)
    try:
        yield
    finally:
        _request_starting.reset(token)


@runtime_checkable
class ChannelAdapter(Protocol):
    """A channel: its lifecycle, its sending, and its launch-time publishing."""

    name: str
    capabilities: Capabilities

    async def start(self, sink: EventSink) -> None:
        """Begin receiving (polling, streaming or webhook registration)."""

    async def stop(self) -> None:
        """Stop receiving and release connections; nothing accepted is lost."""

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        """Deliver one message; raises :class:`RetryLater` or :class:`Undeliverable`, or
        :class:`CredentialsRejected` when the platform refuses the credentials (the
        message was not delivered and waits for a restart with good ones).

        ``key`` is the outbox row's idempotency key: the same on every retry of the row
        and on no other row, so an adapter that sends a message in several parts uses it
        to resume where a failed attempt stopped, and as the platform's idempotency key.
        """

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post a consultation's introduction and items where its spec says."""

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Close native polls and post that the consultation has closed."""


@runtime_checkable
class RemembersPeople(Protocol):
    """An adapter that keeps something about people in memory while it runs (a chat's
    pacing, a message sent part way), named by their platform ids."""

    name: str

    async def forget_erased(self) -> None:
        """Someone was erased: drop what memory holds about anyone no longer held
        (:meth:`channels.store.ChannelStore.still_held`), so that nothing names them."""


async def let_go_of_erased(adapter: object) -> None:
    """After an erasure: an adapter that remembers people drops those no longer held. A
    failure is logged, not raised: the erasure has committed, and memory goes with the
    process at the latest."""
    if not isinstance(adapter, RemembersPeople):
        return
    try:
        await adapter.forget_erased()
    except Exception as exc:
        log.warning(
            "the %s adapter could not let go of an erased person's chat (%s)", adapter.name, exc
        )


@runtime_checkable
class QuestionPoster(Protocol):
    """An adapter that can post one question of a timed chat where the spec asks.

    ``posts`` are the consultation's earlier posts on the channel (its introduction, the
    questions before), so a thread can go on under them. Returns the new posts; a post
    of kind ``answers`` names a place (a group) where "A<n>" messages answer questions.
    """

    name: str

    async def post_question(
        self, spec: ConsultationSpec, item_id: str, text: str, posts: Sequence[PublishedPost]
    ) -> list[PublishedPost]:
        """Post the question's text in the spec's groups or thread."""
