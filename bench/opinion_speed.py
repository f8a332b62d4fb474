"""Speed of the opinion-group analysis: 5,000 participants, 500 statements, 20% voted.

    .venv/bin/python bench/opinion_speed.py [--participants 5000] [--statements 500]

Votes come from four planted groups (10% noise). Timed: the whole analysis from the
vote triples (repeats kept separately), and the SVG map. Beside it, in the same run, a
baseline: reading the same triples into a dense numpy matrix with dict id lookups, the
least any analysis has to do, so the ratio says how much the method itself costs on
this machine. Target: at most 5 s for the analysis.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from consultations.insights.opinion import analyse_opinions, build_vote_matrix, opinion_map_svg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.insights.opinion_fixture import planted_votes  # noqa: E402

BUDGET_S = 5.0


def baseline(votes: list[tuple[str, str, int]]) -> float:
    """Seconds to read the triples into a dense participant-by-statement numpy matrix."""
    started = time.perf_counter()
    people: dict[str, int] = {}
    statements: dict[str, int] = {}
    rows, cols, values = [], [], []
    for participant, statement, vote in votes:
        rows.append(people.setdefault(participant, len(people)))
        cols.append(statements.setdefault(statement, len(statements)))
        values.append(vote)
    matrix = np.full((len(people), len(statements)), np.nan)
    matrix[np.array(rows), np.array(cols)] = np.array(values, dtype=np.float64)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument("--statements", type=int, default=500)
    parser.add_argument("--fill", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_group = args.participants // 4
    planted = planted_votes(
        group_sizes=(per_group,) * 4,
        statements=args.statements,
        consensus=10,
        missing=1.0 - args.fill,
        noise=0.1,
        seed=0,
    )
    votes = planted.votes
    print(
        f"{args.participants:,} participants, {args.statements} statements, "
        f"{len(votes):,} votes ({len(votes) / (args.participants * args.statements):.0%} filled)"
    )

    base = min(baseline(votes) for _ in range(args.repeats))
    reading = []
    analysis_s = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        build_vote_matrix(votes)
        reading.append(time.perf_counter() - started)
        started = time.perf_counter()
        analysis = analyse_opinions(votes, planted.texts)
        analysis_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    svg = opinion_map_svg(analysis)
    svg_s = time.perf_counter() - started

    best, median = min(analysis_s), statistics.median(analysis_s)
    print(f"baseline (dense numpy matrix from the triples): {base:.2f} s")
    print(f"reading votes (build_vote_matrix): {min(reading):.2f} s")
    print(
        f"analysis: best {best:.2f} s, median {median:.2f} s of {args.repeats} "
        f"({best / base:.1f}x the baseline); {len(analysis.groups)} groups, "
        f"k={analysis.clusters}, silhouette {analysis.silhouette or 0:.3f}"
    )
    print(f"SVG map: {svg_s:.2f} s, {len(svg) / 1024:.0f} KiB")
    ok = median <= BUDGET_S
    print(f"budget {BUDGET_S:.0f} s: {'PASS' if ok else 'FAIL'}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "opinion_speed.json").write_text(
        json.dumps(
            {
                "votes": len(votes),
                "baseline_s": base,
                "read_s": min(reading),
                "analysis_best_s": best,
                "analysis_median_s": median,
                "svg_s": svg_s,
                "svg_bytes": len(svg),
            },
            indent=2,
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
