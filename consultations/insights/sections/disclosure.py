"""Small-number suppression with complementary (secondary) suppression.

A count under :data:`SMALL_CELL` in a breakdown by segment is hidden (primary
suppression). Hiding it alone is not enough: a published total minus the cells still
shown would give it back. So every line of figures that adds up to a published total (a
segment's groups in participation, a poll's group sizes, one group's answers across the
options, one option's answers across the groups) is protected the same way: once any
cell of the line is hidden, the smallest shown cells of that line are hidden too, until
at least two cells are hidden and together they hold at least :data:`SMALL_CELL`
people, or every cell of the line is hidden. Then the difference between the total and
the shown cells is shared by two or more hidden cells and is never small enough (zero
included) to pin any one of them down.

Figures that are treated as known to a reader whatever is shown (overall totals, people
who skipped a segment question, answers from people without a segment or from channels
that only report totals) are never used as the complementary cell: the protection comes
from the hidden cells alone.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from consultations.insights.sections import SMALL_CELL

K = TypeVar("K", bound=Hashable)

#: The reason given for every hidden cell. It does not say whether a cell was itself
#: small or hidden to protect a small one, since knowing that would narrow it down.
REASON = (
    f"fewer than {SMALL_CELL}, or hidden so that a count under {SMALL_CELL} cannot be worked out"
)


def line_is_protected(hidden: Iterable[int]) -> bool:
    """Whether a line's hidden cells (their true counts) are safe next to its total.

    Safe: nothing is hidden, or at least two cells are hidden and they hold at least
    :data:`SMALL_CELL` between them.
    """
    values = list(hidden)
    return not values or (len(values) >= 2 and sum(values) >= SMALL_CELL)


def protect_line(
    counts: Mapping[K, int],
    hidden: Collection[K] = (),
    *,
    order: Sequence[K] | None = None,
    unknown: Iterable[int] = (),
) -> set[K]:
    """The cells of one line to hide: the small ones, ``hidden``, and their complements.

    Args:
        counts: the line's cells that may be shown, by key.
        hidden: cells already hidden for another reason (kept hidden).
        order: the order in which ties between equal counts are broken (default the
            order of ``counts``).
        unknown: counts of further cells of the line that are hidden elsewhere (for
            example whole groups hidden in a poll), which count towards the protection.

    Returns:
        The keys of ``counts`` to hide; every cell under :data:`SMALL_CELL` is among them.
    """
    out = {k for k in counts if counts[k] < SMALL_CELL} | set(hidden)
    extra = list(unknown)
    rank = {k: i for i, k in enumerate(order if order is not None else list(counts))}
    shown = sorted(
        (k for k in counts if k not in out), key=lambda k: (counts[k], rank.get(k, len(rank)))
    )
    for k in shown:
        if line_is_protected([counts[h] for h in out if h in counts] + extra):
            break
        out.add(k)
    return out


def protect_table(
    cells: Mapping[tuple[K, str], int],
    rows: Sequence[K],
    columns: Sequence[str],
    hidden_rows: Collection[K],
) -> set[tuple[K, str]]:
    """The cells to hide in a table of groups (rows) by options (columns).

    ``hidden_rows`` are groups hidden whole (their size is hidden too); their cells count
    as hidden in every column. The other rows and every column are protected with
    :func:`protect_line`, repeatedly, until no line needs more hiding.

    Returns:
        The (row, column) cells of the shown rows to hide.
    """
    shown_rows = [r for r in rows if r not in hidden_rows]
    out = {(r, c) for r in shown_rows for c in columns if cells[(r, c)] < SMALL_CELL}
    changed = True
    while changed:
        changed = False
        for r in shown_rows:
            line = {c: cells[(r, c)] for c in columns}
            now = protect_line(line, {c for c in columns if (r, c) in out}, order=columns)
            new = {(r, c) for c in now} - out
            if new:
                out |= new
                changed = True
        for c in columns:
            line_c = {r: cells[(r, c)] for r in shown_rows}
            now_c = protect_line(
                line_c,
                {r for r in shown_rows if (r, c) in out},
                order=shown_rows,
                unknown=[cells[(r, c)] for r in rows if r in hidden_rows],
            )
            new = {(r, c) for r in now_c} - out
            if new:
                out |= new
                changed = True
    return out
