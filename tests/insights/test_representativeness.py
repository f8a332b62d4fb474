"""Who answered, against who the service expected: the spec's ``expected`` shares.

The spec field is checked (errors name the field and what is wrong); the report shows
each group's share with a Wilson interval beside its expected share, names the groups
under-represented, keeps counts under 5 hidden, and shows the channel mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from consultations.insights import ResponseRow, build_report, render_html, render_markdown
from consultations.spec import SpecError, parse_spec
from tests.insights.fixture import SPEC, START, Segment


@dataclass(frozen=True)
class ExpectedSegment(Segment):
    expected: tuple[tuple[str, float], ...] = ()


AGE = ExpectedSegment(
    "age",
    "How old are you?",
    ("Under 25", "25 to 64", "65 or over"),
    (("Under 25", 0.3), ("25 to 64", 0.5), ("65 or over", 0.2)),
)


def _spec_data(expected: object) -> dict[str, Any]:
    return {
        "id": "waiting-room",
        "title": "A better waiting room",
        "organisation": "Example Health Service",
        "model": "feedback-prompt",
        "consent": {"text": "We use your answers to improve the waiting room."},
        "segments": [
            {
                "id": "age",
                "text": "How old are you?",
                "options": ["Under 25", "25 to 64", "65 or over"],
                "expected": expected,
            }
        ],
        "items": [{"id": "idea", "type": "prompt", "text": "What would make waiting easier?"}],
    }


def test_expected_shares_are_read_and_written_back() -> None:
    spec = parse_spec(_spec_data({"under 25": 0.3, "25 to 64": 0.5, "65 or over": 0.2}))
    assert spec.segments[0].expected == (("Under 25", 0.3), ("25 to 64", 0.5), ("65 or over", 0.2))
    again = parse_spec(json.loads(json.dumps(spec.to_dict(), default=str)))
    assert again.segments[0].expected == spec.segments[0].expected


@pytest.mark.parametrize(
    ("expected", "path", "words"),
    [
        ({"Teenagers": 0.2}, "segments[0].expected.Teenagers", "not one of this question's"),
        ({"Under 25": 20}, "segments[0].expected.Under 25", "share from 0 to 1"),
        ({"Under 25": "a fifth"}, "segments[0].expected.Under 25", "share from 0 to 1"),
        ({"Under 25": 0.7, "25 to 64": 0.6}, "segments[0].expected", "add up to 1.3"),
        (["Under 25", 0.2], "segments[0].expected", "option: share pairs"),
    ],
)
def test_bad_expected_shares_are_named(expected: object, path: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec_data(expected))
    problems = caught.value.problems
    assert any(p.path == path and words in p.message for p in problems), problems


def _rows(groups: dict[str, int]) -> list[ResponseRow]:
    rows = []
    i = 0
    for option, count in groups.items():
        for _ in range(count):
            rows.append(
                ResponseRow(
                    id=i + 1,
                    item_id="ease",
                    item_type="poll",
                    channel="web" if i % 4 else "telegram",
                    participant=f"p{i}",
                    segments={"age": option},
                    choices=("Easy",),
                    text=None,
                    created_at=START + timedelta(minutes=i),
                )
            )
            i += 1
    return rows


def _report(groups: dict[str, int]) -> dict[str, Any]:
    spec = replace(SPEC, segments=(AGE,))
    return build_report(spec, _rows(groups), generated_at=START + timedelta(days=2))


def test_a_group_well_below_its_share_is_named() -> None:
    report = _report({"Under 25": 6, "25 to 64": 55, "65 or over": 39})
    section = report["representativeness"]
    groups = {g["option"]: g for g in section["segments"][0]["groups"]}
    young = groups["Under 25"]
    assert young["share"] == 0.06 and young["expected"] == 0.3
    assert young["ci_low"] < 0.06 < young["ci_high"] < 0.3
    assert young["status"] == "under-represented"
    assert groups["65 or over"]["status"] == "over-represented"
    assert groups["25 to 64"]["status"] == "as expected"
    assert section["under_represented"] == [
        {"segment": "age", "option": "Under 25", "share": 0.06, "expected": 0.3}
    ]
    assert report["stage_summary"]["plan"]["under_represented"] == section["under_represented"]
    md = render_markdown(report)
    assert "**Under-represented:** Under 25 (6% of answers, 30% expected)" in md
    assert "Under 25" in render_html(report) and "under-represented" in render_html(report)


def test_a_group_under_five_stays_hidden() -> None:
    report = _report({"Under 25": 3, "25 to 64": 60, "65 or over": 37})
    groups = {g["option"]: g for g in report["representativeness"]["segments"][0]["groups"]}
    assert groups["Under 25"] == {"option": "Under 25", "expected": 0.3, "status": "hidden"}
    # Nothing about the hidden group's size can be read from the section.
    text = json.dumps(report["representativeness"])
    assert '"count": 3' not in text and "0.03" not in text
    assert report["representativeness"]["under_represented"] == []


def test_channel_mix_has_shares_with_intervals() -> None:
    report = _report({"Under 25": 30, "25 to 64": 50, "65 or over": 20})
    mix = {m["channel"]: m for m in report["representativeness"]["channel_mix"]}
    assert set(mix) == {"web", "telegram"}
    assert mix["telegram"]["participants"] == 25 and mix["telegram"]["share"] == 0.25
    assert mix["telegram"]["ci_low"] < 0.25 < mix["telegram"]["ci_high"]
    assert abs(sum(m["share"] for m in mix.values()) - 1.0) < 1e-9
    # The page a lead reads shows the same mix as the Markdown, intervals included.
    share = f"{mix['telegram']['share']:.0%}"
    for page in (render_markdown(report), render_html(report)):
        assert "Channel mix" in page
        assert share in page and f"{mix['telegram']['ci_low']:.0%}" in page


def test_hidden_groups_are_not_called_missing() -> None:
    # Under 25 is small, so the next smallest group is hidden with it: a group of 37 must
    # not be reported as a missing voice.
    report = _report({"Under 25": 3, "25 to 64": 60, "65 or over": 37})
    hidden = [m["option"] for m in report["participation"]["missing_segments"]]
    assert "65 or over" in hidden
    for page in (render_markdown(report), render_html(report)):
        assert "Missing" not in page
        assert "hidden to protect small numbers" in page


def test_without_expected_shares_no_segment_is_judged() -> None:
    report = build_report(SPEC, _rows({"Patient": 10}), generated_at=START + timedelta(days=1))
    assert report["representativeness"]["segments"] == []
    assert report["representativeness"]["under_represented"] == []
