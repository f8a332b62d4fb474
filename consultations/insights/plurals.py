"""Counts in words for reports: "1 reply was flagged", "2 replies were flagged"."""

from __future__ import annotations

#: Nouns whose plural is not the singular with an "s".
IRREGULAR = {"reply": "replies", "person": "people", "category": "categories"}


def noun(count: int, singular: str) -> str:
    """``singular`` or its plural, to follow ``count``."""
    if count == 1:
        return singular
    return IRREGULAR.get(singular, singular + "s")


def plural(count: int, singular: str) -> str:
    """``count`` and the noun that goes with it: ``1 reply``, ``2 replies``."""
    return f"{count} {noun(count, singular)}"


def were(count: int) -> str:
    """``was`` or ``were``, to follow ``count``."""
    return "was" if count == 1 else "were"


def are(count: int) -> str:
    """``is`` or ``are``, to follow ``count``."""
    return "is" if count == 1 else "are"


def verb(count: int, singular: str, many: str) -> str:
    """A verb in the form that follows ``count`` ("asks" after 1, "ask" after 2)."""
    return singular if count == 1 else many
