"""The core's words as Mastodon statuses: replies to people, counted as Mastodon counts.

Statuses carry no buttons, so a question's options become a numbered list and people
answer with a number (the runtime maps numbers to options). Replies go to people as
direct-visibility statuses that start with their handle, which is what makes Mastodon
deliver them (https://docs.joinmastodon.org/user/posting/#mentions); a long message is
split into a short thread of such statuses.
"""

from __future__ import annotations

import re

from adapters.plumbing.text import split_text
from channels.events import OutboundMessage

# Mastodon counts every URL as 23 characters whatever its length and a remote mention by
# its local part (https://docs.joinmastodon.org/user/posting/#text).
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(@\w+)@[\w.-]*\w")


def status_length(text: str, *, url_length: int = 23) -> int:
    """The length of ``text`` as Mastodon counts it against its character limit."""
    text = _URL.sub("x" * url_length, text)
    return len(_REMOTE_MENTION.sub(r"\1", text))


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

    Splits between paragraphs where it can, then between lines, then between words
    (:func:`adapters.plumbing.text.split_text`), counted as Mastodon counts.
    """

    def measure(chunk: str) -> int:
        return status_length(chunk, url_length=url_length)

    if limit - measure(prefix) < 20:
        raise ValueError(f"a status limit of {limit} leaves no room after {prefix!r}")
    return split_text(text, limit, measure=measure, prefix=prefix)
