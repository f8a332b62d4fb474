"""Listening on Mastodon: public posts with a consultation's hashtags, gathered as they come.

For each open consultation whose spec lists ``mastodon.listen`` hashtags, the hashtag
timeline (https://docs.joinmastodon.org/methods/timelines/#tag) is read after a saved
cursor per consultation and tag, oldest first, and each public post becomes a
``listen`` event for that consultation. The first read takes only posts made since the
consultation opened. Posts by the bot itself are left out.

A listened post was not written to us: its event carries no reply address, so nothing is
ever sent to its author, unless it mentions the bot's account (``addressed``), when the
core may answer it (by direct message, as every Mastodon reply goes) and quote it.
The inbox key names the consultation and the status (``listen:ID:STATUS``), so the same
status reaching the bot as a mention is still gathered once here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.mastodon.account import Account
from adapters.mastodon.convert import CHANNEL, address_of, post_of, sender_of
from adapters.plumbing.intake import periodically
from adapters.plumbing.timing import Stopper
from channels.adapter import EventSink
from channels.events import EventKind, InboundEvent
from channels.store import ChannelStore, ListeningPlace

log = logging.getLogger(__name__)

PAGE = 40  # https://docs.joinmastodon.org/methods/timelines/#tag: at most 40 a page
_CURSOR_NAME_MAX = 40  # channel_cursor.name


def cursor_name(consultation_id: str, tag: str) -> str:
    """The saved cursor's name for one consultation's hashtag (short enough to store)."""
    digest = hashlib.sha256(f"{consultation_id}\n{tag.casefold()}".encode()).hexdigest()
    return f"tag:{digest[: _CURSOR_NAME_MAX - 4]}"


def _order(status_id: str) -> tuple[int, str]:
    """Time order of ids: numeric snowflakes (shorter is older) or fixed-length ULIDs."""
    return len(status_id), status_id


class Listener:
    """Reads the hashtag timelines of listening consultations into the inbox.

    Args:
        account: the bot account.
        store: the listening consultations and the saved cursors.
        stopper: stops the loop.
        interval: seconds between reads.
    """

    def __init__(
        self, account: Account, store: ChannelStore, stopper: Stopper, *, interval: float
    ) -> None:
        self.account = account
        self.store = store
        self.stopper = stopper
        self.interval = interval
        self._sink: EventSink | None = None

    async def run(self, sink: EventSink) -> None:
        """Read every ``interval`` seconds until stopping."""
        self._sink = sink
        await periodically(
            self.read,
            self.stopper,
            lambda: self.interval,
            log=log,
            what="mastodon: reading hashtag timelines",
        )

    async def read(self) -> int:
        """One pass over every listening consultation's hashtags; returns new events."""
        new = 0
        for place in await self.store.listening_places(CHANNEL):
            for tag in place.tags:
                if self.stopper.is_set():
                    return new
                new += await self._read_tag(place, tag)
        return new

    async def _read_tag(self, place: ListeningPlace, tag: str) -> int:
        assert self._sink is not None, "the listener is not running"
        name = cursor_name(place.consultation_id, tag)
        after = await self.store.load_cursor(CHANNEL, name)
        api, client = self.account.api, self.account.client
        new = 0
        while not self.stopper.is_set():
            page: Sequence[Mapping[str, Any]] = await api.call(
                client.timeline_hashtag, tag.lstrip("#"), min_id=after, limit=PAGE
            )
            if not page:
                return new
            statuses = sorted(page, key=lambda s: _order(str(s["id"])))
            events = [
                event
                for status in statuses
                if (event := self._event(place, status, first=after is None)) is not None
            ]
            if events:
                new += await self._sink(events)
            # Saved only once the page is committed to the inbox.
            after = str(statuses[-1]["id"])
            await self.store.save_cursor(CHANNEL, name, after)
            if len(page) < PAGE:
                return new
        return new

    def _event(
        self, place: ListeningPlace, status: Mapping[str, Any], *, first: bool
    ) -> InboundEvent | None:
        post = post_of(status)
        if post.visibility != "public" or not post.text:
            return None
        if self.account.me_id is not None and post.account_id == self.account.me_id:
            return None  # the bot's own post (a launch post carrying the tag)
        if first and post.created_at < place.since:
            return None  # before the consultation opened
        mentions = status.get("mentions") or ()
        addressed = any(
            isinstance(m, Mapping) and str(m.get("id")) == self.account.me_id for m in mentions
        )
        return InboundEvent(
            channel=CHANNEL,
            event_id=f"listen:{place.consultation_id}:{post.id}",
            sender=sender_of(post),
            kind=EventKind.LISTEN,
            # Never answered unless it was written to us.
            address=address_of(post) if addressed else None,
            consultation_id=place.consultation_id,
            text=post.text,
            platform_ref=post.id,
            public=True,
            received_at=post.created_at,
            addressed=addressed,
        )
