"""Sending one outbox message as several platform messages, resuming where it stopped.

A message too long for one platform message goes as several. If sending fails part way,
the outbox retries the row; the parts already delivered are remembered under the row's
idempotency key, so the retry sends only the rest instead of repeating the start.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")

Part = Callable[[R | None], Awaitable[R]]
"""Sends one part, given what the previous part returned (``None`` for the first)."""


def part_key(key: str, index: int, *, length: int = 32) -> str:
    """A stable key for part ``index`` of the message with idempotency key ``key``.

    Hashed to a fixed length, which platforms' idempotency headers accept whatever the
    outbox key looks like.
    """
    return hashlib.sha256(f"{key}:{index}".encode()).hexdigest()[:length]


class PartialSends(Generic[R]):
    """Progress of messages sent in parts, by idempotency key (bounded).

    Args:
        size: most messages remembered part way; the oldest is forgotten first (its
            retry then starts again from the first part).
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._done: OrderedDict[str, tuple[int, R | None]] = OrderedDict()

    async def send(self, key: str, parts: Sequence[Part[R]], first: R | None = None) -> R | None:
        """Send the parts not yet delivered for ``key``, in order; returns the last result.

        ``first`` is handed to the first part. An exception leaves the progress so far
        for the next call with the same key; success forgets it.
        """
        done, last = self._done.get(key, (0, first))
        for index in range(done, len(parts)):
            last = await parts[index](last)
            self._done[key] = (index + 1, last)
            self._done.move_to_end(key)
            while len(self._done) > self.size:
                self._done.popitem(last=False)
        self._done.pop(key, None)
        return last

    def kept(self) -> list[R]:
        """What the parts sent so far returned, of every message remembered part way."""
        return [last for _, last in self._done.values() if last is not None]

    def forget(self, drop: Callable[[R], bool]) -> None:
        """Forget the progress of the messages whose last part sent ``drop`` picks."""
        for key in [k for k, (_, last) in self._done.items() if last is not None and drop(last)]:
            del self._done[key]
