"""Scoring redaction against the labelled texts in tests/data/redaction.

Recall: the share of expected substrings whose every occurrence is wholly inside
redacted spans. Precision: the share of redacted spans that overlap an expected
substring; on texts without details every span is a false positive.

A row may say what consultation it was written for: ``language`` and ``region`` give the
phone formats read (:func:`consultations.safety.redaction.phone_regions`), as the screen
reads that consultation's replies; a row without them is read with the default regions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from consultations.safety.redaction import (
    DEFAULT_REGIONS,
    Detail,
    decode,
    find_details,
    phone_regions,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "redaction"
SPLITS = ("tune", "heldout")


@dataclass(frozen=True)
class Expected:
    """A substring that must disappear, with its kind."""

    kind: str
    text: str


@dataclass(frozen=True)
class Case:
    """One labelled text."""

    text: str
    expected: tuple[Expected, ...]
    language: str | None = None
    region: str | None = None

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions whose phone numbers are read in this text."""
        if self.language is None and self.region is None:
            return DEFAULT_REGIONS
        return phone_regions(self.region, self.language)


@dataclass
class Score:
    """Counts over a set of cases, overall and per kind."""

    found: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    correct_spans: Counter[str] = field(default_factory=Counter)
    spans: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, Expected]] = field(default_factory=list)
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float:
        """Share of expected substrings removed (1.0 when none were expected)."""
        want = self.expected[kind] if kind else sum(self.expected.values())
        got = self.found[kind] if kind else sum(self.found.values())
        return got / want if want else 1.0

    def precision(self, kind: str | None = None) -> float:
        """Share of redacted spans that were personal details (1.0 when none)."""
        spans = self.spans[kind] if kind else sum(self.spans.values())
        right = self.correct_spans[kind] if kind else sum(self.correct_spans.values())
        return right / spans if spans else 1.0


def load(split: str) -> list[Case]:
    """The cases of one split."""
    cases = []
    with (DATA / f"{split}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            expected = tuple(Expected(e["kind"], e["text"]) for e in row["expected"])
            cases.append(Case(row["text"], expected, row.get("language"), row.get("region")))
    return cases


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    spans = []
    start = text.find(needle)
    while start >= 0:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return spans


def _covered(details: list[Detail], start: int, end: int) -> bool:
    covered = [False] * (end - start)
    for d in details:
        for i in range(max(start, d.start), min(end, d.end)):
            covered[i - start] = True
    return all(covered)


def score(cases: list[Case], *, keep_staff_names: bool = False) -> Score:
    """Score ``find_details`` over ``cases``."""
    result = Score()
    for case in cases:
        text = decode(case.text)
        details = find_details(text, keep_staff_names=keep_staff_names, regions=case.regions)
        targets: list[tuple[int, int]] = []
        for item in case.expected:
            occurrences = _occurrences(text, item.text)
            targets.extend(occurrences)
            result.expected[item.kind] += 1
            if occurrences and all(_covered(details, s, e) for s, e in occurrences):
                result.found[item.kind] += 1
            else:
                result.misses.append((text, item))
        for d in details:
            result.spans[d.kind] += 1
            if any(d.start < e and s < d.end for s, e in targets):
                result.correct_spans[d.kind] += 1
            else:
                result.false_positives.append((text, d.kind, text[d.start : d.end]))
    return result
