"""The dialogue with one person, as pure functions: no store, no channel.

A person moves through consent -> permission to re-contact (if asked) -> segment
questions -> items in order. What to ask next follows from what they have answered, so
the runtime keeps no cursor of its own; these functions say what that next question is,
how its words read, and how a reply maps onto its options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from consultations.spec import ConsultationSpec, Item
from consultations.texts import ENGLISH, Texts

# Reserved question ids: they cannot clash with spec ids, which allow no "@".
CONSENT = "@consent"
RECONTACT = "@recontact"
CHOOSE = "@choose"
ERASE = "@erase"
#: A dialogue held after a disclosure that a moderator judged a false alarm: the person's
#: next message carries on with the next question (it is not stored as an answer).
RESUME = "@resume"

# The English words; each consultation's own are in its language (consultations/texts).
STOP_WORDS = ENGLISH.words("stop_words")
HELP_WORDS = ENGLISH.words("help_words")
YES_WORDS = ENGLISH.words("yes_words")
NO_WORDS = ENGLISH.words("no_words")
CONSENT_OPTIONS = (ENGLISH("consent_yes"), ENGLISH("consent_no"))
RECONTACT_OPTIONS = (ENGLISH("recontact_yes"), ENGLISH("recontact_no"))
ERASE_OPTIONS = (ENGLISH("erase_yes"), ENGLISH("erase_no"))


def options(texts: Texts, yes: str, no: str) -> tuple[str, str]:
    """A yes/no question's two answers in the consultation's words."""
    return texts(yes), texts(no)


@dataclass(frozen=True)
class Question:
    """Something to ask: its words, what it names, and the options to pick from."""

    text: str
    question: str
    question_type: str  # consent | confirm | segment | poll | prompt | thread | choose
    options: tuple[str, ...] = ()
    multiple: bool = False
    consultation_id: str | None = None


# What may follow a keyword: punctuation, spaces, emoji ("STOP!!", "stop 🙏", "help?").
_TRAILING = re.compile(r"[^\w/]+$")
# Marks before the first word: Spanish opening marks ("¡Basta!", "¿Parar?"), quotes,
# emoji. A command's "/" stays, and so does a "?" that is all there is (a help word).
_LEADING = re.compile(r"^[^\w/?]+")
# A command addressed to a bot by name, as Telegram groups have it: "/stop@engage_bot".
_ADDRESSED = re.compile(r"^(/\w+)@\w+")


def normalise(text: str) -> str:
    """A short reply as it is compared with the keyword lists (``stop_words``...): lower
    case, spaces collapsed, nothing before the first word or after the last, no bot's
    name after a command; "?" alone is kept (a help word)."""
    words = _ADDRESSED.sub(r"\1", " ".join(text.lower().split()))
    words = _LEADING.sub("", words) or words
    return _TRAILING.sub("", words) or words


def says_stop(text: str, texts: Texts) -> bool:
    """Whether a whole message is STOP in the consultation's words (or English)."""
    return is_stop(text, texts.words("stop_words"))


def is_stop(text: str, stop_words: frozenset[str]) -> bool:
    """Whether a whole message is one of ``stop_words`` (``texts.words("stop_words")``,
    read once for many messages)."""
    # Every stop word is short: a long answer is never compared word by word.
    return len(text) <= _LONGEST_STOP and normalise(text) in stop_words


#: Longer than any stop word with the punctuation and emoji allowed after it.
_LONGEST_STOP = 80

HELP_TEXT = ENGLISH("help_reply")


def consent_question(spec: ConsultationSpec) -> Question:
    texts = spec.wording()
    return Question(
        text=(
            f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n{texts('consent_ask')}"
        ),
        consultation_id=spec.id,
        question=CONSENT,
        question_type="consent",
        options=options(texts, "consent_yes", "consent_no"),
    )


def recontact_question(spec: ConsultationSpec) -> Question:
    texts = spec.wording()
    return Question(
        text=texts("recontact_ask"),
        consultation_id=spec.id,
        question=RECONTACT,
        question_type="consent",
        options=options(texts, "recontact_yes", "recontact_no"),
    )


