"""Screening of free text on arrival: personal details redacted, crisis disclosures caught.

The screen (:mod:`consultations.safety`) is tuned for recall: a false alarm costs a kind
message and a moderator's glance; a miss costs far more. The platform gives no clinical
advice: the reply to a disclosure points to people who can help, now.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from consultations.safety import redaction
from consultations.safety.screen import CLEAR, Assessment

# The screen's verdict alone, for a text that is not stored (no redaction needed).
from consultations.safety.screen import assess as assess
from consultations.spec import ConsultationSpec, Helpline, SafetySettings
from consultations.texts import ENGLISH, Texts, available_languages, texts_for

REDACTED = "redacted"
SAFETY = "safety"
REVIEW = "review"  # the screen could not read it (another language or script): a person looks
#: How a disclosure was flagged (:attr:`Screened.flagged_by`): a phrase of the screen's
#: lexicon matched (strong evidence), or only its statistical model scored the text high
#: enough (the commonest false alarm). Only the kind is kept, never the matched phrase: it
#: is cut from the text before redaction and may carry a personal detail.
BY_PHRASE = "phrase"
BY_MODEL = "model"


@dataclass(frozen=True)
class _Worded:
    """Words of the built-in text ``key`` with ``values`` filled in."""

    key: str
    values: tuple[tuple[str, str], ...] = ()

    def __call__(self, texts: Texts) -> str:
        return texts(self.key, **dict(self.values))


def _worded(key: str, **values: str) -> _Worded:
    return _Worded(key, tuple(values.items()))


# What each service is for, and how to reach it, are built-in texts, so they are said in
# the consultation's language; a service's own name, its numbers and the word to text it
# are values filled into them, never translated. A plain string is a name or a number.
_REGIONAL_HELPLINES: dict[str, tuple[tuple[str | _Worded, str | _Worded], ...]] = {
    "AU": (
        (_worded("helpline_emergency_services"), "000"),
        (
            _worded("helpline_all_hours", service="Lifeline"),
            _worded("helpline_call_or_text_number", number="13 11 14", text_number="0477 13 11 14"),
        ),
        ("Suicide Call Back Service", "1300 659 467"),
        (_worded("helpline_first_nations", service="13YARN"), "13 92 76"),
        (
            _worded("helpline_young_people", service="Kids Helpline", youngest="5", oldest="25"),
            "1800 55 1800",
        ),
    ),
    "UK": (
        (_worded("helpline_emergency"), "999"),
        (_worded("helpline_all_hours", service="Samaritans"), "116 123"),
        (_worded("helpline_mental_health_option", service="NHS 111", option="2"), "111"),
        (
            _worded("helpline_crisis_text", service="Shout"),
            _worded("helpline_text_keyword", keyword="SHOUT", number="85258"),
        ),
    ),
    "US": (
        (_worded("helpline_emergency"), "911"),
        ("988 Suicide and Crisis Lifeline", _worded("helpline_call_or_text", number="988")),
        ("Crisis Text Line", _worded("helpline_text_keyword", keyword="HOME", number="741741")),
    ),
}


def default_helplines(region: str, texts: Texts = ENGLISH) -> tuple[Helpline, ...]:
    """The built-in helplines of ``region`` (Australia's for a region without its own),
    described in the language of ``texts``."""
    listed = _REGIONAL_HELPLINES.get(region, _REGIONAL_HELPLINES["AU"])
    return tuple(
        Helpline(
            name if isinstance(name, str) else name(texts),
            contact if isinstance(contact, str) else contact(texts),
        )
        for name, contact in listed
    )


def _helplines(settings: SafetySettings, texts: Texts) -> tuple[Helpline, ...]:
    """The consultation's own helplines, else its region's in its language."""
    return settings.helplines or default_helplines(settings.region, texts)


@dataclass(frozen=True)
class Screened:
    """Free text after screening: what may be stored, and what was found."""

    text: str
    flags: tuple[str, ...]
    verdict: Assessment = CLEAR
    """The screen's verdict on the text (what a disclosure's case and reply are made of)."""

    @property
    def categories(self) -> tuple[str, ...]:
        return self.verdict.categories

    @property
    def urgent(self) -> bool:
        return self.verdict.urgent

    @property
    def by_model(self) -> bool:
        """A disclosure only the screen's model flagged (no listed phrase matched)."""
        return self.verdict.by_model

    @property
    def tentative(self) -> bool:
        """Flagged by the model alone with a score just over its threshold: where most of
        its false alarms are (:attr:`consultations.safety.screen.Assessment.tentative`)."""
        return self.verdict.tentative

    @property
    def crisis(self) -> bool:
        return SAFETY in self.flags

    @property
    def flagged_by(self) -> str | None:
        """How a disclosure was flagged: :data:`BY_PHRASE` or :data:`BY_MODEL`; None for
        a text that is not one (a text for review is not flagged by either)."""
        if not self.crisis:
            return None
        return BY_MODEL if self.by_model else BY_PHRASE

    @property
    def needs_review(self) -> bool:
        return REVIEW in self.flags


