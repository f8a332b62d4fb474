"""Erasures done by another process, learnt of by this one.

``engage participant erase`` runs in a process of its own, and with several workers on
PostgreSQL a person's own erasure is handled by one of them. Each erasure writes an
``audit_event`` row (``participant.erase``) in its transaction, naming no one.
:class:`ErasureWatch` reads the recent ones every second; when one it has not seen
appears, what this process keeps in memory that may be the erased person's goes: the
texts prepared ahead (:meth:`bot.runtime.Runtime.forget_prepared`) and what each adapter
holds about people no longer held (``channels.adapter.RemembersPeople``).

Recent is by the time the row says it was written (indexed), not by its id: on
PostgreSQL a transaction may commit after one that took a later id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.runtime import Runtime
from channels.adapter import ChannelAdapter, let_go_of_erased
from storage.db import is_unavailable
from storage.tables import AuditEvent, utcnow

log = logging.getLogger(__name__)

#: The audit action every erasure writes (:func:`storage.queries.erase_participant`).
ERASED = "participant.erase"

#: How far back erasures are read: far more than any erasure's transaction takes.
LOOKBACK = timedelta(hours=1)


class ErasureWatch:
    """Drops what this process keeps in memory about people erased by any process.

    Args:
        sessionmaker: the store's session factory.
        runtime: whose texts prepared ahead are dropped.
        adapters: asked to drop what they hold about people no longer held.
        every: seconds between looks.
        clock: the current time (UTC).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        runtime: Runtime,
        adapters: Iterable[ChannelAdapter],
        *,
        every: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.runtime = runtime
        self.adapters = list(adapters)
        self.every = every
        self.clock = clock
        self._seen: set[int] | None = None

    async def _recent(self) -> set[int]:
        async with self.sessionmaker() as session:
            return set(
                await session.scalars(
                    select(AuditEvent.id).where(
                        AuditEvent.at >= self.clock() - LOOKBACK, AuditEvent.action == ERASED
                    )
                )
            )

    async def check(self) -> bool:
        """Look once; whether an erasure not seen before was found (and acted on).

        The first look only notes what there is: memory holds nothing from before.
        """
        recent = await self._recent()
        seen, self._seen = self._seen, recent
        if seen is None or recent <= seen:
            return False
        self.runtime.forget_prepared()
        for adapter in self.adapters:
            await let_go_of_erased(adapter)
        return True

    async def run(self, stopping: asyncio.Event) -> None:
        """Look every :attr:`every` seconds until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.check()
            except Exception as exc:
                if not is_unavailable(exc):  # an outage is reported by the inbox
                    log.exception("looking for erasures failed; carrying on")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.every)
