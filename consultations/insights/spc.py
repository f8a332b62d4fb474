"""Statistical process control for measures across cycles: the NHS "Making data count" rules.

An XmR chart of the points' shares: the mean, and process limits at the mean plus or
minus 2.66 times the mean moving range (the average absolute difference between
consecutive points). Special-cause variation is signalled by the published rules:

* **outside the limits**: a point above the upper or below the lower process limit;
* **shift**: 7 or more consecutive points all above, or all below, the mean (a point on
  the mean ends the run);
* **trend**: 6 or more consecutive points each higher than the one before (or each lower).

Each signal names its rule, its direction (``improvement`` or ``concern`` for a measure
where higher is better) and the points it spans, so the study summary can list it in
words. Fewer than 2 points give no limits and no signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The XmR constant: 3 / d2 with d2 = 1.128 for moving ranges of two points.
XMR_CONSTANT = 2.66
SHIFT_POINTS = 7
TREND_POINTS = 6


def xmr(values: Sequence[float]) -> dict[str, float] | None:
    """Mean, mean moving range and process limits of ``values`` (None for fewer than 2)."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    ranges = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    mr_bar = sum(ranges) / len(ranges)
    return {
        "mean": mean,
        "mr_bar": mr_bar,
        "upper": mean + XMR_CONSTANT * mr_bar,
        "lower": mean - XMR_CONSTANT * mr_bar,
    }


def _direction(up: bool, higher_is_better: bool) -> str:
    return "improvement" if up == higher_is_better else "concern"


def signals(
    values: Sequence[float], labels: Sequence[str], *, higher_is_better: bool = True
) -> list[dict[str, Any]]:
    """Every special-cause signal in ``values`` (labels name the points, e.g. cycles)."""
    limits = xmr(values)
    if limits is None:
        return []
    found: list[dict[str, Any]] = []
    for i, v in enumerate(values):
        if v > limits["upper"] or v < limits["lower"]:
            found.append(
                {
                    "rule": "outside limits",
                    "direction": _direction(v > limits["upper"], higher_is_better),
                    "from": labels[i],
                    "to": labels[i],
                    "points": 1,
                }
            )
    found += _runs(values, labels, limits["mean"], higher_is_better)
    found += _trends(values, labels, higher_is_better)
    return found


def _runs(
    values: Sequence[float], labels: Sequence[str], mean: float, higher_is_better: bool
) -> list[dict[str, Any]]:
    out = []
    start, side = 0, 0
    for i in range(len(values) + 1):
        here = 0 if i == len(values) else (1 if values[i] > mean else -1 if values[i] < mean else 0)
        if i < len(values) and here == side and here != 0:
            continue
        if side != 0 and i - start >= SHIFT_POINTS:
            out.append(
                {
                    "rule": "shift",
                    "direction": _direction(side > 0, higher_is_better),
                    "from": labels[start],
                    "to": labels[i - 1],
                    "points": i - start,
                }
            )
        start, side = i, here
    return out


def _trends(
    values: Sequence[float], labels: Sequence[str], higher_is_better: bool
) -> list[dict[str, Any]]:
    out = []
    start, step = 0, 0
    for i in range(1, len(values) + 1):
        here = 0
        if i < len(values):
            here = 1 if values[i] > values[i - 1] else -1 if values[i] < values[i - 1] else 0
        if i < len(values) and here == step and here != 0:
            continue
        # The run of equal steps ended at point i-1; it spans points start..i-1.
        if step != 0 and i - start >= TREND_POINTS:
            out.append(
                {
                    "rule": "trend",
                    "direction": _direction(step > 0, higher_is_better),
                    "from": labels[start],
                    "to": labels[i - 1],
                    "points": i - start,
                }
            )
        start, step = i - 1, here
    return out


def describe(signal: dict[str, Any], measure: str) -> str:
    """A signal in words, for the study summary."""
    rule = signal["rule"]
    span = f"({signal['from']} to {signal['to']})"
    if rule == "outside limits":
        what = f"{signal['from']} lies outside the process limits"
    elif rule == "shift":
        what = f"{signal['points']} points in a row on one side of the mean {span}"
    else:
        what = f"{signal['points']} points in a row moving one way {span}"
    return f"{measure}: {what}, special-cause {signal['direction']}."