@dataclass(frozen=True)
class Hints:
    """What a consultation tells the screen about the replies it gets.

    ``regions``: where the numbers people give are written as phone numbers are there,
    its own region's and its language's first (:func:`redaction.phone_regions`).
    ``placeholders``: what each kind of personal detail becomes in a stored reply, in
    the consultation's language (its ``redacted_*`` texts: "[teléfono]", "[enw]").
    ``keep_staff_names``: the spec's ``safety.keep_staff_names``, staff given names kept.
    """

    regions: tuple[str, ...] = redaction.phone_regions()
    placeholders: tuple[tuple[str, str], ...] = tuple(redaction.PLACEHOLDERS.items())
    keep_staff_names: bool = False

    def __hash__(self) -> int:
        # The key of every text screened ahead (with the text): hashed once, not on each
        # look-up. The dataclass's own hash would be the same value.
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.regions, self.placeholders, self.keep_staff_names))

    def __reduce__(self) -> tuple[type[Hints], tuple[Any, ...]]:
        # Sent to another process as its fields alone: a hash kept here (of strings, salted
        # per process) would be wrong there.
        return (Hints, (self.regions, self.placeholders, self.keep_staff_names))

    @cached_property
    def placeholder_words(self) -> dict[str, str]:
        """``placeholders`` by kind, built once per hints rather than once per reply."""
        return dict(self.placeholders)


#: The hints of no consultation in particular (as of one in English in Australia): AU,
#: UK and US phone numbers.
NO_HINTS = Hints()


def hints_for(spec: ConsultationSpec) -> Hints:
    """The screen's hints for the replies to ``spec``: its region and its language."""
    return _hints(spec.safety.region, spec.language, spec.texts, spec.safety.keep_staff_names)


@cache
def _hints(
    region: str,
    language: str,
    overrides: tuple[tuple[str, str], ...],
    keep_staff_names: bool = False,
) -> Hints:
    texts = texts_for(language, dict(overrides))
    return Hints(
        redaction.phone_regions(region, language),
        tuple((kind, texts(f"redacted_{kind}")) for kind in redaction.PLACEHOLDERS),
        keep_staff_names,
    )


@cache
def placeholder_words() -> frozenset[str]:
    """The words of every placeholder in every shipped language ("[phone]", "[teléfono]",
    "[rhif ffôn]"): what was there in a stored reply, not words of the reply."""
    return frozenset(
        texts_for(language)(f"redacted_{kind}")
        for language in available_languages()
        for kind in redaction.PLACEHOLDERS
    )


def given_names() -> frozenset[str]:
    """Given names, in lower case, that are names wherever they stand ("linda", not
    "will"): a staff name a consultation keeps is still no word to name a theme by."""
    return redaction.given_names()


def redact(text: str, *, hints: Hints = NO_HINTS) -> tuple[str, bool]:
    """Replace personal details with placeholders (as the consultation ``hints`` say:
    regions, words, staff names); says whether anything changed."""
    result = redaction.redact(
        text,
        keep_staff_names=hints.keep_staff_names,
        regions=hints.regions,
        placeholders=hints.placeholder_words,
    )
    return result.text, result.changed


def is_crisis(text: str) -> bool:
    """Whether the text reads as a crisis or safeguarding disclosure (docs/safety.md)."""
    return assess(text).flagged


