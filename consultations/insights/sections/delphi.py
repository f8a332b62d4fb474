"""The ``delphi`` section: a poll asked in rounds, round by round.

For each poll with ``rounds`` above 1 it shows every round's answers, the movement
between consecutive rounds (how many of the people who answered both changed, and in
which direction along the option list), consensus and stability, with their rules
stated in the report itself:

- **Consensus**: at least :data:`CONSENSUS_SHARE` (70%) of a round's respondents chose
  within two adjacent options (for a several-answer poll, all their choices within the
  pair). With ordered options (very important ... not important) this is the usual
  Delphi reading of agreement; the pair that holds the most people is named.
- **Stability**: at least :data:`STABILITY_SHARE` (80%) of the people who answered both
  of the last two rounds kept the same answer; then a further round would add little.

Round totals cover the whole item and are shown, like every poll total. Movement
counts are a breakdown of people: a line (unchanged, towards the first option, towards
the last) with a count from 1 to 4 is hidden whole, with the stability share it gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from consultations.insights.records import PollTotal, ResponseRow, SpecLike, as_text
from consultations.insights.sections import SMALL_CELL, disclosure
from consultations.insights.sections.polls import latest_totals

CONSENSUS_SHARE = 0.70
STABILITY_SHARE = 0.80

RULES = {
    "consensus": (
        f"at least {CONSENSUS_SHARE:.0%} of a round's respondents chose within two adjacent options"
    ),
    "stability": (
        f"at least {STABILITY_SHARE:.0%} of the people who answered both of the last two "
        "rounds kept the same answer"
    ),
    "suppression": f"movement counts from 1 to {SMALL_CELL - 1} are hidden, with their line",
}


def summarise(
    spec: SpecLike,
    rows: Sequence[ResponseRow],
    suppressed: list[dict[str, Any]],
    totals: Sequence[PollTotal] = (),
) -> list[dict[str, Any]]:
    """One entry per poll asked in rounds; empty when there is none.

    ``totals`` are the anonymous polls' tallies (a Telegram group, a Mastodon status):
    those polls are posted at the launch, so their votes are round 1's, counted in its
    ``n`` and option counts (and, for a one-answer poll, its consensus) though no one's
    movement can be followed from them.
    """
    section: list[dict[str, Any]] = []
    latest = latest_totals(totals)
    for item in spec.items:
        count = int(getattr(item, "rounds", 1) or 1)
        if as_text(item.type) != "poll" or count < 2:
            continue
        options = list(item.options or ())
        answers: dict[int, dict[str, tuple[str, ...]]] = {}
        for row in rows:  # in id order: a later answer in a round replaces an earlier one
            if row.item_id == item.id and row.round is not None:
                answers.setdefault(row.round, {})[row.participant] = row.choices
        by_round = [
            round_counts(item, number, answers.get(number, {}), latest)
            for number in range(1, count + 1)
        ]
        movement = [
            _movement(
                item.id,
                options,
                number,
                answers.get(number - 1, {}),
                answers.get(number, {}),
                suppressed,
            )
            for number in range(2, count + 1)
        ]
        answered = [m for m in movement if m["both"]]
        last = answered[-1] if answered else None
        stability: dict[str, Any] = {"rounds": None, "share_unchanged": None, "stable": None}
        if last is not None:
            stability["rounds"] = [last["from_round"], last["to_round"]]
            if last["unchanged"] is not None:
                share = last["unchanged"] / last["both"]
                stability["share_unchanged"] = round(share, 4)
                stability["stable"] = share >= STABILITY_SHARE
        final = next((r for r in reversed(by_round) if r["n"]), by_round[0])
        section.append(
            {
                "item": item.id,
                "question": item.text,
                "rounds": count,
                "by_round": by_round,
                "movement": movement,
                "consensus": {"round": final["round"], **final["consensus"]},
                "stability": stability,
                "rules": RULES,
            }
        )
    return section


def round_counts(
    item: Any,
    number: int,
    answers: Mapping[str, Sequence[str]],
    totals: Sequence[PollTotal] = (),
) -> dict[str, Any]:
    """Round ``number`` of the poll ``item`` as the report counts it (a ``by_round``
    entry): ``answers`` are that round's per-person choices, by participant; ``totals``
    the anonymous polls' tallies of any items, whose votes are round 1's.

    The question of the next round shows people this, so what they are told of the group
    is what the report says of it.
    """
    anonymous = [t for t in latest_totals(totals) if t.item_id == item.id] if number == 1 else []
    return _round(
        list(item.options or ()),
        number,
        {person: tuple(chosen) for person, chosen in answers.items()},
        anonymous,
        multiple=bool(getattr(item, "multiple", False)),
    )


def _round(
    options: list[str],
    number: int,
    answers: dict[str, tuple[str, ...]],
    tallies: Sequence[PollTotal] = (),
    *,
    multiple: bool = False,
) -> dict[str, Any]:
    counts = dict.fromkeys(options, 0)
    for chosen in answers.values():
        for label in chosen:
            if label in counts:
                counts[label] += 1
    anonymous = 0
    tallied = dict.fromkeys(options, 0)
    for t in tallies:
        anonymous += t.voters if t.voters is not None else sum(t.counts.values())
        for label, votes in t.counts.items():
            if label in counts:
                counts[label] += votes
                tallied[label] += votes
    n = len(answers) + anonymous
    return {
        "round": number,
        "n": n,
        "per_person": len(answers),
        "anonymous_votes": anonymous,
        "options": [
            {"label": label, "count": c, "share": round(c / n, 4) if n else 0.0}
            for label, c in counts.items()
        ],
        # Several answers each: an anonymous voter's choices cannot be told apart, so
        # only one-answer polls' tallies count towards consensus.
        "consensus": _consensus(options, answers, {} if multiple else tallied),
    }


def _consensus(
    options: list[str],
    answers: dict[str, tuple[str, ...]],
    tallied: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The adjacent pair of options holding the most people, and whether it is consensus;
    ``tallied``: anonymous one-answer votes per option, counted with the people."""
    tallied = tallied or {}
    n = len(answers) + sum(tallied.values())
    best: tuple[float, list[str]] = (0.0, [])
    for index in range(max(1, len(options) - 1)):
        pair = set(options[index : index + 2])
        inside = sum(1 for chosen in answers.values() if chosen and set(chosen) <= pair)
        inside += sum(tallied.get(label, 0) for label in pair)
        share = inside / n if n else 0.0
        if share > best[0]:
            best = (share, options[index : index + 2])
    return {
        "reached": bool(n) and best[0] >= CONSENSUS_SHARE,
        "share": round(best[0], 4),
        "options": best[1],
    }


