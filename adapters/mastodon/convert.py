"""Mastodon statuses and notifications -> core events, at the edge.

Mastodon.py hands back statuses as dicts (https://docs.joinmastodon.org/entities/Status/);
this module reads the few fields the core needs into a :class:`Post` and turns it into an
:class:`channels.events.InboundEvent`. The core never sees a Mastodon dict.

* The inbox key is the status id: the same status seen twice (on the stream, by polling
  notifications, and in a thread's replies) is stored once.
* ``content`` is HTML; it becomes plain text, with the handles Mastodon puts at the start
  of a reply (``@engage @alice ...``) removed.
* A ``public`` or ``unlisted`` status replies in public to a consultation's posts
  (``public=True``: replying to a post that carries the consent text counts as consent to
  it, CONTRACT.md). Anything else is private (``public=False``): a ``direct`` status is
  one half of a conversation with the bot, and a followers-only (``private``) one was
  not said to everyone, so it is never shown to others either.
* Replies to people always go back as direct messages: a person's health story is not
  answered in public.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from channels.events import EventKind, InboundEvent

CHANNEL = "mastodon"
#: Statuses anyone may read (https://docs.joinmastodon.org/entities/Status/#visibility).
PUBLIC_VISIBILITIES = frozenset({"public", "unlisted"})

_HANDLE = r"@([\w.-]*\w(?:@[\w-]+(?:\.[\w-]+)+)?)"
_LEADING_MENTIONS = re.compile(rf"^(?:\s*{_HANDLE}[\s,:]*)+")
_ONE_MENTION = re.compile(rf"{_HANDLE}(?:[\s,:]+|$)")


@dataclass(frozen=True)
class PollState:
    """A poll's tallies as the server reports them (Mastodon gives no per-person votes)."""

    id: str
    counts: tuple[tuple[str, int], ...]
    expired: bool
    voters: int | None = None

    def by_label(self) -> dict[str, int]:
        """``{option title: votes}``."""
        return dict(self.counts)


@dataclass(frozen=True)
class Post:
    """The parts of a status the adapter uses."""

    id: str
    account_id: str
    acct: str
    visibility: str
    in_reply_to_id: str | None
    text: str
    created_at: datetime
    poll: PollState | None = None
    in_reply_to_account_id: str | None = None
    # Pictures, sound or video attached (https://docs.joinmastodon.org/entities/MediaAttachment/).
    media: bool = False

    @property
    def direct(self) -> bool:
        """A direct message: only the people it mentions can see it."""
        return self.visibility == "direct"


def post_of(status: Mapping[str, Any]) -> Post:
    """Read a status dict (as Mastodon.py returns it) into a :class:`Post`.

    Only ``id`` is required. Any other field may be missing, null or not of the
    documented type (another server's software, a date Mastodon.py could not parse): it
    is read as absent rather than raising, so one odd status cannot stop the intake.
    """
    account = _mapping(status.get("account"))
    reply_to = status.get("in_reply_to_id")
    reply_to_account = status.get("in_reply_to_account_id")
    poll = status.get("poll")
    media = status.get("media_attachments")
    return Post(
        id=str(status["id"]),
        account_id=str(account.get("id", "")),
        acct=str(account.get("acct", "")),
        visibility=str(status.get("visibility") or "public"),
        in_reply_to_id=str(reply_to) if reply_to is not None else None,
        text=strip_leading_mentions(
            html_to_text(str(status.get("content") or "")), _handles(status.get("mentions"))
        ),
        created_at=_moment(status.get("created_at")),
        poll=poll_of(poll) if isinstance(poll, Mapping) and "id" in poll else None,
        in_reply_to_account_id=str(reply_to_account) if reply_to_account is not None else None,
        media=isinstance(media, list) and bool(media),
    )


def poll_of(poll: Mapping[str, Any]) -> PollState:
    """Read a poll dict (https://docs.joinmastodon.org/entities/Poll/)."""
    options = poll.get("options")
    voters = poll.get("voters_count")
    return PollState(
        id=str(poll["id"]),
        counts=tuple(
            (str(o.get("title")), _count(o.get("votes_count")))
            for o in map(_mapping, options if isinstance(options, Sequence) else ())
        ),
        expired=bool(poll.get("expired")),
        voters=_count(voters) if isinstance(voters, int) else None,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: object) -> int:
    """A vote count: a whole number of at least 0, anything else counting as 0."""
    return max(value, 0) if isinstance(value, int) else 0


