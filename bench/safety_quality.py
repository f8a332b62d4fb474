"""Quality of the safety screen on the evaluation set, tune and held-out splits apart.

    .venv/bin/python bench/safety_quality.py [--misses tune] [--semantic-only]

Prints recall on disclosures and over-flagging (the share of look-alikes flagged) overall,
per category and per register, for the tune split (and its batches 6 to 47 and 50 to 53 apart) and
for the held-out split: the first batch (split by the SHA-1 rule), the second and fourth
batches (each written whole as held-out before the screen was tuned further) and all
together; then how many of the real NHS feedback comments
(``../shared/data/pxtextmining-phase1/``, when present) the screen flags. ``--misses
tune`` lists the texts the screen gets wrong on the tune split; the held-out split's texts
are never listed, so that no one tunes the lexicon to them.

The semantic layer is trained on the tune split, so tune figures here are in-sample; the
out-of-fold figures used to choose its thresholds are in the model file
(``tune_out_of_fold``, ``real_comments_out_of_fold_flagged``; ``curated_out_of_fold`` over
exemplars and tune split for reference) and printed by ``bench/safety_train.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from consultations.safety.screen import assess_many

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "tests" / "data" / "safety" / "evaluation.jsonl"
# ../shared beside the checkout, or beside the folder of worktrees it sits in.
FEEDBACK = next(
    (
        path
        for base in (ROOT.parent, ROOT.parent.parent)
        if (path := base / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv").exists()
    ),
    ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv",
)


def read_rows(path: Path = EVALUATION) -> list[dict[str, object]]:
    """The evaluation rows."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_feedback(path: Path) -> list[str]:
    """The real feedback comments (pxtextmining, MIT), empty ones left out."""
    with path.open(newline="", encoding="utf-8") as handle:
        comments = [(row.get("feedback") or "").strip() for row in csv.DictReader(handle)]
    return [comment for comment in comments if comment]


def _table(title: str, groups: dict[str, list[bool]], label: str) -> None:
    print(f"  {title}")
    for name in sorted(groups):
        values = groups[name]
        share = sum(values) / len(values)
        print(f"    {name:<22} {label} {share:6.3f}  (n={len(values)})")


def _batch(split: str, number: int) -> Callable[[dict[str, object]], bool]:
    """Rows of one batch in one split."""
    return lambda row: row["split"] == split and row.get("batch") == number


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", choices=["tune"], help="list the tune split's errors")
    args = parser.parse_args()
    rows = read_rows()
    verdicts = assess_many([str(row["text"]) for row in rows])
    groups: dict[str, Callable[[dict[str, object]], bool]] = {
        "tune": lambda row: row["split"] == "tune",
        **{f"tune batch {n}": _batch("tune", n) for n in (6, 7, 9, 8, 11, 13, 14)},
        "heldout batch 1": lambda row: row["split"] == "heldout" and "batch" not in row,
        "heldout batch 2": _batch("heldout", 2),
        "heldout batch 4": _batch("heldout", 4),
        "tune batches 10 and 12 (scored blind while held out)": lambda row: (
            row.get("batch") in (10, 12)
        ),
        "tune batch 15": _batch("tune", 15),
        "tune batch 16": _batch("tune", 16),
        **{
            f"tune batch {n} (scored blind while held out)": _batch("tune", n)
            for n in [*range(17, 48), *range(50, 54), 65, 66, 68, 69, 71, 72, 73, 77]
        },
        "heldout batches 48 and 49": lambda row: row.get("batch") in (48, 49),
        "heldout batches 54 to 57": lambda row: row.get("batch") in (54, 55, 56, 57),
        "heldout batches 58 to 61": lambda row: row.get("batch") in (58, 59, 60, 61),
        "heldout batch 62 (discharge feedback)": _batch("heldout", 62),
        "heldout batch 63 (written blind)": _batch("heldout", 63),
        "heldout batch 64 (written blind)": _batch("heldout", 64),
        "heldout batch 67 (written blind, after tune batches 65 and 66)": _batch("heldout", 67),
        "heldout batch 70 (written blind, scored after tune batches 68 to 72)": _batch(
            "heldout", 70
        ),
        "heldout batch 74 (written blind, scored before and after tune batch 73)": _batch(
            "heldout", 74
        ),
        "heldout batch 75 (written blind from batch 73's angle, after its round)": _batch(
            "heldout", 75
        ),
        "heldout batch 76 (written blind: long answers, the point buried)": _batch("heldout", 76),
        "heldout batch 78 (written blind from batch 77's angle: short replies)": _batch(
            "heldout", 78
        ),
        "heldout batches 83 to 101 (written blind: short replies)": lambda row: (
            row["split"] == "heldout" and row.get("batch") in (83, 88, 89, 94, 95, 100, 101)
        ),
        "heldout batches 102, 103, 107 (written blind: longer answers)": lambda row: (
            row.get("batch") in (102, 103, 107)
        ),
        "heldout batches 108 to 113 (written blind after the features were scaled)": lambda row: (
            row.get("batch") in range(108, 114)
        ),
        "heldout batches 114 to 123 (ten more fresh writers, each with an angle)": lambda row: (
            row.get("batch") in range(114, 124)
        ),
        "heldout, all batches": lambda row: row["split"] == "heldout",
    }
    for split, member in groups.items():
        recall: dict[str, list[bool]] = defaultdict(list)
        recall_register: dict[str, list[bool]] = defaultdict(list)
        over: dict[str, list[bool]] = defaultdict(list)
        over_register: dict[str, list[bool]] = defaultdict(list)
        semantic_only = 0
        for row, verdict in zip(rows, verdicts, strict=True):
            if not member(row):
                continue
            if row["label"] == 1:
                recall[str(row["category"])].append(verdict.flagged)
                recall_register[str(row["register"])].append(verdict.flagged)
                semantic_only += verdict.by_model
            else:
                over[str(row["category"])].append(verdict.flagged)
                over_register[str(row["register"])].append(verdict.flagged)
        positives = [v for values in recall.values() for v in values]
        negatives = [v for values in over.values() for v in values]
        print(f"{split}: {len(positives)} disclosures, {len(negatives)} look-alikes")
        print(f"  recall        {sum(positives) / len(positives):.3f}")
        print(f"  over-flagging {sum(negatives) / len(negatives):.3f}")
        print(f"  disclosures caught by the semantic layer alone: {semantic_only}")
        _table("recall by category", recall, "recall")
        _table("recall by register", recall_register, "recall")
        _table("over-flagging by look-alike kind", over, "flagged")
        _table("over-flagging by register", over_register, "flagged")
    if FEEDBACK.exists():
        comments = read_feedback(FEEDBACK)
        flagged = sum(v.flagged for v in assess_many(comments))
        share = flagged / len(comments)
        print(f"real feedback comments: {flagged} of {len(comments)} flagged ({share:.2%})")
    if args.misses:
        print(f"\nerrors on the {args.misses} split:")
        for row, verdict in zip(rows, verdicts, strict=True):
            if row["split"] == args.misses and bool(row["label"]) != verdict.flagged:
                kind = "missed" if row["label"] else "over-flagged"
                print(f"  {kind:<12} [{row['category']}] {row['text']!r} -> {verdict.evidence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
