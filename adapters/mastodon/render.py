"""The core's words as Mastodon statuses: launch posts and replies to people.

Statuses carry no buttons, so a question's options become a numbered list and people
answer with a number (the runtime maps numbers to options). Replies go to people as
direct-visibility statuses that start with their handle, which is what makes Mastodon
deliver them (https://docs.joinmastodon.org/user/posting/#mentions); a long message is
split into a short thread of such statuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from channels.events import OutboundMessage
from consultations.spec import ConsultationSpec, Item

# Mastodon counts every URL as 23 characters whatever its length and a remote mention by
# its local part (https://docs.joinmastodon.org/user/posting/#text).
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(@\w+)@[\w.-]*\w")

HOW_TO_LEAVE = "Reply STOP, or send STOP in a direct message, to leave at any time."
HOW_TO_TAKE_PART = (
    "Vote in the polls and reply to the posts in this thread to take part; doing so means "
    "you agree to the above."
)
INVITATIONS = {
    "poll": "",
    "prompt": "Reply to this post to answer.",
    "thread": "Reply to join the discussion; reply to others to build on their ideas.",
}


def status_length(text: str, *, url_length: int = 23) -> int:
    """The length of ``text`` as Mastodon counts it against its character limit."""
    text = _URL.sub("x" * url_length, text)
    return len(_REMOTE_MENTION.sub(r"\1", text))


def intro_text(spec: ConsultationSpec) -> str:
    """The first post of a consultation: what it is, the consent text and how to leave."""
    return (
        f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n"
        f"{HOW_TO_TAKE_PART} {HOW_TO_LEAVE}"
    )


def item_text(item: Item) -> str:
    """The status for one item (for a poll, the question above its native poll)."""
    invitation = INVITATIONS.get(item.type, "")
    return f"{item.text}\n\n{invitation}" if invitation else item.text


def closing_text(spec: ConsultationSpec) -> str:
    """Posted in the launch thread when the consultation closes."""
    closing = spec.closing_message or "Thank you for taking part."
    return f"This consultation is now closed and no longer taking answers. {closing}"


def message_text(message: OutboundMessage) -> str:
    """An outgoing message as status text: options as a numbered list to reply to."""
    if not message.options:
        return message.text
    listed = "\n".join(f"{number}. {option}" for number, option in enumerate(message.options, 1))
    how = (
        "Reply with one or more numbers, separated by commas."
        if message.multiple
        else "Reply with a number."
    )
    return f"{message.text}\n\n{listed}\n\n{how}"


def split_status(text: str, *, prefix: str, limit: int, url_length: int = 23) -> list[str]:
    """``text`` as statuses that each start with ``prefix`` and fit in ``limit``.

    Splits between paragraphs where it can, then between lines, then between words, and
    packs as much as fits into each status.
    """
    room = limit - status_length(prefix, url_length=url_length)
    if room < 20:
        raise ValueError(f"a status limit of {limit} leaves no room after {prefix!r}")

    def fits(chunk: str) -> bool:
        return status_length(chunk, url_length=url_length) <= room

    chunks = [chunk.strip() for chunk in _chunks(text.strip(), fits, room, ("\n\n", "\n", " "))]
    return [f"{prefix}{chunk}" for chunk in chunks if chunk] or [prefix.rstrip()]


def _chunks(
    text: str, fits: Callable[[str], bool], room: int, separators: tuple[str, ...]
) -> list[str]:
    if fits(text):
        return [text]
    if not separators:
        # One word longer than a status (a very long URL counts as 23, so this is rare).
        return [text[start : start + room] for start in range(0, len(text), room)]
    separator = separators[0]
    chunks: list[str] = []
    current: str | None = None
    for part in text.split(separator):
        candidate = part if current is None else f"{current}{separator}{part}"
        if fits(candidate):
            current = candidate
            continue
        if current is not None:
            chunks.append(current)
        pieces = [part] if fits(part) else _chunks(part, fits, room, separators[1:])
        chunks.extend(pieces[:-1])
        current = pieces[-1]
    if current is not None:
        chunks.append(current)
    return chunks
