"""The small frozen records that cross the edge between channels and the core.

Adapters turn platform payloads into :class:`InboundEvent` and render
:class:`OutboundMessage`; the core never sees a platform's own objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from consultations.dialogue import CHOOSE, CONSENT, ERASE, RECONTACT, Question

__all__ = [
    "CHOOSE",
    "CONSENT",
    "ERASE",
    "BULK_KINDS",
    "RECONTACT",
    "EventKind",
    "InboundEvent",
    "OutboundMessage",
]


BULK_KINDS = frozenset({"invitation", "reminder"})
"""Outbound kinds sent to many people on the service's initiative (follow-up invitations,
reminders): quiet hours hold them, and replies to people go before them."""


class EventKind(StrEnum):
    """What a person did."""

    START = "start"  # asked to take part (optionally in a named consultation)
    TEXT = "text"  # wrote free text: an answer in a conversation, or a public reply
    ANSWER = "answer"  # answered a named question (button, poll vote, web form)
    RETRACT = "retract"  # took back a poll vote
    SKIP = "skip"  # chose not to answer a segment question
    STOP = "stop"  # withdrew consent
    HELP = "help"
    ERASE = "erase"  # asked (and confirmed) that everything held about them be erased
    ERASE_REQUEST = "erase-request"  # asked for erasure; the core asks them to confirm
    BLOCKED = "blocked"  # the platform says the person blocked us
    LISTEN = "listen"  # a public post gathered by listening (a hashtag), not written to us
    EDIT = "edit"  # changed the text of a message already sent (``platform_ref`` names it)
    # Deleted a post already sent (``platform_ref`` names it); the platform says only which
    # post, not whose, so ``sender`` is the post's reference, not a person.
    DELETED = "deleted"
    UNREADABLE = "unreadable"  # sent what has no words to read (a photo, a voice message)


@dataclass(frozen=True)
class InboundEvent:
    """One thing a person did on a channel.

    ``sender`` is the platform's id for the person and ``address`` where replies go;
    neither is stored in the clear.
    """

    channel: str
    event_id: str
    sender: str
    kind: EventKind
    address: Any = None
    consultation_id: str | None = None
    item_id: str | None = None
    text: str | None = None
    choices: tuple[str, ...] = ()
    # Positions (0-based) of the options chosen, for channels that report positions rather
    # than labels (a Telegram poll_answer); the core maps them to the question's labels.
    option_indexes: tuple[int, ...] = ()
    in_reply_to: str | None = None
    platform_ref: str | None = None
    public: bool = False
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # A listened post that mentions the bot's account: it was written to us, so it may be
    # answered and quoted (the ``listening`` model).
    addressed: bool = False

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, which deep-copies every value:
        # only the address can hold anything mutable.
        data = {name: getattr(self, name) for name in _EVENT_FIELDS}
        data["address"] = copy.deepcopy(self.address)
        data["kind"] = self.kind.value
        data["choices"] = list(self.choices)
        data["option_indexes"] = list(self.option_indexes)
        data["received_at"] = self.received_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundEvent:
        values = dict(data)
        values["kind"] = EventKind(values["kind"])
        values["choices"] = tuple(values.get("choices", ()))
        values["option_indexes"] = tuple(values.get("option_indexes", ()))
        values["received_at"] = datetime.fromisoformat(values["received_at"])
        return cls(**values)


@dataclass(frozen=True)
class OutboundMessage:
    """Something to say to a person or post in a place; the adapter decides its look.

    ``question`` names what is being asked (an item id, a segment id, or one of the
    reserved ids) so that a button press or a numbered reply can be tied back to it.
    """

    text: str
    consultation_id: str | None = None
    question: str | None = None
    # consent | segment | poll | prompt | thread | choose | vote (agree/disagree/pass)
    question_type: str | None = None
    options: tuple[str, ...] = ()
    multiple: bool = False
    reply_to: str | None = None
    kind: str = "message"  # message | question | safety | publish | invitation | reminder
    # For a safety reply to something said in public: what may be posted there instead
    # when the person cannot be reached privately. It neither quotes nor names them.
    fallback: str | None = None
    # Sent to someone no longer held (an erasure's confirmation): once delivered or given
    # up, the outbox keeps no row of it.
    forget_after_sending: bool = False
    # The platform reference of a message of ours this one takes the place of (the next
    # statement after a vote): edited where the channel can, else sent as a new message.
    replaces: str | None = None
    # The consultation's language: the adapter words its own hints in it ("Reply with a
    # number", the reply box's placeholder) from the same catalogues (consultations.texts).
    language: str = "en"
    # For a safety reply: the moderation case it answers, which is told when the person
    # could be sent only the general note (set as the outbox row is written).
    case: int | None = None
    # For a poll asked in Delphi rounds: the round this message asks. A channel that
    # records its polls keeps it with the poll, so a vote on an earlier round's poll is
    # never taken for an answer to the round open now.
    round: int | None = None
    # To the person alone, never where others see, even in answer to something they
    # said in public (STOP's confirmation: a reply in a group would show who left). Where
    # the person cannot be written to privately it is not sent.
    private: bool = False

    @property
    def bulk(self) -> bool:
        """Sent to many people at once, not in answer to anyone just now: it gives way to
        replies in the outbox's queue and in the platforms' request budgets."""
        return self.kind in BULK_KINDS

    @property
    def urgent(self) -> bool:
        """A safety reply: the outbox sends it before every other message waiting on its
        channel, so signposting never queues behind a busy hour's ordinary replies."""
        return self.kind == "safety"

    @classmethod
    def asking(
        cls,
        question: Question,
        *,
        text: str | None = None,
        language: str = "en",
        round: int | None = None,
    ) -> OutboundMessage:
        """The message that asks ``question`` (in ``text`` when given, else its own words)."""
        return cls(
            text=question.text if text is None else text,
            consultation_id=question.consultation_id,
            question=question.question,
            question_type=question.question_type,
            options=question.options,
            multiple=question.multiple,
            kind="question",
            language=language,
            round=round,
        )

    def to_json(self) -> dict[str, Any]:
        # Every field is a string, a number, None or a tuple of strings: no deep copy.
        data = {name: getattr(self, name) for name in _MESSAGE_FIELDS}
        data["options"] = list(self.options)
        return data

    def stored(self, seal: Callable[[Any], str]) -> dict[str, Any]:
        """The message as the outbox keeps it: the platform references it answers or
        replaces (a chat and message, a status id: they name the person) sealed with
        ``seal``, never in the clear; :meth:`from_stored` gives it back."""
        data = self.to_json()
        refs = {name: data[name] for name in SEALED_FIELDS if data[name] is not None}
        if refs:
            for name in refs:
                data[name] = None
            data[SEALED_KEY] = seal(refs)
        return data

    @classmethod
    def from_stored(cls, data: dict[str, Any], unseal: Callable[[str], Any]) -> OutboundMessage:
        """The message from the outbox's copy (:meth:`stored`), its references unsealed."""
        message = cls.from_json(data)
        sealed = data.get(SEALED_KEY)
        return replace(message, **unseal(sealed)) if sealed else message

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        """The message from :meth:`to_json`'s data; keys of no field (the sealed
        references of :meth:`stored`) are left out."""
        values = {name: value for name, value in data.items() if name in _MESSAGE_NAMES}
        values["options"] = tuple(values.get("options", ()))
        return cls(**values)


_EVENT_FIELDS = tuple(f.name for f in fields(InboundEvent))
_MESSAGE_FIELDS = tuple(f.name for f in fields(OutboundMessage))
_MESSAGE_NAMES = frozenset(_MESSAGE_FIELDS)
#: Fields of a message that hold a platform's reference to a person's post.
SEALED_FIELDS = ("reply_to", "replaces")
#: Where :meth:`OutboundMessage.stored` keeps them, sealed.
SEALED_KEY = "sealed_refs"
