"""What the Mastodon adapter reads and writes in the store, beyond the inbox.

Plain async functions over a session the caller owns, like :mod:`storage.queries`:
the consultation posts to watch, the notifications cursor, the questions the bot asked
(to read a numbered reply to them) and poll tallies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.mastodon.convert import CHANNEL
from channels.events import OutboundMessage
from storage.tables import (
    ChannelCursor,
    Consultation,
    OutboxEntry,
    PollTally,
    Publication,
    Response,
    utcnow,
)


@dataclass(frozen=True)
class OpenPost:
    """A status the bot posted for a consultation that is open."""

    consultation_id: str
    item_id: str | None
    platform_ref: str
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class Tally:
    """Poll totals read from Mastodon, for one consultation item."""

    consultation_id: str
    item_id: str
    poll_id: str
    counts: Mapping[str, int]
    final: bool


async def open_posts(session: AsyncSession) -> list[OpenPost]:
    """The bot's Mastodon posts for consultations that are open, oldest first."""
    rows = await session.execute(
        select(Publication)
        .join(Consultation, Consultation.id == Publication.consultation_id)
        .where(Publication.channel == CHANNEL, Consultation.state == "open")
        .order_by(Publication.id)
    )
    return [
        OpenPost(p.consultation_id, p.item_id, p.platform_ref, p.kind, p.created_at)
        for p in rows.scalars()
    ]


async def open_consultation_ids(session: AsyncSession) -> set[str]:
    """Ids of the consultations that are open (their spec decides the channels)."""
    return set(await session.scalars(select(Consultation.id).where(Consultation.state == "open")))


async def is_known_status(session: AsyncSession, status_id: str) -> bool:
    """Whether a status is one of the bot's launch posts or a reply already stored."""
    publication = await session.scalar(
        select(Publication.id).where(
            Publication.channel == CHANNEL, Publication.platform_ref == status_id
        )
    )
    if publication is not None:
        return True
    response = await session.scalar(
        select(Response.id)
        .where(Response.channel == CHANNEL, Response.platform_ref == status_id)
        .limit(1)
    )
    return response is not None


async def sent_question(session: AsyncSession, status_id: str) -> OutboundMessage | None:
    """The message the bot sent as status ``status_id`` (its outbox row), if any."""
    payload = await session.scalar(
        select(OutboxEntry.payload)
        .where(OutboxEntry.channel == CHANNEL, OutboxEntry.platform_ref == status_id)
        .limit(1)
    )
    return OutboundMessage.from_json(payload) if payload is not None else None


async def load_cursor(session: AsyncSession, name: str) -> str | None:
    """A saved position (the newest notification handled)."""
    row = await session.get(ChannelCursor, (CHANNEL, name))
    return row.value if row is not None else None


async def save_cursor(session: AsyncSession, name: str, value: str) -> None:
    """Save a position; call only once what it covers is committed to the inbox."""
    row = await session.get(ChannelCursor, (CHANNEL, name))
    if row is None:
        session.add(ChannelCursor(channel=CHANNEL, name=name, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()


async def record_tallies(session: AsyncSession, tallies: Sequence[Tally]) -> int:
    """Store tallies that differ from the latest stored for the same poll; returns how many.

    A snapshot is kept only when the counts changed (or the poll ended), so a poll that
    nobody touches adds no rows however often it is read.
    """
    added = 0
    for tally in tallies:
        latest = await session.scalar(
            select(PollTally)
            .where(
                PollTally.consultation_id == tally.consultation_id,
                PollTally.item_id == tally.item_id,
                PollTally.channel == CHANNEL,
                PollTally.platform_ref == tally.poll_id,
            )
            .order_by(PollTally.id.desc())
            .limit(1)
        )
        counts = dict(tally.counts)
        if latest is not None and latest.counts == counts and (latest.final or not tally.final):
            continue
        session.add(
            PollTally(
                consultation_id=tally.consultation_id,
                item_id=tally.item_id,
                channel=CHANNEL,
                platform_ref=tally.poll_id,
                counts=counts,
                final=tally.final,
                taken_at=utcnow(),
            )
        )
        added += 1
    return added
