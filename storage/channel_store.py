"""What channel adapters read and write in the store, beyond the inbox.

:class:`SqlChannelStore` is the store behind :class:`channels.store.ChannelStore`: the
launch posts to watch, saved cursors, the questions the bot asked (to read a numbered
reply to them), poll tallies, and the "seen" inbox rows that make a repeated platform
update a no-op. Each method is one short transaction of its own; adapters never see a
session.

The storage package imports nothing from the rest of the project, so the shapes it
takes in are described here as protocols (:class:`TallyLike`), and the rows it hands
back are its own frozen records (:class:`PostRecord`); both match
:mod:`channels.store` by structure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import queries
from storage.lists import one_of
from storage.tables import (
    ChannelCursor,
    Consultation,
    OutboxEntry,
    Participant,
    PollTally,
    Publication,
    Response,
    utcnow,
)


@dataclass(frozen=True)
class PostRecord:
    """A post the bot made for a consultation (a ``publication`` row)."""

    consultation_id: str
    item_id: str | None
    platform_ref: str
    kind: str
    created_at: datetime


class TallyLike(Protocol):
    """Poll totals read from a platform, for one consultation item."""

    @property
    def consultation_id(self) -> str: ...
    @property
    def item_id(self) -> str: ...
    @property
    def poll_id(self) -> str: ...
    @property
    def counts(self) -> Mapping[str, int]: ...
    @property
    def final(self) -> bool: ...
    @property
    def event_id(self) -> str | None: ...


def _record(keys: queries.ReferenceKeys, row: Publication) -> PostRecord:
    return PostRecord(
        row.consultation_id,
        row.item_id,
        queries.publication_ref(keys, row),
        row.kind,
        row.created_at,
    )


class StoreKeys(queries.ReferenceKeys, Protocol):
    """How references are kept at rest, and people known (``consultations.keys.Keyring``)."""

    def pseudonym(self, channel: str, platform_id: str) -> str: ...


@dataclass(frozen=True)
class Listening:
    """A consultation gathering public posts with these hashtags (``channels.store``)."""

    consultation_id: str
    tags: tuple[str, ...]
    since: datetime


class SqlChannelStore:
    """The channel store over SQLAlchemy (SQLite or PostgreSQL).

    Args:
        sessionmaker: the platform's session factory.
        keys: how platform references are kept at rest (``consultations.keys.Keyring``):
            keyed hashes to find posts and messages again, the bot's own post references
            sealed for the adapter; and the pseudonyms people are known by.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], keys: StoreKeys) -> None:
        self.sessionmaker = sessionmaker
        self.keys = keys
        self.reference = keys.reference

    async def load_cursor(self, channel: str, name: str) -> str | None:
        """A saved position (a polling offset, the newest notification handled)."""
        async with self.sessionmaker() as session:
            row = await session.get(ChannelCursor, (channel, name))
            return row.value if row is not None else None

    async def save_cursor(self, channel: str, name: str, value: str) -> None:
        """Save a position; call only once what it covers is committed to the inbox."""
        async with self.sessionmaker.begin() as session:
            row = await session.get(ChannelCursor, (channel, name))
            if row is None:
                session.add(
                    ChannelCursor(channel=channel, name=name, value=value, updated_at=utcnow())
                )
            else:
                row.value = value
                row.updated_at = utcnow()

    async def record_tallies(self, channel: str, tallies: Sequence[TallyLike]) -> int:
        """Store poll totals, in one transaction; returns how many snapshots were added.

        A tally carrying an ``event_id`` is stored once per platform event (a "seen" inbox
        row, already processed, records it in the same transaction). A snapshot is kept
        only when the counts changed (or the poll ended), so a poll nobody touches adds
        no rows however often it is read.
        """
        added = 0
        async with self.sessionmaker.begin() as session:
            for tally in tallies:
                if tally.event_id is not None:
                    new = await queries.insert_inbox(
                        session, channel, tally.event_id, None, processed=True
                    )
                    if new is None:
                        continue  # the same update again
                latest = await session.scalar(
                    select(PollTally)
                    .where(
                        PollTally.consultation_id == tally.consultation_id,
                        PollTally.item_id == tally.item_id,
                        PollTally.channel == channel,
                        PollTally.platform_ref == tally.poll_id,
                    )
                    .order_by(PollTally.id.desc())
                    .limit(1)
                )
                counts = dict(tally.counts)
                if (
                    latest is not None
                    and latest.counts == counts
                    and (latest.final or not tally.final)
                ):
                    continue
                session.add(
                    PollTally(
                        consultation_id=tally.consultation_id,
                        item_id=tally.item_id,
                        channel=channel,
                        platform_ref=tally.poll_id,
                        counts=counts,
                        final=tally.final,
                        taken_at=utcnow(),
                    )
                )
                added += 1
        return added

    async def publication(self, channel: str, platform_ref: str) -> PostRecord | None:
        """The bot's post on ``channel`` with this platform reference, if there is one."""
        async with self.sessionmaker() as session:
            row = await queries.publication_by_ref(session, self.keys, channel, platform_ref)
            return _record(self.keys, row) if row is not None else None

    async def add_publication(
        self,
        channel: str,
        consultation_id: str,
        item_id: str | None,
        platform_ref: str,
        kind: str,
        *,
        round_number: int | None = None,
        person: str | None = None,
    ) -> None:
        """Record a post the bot made outside a launch (a poll sent in a private chat).

        ``person``: the platform id of the one person it was sent to; the row names them
        (as their participant), so that it goes with their erasure. Nothing is recorded
        for someone no longer held (erased while it was being sent): no vote of theirs is
        wanted.
        """
        async with self.sessionmaker.begin() as session:
            participant_id = None
            if person is not None:
                held = await queries.find_participant(
                    session, channel, self.keys.pseudonym(channel, person)
                )
                if held is None:
                    return
                participant_id = held.id
            row = queries.new_publication(
                self.keys,
                consultation_id=consultation_id,
                item_id=item_id,
                channel=channel,
                platform_ref=platform_ref,
                kind=kind,
                round_number=round_number,
            )
            row.participant_id = participant_id
            session.add(row)

    async def open_posts(self, channel: str) -> list[PostRecord]:
        """The bot's posts on ``channel`` for consultations that are open, oldest first."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Publication)
                .join(Consultation, Consultation.id == Publication.consultation_id)
                .where(Publication.channel == channel, Consultation.state == "open")
                .order_by(Publication.id)
            )
            return [_record(self.keys, row) for row in rows.scalars()]

    async def first_post_at(self, channel: str) -> datetime | None:
        """When the bot's first post on ``channel`` for any consultation, open or closed,
        was made (None before any)."""
        async with self.sessionmaker() as session:
            first: datetime | None = await session.scalar(
                select(func.min(Publication.created_at)).where(Publication.channel == channel)
            )
            return first

    async def posts_of(self, channel: str, consultation_id: str) -> list[PostRecord]:
        """The bot's posts on ``channel`` for one consultation, open or closed, oldest first."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Publication)
                .where(
                    Publication.channel == channel,
                    Publication.consultation_id == consultation_id,
                )
                .order_by(Publication.id)
            )
            return [_record(self.keys, row) for row in rows.scalars()]

    async def open_consultation_ids(self) -> set[str]:
        """Ids of the consultations that are open (their spec decides the channels)."""
        async with self.sessionmaker() as session:
            return set(
                await session.scalars(select(Consultation.id).where(Consultation.state == "open"))
            )

    async def listening_places(self, channel: str) -> Sequence[Listening]:
        """Open consultations on ``channel`` whose spec lists hashtags to listen for.

        Read from the stored spec as written (``mastodon.listen``), since the store knows
        no spec objects.
        """
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(select(Consultation).where(Consultation.state == "open"))
            ).all()
        places: list[Listening] = []
        for row in rows:
            spec = row.spec or {}
            if channel not in (spec.get("channels") or ()):
                continue
            tags = (spec.get(channel) or {}).get("listen") or ()
            if tags and row.opened_at is not None:
                places.append(Listening(row.id, tuple(str(t) for t in tags), row.opened_at))
        return places

    async def consultation_titles(self, consultation_ids: Sequence[str]) -> dict[str, str]:
        """The title of each named consultation that exists."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Consultation.id, Consultation.title).where(
                    one_of(Consultation.id, consultation_ids)
                )
            )
            return {row[0]: row[1] for row in rows}

    async def is_known_post(self, channel: str, platform_ref: str) -> bool:
        """Whether a post is one of the bot's launch posts or a reply already stored."""
        async with self.sessionmaker() as session:
            publication = await queries.publication_by_ref(
                session, self.keys, channel, platform_ref
            )
            if publication is not None:
                return True
            response = await session.scalar(
                select(Response.id)
                .where(
                    Response.channel == channel,
                    Response.platform_ref == self.reference(channel, platform_ref),
                )
                .limit(1)
            )
            return response is not None

    async def sent_message(self, channel: str, platform_ref: str) -> dict[str, Any] | None:
        """The message the bot sent as ``platform_ref`` (its outbox payload), if any."""
        async with self.sessionmaker() as session:
            payload = await session.scalar(
                select(OutboxEntry.payload)
                .where(
                    OutboxEntry.channel == channel,
                    OutboxEntry.platform_ref == self.reference(channel, platform_ref),
                )
                .limit(1)
            )
            return dict(payload) if payload is not None else None

    async def still_held(self, channel: str, people: Collection[str]) -> set[str]:
        """Those of ``people`` (platform ids) held as participants on ``channel``."""
        by_pseudonym = {self.keys.pseudonym(channel, person): person for person in people}
        if not by_pseudonym:
            return set()
        async with self.sessionmaker() as session:
            found = await session.scalars(
                select(Participant.pseudonym).where(
                    Participant.channel == channel,
                    one_of(Participant.pseudonym, sorted(by_pseudonym)),
                )
            )
            return {by_pseudonym[pseudonym] for pseudonym in found}
