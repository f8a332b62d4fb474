"""Consultation specs: the YAML or JSON file a health service writes to describe a consultation.

The format is the "Consultation spec" section of the project contract. Three entry points
read it, each checking everything at once:

- :func:`load_spec_file` reads a file,
- :func:`load_spec` reads YAML or JSON text,
- :func:`parse_spec` checks data that is already loaded (a dict, e.g. from the dashboard).

All three return a :class:`ConsultationSpec` or raise :class:`SpecError`, which lists every
problem found (not just the first), each with the path of the field it concerns, such as
``items[2].options`` or ``consent.text``, so the person who wrote the spec can fix them all
in one pass. The messages are written for engagement officers, not programmers.

YAML is read with the YAML 1.2 rules for plain values: ``Yes``, ``No``, ``on`` and ``off``
stay text (so ``options: [Yes, No]`` means what it says), ``9:30`` stays text, and only
``true`` and ``false`` are yes/no values.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NoReturn, cast

import yaml

__all__ = [
    "CHANNELS",
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "ITEM_TYPES",
    "MASTODON_DEFAULT_LIMITS",
    "REGIONS",
    "ROOT",
    "STAGES",
    "TELEGRAM_LIMITS",
    "VISIBILITIES",
    "ChannelLimits",
    "Consent",
    "ConsultationSpec",
    "Helpline",
    "Item",
    "ItemType",
    "MastodonSettings",
    "Problem",
    "QI",
    "Region",
    "SafetySettings",
    "Segment",
    "SpecError",
    "Stage",
    "TelegramSettings",
    "Visibility",
    "is_valid_id",
    "load_spec",
    "load_spec_file",
    "parse_spec",
]

Stage = Literal["plan", "do", "study", "act"]
"""A stage of the Plan-Do-Study-Act quality-improvement cycle."""
STAGES: tuple[Stage, ...] = ("plan", "do", "study", "act")

ItemType = Literal["poll", "prompt", "thread"]
"""The three kinds of item: a closed question, an open question, a discussion."""
ITEM_TYPES: tuple[ItemType, ...] = ("poll", "prompt", "thread")

CHANNELS: tuple[str, ...] = ("web", "telegram", "mastodon")
"""The channels a spec may name."""

Region = Literal["AU", "UK", "US"]
"""Where participants are, which decides the crisis helplines offered."""
REGIONS: tuple[Region, ...] = ("AU", "UK", "US")

Visibility = Literal["public", "unlisted"]
"""Mastodon visibility of the statuses posted on launch."""
VISIBILITIES: tuple[Visibility, ...] = ("public", "unlisted")

ROOT = "(root)"
"""The path used for problems with the document as a whole."""

ID_MAX_LENGTH = 64
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")
"""Ids of consultations, items and segments: lowercase letters and digits, single hyphens."""

_EXAMPLE_TIME = "2026-12-01T09:00:00+10:00"


def is_valid_id(value: str) -> bool:
    """Whether ``value`` can be the id of a consultation, item or segment."""
    return len(value) <= ID_MAX_LENGTH and ID_PATTERN.match(value) is not None


# --------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, and where: ``path`` names the field, e.g. ``items[2].text``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SpecError(ValueError):
    """A spec could not be read or is not valid; ``problems`` lists everything found.

    ``str()`` of the error gives one problem per line. ``source`` names the file or text
    the spec came from, when known.
    """

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


# --------------------------------------------------------------------------------------
# The spec as objects


@dataclass(frozen=True)
class Item:
    """A question put to participants: a poll, a prompt or a thread."""

    id: str
    type: ItemType
    text: str
    options: tuple[str, ...] = ()
    multiple: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The item as it is written in a spec."""
        data: dict[str, Any] = {"id": self.id, "type": self.type, "text": self.text}
        if self.type == "poll":
            data["options"] = list(self.options)
            if self.multiple:
                data["multiple"] = True
        return data


@dataclass(frozen=True)
class Segment:
    """A question people answer about themselves (e.g. their role), used to break results down."""

    id: str
    text: str
    options: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The segment question as it is written in a spec."""
        return {"id": self.id, "text": self.text, "options": list(self.options)}


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
    """How the consultation's statuses are posted on Mastodon."""

    visibility: Visibility = "public"


@dataclass(frozen=True)
class Helpline:
    """A support service offered to someone whose reply suggests they may be at risk."""

    name: str
    contact: str


