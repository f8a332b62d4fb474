"""Intervals against published values."""

from __future__ import annotations

import pytest

from consultations.insights import difference_interval, p_chart_limits, wilson_interval


@pytest.mark.parametrize(
    ("count", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # Symmetric case and the all-successes edge.
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(
    count: int, n: int, low: float, high: float
) -> None:
    got = wilson_interval(count, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_of_nothing_is_everything() -> None:
    # No answers: the share could be anything, not a certain 0% (a report showed
    # "0% | 0%–0%" for a poll nobody answered).
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="not between"):
        wilson_interval(11, 10)


def test_difference_interval_matches_newcombe_example() -> None:
    # Newcombe (1998) "Interval estimation for the difference between independent
    # proportions", Table II, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    d = difference_interval(48, 80, 56, 70)
    assert (d.difference, d.ci_low, d.ci_high) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert d.clear


def test_difference_interval_spanning_zero_is_not_clear() -> None:
    assert not difference_interval(10, 20, 11, 20).clear


def test_p_chart_limits_are_three_sigma_and_clamped() -> None:
    assert p_chart_limits(0.3, 50) == pytest.approx((0.1056, 0.4944), abs=5e-5)
    assert p_chart_limits(0.02, 10) == pytest.approx((0.0, 0.1528), abs=5e-5)
