"""How many ordinary answers to improvement questions the safety screen flags.

    .venv/bin/python bench/safety_suggestions.py [--list] [--heldout]

Reads ``tests/data/safety/suggestions.jsonl``: 300 answers to 12 questions a service asks
in a consultation ("What one thing would make booking easier?", "How could we make leaving
hospital better?"), 25 each, written by someone who had not seen the screen, with the
everyday words that crisis language shares ("I'm done with waiting", "life would be easier
if", "I'd kill for a parking space"). None is a disclosure, and none is trained on: every
flag is a false alarm, a crisis reply sent to someone who made a suggestion. Prints the
share flagged overall and per question; ``--list`` prints the flagged answers.

``--heldout`` reads ``tests/data/safety/suggestions_heldout.jsonl`` instead: 300 answers to
12 other questions, written blind for the round of tune batches 68 to 72 and scored only as
a total (10 flagged on the screen before that round, 9 after), so that no one tunes to
them; it has no ``--list``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from consultations.safety.screen import assess_many

ROOT = Path(__file__).resolve().parent.parent
SUGGESTIONS = ROOT / "tests" / "data" / "safety" / "suggestions.jsonl"
HELDOUT = ROOT / "tests" / "data" / "safety" / "suggestions_heldout.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print the flagged answers")
    parser.add_argument("--heldout", action="store_true", help="the held-out answers (totals only)")
    args = parser.parse_args()
    if args.heldout and args.list:
        parser.error("the held-out answers are scored as totals only: no --list")
    source = HELDOUT if args.heldout else SUGGESTIONS
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    verdicts = assess_many([row["text"] for row in rows])
    flagged = [
        (row, verdict) for row, verdict in zip(rows, verdicts, strict=True) if verdict.flagged
    ]
    print(f"answers flagged: {len(flagged)} of {len(rows)} ({len(flagged) / len(rows):.3f})")
    per_question = Counter(row["question"] for row, _ in flagged)
    for question in dict.fromkeys(row["question"] for row in rows):
        print(f"  {per_question.get(question, 0):3d}  {question}")
    if args.list:
        for row, verdict in flagged:
            print(f"{', '.join(verdict.categories)}: {row['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