@dataclass(frozen=True)
class SafetySettings:
    """Safe-messaging settings (an extension of the contract: the optional ``safety`` key).

    ``region`` picks the built-in helplines; ``message`` replaces the standard reply and
    ``helplines`` are offered in addition to the built-in ones.
    """

    region: Region = "AU"
    message: str | None = None
    helplines: tuple[Helpline, ...] = ()


@dataclass(frozen=True)
class ChannelLimits:
    """The text and poll limits of one channel, used to check a spec before launch."""

    channel: str
    text_max: int
    poll_question_max: int
    poll_options_min: int
    poll_options_max: int
    poll_option_max: int


TELEGRAM_LIMITS = ChannelLimits(
    "telegram",
    # Bot API: message text 1-4096 characters; sendPoll: question 1-300 characters,
    # 2-12 options of 1-100 characters each. https://core.telegram.org/bots/api#sendpoll
    text_max=4096,
    poll_question_max=300,
    poll_options_min=2,
    poll_options_max=12,
    poll_option_max=100,
)
"""Telegram Bot API limits."""

MASTODON_DEFAULT_LIMITS = ChannelLimits(
    "mastodon",
    # A stock Mastodon server: 500-character statuses; polls of 2-4 options of at most
    # 50 characters. Servers may differ: the real values are in /api/v2/instance
    # (configuration.statuses and configuration.polls).
    text_max=500,
    poll_question_max=500,
    poll_options_min=2,
    poll_options_max=4,
    poll_option_max=50,
)
"""Limits of a Mastodon server with the default configuration."""


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
        safety: dict[str, Any] = {"region": self.safety.region}
        if self.safety.message is not None:
            safety["message"] = self.safety.message
        safety["helplines"] = [
            {"name": helpline.name, "contact": helpline.contact}
            for helpline in self.safety.helplines
        ]
        data["safety"] = safety
        return data


# --------------------------------------------------------------------------------------
# Checking

_ROOT_FIELDS = (
    "id",
    "title",
    "organisation",
    "model",
    "qi",
    "channels",
    "language",
    "consent",
    "segments",
    "opens_at",
    "closes_at",
    "items",
    "closing_message",
    "telegram",
    "mastodon",
    "safety",
)
_ROOT_REQUIRED = ("id", "title", "organisation", "model", "consent", "items")
_ITEM_FIELDS = ("id", "type", "text", "options", "multiple")
_SEGMENT_FIELDS = ("id", "text", "options")

