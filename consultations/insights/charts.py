"""Inline SVG charts for the HTML report: no scripts, no external files.

Every chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` that states the numbers
in words, so screen readers get the content and not just "image". Colours meet WCAG AA
contrast against white (NHS blue #005EB8 is 5.9:1; text #212B32 is 14:1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape
from itertools import count
from typing import Any

from consultations.insights.plurals import plural

BLUE = "#005EB8"
DARK = "#212B32"
GREY = "#4C6272"
RED = "#D5281B"
LIGHT = "#E8EDEE"

_ids = count(1)


def _svg(width: int, height: int, title: str, desc: str, body: str) -> str:
    n = next(_ids)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="chart{n}-title chart{n}-desc">'
        f'<title id="chart{n}-title">{escape(title)}</title>'
        f'<desc id="chart{n}-desc">{escape(desc)}</desc>'
        f'<g font-family="Arial, Helvetica, sans-serif" font-size="13" fill="{DARK}">{body}</g>'
        "</svg>"
    )


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def poll_bars(poll: Mapping[str, Any]) -> str:
    """Horizontal bars of option shares with their 95% intervals as whiskers."""
    options: Sequence[Mapping[str, Any]] = poll["options"]
    label_w, bar_w, row_h = 190, 360, 30
    width, height = label_w + bar_w + 120, 20 + row_h * max(1, len(options)) + 24
    parts = []
    for i, o in enumerate(options):
        y = 14 + i * row_h
        w = bar_w * o["share"]
        lo, hi = label_w + bar_w * o["ci_low"], label_w + bar_w * o["ci_high"]
        label = o["label"] if len(o["label"]) <= 28 else o["label"][:27] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16" fill="{BLUE}"/>'
            f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 11}" y2="{y + 11}" '
            f'stroke="{DARK}" stroke-width="1.5"/>'
            f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{y + 6}" y2="{y + 16}" stroke="{DARK}"/>'
            f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{y + 6}" y2="{y + 16}" stroke="{DARK}"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{_pct(o["share"])} ({o["count"]})</text>'
        )
    axis_y = 14 + row_h * len(options) + 4
    parts.append(
        f'<line x1="{label_w}" x2="{label_w + bar_w}" y1="{axis_y}" y2="{axis_y}" stroke="{GREY}"/>'
    )
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = label_w + bar_w * tick
        parts.append(
            f'<text x="{x:.0f}" y="{axis_y + 15}" text-anchor="middle" font-size="11" '
            f'fill="{GREY}">{_pct(tick)}</text>'
        )
    desc = f"{plural(poll['n'], 'answer')}. " + "; ".join(
        f"{o['label']}: {_pct(o['share'])} (95% interval {_pct(o['ci_low'])} to "
        f"{_pct(o['ci_high'])})"
        for o in options
    )
    return _svg(width, height, f"Answers to: {poll['question']}", desc, "".join(parts))


def share_bars(title: str, rows: Sequence[tuple[str, float, int]]) -> str:
    """Horizontal bars for (label, share, count) rows, e.g. theme shares."""
    label_w, bar_w, row_h = 300, 300, 26
    top = max((share for _, share, _ in rows), default=0.0) or 1.0
    width, height = label_w + bar_w + 110, 12 + row_h * max(1, len(rows))
    parts = []
    for i, (label, share, n) in enumerate(rows):
        y = 6 + i * row_h
        short = label if len(label) <= 44 else label[:43] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * share / top:.1f}" height="16" '
            f'fill="{BLUE}"/>'
            f'<text x="{label_w + bar_w * share / top + 6:.1f}" y="{y + 15}">'
            f"{_pct(share)} ({n})</text>"
        )
    desc = "; ".join(f"{label}: {_pct(share)} ({n})" for label, share, n in rows)
    return _svg(width, height, title, desc, "".join(parts))


def run_chart(chart: Mapping[str, Any]) -> str:
    """A p-chart: shares over time, centre line, 3-sigma limits, changes marked."""
    points: Sequence[Mapping[str, Any]] = chart["points"]
    changes: Sequence[Mapping[str, Any]] = chart["changes"]
    width, height = 680, 300
    left, right, top, bottom = 50, 20, 20, 60
    dates = [date.fromisoformat(p["date"]) for p in points]
    d0, d1 = min(dates), max(dates)
    span = max(1, (d1 - d0).days)

    def x_of(d: date) -> float:
        return left + (width - left - right) * (d - d0).days / span

    def y_of(v: float) -> float:
        return top + (height - top - bottom) * (1 - v)

    parts = []
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{LIGHT}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{GREY}">{_pct(tick)}</text>'
        )
    for c in changes:
        x = x_of(date.fromisoformat(c["date"]))
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}" stroke="{RED}" '
            f'stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{top + 10}" font-size="11" fill="{RED}">'
            f"{escape(c['label'][:30])}</text>"
        )
    centre = y_of(chart["centre"])
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{centre:.1f}" y2="{centre:.1f}" '
        f'stroke="{GREY}" stroke-width="1.5"/>'
    )
    for key in ("ucl", "lcl"):
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x_of(d):.1f},{y_of(p[key]):.1f}"
            for i, (d, p) in enumerate(zip(dates, points, strict=True))
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{GREY}" stroke-dasharray="2 3"/>')
    line = " ".join(
        f"{'M' if i == 0 else 'L'}{x_of(d):.1f},{y_of(p['share']):.1f}"
        for i, (d, p) in enumerate(zip(dates, points, strict=True))
    )
    parts.append(f'<path d="{line}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for d, p in zip(dates, points, strict=True):
        colour = RED if p["outside_limits"] else BLUE
        parts.append(
            f'<circle cx="{x_of(d):.1f}" cy="{y_of(p["share"]):.1f}" r="4" fill="{colour}">'
            f"<title>{escape(p['label'])}: {_pct(p['share'])} of {p['n']}</title></circle>"
        )
    step = max(1, len(points) // 8)
    for d, p in list(zip(dates, points, strict=True))[::step]:
        parts.append(
            f'<text x="{x_of(d):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="11" fill="{GREY}">{escape(p["label"])}</text>'
        )
    desc = (
        f"{chart['measure']} over {len(points)} points, centre {_pct(chart['centre'])}. "
        + "; ".join(f"{p['label']}: {_pct(p['share'])} of {p['n']}" for p in points)
        + (
            ". Changes: " + "; ".join(f"{c['date']} {c['label']}" for c in changes)
            if changes
            else ""
        )
    )
    return _svg(width, height, f"Run chart (p-chart): {chart['measure']}", desc, "".join(parts))
