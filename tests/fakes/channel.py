"""An in-memory channel for core tests: records what is sent, fails when told to."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.adapter import (
    Capabilities,
    ChannelAdapter,
    Delivery,
    EventSink,
    PublishedPost,
    RetryLater,
    Undeliverable,
    request_starting,
)
from channels.events import EventKind, InboundEvent, OutboundMessage
from consultations.spec import ConsultationSpec


@dataclass
class FakeChannel:
    """A conversational channel held in memory, named like a real one.

    ``failures`` is a queue of exceptions raised by the next sends, one each.
    """

    name: str = "telegram"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(buttons=True))
    sent: list[tuple[Any, OutboundMessage]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # the key given with every attempt
    failures: deque[Exception] = field(default_factory=deque)
    sink: EventSink | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self, sink: EventSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        self.keys.append(key)
        if self.failures:
            raise self.failures.popleft()
        self.sent.append((address, message))
        return Delivery(platform_ref=f"m{next(self._ids)}")

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        return [PublishedPost(item.id, f"post-{item.id}") for item in spec.items]

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        return None

    def to(self, address: Any) -> list[OutboundMessage]:
        """Messages sent to one address, in order."""
        return [message for to, message in self.sent if to == address]

    def rate_limit(self, count: int, after: float = 0.05) -> None:
        self.failures.extend(RetryLater("Too Many Requests", after) for _ in range(count))

    def block(self) -> None:
        self.failures.append(
            Undeliverable("Forbidden: bot was blocked by the user", opted_out=True)
        )


@dataclass
class StuckChannel(FakeChannel):
    """A channel whose sends start and never finish, as when the process is killed mid-send.

    ``started`` is set once a send has begun; ``keys`` records each one begun.
    """

    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        self.keys.append(key)
        self.started.set()
        await asyncio.Event().wait()  # the platform never answers
        raise AssertionError("unreachable")


@dataclass
class PacedChannel(StuckChannel):
    """A channel that announces its requests after a pace of one send at a time.

    As the platform adapters do (``Capabilities.announces_requests``): a send first waits
    for its turn (the pace), then calls :func:`channels.adapter.request_starting`, then
    makes its request, which here never finishes. Sends waiting for their turn have not
    reached the platform.
    """

    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(buttons=True, announces_requests=True)
    )
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        await self.turn.acquire()  # the pace: never released, as the request never ends
        await request_starting()
        return await super().send(address, message, key=key)


# Checked by mypy --strict: the fakes keep the protocol the core relies on.
_FAKE_IS_A_CHANNEL: type[ChannelAdapter] = FakeChannel
_STUCK_IS_A_CHANNEL: type[ChannelAdapter] = StuckChannel
_PACED_IS_A_CHANNEL: type[ChannelAdapter] = PacedChannel


class Person:
    """Someone on a fake channel: builds their events with unique ids."""

    _counter = itertools.count(1)

    def __init__(self, platform_id: str, channel: str = "telegram") -> None:
        self.platform_id = platform_id
        self.channel = channel

    def event(self, kind: EventKind, **values: Any) -> InboundEvent:
        return InboundEvent(
            channel=self.channel,
            event_id=f"e{next(self._counter)}",
            sender=self.platform_id,
            kind=kind,
            address={"chat": self.platform_id},
            **values,
        )

    def says(self, text: str, **values: Any) -> InboundEvent:
        return self.event(EventKind.TEXT, text=text, **values)

    def starts(self, consultation_id: str | None = None) -> InboundEvent:
        return self.event(EventKind.START, consultation_id=consultation_id)

    def answers(self, question: str, *choices: str, **values: Any) -> InboundEvent:
        return self.event(EventKind.ANSWER, item_id=question, choices=choices, **values)