# What to write, for each required field, shown when the field is missing.
_HINTS = {
    "id": "a stable id such as outpatient-booking",
    "title": "the name people will see",
    "organisation": "who is running the consultation",
    "model": "the engagement model, such as feedback-prompt",
    "consent": "a consent section with the text people agree to",
    "items": "the list of polls, prompts and threads",
    "text": "the words people will see",
    "type": "poll, prompt or thread",
    "options": "the answers people can choose from",
    "name": "the service's name",
    "contact": "how to reach the service, e.g. a phone number",
}

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")
_TELEGRAM_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}\Z")


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _describe(value: object) -> str:
    """Name a value the way a non-programmer would, for 'must be X, not Y' messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text '{shown}'"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, Mapping):
        return "a set of fields"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _choices(values: Sequence[str]) -> str:
    """'a, b or c'."""
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " or " + values[-1]


def _suggest(value: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _slug(value: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", value.lower()))[:ID_MAX_LENGTH].strip("-")


def _option_key(label: str) -> str:
    return " ".join(label.split()).casefold()


class _Checker:
    """Collects problems while a spec is read; each check returns None when it found one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path or ROOT, message))

    def fields(
        self,
        value: object,
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, object] | None:
        """Check a set of fields: known names only, required ones present."""
        if not isinstance(value, Mapping):
            example = f"{required[0] if required else allowed[0]}: ..."
            self.add(path, f"must be a set of fields (like `{example}`), not {_describe(value)}")
            return None
        found: dict[str, object] = {}
        for key, item in value.items():
            if isinstance(key, str) and key in allowed:
                found[key] = item
                continue
            name = str(key)
            self.add(
                _join(path, name),
                f"unknown field '{name}'{_suggest(name, allowed)}; "
                f"the fields allowed here are: {', '.join(allowed)}",
            )
        for name in required:
            if name not in found:
                hint = _HINTS.get(name)
                self.add(
                    _join(path, name),
                    "this required field is missing" + (f" ({hint})" if hint else ""),
                )
        return found

    def text(self, value: object, path: str) -> str | None:
        """Non-blank text, with surrounding spaces and line breaks removed."""
        if value is None:
            self.add(path, "is empty; write the text here")
            return None
        if not isinstance(value, str):
            self.add(path, f"must be text, not {_describe(value)}; put it in quotes if needed")
            return None
        if not value.strip():
            self.add(path, "is blank; write the text here")
            return None
        return value.strip()

    def identifier(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(
                path,
                "must be an id made of lowercase letters, digits and hyphens, "
                f"not {_describe(value)}",
            )
            return None
        if len(value) > ID_MAX_LENGTH:
            self.add(path, f"is {len(value)} characters long; an id can have at most 64")
            return None
        if not ID_PATTERN.match(value):
            message = (
                f"'{value}' is not a valid id: use only lowercase letters and digits, "
                "with single hyphens between words"
            )
            suggestion = _slug(value)
            if suggestion and suggestion != value:
                message += f", for example '{suggestion}'"
            self.add(path, message)
            return None
        return value

    def boolean(self, value: object, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {_describe(value)}")
            return None
        return value

    def choice(self, value: object, path: str, allowed: Sequence[str], noun: str) -> str | None:
        if not isinstance(value, str) or value not in allowed:
            shown = f"'{value}'" if isinstance(value, str) else _describe(value)
            hint = _suggest(value, allowed) if isinstance(value, str) else ""
            self.add(path, f"unknown {noun} {shown}{hint}; choose {_choices(allowed)}")
            return None
        return value

    def sequence(self, value: object, path: str, example: str) -> list[object] | None:
        if not isinstance(value, list | tuple):
            self.add(path, f"must be a list (like {example}), not {_describe(value)}")
            return None
        return list(value)

    def timestamp(self, value: object, path: str) -> datetime | None:
        """A date and time with a timezone, from YAML (a datetime) or text (ISO 8601)."""
        example = f"write it like {_EXAMPLE_TIME}"
        moment: datetime
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date) or (
            isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value)
        ):
            self.add(path, f"needs a time and a timezone as well as the date; {example}")
            return None
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                self.add(path, f"'{value}' is not a date and time; {example}")
                return None
        else:
            self.add(path, f"must be a date and time, not {_describe(value)}; {example}")
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.add(
                path,
                f"{moment.isoformat()} has no timezone; add one, e.g. +10:00 or Z for UTC "
                f"({example})",
            )
            return None
        return moment

    def options(self, value: object, path: str, what: str) -> tuple[str, ...] | None:
        """At least two distinct, non-blank option labels."""
        listed = self.sequence(value, path, "[Yes, No]")
        if listed is None:
            return None
        before = len(self.problems)
        labels: list[str] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(listed):
            option_path = f"{path}[{index}]"
            # A bare number is a fine label (a 1-5 rating scale), and YAML reads it as one.
            label_value = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
            label = self.text(label_value, option_path)
            if label is None:
                continue
            key = _option_key(label)
            if key in seen:
                self.add(
                    option_path,
                    f"'{label}' repeats {path}[{seen[key]}]; each option must be different "
                    "(ignoring capitals and spaces)",
                )
                continue
            seen[key] = index
            labels.append(label)
        if len(listed) < 2:
            self.add(path, f"{what} needs at least 2 options; it has {len(listed)}")
        if len(self.problems) > before:
            return None
        return tuple(labels)


def _fail(checker: _Checker, source: str | None) -> NoReturn:
    raise SpecError(checker.problems, source=source)


