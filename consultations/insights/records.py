"""What a report is built from: plain frozen records, independent of storage.

The consultation spec is accepted through small protocols naming only the fields reports
read, so any object shaped like ``consultations.spec.ConsultationSpec`` will do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from consultations.insights.text import TextAnalysis

POLL, PROMPT, THREAD, SEGMENT = "poll", "prompt", "thread", "segment"
SAFETY_FLAG = "safety"
STAGES = ("plan", "do", "study", "act")


class QILike(Protocol):
    """The QI part of a spec."""

    @property
    def project(self) -> str: ...
    @property
    def stage(self) -> object: ...  # a str or a str-valued enum
    @property
    def cycle(self) -> int: ...


class SegmentLike(Protocol):
    """A self-description question."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def options(self) -> Sequence[str]: ...


class ItemLike(Protocol):
    """A poll, prompt or thread."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> object: ...  # a str or a str-valued enum
    @property
    def text(self) -> str: ...
    @property
    def options(self) -> Sequence[str] | None: ...
    @property
    def multiple(self) -> bool: ...


class SpecLike(Protocol):
    """The fields of a consultation spec that reports use."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def organisation(self) -> str: ...
    @property
    def model(self) -> object: ...
    @property
    def qi(self) -> QILike: ...
    @property
    def channels(self) -> Sequence[object]: ...
    @property
    def segments(self) -> Sequence[SegmentLike]: ...
    @property
    def items(self) -> Sequence[ItemLike]: ...
    @property
    def closing_message(self) -> str | None: ...


def as_text(value: object) -> str:
    """A spec field that may be a str or a str-valued enum, as a plain str."""
    inner = getattr(value, "value", value)
    return str(inner)


LISTENING = "listening"
"""The item type of public posts gathered by listening (the ``listening`` model)."""
MENTION_FLAG = "mention"
"""Flag of a listened post that mentioned the service's account."""


@dataclass(frozen=True)
class ResponseRow:
    """One stored response, as the report reads it.

    ``segments`` are the participant's self-descriptions (segment id -> option);
    ``analysis`` is the stored :class:`TextAnalysis` of ``text`` (None for polls).
    """

    id: int
    item_id: str
    item_type: str
    channel: str
    participant: str
    segments: Mapping[str, str]
    choices: tuple[str, ...]
    text: str | None
    created_at: datetime
    flags: tuple[str, ...] = ()
    analysis: TextAnalysis | None = None
    # The Delphi round of a poll answer asked in rounds, else None.
    round: int | None = None

    @property
    def safety_flagged(self) -> bool:
        """Safety-flagged replies are counted but never quoted."""
        return SAFETY_FLAG in self.flags

    @property
    def quotable(self) -> bool:
        """Whether its words may appear in a report.

        Never a safety-flagged reply; a public post gathered by listening only when it
        addressed the service's account (flag ``mention``): the others were not written
        to us, so they are counted and themed but not quoted.
        """
        if self.safety_flagged:
            return False
        return self.item_type != LISTENING or MENTION_FLAG in self.flags


@dataclass(frozen=True)
class PollTotal:
    """Tallies for a poll from a channel that gives no per-person answers (Mastodon).

    ``voters`` is the number of people who voted where the platform reports it (it
    differs from the sum of counts when several options may be chosen).
    """

    item_id: str
    channel: str
    counts: Mapping[str, int]
    taken_at: datetime
    voters: int | None = None


@dataclass(frozen=True)
class FunnelCounts:
    """People who consented, answered at least one item, and answered every item."""

    consented: int
    answered: int
    finished: int


@dataclass(frozen=True)
class ChangeMarker:
    """A change made to the service, marked on run charts (e.g. "new reminder text")."""

    date: date
    label: str


@dataclass(frozen=True)
class CycleResult:
    """What another cycle of the same QI project found, for comparisons in Study and Act.

    Build one from that cycle's rows with :func:`consultations.insights.summarise_cycle`,
    or store and pass the numbers. Polls are matched across cycles by item id and option
    label. A cycle can also be given as several consecutive periods (one result each,
    same ``cycle``): they are summed for comparisons and kept apart on run charts.

    Attributes:
        cycle: the PDSA cycle number.
        consultation: that cycle's consultation id.
        start, end: the period its responses cover.
        polls: item id -> option label -> count (every channel merged).
        poll_n: item id -> number of people who answered.
        categories: default-codebook category -> number of free-text replies.
        text_n: number of free-text replies.
        negative: number of free-text replies read as negative.
    """

    cycle: int
    consultation: str
    start: date
    end: date
    polls: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    poll_n: Mapping[str, int] = field(default_factory=dict)
    categories: Mapping[str, int] = field(default_factory=dict)
    text_n: int = 0
    negative: int = 0


@dataclass(frozen=True)
class StatementRecord:
    """One statement of statement voting, as the report reads it.

    ``ref`` is its record id (``statement:N``, what votes name); ``seed`` says the spec
    gave it rather than a participant; ``status`` is ``shown``, ``pending``, ``rejected``
    or ``withheld`` (flagged by the safety screen). Only shown statements have their
    ``text`` read into a report; the others are counted.
    """

    ref: str
    item_id: str
    text: str
    seed: bool
    status: str