#: Characters dropped from a text at intake: C0 and C1 controls but tab, line feed and
#: carriage return, and DEL.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def drop_controls(text: str) -> str:
    """``text`` without control characters (tabs and line breaks are kept): the rule for
    every text people send, whatever it is for (:func:`screen` applies it to replies)."""
    return _CONTROLS.sub("", text)


def screen(text: str, hints: Hints = NO_HINTS) -> Screened:
    """Redact and check a reply before it is stored (one to the consultation ``hints``
    are of: :func:`hints_for`)."""
    # Text copied from web forms and survey exports carries entities (&nbsp;, &amp;), and
    # now and then control characters: a NUL, which PostgreSQL refuses to store (a text
    # with one would fail its event every time), or an escape sequence, which would act on
    # the terminal of whoever lists it (`engage moderation list`). None means anything in
    # a reply; tabs and line breaks are kept.
    stripped = drop_controls(html.unescape(text)).replace("\xa0", " ").strip()
    flags: list[str] = []
    found = assess(stripped)
    if found.flagged:
        flags.append(SAFETY)
    elif found.needs_review:
        flags.append(REVIEW)
    redacted, changed = redact(stripped, hints=hints)
    if changed:
        flags.append(REDACTED)
    return Screened(redacted, tuple(flags), found)


def screen_many(texts: Sequence[str], hints: Hints = NO_HINTS) -> list[Screened]:
    """:func:`screen` for each text: the work an import hands to its second process,
    which needs this module (and the safety models) only."""
    return [screen(text, hints) for text in texts]


def general_note(settings: SafetySettings, texts: Texts = ENGLISH) -> str:
    """A short note for a public place: where to get help, addressed to no one in particular."""
    helplines = _helplines(settings, texts)
    lines = [texts("safety_public")]
    lines += [f"- {line.name}: {line.contact}" for line in helplines[:3]]
    return "\n".join(lines)


#: The screen's category for a disclosure about someone else ("my son says he wants to
#: die"): the person writing is worried, not (as far as the text says) at risk.
ABOUT_SOMEONE_ELSE = "third-party"
#: Categories where the danger may be to others than the writer: harm to others, and a
#: person or a child in danger from someone else (the writer, or someone they speak of).
DANGER_TO_OTHERS = frozenset({"harm-to-others", "safeguarding"})


def safety_message(
    settings: SafetySettings,
    organisation: str,
    texts: Texts = ENGLISH,
    categories: Sequence[str] = (),
    *,
    check_in: bool = False,
) -> str:
    """The reply to a crisis disclosure: care, where to get help now, and what happens next.

    With ``check_in`` (a disclosure only the screen's model found, and only just:
    :attr:`Screened.tentative`, where most of its false alarms are) the words do not
    presume: they say help is there if the answer is about a hard time, and that the
    person may carry on answering. The danger line, the helplines and the word that
    someone will read the message are the same.

    Helpline names and numbers stay as the services give them; the words around them,
    and what each built-in helpline is for, are in the consultation's language
    (``texts``). A disclosure only about someone else (``categories`` all
    :data:`ABOUT_SOMEONE_ELSE`) is answered as a worried parent,
    partner or friend needs: "if they are in danger now", not "if you are"; one where the
    danger may be to others (:data:`DANGER_TO_OTHERS`) says "if you or someone else is".
    """
    helplines = _helplines(settings, texts)
    other = bool(categories) and all(c == ABOUT_SOMEONE_ELSE for c in categories)
    danger = (
        "safety_danger_other"
        if other
        else "safety_danger_anyone"
        if DANGER_TO_OTHERS.intersection(categories)
        else "safety_danger"
    )
    if check_in:
        care = "safety_check_in_other" if other else "safety_check_in"
    else:
        care = "safety_care_other" if other else "safety_care"
    lines = [settings.message or texts(care), "", texts(danger)]
    lines += [f"- {line.name}: {line.contact}" for line in helplines]
    after = "safety_check_in_next" if check_in else "safety_next"
    lines += ["", texts(after, organisation=organisation)]
    return "\n".join(lines)
