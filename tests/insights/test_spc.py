"""Run charts across cycles with the NHS "Making data count" rules, listed in the study summary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from consultations.insights import CycleResult, build_report, render_markdown
from consultations.insights.spc import SHIFT_POINTS, TREND_POINTS, signals, xmr
from tests.insights.fixture import QI, SPEC, START, all_rows

LABELS = [f"cycle {i + 1}" for i in range(20)]


def test_process_limits_are_the_mean_plus_minus_2_66_mean_moving_ranges() -> None:
    limits = xmr([0.5, 0.6, 0.4, 0.5])
    assert limits is not None
    assert limits["mean"] == pytest.approx(0.5)
    assert limits["mr_bar"] == pytest.approx((0.1 + 0.2 + 0.1) / 3)
    assert limits["upper"] == pytest.approx(0.5 + 2.66 * 0.4 / 3)
    assert limits["lower"] == pytest.approx(0.5 - 2.66 * 0.4 / 3)
    assert xmr([0.5]) is None


def test_a_point_outside_the_limits_is_a_signal() -> None:
    values = [0.50, 0.52, 0.49, 0.51, 0.50, 0.48, 0.95, 0.50]
    found = signals(values, LABELS)
    assert [(s["rule"], s["from"], s["direction"]) for s in found] == [
        ("outside limits", "cycle 7", "improvement")
    ]
    falling = signals([1 - v for v in values], LABELS)
    assert falling[0]["direction"] == "concern"


def test_seven_points_one_side_of_the_mean_is_a_shift_and_six_is_not() -> None:
    # Alternating low points first, then a run above the mean.
    base = [0.40, 0.30, 0.41, 0.31, 0.40, 0.30]
    seven = base + [0.5, 0.52, 0.5, 0.51, 0.5, 0.52, 0.5]
    shifts = [s for s in signals(seven, LABELS) if s["rule"] == "shift"]
    assert shifts == [
        {
            "rule": "shift",
            "direction": "improvement",
            "from": "cycle 7",
            "to": "cycle 13",
            "points": SHIFT_POINTS,
        }
    ]
    six = base + [0.5, 0.52, 0.5, 0.51, 0.5, 0.52] + [0.30]
    assert not [s for s in signals(six, LABELS) if s["rule"] == "shift"]


def test_six_points_each_higher_is_a_trend_and_a_tie_breaks_it() -> None:
    values = [0.5, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.4]
    trends = [s for s in signals(values, LABELS) if s["rule"] == "trend"]
    assert trends == [
        {
            "rule": "trend",
            "direction": "improvement",
            "from": "cycle 2",
            "to": "cycle 7",
            "points": TREND_POINTS,
        }
    ]
    tied = [0.5, 0.3, 0.35, 0.4, 0.4, 0.5, 0.55, 0.4]
    assert not [s for s in signals(tied, LABELS) if s["rule"] == "trend"]
    down = [s for s in signals([1 - v for v in values], LABELS) if s["rule"] == "trend"]
    assert down[0]["direction"] == "concern"


def test_the_study_summary_lists_the_signals_in_words() -> None:
    # Eight earlier cycles, 40 people each, the good share climbing steadily.
    history = [
        CycleResult(
            cycle=k + 1,
            consultation=f"booking-{k + 1}",
            start=date(2026, 1, 1) + timedelta(days=30 * k),
            end=date(2026, 1, 20) + timedelta(days=30 * k),
            polls={"ease": {"Very easy": 2 + 2 * k, "Easy": 2, "Hard": 36 - 2 * k}},
            poll_n={"ease": 40},
        )
        for k in range(8)
    ]
    spec = replace(SPEC, qi=QI(stage="study", cycle=9))
    report = build_report(
        spec, all_rows(), generated_at=START + timedelta(days=30), history=history
    )
    (chart,) = report["run_charts"]
    assert chart["process"]["upper"] > chart["process"]["mean"] > chart["process"]["lower"]
    special = chart["signals"]["special_cause"]
    assert any(s["rule"] == "trend" and s["from"] == "cycle 1" for s in special)
    words = report["stage_summary"]["study"]["signals"]
    assert words and all(w.startswith("ease (share choosing") for w in words)
    assert any("points in a row moving one way (cycle 1 to" in w for w in words)
    assert "Run chart signals (Making data count rules):" in render_markdown(report)