def segment_question(
    segment_id: str,
    text: str,
    options: Sequence[str],
    consultation_id: str | None = None,
) -> Question:
    return Question(
        text=text,
        question=segment_id,
        question_type="segment",
        options=tuple(options),
        consultation_id=consultation_id,
    )


def item_question(item: Item, consultation_id: str | None = None) -> Question:
    return Question(
        text=item.text,
        question=item.id,
        question_type=item.type,
        options=item.options,
        multiple=item.multiple,
        consultation_id=consultation_id,
    )


def next_question(
    spec: ConsultationSpec,
    consent_purposes: Iterable[str],
    answered: set[str],
    *,
    ask_recontact: bool = True,
    ask_threads: bool = True,
) -> Question | None:
    """The first question not yet answered, in the order people meet them.

    Permission to re-contact is asked only where the channel lets us reach people again
    (not on the anonymous web page).
    """
    # Each question is made with its consultation's id (asked after every answer: no
    # copy of it made to add the id).
    if ask_recontact and spec.consent.recontact and "recontact" not in set(consent_purposes):
        return recontact_question(spec)
    for segment in spec.segments:
        if segment.id not in answered:
            return segment_question(segment.id, segment.text, segment.options, spec.id)
    for item in spec.items:
        if item.id not in answered and (ask_threads or item.type != "thread"):
            return item_question(item, spec.id)
    return None


def yes_no(raw: str, options: Sequence[str], texts: Texts = ENGLISH) -> bool | None:
    """Yes, no, or not understood: the button's words (in the language or English), a
    number, or a yes or no word of the consultation's language or of English."""
    # "ok?" asks something: consent is given in so many words, not as a question.
    word = "" if raw.rstrip().endswith("?") else normalise(raw)
    if raw == options[0] or word in texts.words("yes_words") or word == "1":
        return True
    if raw == options[1] or word in texts.words("no_words") or word == "2":
        return False
    if raw in (CONSENT_OPTIONS[0], RECONTACT_OPTIONS[0]):
        return True
    if raw in (CONSENT_OPTIONS[1], RECONTACT_OPTIONS[1]):
        return False
    return None


def choices(
    options: Sequence[str],
    *,
    multiple: bool,
    indexes: Sequence[int] = (),
    labels: Sequence[str] = (),
    text: str | None = None,
) -> tuple[str, ...]:
    """The options chosen, from positions, labels, or (in text channels) numbers or labels typed.

    Empty when the reply does not pick exactly what the question allows.
    """
    chosen: list[str] = []
    if indexes:
        if not all(0 <= index < len(options) for index in indexes):
            return ()
        raw_values = [options[index] for index in indexes]
    elif labels:
        raw_values = list(labels)
    elif text:
        raw_values = [part for part in re.split(r"[,;]|\band\b", text) if part.strip()]
        if not multiple:
            raw_values = [text]
    else:
        return ()
    lowered = {option.strip().lower(): option for option in options}
    for raw in raw_values:
        value = raw.strip()
        if value in options:
            label = value
        elif value.isdigit() and 1 <= int(value) <= len(options):
            label = options[int(value) - 1]
        elif value.lower() in lowered:
            label = lowered[value.lower()]
        else:
            return ()
        if label not in chosen:
            chosen.append(label)
    if not chosen or (not multiple and len(chosen) > 1):
        return ()
    return tuple(chosen)


def not_accepting_text(state: str, spec: ConsultationSpec, now: datetime) -> str:
    """Why a consultation is not taking answers, in words for the person."""
    texts = spec.wording()
    # A draft with an opening time is launched then (bot/schedule.py): it opens, too.
    if state in ("open", "draft") and spec.opens_at is not None and now < spec.opens_at:
        return texts("opens_on", title=spec.title, date=texts.date(spec.local(spec.opens_at)))
    return texts("closed_reply", title=spec.title)
