"""Checks for the spec fields of engagement over time: Delphi rounds, timed items, listening.

Kept apart from :mod:`consultations.spec.validation` so each field's rule reads in one
place. Each check takes the raw value and returns the value read and the problems
found, as ``(path, message)`` pairs that the validator records with their field path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from consultations.spec.model import DEFAULT_RETENTION, parse_duration

__all__ = [
    "MAX_ROUNDS",
    "Found",
    "check_listen",
    "check_retention",
    "check_rounds",
]

MAX_ROUNDS = 3
"""Delphi studies rarely gain from more than three rounds; people tire of repeats."""

Found = list[tuple[str, str]]
"""Problems as ``(path, message)``."""

_HASHTAG = re.compile(r"^#[^\W\d_][\w]{0,99}\Z")
_DURATION_EXAMPLE = "write it like 48h, 2d, 30m or 1w"


def _duration(value: object, path: str, problems: Found) -> timedelta | None:
    if isinstance(value, str):
        parsed = parse_duration(value)
        if parsed is not None and parsed > timedelta(0):
            return parsed
    problems.append((path, f"must be a length of time; {_DURATION_EXAMPLE}, not {value!r}"))
    return None


def check_rounds(
    found: Mapping[str, object], path: str, kind: str | None
) -> tuple[int, timedelta | None, Found]:
    """``rounds`` (1 to 3) and ``round_gap`` of an item: only polls have rounds."""
    problems: Found = []
    rounds = 1
    gap: timedelta | None = None
    raw = found.get("rounds")
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_ROUNDS:
            problems.append(
                (f"{path}.rounds", f"must be a whole number from 1 to {MAX_ROUNDS}, not {raw!r}")
            )
        else:
            rounds = raw
    if found.get("round_gap") is not None:
        gap = _duration(found["round_gap"], f"{path}.round_gap", problems)
    if kind is not None and kind != "poll" and (raw is not None or gap is not None):
        problems.append(
            (
                f"{path}.rounds",
                f"only polls can be asked in rounds, and this item is a {kind}; "
                "remove `rounds` and `round_gap` or change the type to poll",
            )
        )
    if rounds > 1 and gap is None and not problems:
        problems.append(
            (
                f"{path}.round_gap",
                "a poll asked in rounds needs the time between rounds, e.g. `round_gap: 48h`",
            )
        )
    if rounds == 1 and gap is not None and not problems:
        problems.append(
            (f"{path}.round_gap", "is set but the poll has one round; add `rounds: 2` or 3")
        )
    return rounds, gap, problems


def check_listen(value: object) -> tuple[tuple[str, ...], Found]:
    """``mastodon.listen``: hashtags such as ``#CityHospital``, each once."""
    path = "mastodon.listen"
    if not isinstance(value, list | tuple):
        return (), [(path, "must be a list of hashtags, like ['#CityHospital']")]
    tags: list[str] = []
    problems: Found = []
    for index, raw in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(raw, str) or not _HASHTAG.match(raw.strip()):
            problems.append(
                (where, f"must be a hashtag starting with # (like #CityHospital), not {raw!r}")
            )
            continue
        tag = raw.strip()
        if tag.casefold() in {t.casefold() for t in tags}:
            problems.append((where, f"{tag} is listed twice; name each hashtag once"))
            continue
        tags.append(tag)
    return tuple(tags), problems


def check_retention(value: object) -> tuple[timedelta, Found]:
    """``retention``: how long listening responses are kept (default 90 days)."""
    problems: Found = []
    found = _duration(value, "retention", problems)
    return (found if found is not None else DEFAULT_RETENTION), problems
