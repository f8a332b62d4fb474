"""The core's words as Mastodon statuses: replies to people, counted as Mastodon counts.

Statuses carry no buttons, so a question's options become a numbered list and people
answer with a number (the runtime maps numbers to options). Replies go to people as
direct-visibility statuses that start with their handle, which is what makes Mastodon
deliver them (https://docs.joinmastodon.org/user/posting/#mentions); a long message is
split into a short thread of such statuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from adapters.plumbing.text import split_text
from channels.events import OutboundMessage
from consultations.texts import texts_for

# Mastodon counts every URL as 23 characters whatever its length and a remote mention by
# its local part (https://docs.joinmastodon.org/user/posting/#text).
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(@\w+)@[\w.-]*\w")


def status_length(text: str, *, url_length: int | None = 23) -> int:
    """The length of ``text`` as Mastodon counts it against its character limit.

    ``url_length`` ``None`` counts links at their real length, as some other servers do.
    """
    if url_length is not None:
        text = _URL.sub("x" * url_length, text)
    return len(_REMOTE_MENTION.sub(r"\1", text))


_LENGTH_REFUSAL = re.compile(
    r"character limit|too long|length|characters? exceeded|max(imum)?[ _]characters", re.I
)
_LIMIT_NAMED = re.compile(r"(?:limit of|at most|maximum of|max(?:imum)?) (\d+)", re.I)


def is_length_refusal(reason: str) -> bool:
    """Whether the server's reason for refusing a status is its length.

    Mastodon says "Validation failed: Text character limit of 500 exceeded" with 422
    (https://docs.joinmastodon.org/methods/statuses/#create, 422 Unprocessable entity);
    other servers word it their own way, some with 400.
    """
    return bool(_LENGTH_REFUSAL.search(reason))


def limit_named(reason: str) -> int | None:
    """The character limit a length refusal names, if it names one."""
    found = _LIMIT_NAMED.search(reason)
    return int(found.group(1)) if found else None


def safety_shortest(text: str, language: str = "en") -> str:
    """The shortest form of a safety message: its helpline lines (``- name: contact``) only.

    What is left when nothing longer can be delivered; the whole text if it lists none.
    """
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    return "\n".join([texts_for(language)("safety_help_now"), *lines]) if lines else text


def plain(text: str) -> str:
    """``text`` without links, for a server that refuses them: each link becomes its host."""
    return _URL.sub(lambda m: m.group(0).split("/")[2] if m.group(0).count("/") >= 2 else "", text)


def message_text(message: OutboundMessage, labels: Mapping[str, str] | None = None) -> str:
    """An outgoing message as status text: options as a numbered list to reply to, each
    shown by its label in ``labels`` where it has one (a consultation's title)."""
    if message.question_type == "vote":
        # Statement voting by direct message: the three words to reply with, no numbers.
        return f"{message.text}\n\n{texts_for(message.language)('statements_vote_words')}"
    if not message.options:
        return message.text
    shown = labels or {}
    listed = "\n".join(
        f"{number}. {shown.get(option, option)}" for number, option in enumerate(message.options, 1)
    )
    texts = texts_for(message.language)
    how = texts("reply_with_numbers" if message.multiple else "reply_with_number")
    return f"{message.text}\n\n{listed}\n\n{how}"


def split_status(text: str, *, prefix: str, limit: int, url_length: int | None = 23) -> list[str]:
    """``text`` as statuses that each start with ``prefix`` and fit in ``limit``.

    Splits between paragraphs where it can, then between lines, then between words
    (:func:`adapters.plumbing.text.split_text`), counted as Mastodon counts.
    """

    def measure(chunk: str) -> int:
        return status_length(chunk, url_length=url_length)

    if limit - measure(prefix) < 20:
        raise ValueError(f"a status limit of {limit} leaves no room after {prefix!r}")
    return split_text(text, limit, measure=measure, prefix=prefix)
