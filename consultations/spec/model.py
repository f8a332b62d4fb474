"""The consultation spec as objects: frozen dataclasses and the names of their choices.

These are what the rest of the code works with once a spec has been checked
(:mod:`consultations.spec.validation`) and read (:mod:`consultations.spec.loading`).
:class:`ChannelLimits` describes what one channel accepts; each channel's values live
with its adapter, which knows the platform, and are handed to the checks by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from consultations.spec.outreach import (
    FollowUp,
    QuietHours,
    Reminder,
    format_duration,
    parse_duration,
)
from consultations.texts import STANDS_IN, Texts, missing_texts, texts_for

__all__ = [
    "CHANNELS",
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "ITEM_TYPES",
    "MODERATIONS",
    "QI",
    "REGIONS",
    "STAGES",
    "VISIBILITIES",
    "ChannelLimits",
    "Consent",
    "ConsultationSpec",
    "Helpline",
    "Item",
    "ItemType",
    "MastodonSettings",
    "Moderation",
    "Region",
    "SafetySettings",
    "Segment",
    "Stage",
    "TelegramSettings",
    "DEFAULT_RETENTION",
    "Visibility",
    "format_duration",
    "is_valid_id",
    "parse_duration",
]

Stage = Literal["plan", "do", "study", "act"]
"""A stage of the Plan-Do-Study-Act quality-improvement cycle."""
STAGES: tuple[Stage, ...] = ("plan", "do", "study", "act")

ItemType = Literal["poll", "prompt", "thread", "statements"]
"""The kinds of item: a closed question, an open question, a discussion, and statements
people add and vote agree, disagree or pass on (statement voting)."""
ITEM_TYPES: tuple[ItemType, ...] = ("poll", "prompt", "thread", "statements")

Moderation = Literal["pre", "post"]
"""When people's own statements are checked: ``pre`` (before anyone sees them) or ``post``."""
MODERATIONS: tuple[Moderation, ...] = ("post", "pre")

CHANNELS: tuple[str, ...] = ("web", "telegram", "mastodon")
"""The channels a spec may name."""

Region = Literal["AU", "UK", "US"]
"""Where participants are, which decides the crisis helplines offered."""
REGIONS: tuple[Region, ...] = ("AU", "UK", "US")

Visibility = Literal["public", "unlisted"]
"""Mastodon visibility of the statuses posted on launch."""
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted")

ID_MAX_LENGTH = 64
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")
"""Ids of consultations, items and segments: lowercase letters and digits, single hyphens."""


DEFAULT_RETENTION = timedelta(days=90)
"""How long listening responses are kept when the spec names no ``retention``."""


def is_valid_id(value: str) -> bool:
    """Whether ``value`` can be the id of a consultation, item or segment."""
    return len(value) <= ID_MAX_LENGTH and ID_PATTERN.match(value) is not None


@dataclass(frozen=True)
class Item:
    """A question put to participants: a poll, a prompt, a thread or statements.

    ``seed`` and ``moderation`` belong to statements items only: the statements the
    service starts with, and whether people's own are approved before anyone sees them.
    """

    id: str
    type: ItemType
    text: str
    options: tuple[str, ...] = ()
    multiple: bool = False
    seed: tuple[str, ...] = ()
    moderation: Moderation = "post"
    # Delphi rounds (priority-setting): how many times the poll is asked, and the gap
    # between one round's start and the next (see docs/engagement-over-time.md).
    rounds: int = 1
    round_gap: timedelta | None = None
    # Timed chats: when the item is posted as Q1..Qn in groups and threads.
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as it is written in a spec."""
        data: dict[str, Any] = {"id": self.id, "type": self.type, "text": self.text}
        if self.type == "poll":
            data["options"] = list(self.options)
            if self.multiple:
                data["multiple"] = True
        if self.type == "statements":
            data["seed"] = list(self.seed)
            data["moderation"] = self.moderation
        if self.rounds > 1:
            data["rounds"] = self.rounds
        if self.round_gap is not None:
            data["round_gap"] = format_duration(self.round_gap)
        if self.at is not None:
            data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class Segment:
    """A question people answer about themselves (e.g. their role), used to break results down."""

    id: str
    text: str
    options: tuple[str, ...]
    #: Expected share of each option among the people who answer (e.g. from the
    #: population the service serves), as (option, share) pairs; empty when not given.
    expected: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The segment question as it is written in a spec."""
        data: dict[str, Any] = {"id": self.id, "text": self.text, "options": list(self.options)}
        if self.expected:
            data["expected"] = dict(self.expected)
        return data


@dataclass(frozen=True)
class Consent:
    """What people agree to before taking part, and whether to also ask to contact them again."""

    text: str
    recontact: bool = False


@dataclass(frozen=True)
class QI:
    """The quality-improvement project, PDSA stage and cycle the consultation feeds."""

    project: str
    stage: Stage = "plan"
    cycle: int = 1


@dataclass(frozen=True)
class TelegramSettings:
    """Telegram groups, forum groups or channels where items are posted on launch.

    Each chat is a numeric chat id (e.g. ``-1001234567890``) or a public ``@username``.
    """

    chats: tuple[int | str, ...] = ()


@dataclass(frozen=True)
class MastodonSettings:
    """How the consultation's statuses are posted on Mastodon.

    ``listen`` names hashtags (``#CityHospital``) whose public posts are gathered into the
    consultation as ``listening`` responses (the ``listening`` model).
    """

    visibility: Visibility = "public"
    listen: tuple[str, ...] = ()


@dataclass(frozen=True)
class Helpline:
    """A support service offered to someone whose reply suggests they may be at risk."""

    name: str
    contact: str


