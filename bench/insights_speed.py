"""Speed of intake analysis and of a report over 100,000 free-text replies.

    .venv/bin/python bench/insights_speed.py [--rows 100000]

Replies are sampled (with replacement) from the pxtextmining comments when the file is
present, else from the test fixture; each carries its stored analysis, as rows read from
the database do. Database loading is not included here: that is measured with storage.
The report must take at most 10 s for 100,000 replies.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import DATA

from consultations.insights import (
    FunnelCounts,
    ResponseRow,
    TextAnalysis,
    analyse_text,
    build_report,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)
from consultations.insights.text import TextAnalyser, default_model
from consultations.insights.training import read_pxtextmining

ROOT = Path(__file__).resolve().parent.parent
# The fixture's spec stands in for a real consultation; it lives with the tests.
sys.path.insert(0, str(ROOT))
from tests.insights.fixture import COMMENTS, SPEC  # noqa: E402

BUDGET_S = 10.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    texts = [c.text for c in read_pxtextmining(DATA)] if DATA.exists() else list(COMMENTS)
    print(f"source: {'pxtextmining' if DATA.exists() else 'fixture'} ({len(texts)} texts)")

    # Baseline in the same run (the machine is shared and noisy): splitting each text
    # into lower-case words, the least any analysis does.
    started = time.perf_counter()
    for t in texts:
        t.lower().split()
    floor = len(texts) / (time.perf_counter() - started)
    fallback = TextAnalyser(default_model())
    started = time.perf_counter()
    for t in texts:
        fallback.analyse(t)
    words_rate = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    analyses = [analyse_text(t) for t in texts]
    rate = len(texts) / (time.perf_counter() - started)
    print(f"baseline (lower + split): {floor:,.0f} texts/s")
    print(f"analyse_text, words-only fallback: {words_rate:,.0f} texts/s")
    print(
        f"analyse_text, shipped (static embedding): {rate:,.0f} texts/s (single thread, "
        f"{rate / floor:.3f} of the baseline; target 10,000 texts/s)"
    )

    started = time.perf_counter()
    stored = [TextAnalysis.from_json(a.to_json()) for a in analyses]
    print(f"from_json: {len(stored) / (time.perf_counter() - started):,.0f} analyses/s")

    rng = random.Random(0)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    roles = ("Patient", "Carer", "Staff", "Community member")
    rows = []
    for i in range(args.rows):
        k = rng.randrange(len(texts))
        rows.append(
            ResponseRow(
                id=i,
                item_id="one-thing",
                item_type="prompt",
                channel=rng.choice(("web", "telegram", "mastodon")),
                participant=f"p{i}",
                segments={"role": rng.choice(roles)},
                choices=(),
                text=texts[k],
                created_at=start + timedelta(seconds=rng.randrange(14 * 86400)),
                flags=("safety",) if rng.random() < 0.002 else (),
                analysis=stored[k],
            )
        )
    funnel = FunnelCounts(consented=args.rows + 500, answered=args.rows, finished=args.rows)

    def progress(step: str, done: float) -> None:
        print(f"  {done:4.0%} {step} ({time.perf_counter() - started:.2f} s)")

    worst = 0.0
    for fmt, render in (
        ("json", render_json),
        ("md", render_markdown),
        ("html", render_html),
        ("csv", render_csv),
    ):
        print(f"format {fmt}:")
        started = time.perf_counter()
        report = build_report(
            SPEC,
            rows,
            (),
            funnel,
            generated_at=datetime.now(UTC),
            # Only the CSV needs one entry per reply.
            include_responses=fmt == "csv",
            progress=progress if fmt == "json" else None,
        )
        built = time.perf_counter() - started
        render(report)
        total = time.perf_counter() - started
        worst = max(worst, total)
        print(f"  build {built:.2f} s, build + render {total:.2f} s")
    print(
        f"{args.rows:,} replies, {len(report['themes'])} themes: slowest report {worst:.2f} s "
        f"(budget {BUDGET_S:.0f} s)"
    )
    return 0 if worst <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