def _moment(value: object) -> datetime:
    """A status's time in UTC; now when it is missing, unreadable or has no timezone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return datetime.now(UTC)
    return value.astimezone(UTC)


def sender_of(post: Post) -> str:
    """The person's platform id: their handle, lowercased (``alice`` or ``bob@example.org``).

    Handles are what a person can tell an operator (``engage participant erase``).
    """
    return post.acct.lower()


def address_of(post: Post) -> dict[str, Any]:
    """Where replies to this post go: a direct message to its author, in its thread."""
    return {"acct": post.acct, "reply_to": post.id, "visibility": "direct"}


def deletion_of(status_id: str) -> InboundEvent:
    """The core event for a status its author deleted: whatever was stored from it goes.

    Mastodon says only which status, not whose: the sender is the status itself, so
    that deletions wait on nobody's other events and on each other's.
    """
    return InboundEvent(
        channel=CHANNEL,
        event_id=f"deleted:{status_id}",
        sender=f"status:{status_id}",
        kind=EventKind.DELETED,
        platform_ref=status_id,
    )


def edit_of(post: Post, edited_at: object) -> InboundEvent | None:
    """The core event for a status its author edited: the new words, for the answer
    stored from it (``platform_ref`` names the status; one never stored is left alone).

    Each version is an event of its own (the edit's time in its id), so the same edit
    streamed twice is taken in once and a later one is not mistaken for it.
    """
    if not post.text:
        return None
    when = edited_at.isoformat() if isinstance(edited_at, datetime) else str(edited_at or "")
    return InboundEvent(
        channel=CHANNEL,
        event_id=f"edited:{post.id}:{when}",
        sender=sender_of(post),
        kind=EventKind.EDIT,
        address=address_of(post),
        text=post.text,
        in_reply_to=post.in_reply_to_id,
        platform_ref=post.id,
        public=post.visibility in PUBLIC_VISIBILITIES,
        received_at=post.created_at,
    )


def event_of(
    post: Post,
    *,
    kind: EventKind = EventKind.TEXT,
    consultation_id: str | None = None,
) -> InboundEvent | None:
    """The core event for a status; ``None`` for a public reply with no words in it, and
    ``unreadable`` for a direct message that is only a picture, sound or video.

    A public status that is only handles (someone tagging friends into the thread) asks
    nothing of the core, and answering it would be noise.
    """
    public = post.visibility in PUBLIC_VISIBILITIES
    if public and kind is EventKind.TEXT and not post.text:
        return None
    if not public and kind is EventKind.TEXT and not post.text and post.media:
        # A picture or a voice note sent privately, no words: told what can be read.
        kind = EventKind.UNREADABLE
    if not public and kind is EventKind.TEXT and _is_delete(post.text):
        # The bot's own messages say "Send /delete": as on Telegram, it asks for erasure
        # (the core asks them to confirm), never an answer to the question pending.
        kind = EventKind.ERASE_REQUEST
    elif not public and kind is EventKind.TEXT and _is_command(post.text, "/start"):
        # The reply to STOP says "To take part again, send /start": as on Telegram, it
        # offers the open consultations again, also to someone who left them all.
        kind = EventKind.START
    return InboundEvent(
        channel=CHANNEL,
        event_id=post.id,
        sender=sender_of(post),
        kind=kind,
        address=address_of(post),
        consultation_id=consultation_id,
        text=post.text if kind is EventKind.TEXT else None,
        in_reply_to=post.in_reply_to_id,
        platform_ref=post.id,
        public=public,
        received_at=post.created_at,
    )


def _is_delete(text: str | None) -> bool:
    """``/delete`` alone (any case, punctuation or a trailing space after it)."""
    return _is_command(text, "/delete")


def _is_command(text: str | None, command: str) -> bool:
    """``command`` alone (any case, punctuation or a trailing space after it)."""
    return text is not None and text.strip().rstrip(".!").lower() == command


class _Text(HTMLParser):
    """Collects the text of Mastodon's status HTML, keeping paragraph and line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        # Link text is split into "invisible" and "ellipsis" spans for display only; all
        # of it together is the full address, so every piece of text is kept.
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of a status's HTML content (https://docs.joinmastodon.org/spec/microformats/)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def strip_leading_mentions(text: str, handles: Collection[str] | None = None) -> str:
    """``"@engage @alice@example.org Yes please"`` -> ``"Yes please"``.

    With ``handles`` (the status's ``mentions``, as ``username`` and ``acct``), only
    those are removed, so a reply that starts with a word like "@home" keeps it.
    """
    if handles is None:
        return _LEADING_MENTIONS.sub("", text, count=1).strip()
    known = {handle.lower() for handle in handles}
    rest = text.lstrip()
    while True:
        match = _ONE_MENTION.match(rest)
        if match is None or match.group(1).lower() not in known:
            return rest.strip()
        rest = rest[match.end() :]


def _handles(mentions: object) -> list[str] | None:
    if not isinstance(mentions, Sequence) or not mentions:
        return None
    handles: list[str] = []
    for mention in mentions:
        if isinstance(mention, Mapping):
            handles.extend(str(mention.get(key, "")) for key in ("username", "acct"))
    return handles
