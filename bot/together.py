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
    per item; if it raises, every caller of that group gets the exception.
    """

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[Done]]]) -> None:
        self._write = write
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
                group, self._queued = self._queued, []
                try:
                    done = await self._write([item for item, _ in group])
                except Exception as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in group:
                        future.cancel()
                    raise
                for (_, future), result in zip(group, done, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writing = None
            for _, future in self._queued:  # only if cancelled: nothing left waiting
                future.cancel()
