"""The statement-voting tally: every statement people were shown, with its votes.

Opinion groups need enough voters who each voted on enough statements
(:mod:`consultations.insights.opinion`); the tally needs neither, so a QI lead sees what
people added and how it was received however few took part. Each statement's agree,
disagree and pass counts are totals for the whole item, like a poll's totals, so they
are shown whatever their size (small-number suppression is for breakdowns by segment,
and the tally has none). Who added a statement is never shown: the spec has no setting
that allows it, so a statement says only whether it came from the spec or from a
participant. Statements nobody was shown (pending, rejected, or withheld by the safety
screen) are counted, never quoted, and their votes are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consultations.insights.records import StatementRecord

SHOWN = "shown"
#: The status of a statement the safety screen flagged: never shown, counted.
WITHHELD = "withheld"
NOT_SHOWN = ("withheld", "pending", "rejected")
_WORDS = {1: "agree", -1: "disagree", 0: "pass"}


def _share(count: int, n: int) -> float | None:
    return round(count / n, 4) if n else None


def summarise(
    statements: Sequence[StatementRecord], votes: Sequence[tuple[str, str, int]]
) -> dict[str, Any]:
    """``statement_votes``: one entry per shown statement, most agreed with first.

    Args:
        statements: every statement of the consultation, whatever its status.
        votes: ``(participant, statement ref, +1|0|-1)``; a later vote by the same
            person on the same statement replaces an earlier one.

    Returns:
        ``statements`` (each with ``statement``, ``item``, ``text``, ``added_by``
        (``spec`` or ``participant``), ``votes``, ``agree``, ``disagree``, ``pass`` and
        their shares), ``voters``, ``votes``, ``added_by_participants``, ``flagged``
        (statements withheld by the safety screen) and ``not_shown`` by status.
    """
    shown = {s.ref: s for s in statements if s.status == SHOWN}
    latest: dict[tuple[str, str], int] = {}
    for participant, ref, vote in votes:
        if ref in shown:
            latest[(participant, ref)] = vote
    counts = {ref: {"agree": 0, "disagree": 0, "pass": 0} for ref in shown}
    for (_, ref), vote in latest.items():
        counts[ref][_WORDS[vote]] += 1
    entries = []
    for ref, statement in shown.items():
        tally = counts[ref]
        n = sum(tally.values())
        entries.append(
            {
                "statement": ref,
                "item": statement.item_id,
                "text": statement.text,
                "added_by": "spec" if statement.seed else "participant",
                "votes": n,
                **tally,
                "agree_share": _share(tally["agree"], n),
                "disagree_share": _share(tally["disagree"], n),
                "pass_share": _share(tally["pass"], n),
            }
        )

    def order(entry: dict[str, Any]) -> tuple[float, int, int]:
        number = entry["statement"].rpartition(":")[2]
        return (
            -(entry["agree_share"] or 0.0),
            -entry["votes"],
            int(number) if number.isdigit() else 0,
        )

    entries.sort(key=order)
    not_shown = {status: sum(1 for s in statements if s.status == status) for status in NOT_SHOWN}
    return {
        "statements": entries,
        "voters": len({participant for participant, _ in latest}),
        "votes": len(latest),
        "added_by_participants": sum(1 for s in shown.values() if not s.seed),
        "flagged": not_shown[WITHHELD],
        "not_shown": not_shown,
    }
