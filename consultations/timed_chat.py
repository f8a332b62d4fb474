"""Timed chats, as pure functions: questions Q1..Qn posted at their times, answers A1..An.

A timed chat is a facilitated hour in a group or a public thread: each item with an
``at:`` time is posted then, numbered in spec order among the timed items. People
answer by replying to a question's post or by opening their message with its answer tag
("A2", "a2:", "A2 -"), which ties a message written anywhere in the group or thread to
question 2.
"""

from __future__ import annotations

import re
from datetime import datetime

from consultations.spec import ConsultationSpec, Item

__all__ = ["answer_tag", "due_questions", "number_of", "question_text"]

_TAG = re.compile(r"^\s*[Aa](\d{1,2})\b\s*[:.)\-–]?\s*(.*)\Z", re.S)


def number_of(spec: ConsultationSpec, item_id: str) -> int | None:
    """The item's question number (1-based among timed items), or ``None``."""
    for number, item in enumerate(spec.timed_items, start=1):
        if item.id == item_id:
            return number
    return None


def question_text(spec: ConsultationSpec, item: Item) -> str:
    """The words of a timed question's post: its number, its text, and how to answer."""
    number = number_of(spec, item.id)
    if number is None:
        raise ValueError(f"{item.id} is not a timed item")
    return spec.wording()("timed_question", number=number, question=item.text)


def answer_tag(spec: ConsultationSpec, text: str) -> tuple[Item, str] | None:
    """The timed item an "A<n>" message answers, and the words after the tag (whether
    that question is out yet is the runtime's to say: it knows where it was posted)."""
    match = _TAG.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    timed = spec.timed_items
    if not 1 <= number <= len(timed):
        return None
    return timed[number - 1], match.group(2).strip()


def due_questions(spec: ConsultationSpec, now: datetime) -> list[Item]:
    """Timed items whose time has come, in order."""
    return [item for item in spec.timed_items if item.at is not None and item.at <= now]
