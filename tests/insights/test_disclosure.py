"""Complementary suppression: no hidden count follows from the totals and the shown cells.

The constructed consultation has three groups, one of them a single person (C). Every
line of figures that adds up to a shown total is checked the way a reader would attack
it: total minus the cells shown leaves either nothing hidden, or two or more hidden
cells holding at least 5 between them (so no single hidden cell, the one person's
included, can be worked out).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from consultations.insights import (
    ResponseRow,
    build_report,
    render_html,
    render_json,
    render_markdown,
)
from consultations.insights.sections import SMALL_CELL
from consultations.insights.sections.disclosure import protect_line, protect_table
from tests.insights.fixture import QI, START, Item, Segment, Spec
from tests.insights.test_insights_report import GENERATED

GROUPS = ("A", "B", "C")
OPTIONS = ("Yes", "No")
#: group -> (answers Yes, answers No); C is one person.
ANSWERS = {"A": (7, 6), "B": (5, 5), "C": (0, 1)}
SPEC = Spec(
    id="three-groups",
    title="Three groups",
    qi=QI(stage="plan"),
    segments=(Segment("group", "Which group are you in?", GROUPS),),
    items=(Item("ok", "poll", "Was it all right?", OPTIONS),),
)


def _rows() -> list[ResponseRow]:
    rows = []
    for group, (yes, no) in ANSWERS.items():
        for choice in ("Yes",) * yes + ("No",) * no:
            i = len(rows)
            rows.append(
                ResponseRow(
                    i,
                    "ok",
                    "poll",
                    "web",
                    f"{group}{i}",
                    {"group": group},
                    (choice,),
                    None,
                    START + timedelta(hours=i),
                )
            )
    return rows


@pytest.fixture(scope="module")
def three_groups() -> dict[str, Any]:
    report: dict[str, Any] = build_report(SPEC, _rows(), generated_at=GENERATED)
    return report


def _assert_line_safe(total: int, cells: dict[str, int | None], truth: dict[str, int]) -> None:
    """A line adding up to ``total``: nothing hidden, or 2+ hidden cells holding 5+."""
    hidden = [k for k, v in cells.items() if v is None]
    residual = total - sum(v for v in cells.values() if v is not None)
    assert residual == sum(truth[k] for k in hidden)
    if hidden:
        assert len(hidden) >= 2, cells
        assert residual >= SMALL_CELL, cells
    for k in hidden:
        # In particular the residual is never exactly one hidden cell.
        assert residual != truth[k] or len(hidden) >= 2


def test_participation_by_segment_hides_a_complement(three_groups: dict[str, Any]) -> None:
    p = three_groups["participation"]
    seg = p["by_segment"]["group"]
    truth = {g: sum(ANSWERS[g]) for g in GROUPS}
    assert seg["options"] == {"A": 13, "B": None, "C": None}
    _assert_line_safe(p["participants"] - seg["not_answered"], seg["options"], truth)
    # Missing groups: the one person's group and its complement, told apart by nothing.
    assert [m["option"] for m in p["missing_segments"]] == ["B", "C"]
    assert len({m["status"] for m in p["missing_segments"]}) == 1
    assert "none" not in str(p["missing_segments"])


def test_poll_by_segment_cannot_be_undone_by_subtraction(three_groups: dict[str, Any]) -> None:
    (poll,) = three_groups["polls"]
    groups = poll["by_segment"]["group"]
    sizes = {g: groups[g]["n"] for g in GROUPS}
    assert sizes == {"A": 13, "B": None, "C": None}
    # Everyone answered the poll by name and gave a group: per-person n adds up the groups.
    _assert_line_safe(poll["sources"]["per_person"], sizes, {g: sum(ANSWERS[g]) for g in GROUPS})
    cell: dict[tuple[str, str], int | None] = {}
    for g in GROUPS:
        for j, label in enumerate(OPTIONS):
            opts = groups[g]["options"]
            cell[(g, label)] = None if opts is None else opts[j]["count"]
    truth = {(g, label): ANSWERS[g][j] for g in GROUPS for j, label in enumerate(OPTIONS)}
    for g in GROUPS:  # each group's answers add up to its n (single choice)
        if sizes[g] is not None:
            row = {label: cell[(g, label)] for label in OPTIONS}
            _assert_line_safe(sizes[g], row, {o: truth[(g, o)] for o in OPTIONS})
    totals = {o["label"]: o["count"] for o in poll["options"]}
    for label in OPTIONS:  # each option's groups add up to the (never hidden) total
        column = {g: cell[(g, label)] for g in GROUPS}
        _assert_line_safe(totals[label], column, {g: truth[(g, label)] for g in GROUPS})
    assert all(v is not None for v in totals.values())


def test_listed_reasons_do_not_tell_small_from_complementary(
    three_groups: dict[str, Any],
) -> None:
    listed = three_groups["suppressed"]
    assert {(s["section"], s.get("group"), s["option"]) for s in listed} == {
        ("participation.by_segment", None, "B"),
        ("participation.by_segment", None, "C"),
        ("polls.by_segment", "B", None),
        ("polls.by_segment", "C", None),
    }
    assert len({s["reason"] for s in listed}) == 1


def test_rendered_reports_show_no_more_than_the_json(three_groups: dict[str, Any]) -> None:
    text = render_json(three_groups)
    assert '"C": null' in text and '"B": null' in text
    md = render_markdown(three_groups)
    assert "| A | 13 |" in md
    assert "| B | hidden |" in md and "| C | hidden |" in md
    assert "(none)" not in md
    html = render_html(three_groups)
    assert "<tr><td>A</td><td>13</td></tr>" in html
    assert "<tr><td>B</td><td>hidden</td></tr>" in html
    assert "<tr><td>C</td><td>hidden</td></tr>" in html
    assert "(none)" not in html
    # Both render the poll's breakdown by group as the JSON has it, no figure beyond:
    # group A's answers, B and C hidden whole.
    assert "| A | 13 | 7 (54%) | 6 (46%) |" in md
    assert "| B | hidden | hidden | hidden |" in md and "| C | hidden | hidden | hidden |" in md
    assert "<tr><td>A</td><td>13</td><td>7 (54%)</td><td>6 (46%)</td></tr>" in html
    assert "<tr><td>B</td><td>hidden</td><td>hidden</td><td>hidden</td></tr>" in html
    for rendered in (md, html):
        assert "Which group are you in?" in rendered


def test_a_zero_residual_is_protected_too() -> None:
    # Hiding C (1) with B (0) would leave a residual of 1 = C; A is hidden as well.
    assert protect_line({"A": 9, "B": 0, "C": 1}) == {"A", "B", "C"}
    assert protect_line({"A": 9, "B": 6, "C": 1, "D": 30}) == {"B", "C"}
    assert protect_line({"A": 9, "B": 6}) == set()


def test_columns_are_protected_against_whole_hidden_groups() -> None:
    cells = {("A", "Yes"): 7, ("A", "No"): 6, ("B", "Yes"): 6, ("B", "No"): 0}
    cells |= {("C", "Yes"): 0, ("C", "No"): 1}
    # B and C hidden whole: the No column leaves 1 for them, so A's No goes, and with it
    # A's Yes (else A's n minus Yes gives No back).
    hidden = protect_table(cells, ["A", "B", "C"], ["Yes", "No"], {"B", "C"})
    assert hidden == {("A", "Yes"), ("A", "No")}
