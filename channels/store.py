"""The narrow store interface channel adapters use, beyond handing events to the inbox.

Adapters keep a little state of their own in the store: a saved cursor (Telegram's
polling offset, Mastodon's newest notification), poll tallies, which launch post a
platform reference is, the questions the bot sent. :class:`ChannelStore` names exactly
those operations, so adapters depend on this seam and never on tables or sessions; the
platform passes them ``storage.channel_store.SqlChannelStore``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class StoredPost(Protocol):
    """A post the bot made for a consultation, as the store knows it."""

    @property
    def consultation_id(self) -> str: ...
    @property
    def item_id(self) -> str | None: ...
    @property
    def platform_ref(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True)
class Tally:
    """Poll totals read from a platform, for one consultation item.

    ``event_id`` names the platform event that brought them (a Telegram ``poll``
    update), so a repeat of that event stores nothing; ``None`` when they were read
    rather than pushed (a Mastodon thread sweep, a poll stopped at closing).
    """

    consultation_id: str
    item_id: str
    poll_id: str
    counts: Mapping[str, int]
    final: bool
    event_id: str | None = None


class ListeningPlace(Protocol):
    """An open consultation that gathers public posts with these hashtags since it opened."""

    @property
    def consultation_id(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def since(self) -> datetime: ...


class ChannelStore(Protocol):
    """What an adapter may read and write in the store; each call is its own transaction."""

    async def load_cursor(self, channel: str, name: str) -> str | None:
        """A saved position, or ``None`` before the first save."""

    async def save_cursor(self, channel: str, name: str, value: str) -> None:
        """Save a position; call only once what it covers is committed to the inbox."""

    async def record_tallies(self, channel: str, tallies: Sequence[Tally]) -> int:
        """Store poll totals that changed (once per event); returns how many were added."""

    async def publication(self, channel: str, platform_ref: str) -> StoredPost | None:
        """The bot's post with this platform reference, if there is one."""

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
        """Record a post made outside a launch, so replies and votes find their item (and,
        for a question asked in Delphi rounds, the round it asked). ``person``: the
        platform id of the one person it was sent to privately, with whose erasure it
        goes."""

    async def open_posts(self, channel: str) -> Sequence[StoredPost]:
        """The bot's posts on ``channel`` for consultations that are open, oldest first."""

    async def first_post_at(self, channel: str) -> datetime | None:
        """When the bot's first post on ``channel`` for any consultation, open or closed,
        was made (None before any)."""

    async def posts_of(self, channel: str, consultation_id: str) -> Sequence[StoredPost]:
        """The bot's posts on ``channel`` for one consultation, open or closed, oldest first."""

    async def open_consultation_ids(self) -> set[str]:
        """Ids of the consultations that are open."""

    async def consultation_titles(self, consultation_ids: Sequence[str]) -> dict[str, str]:
        """The title of each named consultation that exists."""

    async def is_known_post(self, channel: str, platform_ref: str) -> bool:
        """Whether a post is one of the bot's launch posts or a reply already stored."""

    async def sent_message(self, channel: str, platform_ref: str) -> dict[str, Any] | None:
        """The message (``OutboundMessage.to_json``) the bot sent as ``platform_ref``."""

    async def listening_places(self, channel: str) -> Sequence[ListeningPlace]:
        """The open consultations on ``channel`` that listen for hashtags."""

    async def still_held(self, channel: str, people: Collection[str]) -> set[str]:
        """Those of ``people`` (platform ids) held as participants on ``channel``: the
        others were erased, or never took part."""