def parse_spec(
    data: object, *, limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Check loaded spec data and build the :class:`ConsultationSpec`.

    Args:
        data: the spec as loaded from YAML or JSON (a mapping of fields).
        limits: per-channel limits, keyed by channel name (e.g.
            ``{"telegram": TELEGRAM_LIMITS}``). Each channel the spec uses that has limits
            here is checked: item texts, poll questions, option counts and lengths, the
            consent text, segment questions and the closing message.

    Returns:
        The spec, with defaults filled in: channels ``[web]``, language ``en``, the QI
        project named after the title, and any defaults of the chosen engagement model
        (see :mod:`consultations.models`).

    Raises:
        SpecError: listing every problem found, each with its field path.
    """
    return _parse(data, limits=limits, source=None)


def _parse(
    data: object, *, limits: Mapping[str, ChannelLimits] | None, source: str | None
) -> ConsultationSpec:
    # Models build on this module's types, so they are imported here, not at the top.
    from consultations.models import MODELS

    check = _Checker()
    if data is None:
        check.add(ROOT, "the spec is empty")
        _fail(check, source)
    root = check.fields(data, "", _ROOT_FIELDS, _ROOT_REQUIRED)
    if root is None:
        _fail(check, source)

    def given(section: Mapping[str, object], key: str) -> bool:
        # An optional field left empty (`segments:` with nothing after it) counts as absent.
        return section.get(key) is not None

    spec_id = check.identifier(root["id"], "id") if "id" in root else None
    title = check.text(root["title"], "title") if "title" in root else None
    organisation = (
        check.text(root["organisation"], "organisation") if "organisation" in root else None
    )

    model = None
    if "model" in root:
        model_name = check.choice(root["model"], "model", list(MODELS), "engagement model")
        model = MODELS[model_name] if model_name is not None else None

    qi: QI | None = None
    qi_fields = (
        check.fields(root["qi"], "qi", ("project", "stage", "cycle")) if given(root, "qi") else {}
    )
    if qi_fields is not None:
        project = (
            check.text(qi_fields["project"], "qi.project") if given(qi_fields, "project") else title
        )
        stage = (
            check.choice(qi_fields["stage"], "qi.stage", STAGES, "stage")
            if given(qi_fields, "stage")
            else "plan"
        )
        cycle: int | None = 1
        if given(qi_fields, "cycle"):
            raw_cycle = qi_fields["cycle"]
            if isinstance(raw_cycle, int) and not isinstance(raw_cycle, bool) and raw_cycle >= 1:
                cycle = raw_cycle
            else:
                check.add(
                    "qi.cycle", f"must be a whole number from 1 up, not {_describe(raw_cycle)}"
                )
                cycle = None
        if project is not None and stage is not None and cycle is not None:
            qi = QI(project=project, stage=cast(Stage, stage), cycle=cycle)

    channels: tuple[str, ...] = ("web",)
    if given(root, "channels"):
        listed = check.sequence(root["channels"], "channels", "[web, telegram]")
        if listed is not None:
            found: list[str] = []
            if not listed:
                check.add(
                    "channels", f"lists no channels; name at least one of {_choices(CHANNELS)}"
                )
            for index, raw in enumerate(listed):
                path = f"channels[{index}]"
                name = check.choice(raw, path, CHANNELS, "channel")
                if name is None:
                    continue
                if name in found:
                    check.add(path, f"'{name}' is listed twice; name each channel once")
                    continue
                found.append(name)
            channels = tuple(found)

    language: str | None = "en"
    if given(root, "language"):
        language = check.text(root["language"], "language")
        if language is not None and not _LANGUAGE.match(language):
            check.add(
                "language", f"'{language}' is not a language code; use one like en, mi or en-AU"
            )
            language = None

    consent: Consent | None = None
    if "consent" in root:
        consent_fields = check.fields(root["consent"], "consent", ("text", "recontact"), ("text",))
        if consent_fields is not None:
            consent_text = (
                check.text(consent_fields["text"], "consent.text")
                if "text" in consent_fields
                else None
            )
            recontact: bool | None = model.recontact_default if model is not None else False
            if given(consent_fields, "recontact"):
                recontact = check.boolean(consent_fields["recontact"], "consent.recontact")
            if consent_text is not None and recontact is not None:
                consent = Consent(text=consent_text, recontact=recontact)

    used_ids: dict[str, str] = {}  # id -> path of the item or segment that has it
    segments = _segments(check, root["segments"], used_ids) if given(root, "segments") else ()

    opens_at = check.timestamp(root["opens_at"], "opens_at") if given(root, "opens_at") else None
    closes_at = (
        check.timestamp(root["closes_at"], "closes_at") if given(root, "closes_at") else None
    )
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        check.add(
            "closes_at",
            f"must be after opens_at ({opens_at.isoformat()}); it is {closes_at.isoformat()}",
        )

    items = _items(check, root["items"], used_ids) if "items" in root else None

    closing_message: str | None = model.closing_message_default if model is not None else None
    if given(root, "closing_message"):
        closing_message = check.text(root["closing_message"], "closing_message")

    telegram = _telegram(check, root["telegram"]) if given(root, "telegram") else TelegramSettings()
    mastodon = _mastodon(check, root["mastodon"]) if given(root, "mastodon") else MastodonSettings()
    safety = _safety(check, root["safety"]) if given(root, "safety") else SafetySettings()

    if limits:
        _check_limits(
            check,
            limits,
            channels,
            consent=consent,
            segments=segments or (),
            items=items or (),
            closing_message=closing_message,
        )

    # Every check that returned None above recorded a problem; the None tests are for typing.
    if (
        check.problems
        or spec_id is None
        or title is None
        or organisation is None
        or model is None
        or consent is None
        or items is None
        or segments is None
        or language is None
        or telegram is None
        or mastodon is None
        or safety is None
    ):
        _fail(check, source)
    return ConsultationSpec(
        id=spec_id,
        title=title,
        organisation=organisation,
        model=model.name,
        qi=qi if qi is not None else QI(project=title),
        channels=channels,
        language=language,
        consent=consent,
        segments=segments,
        items=tuple(item for _, item in items),
        opens_at=opens_at,
        closes_at=closes_at,
        closing_message=closing_message,
        telegram=telegram,
        mastodon=mastodon,
        safety=safety,
    )


def _claim_id(check: _Checker, value: object, path: str, used: dict[str, str]) -> str | None:
    """Check an item or segment id and that no other item or segment has it."""
    ident = check.identifier(value, _join(path, "id"))
    if ident is None:
        return None
    if ident in used:
        other = used[ident]
        why = (
            "each item needs its own id"
            if other.startswith("items") and path.startswith("items")
            else "each segment needs its own id"
            if other.startswith("segments") and path.startswith("segments")
            else "items and segment questions cannot share an id, as both label answers"
        )
        check.add(_join(path, "id"), f"'{ident}' is already the id of {other}; {why}")
        return None
    used[ident] = path
    return ident


def _segments(check: _Checker, value: object, used: dict[str, str]) -> tuple[Segment, ...] | None:
    listed = check.sequence(value, "segments", "[{id: role, text: ..., options: [...]}]")
    if listed is None:
        return None
    segments: list[Segment] = []
    for index, raw in enumerate(listed):
        path = f"segments[{index}]"
        found = check.fields(raw, path, _SEGMENT_FIELDS, _SEGMENT_FIELDS)
        if found is None:
            continue
        ident = _claim_id(check, found["id"], path, used) if "id" in found else None
        text = check.text(found["text"], f"{path}.text") if "text" in found else None
        options = (
            check.options(found["options"], f"{path}.options", "a segment question")
            if "options" in found
            else None
        )
        if ident is not None and text is not None and options is not None:
            segments.append(Segment(id=ident, text=text, options=options))
    return tuple(segments)


def _items(check: _Checker, value: object, used: dict[str, str]) -> list[tuple[int, Item]] | None:
    """The items that passed their checks, each with its position in the spec."""
    if value is None:
        check.add("items", "is empty; list at least one poll, prompt or thread")
        return None
    listed = check.sequence(value, "items", "[{id: ..., type: poll, text: ...}]")
    if listed is None:
        return None
    if not listed:
        check.add("items", "there are no items; add at least one poll, prompt or thread")
    items: list[tuple[int, Item]] = []
    for index, raw in enumerate(listed):
        path = f"items[{index}]"
        found = check.fields(raw, path, _ITEM_FIELDS, ("id", "type", "text"))
        if found is None:
            continue
        ident = _claim_id(check, found["id"], path, used) if "id" in found else None
        kind = (
            check.choice(found["type"], f"{path}.type", ITEM_TYPES, "item type")
            if "type" in found
            else None
        )
        text = check.text(found["text"], f"{path}.text") if "text" in found else None
        options: tuple[str, ...] | None = ()
        multiple: bool | None = False
        if kind == "poll":
            if found.get("options") is None:
                check.add(f"{path}.options", "a poll needs a list of at least 2 options")
                options = None
            else:
                options = check.options(found["options"], f"{path}.options", "a poll")
            if found.get("multiple") is not None:
                multiple = check.boolean(found["multiple"], f"{path}.multiple")
        elif kind is not None:
            if found.get("options") is not None:
                check.add(
                    f"{path}.options",
                    f"only polls have options, and this item is a {kind}; "
                    "remove the options or change the type to poll",
                )
            if found.get("multiple") is not None:
                check.add(
                    f"{path}.multiple",
                    f"only polls can allow several answers, and this item is a {kind}; "
                    "remove `multiple` or change the type to poll",
                )
        if (
            ident is not None
            and kind is not None
            and text is not None
            and options is not None
            and multiple is not None
        ):
            items.append((index, Item(ident, cast(ItemType, kind), text, options, multiple)))
    return items


def _telegram(check: _Checker, value: object) -> TelegramSettings | None:
    found = check.fields(value, "telegram", ("chats",))
    if found is None:
        return None
    if found.get("chats") is None:
        return TelegramSettings()
    listed = check.sequence(found["chats"], "telegram.chats", "[-1001234567890, '@ourservice']")
    if listed is None:
        return None
    chats: list[int | str] = []
    ok = True
    for index, chat in enumerate(listed):
        path = f"telegram.chats[{index}]"
        if isinstance(chat, int) and not isinstance(chat, bool):
            valid: int | str | None = chat
        elif isinstance(chat, str) and _TELEGRAM_USERNAME.match(chat):
            valid = chat
        else:
            check.add(
                path,
                "must be a chat id number (like -1001234567890) or a public username "
                f"starting with @ (like @ourservice), not {_describe(chat)}",
            )
            valid = None
        if valid is None:
            ok = False
        elif valid in chats:
            check.add(path, f"{valid} is listed twice; name each chat once")
            ok = False
        else:
            chats.append(valid)
    return TelegramSettings(chats=tuple(chats)) if ok else None


def _mastodon(check: _Checker, value: object) -> MastodonSettings | None:
    found = check.fields(value, "mastodon", ("visibility",))
    if found is None:
        return None
    if found.get("visibility") is None:
        return MastodonSettings()
    visibility = check.choice(
        found["visibility"], "mastodon.visibility", VISIBILITIES, "visibility"
    )
    return MastodonSettings(cast(Visibility, visibility)) if visibility is not None else None


def _safety(check: _Checker, value: object) -> SafetySettings | None:
    found = check.fields(value, "safety", ("region", "message", "helplines"))
    if found is None:
        return None
    before = len(check.problems)
    region: str | None = "AU"
    if found.get("region") is not None:
        region = check.choice(found["region"], "safety.region", REGIONS, "region")
    message = None
    if found.get("message") is not None:
        message = check.text(found["message"], "safety.message")
    helplines: list[Helpline] = []
    if found.get("helplines") is not None:
        listed = check.sequence(
            found["helplines"], "safety.helplines", "[{name: Lifeline, contact: 13 11 14}]"
        )
        for index, raw in enumerate(listed or []):
            path = f"safety.helplines[{index}]"
            entry = check.fields(raw, path, ("name", "contact"), ("name", "contact"))
            if entry is None:
                continue
            name = check.text(entry["name"], f"{path}.name") if "name" in entry else None
            contact = (
                check.text(entry["contact"], f"{path}.contact") if "contact" in entry else None
            )
            if name is not None and contact is not None:
                helplines.append(Helpline(name=name, contact=contact))
    if len(check.problems) > before:
        return None
    return SafetySettings(region=cast(Region, region), message=message, helplines=tuple(helplines))


def _check_limits(
    check: _Checker,
    limits: Mapping[str, ChannelLimits],
    channels: Sequence[str],
    *,
    consent: Consent | None,
    segments: Sequence[Segment],
    items: Sequence[tuple[int, Item]],
    closing_message: str | None,
) -> None:
    """Check texts and polls against the limits of each channel the spec uses."""
    for channel in channels:
        limit = limits.get(channel)
        if limit is None:
            continue
        name = limit.channel

        def longer(path: str, text: str, maximum: int, what: str = "", name: str = name) -> None:
            if len(text) > maximum:
                check.add(path, f"{len(text)} characters; {name} allows at most {maximum}{what}")

        if consent is not None:
            longer("consent.text", consent.text, limit.text_max)
        for index, segment in enumerate(segments):
            longer(f"segments[{index}].text", segment.text, limit.text_max)
        for index, item in items:
            path = f"items[{index}]"
            if item.type != "poll":
                longer(f"{path}.text", item.text, limit.text_max)
                continue
            longer(f"{path}.text", item.text, limit.poll_question_max, " in a poll question")
            count = len(item.options)
            if count > limit.poll_options_max:
                check.add(
                    f"{path}.options",
                    f"{count} options; {name} allows at most {limit.poll_options_max} in a poll",
                )
            elif count < limit.poll_options_min:
                check.add(
                    f"{path}.options",
                    f"{count} options; {name} needs at least {limit.poll_options_min} in a poll",
                )
            for option_index, label in enumerate(item.options):
                longer(f"{path}.options[{option_index}]", label, limit.poll_option_max)
        if closing_message is not None:
            longer("closing_message", closing_message, limit.text_max)


# --------------------------------------------------------------------------------------
# Reading YAML and JSON

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _SpecLoader(yaml.SafeLoader):
    """A safe YAML loader with YAML 1.2 plain values and no repeated keys.

    PyYAML follows YAML 1.1, where `Yes`, `No`, `on` and `off` are true/false and `9:30`
    is the number 570; in a consultation those are answer labels and times of day.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the field '{key}' appears twice here; keep only one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SpecLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_SpecLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)

