"""Checking a consultation spec: every problem at once, each with its field path.

:func:`validate` takes spec data that is already loaded (a mapping, as read from YAML or
JSON) and returns either the :class:`ConsultationSpec` or the list of :class:`Problem`
found, each naming the field it concerns, such as ``items[2].options`` or
``consent.text``, so the person who wrote the spec can fix them all in one pass. The
messages are written for engagement officers, not programmers.

Channel limits are a parameter: the caller that knows the channels (the CLI, from the
adapters) passes the limits of each channel it can check, and a channel without limits
gets no channel-specific checks.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import cast

from consultations.models import MODELS
from consultations.repeats import is_repeat
from consultations.spec import over_time
from consultations.spec.model import (
    CHANNELS,
    ID_MAX_LENGTH,
    ID_PATTERN,
    ITEM_TYPES,
    MODERATIONS,
    QI,
    REGIONS,
    STAGES,
    VISIBILITIES,
    ChannelLimits,
    Consent,
    ConsultationSpec,
    Helpline,
    Item,
    ItemType,
    MastodonSettings,
    Moderation,
    Region,
    SafetySettings,
    Segment,
    Stage,
    TelegramSettings,
    Visibility,
)
from consultations.spec.outreach import (
    INVITE_MODES,
    FollowUp,
    QuietHours,
    Reminder,
    parse_duration,
    parse_time_of_day,
    zone,
)
from consultations.texts import BUILTIN, placeholders

__all__ = ["DRAFT_PLACEHOLDERS", "ROOT", "Problem", "Validation", "unfinished", "validate"]

ROOT = "(root)"
"""The path used for problems with the document as a whole."""

_EXAMPLE_TIME = "2026-12-01T09:00:00+10:00"

# A date, optionally with a time and a timezone, as ISO 8601 and YAML write them.
_MOMENT = re.compile(
    r"\s*(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d*)?)?"
    r"[ \t]*(?:[Zz]|(?P<zone>(?P<zone_hours>[-+]\d{1,2})(?::?\d{2})?))?)?\s*"
)


def _not_a_real_moment(text: str) -> str | None:
    """Why text written like a date and time names none (``there is no month 13``).

    None when the text is not written like one, or names a real one.
    """
    found = _MOMENT.fullmatch(text)
    if found is None:
        return None
    year, month, day = (int(found[part]) for part in ("year", "month", "day"))
    if year < 1:
        return "there is no year 0"
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{calendar.month_name[month]} {year} has {days} days, not {day}"
    for part, limit in (("hour", 23), ("minute", 59), ("second", 59)):
        if found[part] is not None and int(found[part]) > limit:
            return f"there is no {part} {int(found[part])} (at most {limit})"
    if found["zone"] is not None and abs(int(found["zone_hours"])) > 23:
        return f"there is no timezone {found['zone']} (they run from -23:59 to +23:59)"
    return None


# --------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, and where: ``path`` names the field, e.g. ``items[2].text``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Validation:
    """The outcome of checking spec data: the spec when it is valid, else every problem."""

    spec: ConsultationSpec | None
    problems: tuple[Problem, ...] = ()


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
    "retention",
    "texts",
    # Follow-ups, reminders and quiet hours (see _outreach below).
    "follow_up",
    "reminder",
    "quiet_hours",
    "timezone",
)
_ROOT_REQUIRED = ("id", "title", "organisation", "model", "consent", "items")
_ITEM_FIELDS = (
    "id",
    "type",
    "text",
    "options",
    "multiple",
    "seed",
    "moderation",
    "rounds",
    "round_gap",
    "at",
)
#: Longest statement (seeded or added): one short idea, like a Pol.is comment.
STATEMENT_MAX = 280
_SEGMENT_FIELDS = ("id", "text", "options", "expected")
_SEGMENT_REQUIRED = ("id", "text", "options")

# What to write, for each required field, shown when the field is missing.
_HINTS = {
    "id": "a stable id such as outpatient-booking",
    "title": "the name people will see",
    "organisation": "who is running the consultation",
    "model": "the engagement model, such as feedback-prompt",
    "consent": "a consent section with the text people agree to",
    "items": "the list of polls, prompts, threads and statements",
    "text": "the words people will see",
    "type": "poll, prompt, thread or statements",
    "options": "the answers people can choose from",
    "name": "the service's name",
    "contact": "how to reach the service, e.g. a phone number",
}

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")
_TELEGRAM_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}\Z")


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


#: Words a drafted spec leaves for its author to replace (``engage consultation
#: draft-loop`` writes "[what we changed]"): a spec that still holds one is not ready.
DRAFT_PLACEHOLDERS = ("[what we changed]",)


def unfinished(data: object, path: str = "") -> list[Problem]:
    """Every text in spec data that still holds a draft's placeholder, by field path.

    Not part of :func:`validate`: a drafted spec may be stored to be edited, but the
    commands that check, store or launch a spec for people to see refuse it.
    """
    if isinstance(data, str):
        return [
            Problem(
                path or ROOT,
                f"still says {placeholder}: write what was changed before this spec is used",
            )
            for placeholder in DRAFT_PLACEHOLDERS
            if placeholder in data
        ]
    if isinstance(data, Mapping):
        return [p for key, value in data.items() for p in unfinished(value, _join(path, str(key)))]
    if isinstance(data, list | tuple):
        return [p for i, value in enumerate(data) for p in unfinished(value, f"{path}[{i}]")]
    return []


#: What the CSV export puts between the choices of one answer (CONTRACT.md).
CHOICE_SEPARATOR = "; "
#: Control characters no text of a spec may hold: PostgreSQL cannot store U+0000, and
#: none of them is shown to anyone (tabs and line breaks are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_characters(data: object, path: str = "") -> list[Problem]:
    """Every text (or field name) in spec data holding a control character, by path."""
    if isinstance(data, str):
        found = _CONTROL.search(data)
        if found is None:
            return []
        return [
            Problem(
                path or ROOT,
                f"holds a control character (U+{ord(found.group()):04X}) that cannot be "
                "stored or shown; remove it",
            )
        ]
    if isinstance(data, Mapping):
        return [
            p
            for key, value in data.items()
            for p in (
                _control_characters(str(key), _join(path, str(key)))
                + _control_characters(value, _join(path, str(key)))
            )
        ]
    if isinstance(data, list | tuple):
        return [
            p for i, value in enumerate(data) for p in _control_characters(value, f"{path}[{i}]")
        ]
    return []


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
        unreal = _not_a_real_moment(value) if isinstance(value, str) else None
        if isinstance(value, datetime):
            moment = value
        elif unreal is not None:
            what = "date and time" if ":" in str(value) else "date"
            self.add(path, f"'{value}' is not a real {what}: {unreal}; {example}")
            return None
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
            if CHOICE_SEPARATOR in label:
                # The CSV export joins the choices of one answer with it (CONTRACT.md):
                # "A; B" chosen with "C" could not be read back as two choices.
                self.add(
                    option_path,
                    f"'{label}' holds '{CHOICE_SEPARATOR}', which the CSV export puts between "
                    "the choices of one answer; use a comma or 'and' instead",
                )
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


def validate(data: object, *, limits: Mapping[str, ChannelLimits] | None = None) -> Validation:
    """Check loaded spec data and build the :class:`ConsultationSpec` if it is valid.

    Args:
        data: the spec as loaded from YAML or JSON (a mapping of fields).
        limits: per-channel limits, keyed by channel name. Each channel the spec uses
            that has limits here is checked: item texts, poll questions, option counts
            and lengths, the consent text, segment questions and the closing message.
            A channel with no limits here gets no channel-specific checks.

    Returns:
        The spec, with defaults filled in (channels ``[web]``, language ``en``, the QI
        project named after the title, and any defaults of the chosen engagement model,
        see :mod:`consultations.models`), or no spec and every problem found.
    """
    check = _Checker()
    if data is None:
        check.add(ROOT, "the spec is empty")
        return Validation(None, tuple(check.problems))
    for problem in _control_characters(data):
        check.add(problem.path, problem.message)
    root = check.fields(data, "", _ROOT_FIELDS, _ROOT_REQUIRED)
    if root is None:
        return Validation(None, tuple(check.problems))

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

    # Listening gathers posts and asks nothing: it may have no items (`items: []`).
    listening = model is not None and model.name == "listening"
    items = (
        _items(check, root["items"], used_ids, allow_empty=listening, language=language or "en")
        if "items" in root
        else None
    )

    closing_message: str | None = model.closing_message_default if model is not None else None
    if given(root, "closing_message"):
        closing_message = check.text(root["closing_message"], "closing_message")

    telegram = _telegram(check, root["telegram"]) if given(root, "telegram") else TelegramSettings()
    mastodon = _mastodon(check, root["mastodon"]) if given(root, "mastodon") else MastodonSettings()
    safety = (
        _safety(check, root["safety"])
        if given(root, "safety")
        else SafetySettings(region_given=False)
    )
    if safety is not None and not safety.region_given and (language or "").lower().startswith("cy"):
        # A consultation in Welsh is run in Wales: its helplines are the UK's.
        safety = replace(safety, region="UK")
    retention = over_time.check_retention(root["retention"]) if given(root, "retention") else None
    if retention is not None:
        for where, message in retention[1]:
            check.add(where, message)
    texts = _texts(check, root["texts"]) if given(root, "texts") else ()
    outreach = _outreach(check, root, spec_id)

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
        or texts is None
        or outreach is None
    ):
        return Validation(None, tuple(check.problems))
    spec = ConsultationSpec(
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
        texts=texts,
        follow_up=outreach.follow_up,
        reminder=outreach.reminder,
        quiet_hours=outreach.quiet_hours,
        timezone=outreach.timezone,
    )
    if retention is not None:
        spec = replace(spec, retention=retention[0])
    return Validation(spec)


def _texts(check: _Checker, value: object) -> tuple[tuple[str, str], ...] | None:
    """The spec's own words for built-in texts: known keys, and only their placeholders."""
    if not isinstance(value, Mapping):
        check.add("texts", f"must be a list of key: text pairs, not {_describe(value)}")
        return None
    found: list[tuple[str, str]] = []
    before = len(check.problems)
    for key, raw in value.items():
        path = f"texts.{key}"
        if not isinstance(key, str) or key not in BUILTIN:
            close = difflib.get_close_matches(str(key), list(BUILTIN), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else " (docs/languages.md lists them)"
            check.add(path, f"'{key}' is not a built-in text{hint}")
            continue
        words = check.text(raw, path)
        if words is None:
            continue
        unknown = placeholders(words) - placeholders(BUILTIN[key])
        if unknown:
            allowed = sorted(placeholders(BUILTIN[key]))
            check.add(
                path,
                f"uses {', '.join('{' + name + '}' for name in sorted(unknown))}, which this "
                f"text does not fill in"
                + (f"; it may use {', '.join('{' + n + '}' for n in allowed)}" if allowed else ""),
            )
            continue
        found.append((key, words))
    return None if len(check.problems) > before else tuple(found)


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
        found = check.fields(raw, path, _SEGMENT_FIELDS, _SEGMENT_REQUIRED)
        if found is None:
            continue
        ident = _claim_id(check, found["id"], path, used) if "id" in found else None
        text = check.text(found["text"], f"{path}.text") if "text" in found else None
        options = (
            check.options(found["options"], f"{path}.options", "a segment question")
            if "options" in found
            else None
        )
        expected: tuple[tuple[str, float], ...] | None = ()
        if "expected" in found and options is not None:
            expected = _expected(check, found["expected"], f"{path}.expected", options)
        if ident is not None and text is not None and options is not None and expected is not None:
            segments.append(Segment(id=ident, text=text, options=options, expected=expected))
    return tuple(segments)


def _expected(
    check: _Checker, value: object, path: str, options: Sequence[str]
) -> tuple[tuple[str, float], ...] | None:
    """Expected shares: options of this question, each a share from 0 to 1, adding to <= 1."""
    if not isinstance(value, Mapping) or not value:
        check.add(
            path,
            f"must be a set of option: share pairs (like `{options[0]}: 0.2`), "
            f"not {_describe(value)}",
        )
        return None
    before = len(check.problems)
    by_key = {_option_key(o): o for o in options}
    shares: list[tuple[str, float]] = []
    for key, raw in value.items():
        name = str(key)
        option = by_key.get(_option_key(name))
        if option is None:
            check.add(
                _join(path, name),
                f"'{name}' is not one of this question's options ({', '.join(options)})",
            )
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
            check.add(
                _join(path, name),
                f"must be a share from 0 to 1 (0.2 for 20%), not {_describe(raw)}",
            )
            continue
        shares.append((option, float(raw)))
    total = sum(share for _, share in shares)
    if total > 1.0 + 1e-6:
        check.add(path, f"the shares add up to {total:g}; together they can be at most 1")
    if len(check.problems) > before:
        return None
    return tuple(shares)


def _items(
    check: _Checker,
    value: object,
    used: dict[str, str],
    *,
    allow_empty: bool = False,
    language: str = "en",
) -> list[tuple[int, Item]] | None:
    """The items that passed their checks, each with its position in the spec."""
    if value is None:
        check.add("items", "is empty; list at least one poll, prompt or thread")
        return None
    listed = check.sequence(value, "items", "[{id: ..., type: poll, text: ...}]")
    if listed is None:
        return None
    if not listed and not allow_empty:
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
        seed: tuple[str, ...] | None = ()
        moderation: str | None = "post"
        if kind == "statements":
            if found.get("seed") is not None:
                seed = _seed(check, found["seed"], f"{path}.seed", language)
            if found.get("moderation") is not None:
                moderation = check.choice(
                    found["moderation"], f"{path}.moderation", MODERATIONS, "moderation"
                )
        elif kind is not None:
            for name, what in (("seed", "seed statements"), ("moderation", "`moderation`")):
                if found.get(name) is not None:
                    check.add(
                        f"{path}.{name}",
                        f"only statements items have {what}, and this item is a {kind}; "
                        f"remove `{name}` or change the type to statements",
                    )
        if kind == "poll":
            if found.get("options") is None:
                check.add(f"{path}.options", "a poll needs a list of at least 2 options")
                options = None
            else:
                options = check.options(found["options"], f"{path}.options", "a poll")
            if found.get("multiple") is not None:
                multiple = check.boolean(found["multiple"], f"{path}.multiple")
        elif kind is not None:
            named = "statements item" if kind == "statements" else kind
            if found.get("options") is not None:
                check.add(
                    f"{path}.options",
                    f"only polls have options, and this item is a {named}; "
                    "remove the options or change the type to poll",
                )
            if found.get("multiple") is not None:
                check.add(
                    f"{path}.multiple",
                    f"only polls can allow several answers, and this item is a {named}; "
                    "remove `multiple` or change the type to poll",
                )
        rounds, gap, problems = over_time.check_rounds(found, path, kind)
        for where, message in problems:
            check.add(where, message)
        at = check.timestamp(found["at"], f"{path}.at") if found.get("at") is not None else None
        if (
            ident is not None
            and kind is not None
            and text is not None
            and options is not None
            and multiple is not None
            and seed is not None
            and moderation is not None
            and not problems
            and (at is not None or found.get("at") is None)
        ):
            item = Item(
                ident,
                cast(ItemType, kind),
                text,
                options,
                multiple,
                seed,
                cast(Moderation, moderation),
            )
            items.append((index, replace(item, rounds=rounds, round_gap=gap, at=at)))
    return items


def _seed(
    check: _Checker, value: object, path: str, language: str = "en"
) -> tuple[str, ...] | None:
    """Seed statements: short, non-blank and different from one another, by the rule
    that refuses a near-repeat of a statement people add (:mod:`consultations.repeats`)."""
    listed = check.sequence(value, path, '["Open on Saturday mornings", "Text me if late"]')
    if listed is None:
        return None
    before = len(check.problems)
    statements: list[str] = []
    seen: dict[str, int] = {}
    kept: list[tuple[int, str]] = []
    for index, raw in enumerate(listed):
        entry = f"{path}[{index}]"
        text = check.text(raw, entry)
        if text is None:
            continue
        if len(text) > STATEMENT_MAX:
            check.add(
                entry,
                f"{len(text)} characters; a statement can have at most {STATEMENT_MAX} "
                "(keep each to one short idea)",
            )
            continue
        key = _option_key(text)
        if key in seen:
            check.add(
                entry,
                f"repeats {path}[{seen[key]}]; each statement must be different "
                "(ignoring capitals and spaces)",
            )
            continue
        repeated = next((i for i, other in kept if is_repeat(text, other, language)), None)
        if repeated is not None:
            check.add(
                entry,
                f"says what {path}[{repeated}] says, in other words (most of their words are "
                "the same); people would be asked about one idea twice, with its votes split",
            )
            continue
        seen[key] = index
        kept.append((index, text))
        statements.append(text)
    if len(check.problems) > before:
        return None
    return tuple(statements)


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
    found = check.fields(value, "mastodon", ("visibility", "listen"))
    if found is None:
        return None
    listen: tuple[str, ...] = ()
    if found.get("listen") is not None:
        listen, problems = over_time.check_listen(found["listen"])
        for where, message in problems:
            check.add(where, message)
        if problems:
            return None
    if found.get("visibility") is None:
        return MastodonSettings(listen=listen)
    visibility = check.choice(
        found["visibility"], "mastodon.visibility", VISIBILITIES, "visibility"
    )
    if visibility is None:
        return None
    return MastodonSettings(cast(Visibility, visibility), listen=listen)


def _safety(check: _Checker, value: object) -> SafetySettings | None:
    found = check.fields(
        value, "safety", ("region", "message", "helplines", "response_hours", "keep_staff_names")
    )
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
    response_hours = 24.0
    raw_hours = found.get("response_hours")
    if raw_hours is not None:
        if isinstance(raw_hours, bool) or not isinstance(raw_hours, int | float):
            check.add("safety.response_hours", f"must be a number of hours, not {raw_hours!r}")
        elif not 0 < raw_hours <= 24:
            check.add(
                "safety.response_hours",
                f"is {raw_hours}; a disclosure must be looked at within 24 hours at most",
            )
        else:
            response_hours = float(raw_hours)
    keep_staff_names: bool | None = False
    if found.get("keep_staff_names") is not None:
        keep_staff_names = check.boolean(found["keep_staff_names"], "safety.keep_staff_names")
    if len(check.problems) > before or keep_staff_names is None:
        return None
    return SafetySettings(
        region=cast(Region, region),
        message=message,
        helplines=tuple(helplines),
        response_hours=response_hours,
        keep_staff_names=keep_staff_names,
        region_given="region" in found,
    )


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
                for seed_index, statement in enumerate(item.seed):
                    longer(f"{path}.seed[{seed_index}]", statement, limit.text_max)
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


@dataclass(frozen=True)
class _OverTime:
    follow_up: FollowUp | None
    reminder: Reminder | None
    quiet_hours: QuietHours
    timezone: str


def _outreach(check: _Checker, root: Mapping[str, object], spec_id: str | None) -> _OverTime | None:
    """``follow_up``, ``reminder``, ``quiet_hours`` and ``timezone``: None if any is wrong."""
    before = len(check.problems)
    follow_up = None
    if root.get("follow_up") is not None:
        follow_up = _follow_up(check, root["follow_up"], spec_id)
    reminder = None
    if root.get("reminder") is not None:
        found = check.fields(root["reminder"], "reminder", ("after",), ("after",))
        if found is not None and "after" in found:
            raw = found["after"]
            after = parse_duration(raw) if isinstance(raw, str) else None
            if after is None:
                check.add(
                    "reminder.after",
                    f"must be a time like 48h, 2d or 90m, not {_describe(raw)}",
                )
            else:
                reminder = Reminder(after=after)
    quiet = QuietHours()
    if root.get("quiet_hours") is not None:
        found = check.fields(root["quiet_hours"], "quiet_hours", ("start", "end"), ("start", "end"))
        if found is not None and "start" in found and "end" in found:
            times = []
            for name in ("start", "end"):
                raw = found[name]
                moment = parse_time_of_day(raw) if isinstance(raw, str) else None
                if moment is None:
                    check.add(
                        f"quiet_hours.{name}",
                        f"must be a 24-hour time like 21:00, not {_describe(raw)}",
                    )
                times.append(moment)
            if times[0] is not None and times[1] is not None:
                quiet = QuietHours(times[0], times[1])
    timezone = "UTC"
    if root.get("timezone") is not None:
        raw_zone = root["timezone"]
        if not isinstance(raw_zone, str) or zone(raw_zone.strip()) is None:
            check.add(
                "timezone",
                f"{_describe(raw_zone)} is not a time zone name; use an IANA name such as "
                "Australia/Sydney, Europe/London or UTC",
            )
        else:
            timezone = raw_zone.strip()
    if len(check.problems) > before:
        return None
    return _OverTime(follow_up, reminder, quiet, timezone)


def _follow_up(check: _Checker, value: object, spec_id: str | None) -> FollowUp | None:
    found = check.fields(value, "follow_up", ("of", "invite"), ("of",))
    if found is None or "of" not in found:
        return None
    listed = check.sequence(found["of"], "follow_up.of", "[outpatient-booking]")
    if listed is None:
        return None
    if not listed:
        check.add("follow_up.of", "lists no consultations; name the earlier ones to follow up")
        return None
    earlier: list[str] = []
    for index, raw in enumerate(listed):
        path = f"follow_up.of[{index}]"
        ident = check.identifier(raw, path)
        if ident is None:
            continue
        if ident == spec_id:
            check.add(path, f"'{ident}' is this consultation; a follow-up names earlier ones")
        elif ident in earlier:
            check.add(path, f"'{ident}' is listed twice; name each consultation once")
        else:
            earlier.append(ident)
    invite: str | None = "recontact"
    if found.get("invite") is not None:
        invite = check.choice(found["invite"], "follow_up.invite", INVITE_MODES, "invite rule")
    if invite is None or len(earlier) != len(listed):
        return None
    return FollowUp(of=tuple(earlier), invite=invite)