@dataclass(frozen=True)
class SafetySettings:
    """Safe-messaging settings (an extension of the contract: the optional ``safety`` key).

    ``region`` picks the built-in helplines; ``message`` replaces the standard reply and
    ``helplines`` are offered in addition to the built-in ones; ``response_hours`` is the
    moderators' response-time target for a disclosure (default 24, may only be shorter);
    ``keep_staff_names`` keeps staff given names in praise out of redaction.
    """

    region: Region = "AU"
    message: str | None = None
    helplines: tuple[Helpline, ...] = ()
    # Hours within which a moderator must look at a disclosure (at most the default 24).
    response_hours: float = 24.0
    # Keep the given names of staff where a reply names them as staff ("Nurse Amy was
    # lovely"): praise a team may pass on. Off by default; surnames are never kept.
    keep_staff_names: bool = False
    # Whether the spec named the region (a default one is worth a warning at validation);
    # not part of what the settings are, so not compared.
    region_given: bool = field(default=True, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``safety`` section as a spec writes it (``helplines`` always, the response
        time when it is not the default)."""
        safety: dict[str, Any] = {"region": self.region}
        if self.message is not None:
            safety["message"] = self.message
        safety["helplines"] = [
            {"name": helpline.name, "contact": helpline.contact} for helpline in self.helplines
        ]
        if self.response_hours != SafetySettings().response_hours:
            safety["response_hours"] = self.response_hours
        if self.keep_staff_names:
            safety["keep_staff_names"] = True
        return safety


@dataclass(frozen=True)
class ChannelLimits:
    """The text and poll limits of one channel, used to check a spec before launch."""

    channel: str
    text_max: int
    poll_question_max: int
    poll_options_min: int
    poll_options_max: int
    poll_option_max: int


@dataclass(frozen=True)
class ConsultationSpec:
    """A checked consultation spec. Build one with :func:`parse_spec` or :func:`load_spec`."""

    id: str
    title: str
    organisation: str
    model: str
    qi: QI
    channels: tuple[str, ...]
    language: str
    consent: Consent
    segments: tuple[Segment, ...]
    items: tuple[Item, ...]
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    closing_message: str | None = None
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    mastodon: MastodonSettings = field(default_factory=MastodonSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    # How long listening responses are kept (CONTRACT.md extension; default 90 days).
    retention: timedelta = DEFAULT_RETENTION

    @property
    def timed_items(self) -> tuple[Item, ...]:
        """Items posted at their own time (``at:``), in spec order: Q1..Qn."""
        return tuple(item for item in self.items if item.at is not None)

    #: The spec's own words for built-in texts, by key (``texts: {stop_reply: ...}``).
    texts: tuple[tuple[str, str], ...] = ()

    def wording(self) -> Texts:
        """The built-in texts as this consultation says them: its language, its overrides."""
        return texts_for(self.language, dict(self.texts))

    def missing_texts(self) -> tuple[str, ...]:
        """Built-in texts neither the language's catalogue nor the spec's own words give."""
        own = {key for key, _ in self.texts}
        return tuple(
            key
            for key in missing_texts(self.language)
            if key not in own and STANDS_IN.get(key) not in own
        )

    # Engagement over time (consultations/spec/outreach.py): follow-ups, reminders,
    # and the hours when nothing is sent unasked, in the spec's IANA time zone.
    follow_up: FollowUp | None = None
    reminder: Reminder | None = None
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    timezone: str = "UTC"

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the spec's time zone: the day people there live it (an opening
        at 22:00 UTC is the next morning in Sydney)."""
        return moment.astimezone(ZoneInfo(self.timezone))

    def item(self, item_id: str) -> Item:
        """The item with this id; ``KeyError`` if there is none."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def segment(self, segment_id: str) -> Segment:
        """The segment question with this id; ``KeyError`` if there is none."""
        for segment in self.segments:
            if segment.id == segment_id:
                return segment
        raise KeyError(segment_id)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (times in ISO 8601); ``parse_spec`` gives it back."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "organisation": self.organisation,
            "model": self.model,
            "qi": {"project": self.qi.project, "stage": self.qi.stage, "cycle": self.qi.cycle},
            "channels": list(self.channels),
            "language": self.language,
            "consent": {"text": self.consent.text, "recontact": self.consent.recontact},
            "segments": [segment.to_dict() for segment in self.segments],
        }
        if self.opens_at is not None:
            data["opens_at"] = self.opens_at.isoformat()
        if self.closes_at is not None:
            data["closes_at"] = self.closes_at.isoformat()
        data["items"] = [item.to_dict() for item in self.items]
        if self.closing_message is not None:
            data["closing_message"] = self.closing_message
        data["telegram"] = {"chats": list(self.telegram.chats)}
        data["mastodon"] = {"visibility": self.mastodon.visibility}
        if self.mastodon.listen:
            data["mastodon"]["listen"] = list(self.mastodon.listen)
        if self.retention != DEFAULT_RETENTION:
            data["retention"] = format_duration(self.retention)
        data["safety"] = self.safety.to_dict()
        if self.texts:
            data["texts"] = dict(self.texts)
        data.update(self._over_time_dict())
        return data

    def _over_time_dict(self) -> dict[str, Any]:
        """Follow-up, reminder, quiet hours and time zone, where they are not the defaults."""
        data: dict[str, Any] = {}
        if self.follow_up is not None:
            data["follow_up"] = self.follow_up.to_dict()
        if self.reminder is not None:
            data["reminder"] = self.reminder.to_dict()
        if self.quiet_hours != QuietHours():
            data["quiet_hours"] = self.quiet_hours.to_dict()
        if self.timezone != "UTC":
            data["timezone"] = self.timezone
        return data