# Plain-words explanations for the YAML mistakes people make most.
_YAML_HINTS = {
    "mapping values are not allowed here": (
        "a text that contains ': ' must be put in quotes, e.g. text: \"Q1: what works?\""
    ),
    "cannot start any token": "indent with spaces, not tabs",
    "could not find expected ':'": "each line needs a field name, a colon and a value",
}


class _RepeatedKeyError(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise _RepeatedKeyError(key)
        data[key] = value
    return data


def _read_document(text: str, source: str) -> object:
    """YAML or JSON text to data; SpecError (with line and column) if it cannot be read."""
    text = text.removeprefix("\ufeff")
    json_error: json.JSONDecodeError | None = None
    if re.match(r"\s*\{", text):
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except _RepeatedKeyError as repeated:
            raise SpecError(
                [Problem(ROOT, f"{source}: the field '{repeated}' appears twice; keep only one")],
                source=source,
            ) from None
        except json.JSONDecodeError as error:
            if re.match(r'\s*\{\s*["}]', text):
                message = _json_error_message(error, source)
                raise SpecError([Problem(ROOT, message)], source=source) from None
            json_error = error  # not JSON after all, but it may be YAML in flow style
    try:
        # _SpecLoader is a SafeLoader: it builds only plain data, never Python objects.
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as error:
        if json_error is not None:
            message = _json_error_message(json_error, source)
        else:
            message = _yaml_error_message(error, source)
        raise SpecError([Problem(ROOT, message)], source=source) from None


def _json_error_message(error: json.JSONDecodeError, source: str) -> str:
    return f"{source}, line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"


def _yaml_error_message(error: yaml.YAMLError, source: str) -> str:
    if not isinstance(error, yaml.MarkedYAMLError):
        return f"{source}: not valid YAML: {error}"
    mark = error.problem_mark or error.context_mark
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
    what = error.problem or error.context or "unreadable"
    message = f"{where}: not valid YAML: {what}"
    for clue, hint in _YAML_HINTS.items():
        if clue in what:
            message += f" ({hint})"
            break
    return message


def load_spec(
    text: str, *, source: str = "<spec>", limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Read a spec from YAML or JSON text and check it.

    Args:
        text: the spec.
        source: what to call the text in messages, usually the file name.
        limits: per-channel limits to check against, as for :func:`parse_spec`.

    Raises:
        SpecError: the text is not YAML/JSON (the message names line and column), or the
            spec has problems (all of them are listed).
    """
    data = _read_document(text, source)
    return _parse(data, limits=limits, source=source)


def load_spec_file(
    path: str | os.PathLike[str], *, limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Read and check a spec file (YAML or JSON, UTF-8).

    Raises:
        SpecError: the file cannot be read (the message names it) or the spec has problems.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError:
        reason = f"there is no file {name}"
    except IsADirectoryError:
        reason = f"{name} is a folder, not a spec file"
    except UnicodeDecodeError as error:
        reason = f"{name} is not UTF-8 text (byte {error.start} cannot be read)"
    except OSError as error:
        reason = f"cannot read {name}: {error.strerror or error}"
    else:
        return load_spec(text, source=name, limits=limits)
    raise SpecError([Problem(ROOT, reason)], source=name)
