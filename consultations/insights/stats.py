"""Small-sample statistics for reports: Wilson intervals, differences, p-chart limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``count`` successes out of ``n`` (0..1; (0, 1) when n == 0:
    with no answers the share could be anything, not a certain 0%).

    Wilson rather than the normal approximation because poll cells are often small and
    shares near 0 or 1, where the normal interval escapes [0, 1] or collapses to a point.
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= count <= n:
        raise ValueError(f"count {count} is not between 0 and n={n}")
    p = count / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Difference:
    """A difference of two proportions (``p2 - p1``) with its 95% interval."""

    p1: float
    p2: float
    difference: float
    ci_low: float
    ci_high: float

    @property
    def clear(self) -> bool:
        """The interval excludes zero: a change beyond what chance would easily give."""
        return self.ci_low > 0 or self.ci_high < 0


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> Difference:
    """Newcombe's hybrid score interval for ``x2/n2 - x1/n1`` (method 10, Newcombe 1998).

    Built from the two Wilson intervals, so it behaves as well as they do with small
    counts, which the simple Wald interval does not.
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one response")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Difference(p1=p1, p2=p2, difference=d, ci_low=max(-1.0, low), ci_high=min(1.0, high))


def p_chart_limits(p_bar: float, n: int) -> tuple[float, float]:
    """Three-sigma p-chart control limits for a subgroup of size ``n`` (clamped to [0, 1])."""
    if n <= 0:
        return (0.0, 1.0)
    sigma = math.sqrt(p_bar * (1 - p_bar) / n)
    return (max(0.0, p_bar - 3 * sigma), min(1.0, p_bar + 3 * sigma))
