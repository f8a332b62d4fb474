"""Writes asked for at once, done in one transaction: a group commit for small writes.

While one write is committing, the rows asked for meanwhile wait and go together in the
next; a caller returns once its own row has committed, as if it had written alone. When
requests are few each row is written at once; under load there is one statement (and
one commit) per group rather than per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Done = TypeVar("Done")


class Together(Generic[Item, Done]):
    """Calls with one item each, written in groups by ``write`` (see the module).

    ``write`` gets the items in the order they were asked for and returns one result
    per item. A group holds at most ``limit`` items. If ``write`` raises, every caller
    of that group gets the exception; with ``alone_on_failure`` a failed group of
    several is written again item by item first, so one bad item fails alone.
    """

    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Done]]],
        *,
        limit: int | None = None,
        alone_on_failure: bool = False,
    ) -> None:
        self._write = write
        self.limit = limit
        self._alone_on_failure = alone_on_failure
        self._queued: list[tuple[Item, asyncio.Future[Done]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def __call__(self, item: Item) -> Done:
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_queued())
        return await future

    async def _write_queued(self) -> None:
        try:
            while self._queued:
                group = self._queued[: self.limit]
                del self._queued[: len(group)]
                try:
                    done = await self._write([item for item, _ in group])
                except Exception as exc:
                    if self._alone_on_failure and len(group) > 1:
                        for one in group:
                            await self._write_alone(one)
                    else:
                        for _, future in group:
                            _settle(future, exc)
                    continue
                except BaseException:
                    for _, future in group:
                        future.cancel()
                    raise
                for (_, future), result in zip(group, done, strict=True):
                    _settle(future, result)
        finally:
            self._writing = None
            for _, future in self._queued:  # only if cancelled: nothing left waiting
                future.cancel()

    async def _write_alone(self, queued: tuple[Item, asyncio.Future[Done]]) -> None:
        item, future = queued
        try:
            (result,) = await self._write([item])
        except Exception as exc:
            _settle(future, exc)
        else:
            _settle(future, result)


def _settle(future: asyncio.Future[Done], outcome: Done | BaseException) -> None:
    """A caller's result or exception, unless it stopped waiting (cancelled)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
