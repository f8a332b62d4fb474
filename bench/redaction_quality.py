"""Recall and precision of redaction per kind on the tune and held-out texts, and speed.

    .venv/bin/python bench/redaction_quality.py [--show-tune-errors]

The labelled texts are tests/data/redaction/{tune,heldout}.jsonl; rules are adjusted
against the tune split only, so the held-out figures are the ones to quote.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consultations.safety.redaction import PLACEHOLDERS, redact  # noqa: E402
from tests.consultations.safety.scoring import SPLITS, Score, load, score  # noqa: E402

PLAIN = (
    "The nurses on ward 7 were lovely but we waited 45 minutes past the 10:30 slot and the "
    "doctor never came back with the results. Parking cost $18 for 3 hours. I hope the new "
    "building fixes the lifts, they were broken again."
)
TYPICAL = (
    "Thank you to the nurses on ward 7, we waited 45 minutes at 10:30 but my son Jack "
    "was seen quickly. Dr said 50mg twice a day. If you need more call me on 0412 345 678 "
    "or email jane.smith@gmail.com"
)


def report(split: str, result: Score) -> None:
    """Print the figures of one split."""
    print(f"\n{split}: recall {result.recall():.3f}  precision {result.precision():.3f}")
    print(f"  {'kind':<16}{'expected':>9}{'recall':>8}{'spans':>7}{'precision':>10}")
    for kind in PLACEHOLDERS:
        if result.expected[kind] or result.spans[kind]:
            print(
                f"  {kind:<16}{result.expected[kind]:>9}{result.recall(kind):>8.3f}"
                f"{result.spans[kind]:>7}{result.precision(kind):>10.3f}"
            )


def speed(text: str, seconds: float = 2.0) -> float:
    """Texts per second redacting ``text`` over and over."""
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            redact(text)
        count += 100
    return count / (time.perf_counter() - start)


def main() -> None:
    """Print quality per split and speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-tune-errors", action="store_true")
    args = parser.parse_args()
    for split in SPLITS:
        result = score(load(split))
        report(split, result)
        if args.show_tune_errors and split == "tune":
            for text, item in result.misses:
                print(f"  MISS {item.kind}: {item.text!r} in {text!r}")
            for text, kind, span in result.false_positives:
                print(f"  FP {kind}: {span!r} in {text!r}")
    mixed = [c.text for split in SPLITS for c in load(split)]
    start = time.perf_counter()
    for _ in range(5):
        for text in mixed:
            redact(text)
    per_text = (time.perf_counter() - start) / (5 * len(mixed))
    print()
    for label, text in (("with 3 details", TYPICAL), ("without details", PLAIN)):
        rate = speed(text)
        print(
            f"speed: {rate:,.0f} texts/s on a {len(text)}-character reply {label} "
            f"({1000 / rate:.3f} ms each)"
        )
    print(f"speed: {1 / per_text:,.0f} texts/s over the labelled texts")


if __name__ == "__main__":
    main()