def _position(options: list[str], chosen: Sequence[str]) -> float | None:
    places = [options.index(label) for label in chosen if label in options]
    return sum(places) / len(places) if places else None


def _movement(
    item_id: str,
    options: list[str],
    number: int,
    before: dict[str, tuple[str, ...]],
    after: dict[str, tuple[str, ...]],
    suppressed: list[dict[str, Any]],
) -> dict[str, Any]:
    both = [person for person in after if person in before]
    unchanged = first = last = 0
    for person in both:
        if set(before[person]) == set(after[person]):
            unchanged += 1
            continue
        was, now = _position(options, before[person]), _position(options, after[person])
        if was is not None and now is not None and now < was:
            first += 1
        else:
            last += 1
    line = {"unchanged": unchanged, "towards_first": first, "towards_last": last}
    hidden = any(0 < value < SMALL_CELL for value in line.values())
    if hidden:
        suppressed.append(
            {
                "section": "delphi.movement",
                "item": item_id,
                "round": number,
                "reason": disclosure.REASON,
            }
        )
    shown: dict[str, Any] = {k: (None if hidden else v) for k, v in line.items()}
    changed = None if hidden else first + last
    return {
        "from_round": number - 1,
        "to_round": number,
        "both": len(both),
        "changed": changed,
        **shown,
        "suppressed": hidden,
    }
