"""The dialogue with one person, as pure functions: no store, no channel.

A person moves through consent -> permission to re-contact (if asked) -> segment
questions -> items in order. What to ask next follows from what they have answered, so
the runtime keeps no cursor of its own; these functions say what that next question is,
how its words read, and how a reply maps onto its options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from consultations.spec import ConsultationSpec, Item

# Reserved question ids: they cannot clash with spec ids, which allow no "@".
CONSENT = "@consent"
RECONTACT = "@recontact"
CHOOSE = "@choose"
ERASE = "@erase"

STOP_WORDS = frozenset({"stop", "/stop", "stop all", "unsubscribe", "opt out", "quit", "leave"})
HELP_WORDS = frozenset({"help", "/help", "?"})
YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "ok", "okay", "agree", "i agree", "sure"})
NO_WORDS = frozenset({"no", "n", "nope", "no thanks", "disagree", "i do not agree"})
CONSENT_OPTIONS = ("Yes, I agree", "No thanks")
RECONTACT_OPTIONS = ("Yes, you may contact me", "No, please don't")
ERASE_OPTIONS = ("Yes, erase my answers", "No, keep them")


@dataclass(frozen=True)
class Question:
    """Something to ask: its words, what it names, and the options to pick from."""

    text: str
    question: str
    question_type: str  # consent | confirm | segment | poll | prompt | thread | choose
    options: tuple[str, ...] = ()
    multiple: bool = False
    consultation_id: str | None = None


def normalise(text: str) -> str:
    return re.sub(r"[\s.!]+$", "", text.strip().lower())


HELP_TEXT = (
    "This is a consultation run by a health service to improve its care. "
    "Answer the questions in your own words or with the buttons. "
    "Send STOP at any time to leave; send /delete to have your answers erased. "
    "We can't give medical advice here: for that, please contact your health service, "
    "or emergency services if it is urgent."
)


def consent_question(spec: ConsultationSpec) -> Question:
    return Question(
        text=(
            f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n"
            "Do you agree to take part?"
        ),
        consultation_id=spec.id,
        question=CONSENT,
        question_type="consent",
        options=CONSENT_OPTIONS,
    )


def recontact_question(spec: ConsultationSpec) -> Question:
    return Question(
        text=(
            "May we contact you again about this work, for example to tell you what "
            "changed or to invite you to help design it?"
        ),
        consultation_id=spec.id,
        question=RECONTACT,
        question_type="consent",
        options=RECONTACT_OPTIONS,
    )


def segment_question(segment_id: str, text: str, options: Sequence[str]) -> Question:
    return Question(
        text=text,
        question=segment_id,
        question_type="segment",
        options=tuple(options),
    )


def item_question(item: Item) -> Question:
    return Question(
        text=item.text,
        question=item.id,
        question_type=item.type,
        options=item.options,
        multiple=item.multiple,
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
    purposes = set(consent_purposes)
    question: Question | None = None
    if ask_recontact and spec.consent.recontact and "recontact" not in purposes:
        question = recontact_question(spec)
    else:
        for segment in spec.segments:
            if segment.id not in answered:
                question = segment_question(segment.id, segment.text, segment.options)
                break
        else:
            for item in spec.items:
                if item.id not in answered and (ask_threads or item.type != "thread"):
                    question = item_question(item)
                    break
    if question is None:
        return None
    return replace(question, consultation_id=spec.id)


def yes_no(raw: str, options: Sequence[str]) -> bool | None:
    word = normalise(raw)
    if raw == options[0] or word in YES_WORDS or word == "1":
        return True
    if raw == options[1] or word in NO_WORDS or word == "2":
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
    if state == "open" and spec.opens_at is not None and now < spec.opens_at:
        return f"“{spec.title}” opens on {spec.opens_at:%d %B %Y}. Please come back then."
    return (
        f"“{spec.title}” is closed and no longer taking answers. "
        "Thank you for your interest; we will share what we learned."
    )
