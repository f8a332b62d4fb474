"""Keeping each statement's group split fresh, so voting can ask what splits the groups.

The opinion groups exist only as the analysis finds them (:mod:`consultations.insights.
opinion`), and the analysis of a large consultation takes about a second: too slow for
every vote, so it runs in the background (``engage run``, every few minutes) and each
statement keeps the result as ``split``, read when choosing the next statement. Every
worker may refresh; the result is the same for the same votes, so writes never conflict
in meaning.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consultations import service
from consultations.insights.opinion import analyse_opinions
from consultations.reporting import load_statement_votes
from consultations.statements import group_spreads, statement_of
from storage import queries
from storage.lists import one_of
from storage.tables import Item, Statement

log = logging.getLogger(__name__)

#: Seconds between refreshes of every open consultation's groups.
REFRESH_SECONDS = 300.0


async def refresh(session: AsyncSession, consultation_id: str) -> int:
    """Recompute the groups of one consultation and store each statement's split.

    Returns how many statements got a split (0 when the votes do not form groups yet).
    """
    votes, texts = await load_statement_votes(session, consultation_id)
    if not votes:
        return 0
    analysis = await asyncio.to_thread(analyse_opinions, votes, texts)
    membership = {p: g.id for g in analysis.groups for p in g.participants}
    if len(analysis.groups) < 2:
        return 0
    spreads = group_spreads(votes, membership)
    for ref, spread in spreads.items():
        sid = statement_of(ref)
        if sid is not None:
            await session.execute(
                update(Statement)
                .where(Statement.id == sid)
                .values(split=round(spread, 4))
                .execution_options(synchronize_session=False)
            )
    return len(spreads)


async def refresh_open(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Refresh every open consultation that has a statements item; statements updated."""
    async with sessionmaker() as session:
        rows = await queries.open_consultations(session, datetime.now(UTC))
        ids = [r.id for r in rows]
        wanted = set(
            await session.scalars(
                select(Item.consultation_id)
                .where(one_of(Item.consultation_id, ids), Item.type == "statements")
                .distinct()
            )
        )
    done = 0
    for consultation_id in sorted(wanted):
        async with sessionmaker.begin() as session:
            await service.require(session, consultation_id)
            done += await refresh(session, consultation_id)
    return done


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    stopping: asyncio.Event,
    every: float = REFRESH_SECONDS,
) -> None:
    """Refresh until ``stopping`` is set; a failure is logged and tried at the next turn."""
    while not stopping.is_set():
        try:
            await refresh_open(sessionmaker)
        except Exception:
            log.exception("opinion groups could not be refreshed; trying again later")
        try:
            await asyncio.wait_for(stopping.wait(), timeout=every)
        except TimeoutError:
            continue
