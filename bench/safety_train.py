"""Train the safety screen's semantic layer and write its model file.

    .venv/bin/python bench/safety_train.py [--leave-out BATCH ...]

Trains on the package's exemplars, the evaluation set's tune split (never the held-out
split) and, when present, a sample of real NHS feedback comments from
``../shared/data/pxtextmining-phase1/text_data.csv`` (MIT) as ordinary look-alikes;
chooses the thresholds for recall on out-of-fold scores for the tune split and the
comments, and writes ``consultations/safety/data/semantic_model.json``. Run it after
changing the exemplars, the tune split, the lexicon's masks or the normalisation; a test
fails while the model's fingerprint does not match the training texts.

``--leave-out 15 16`` writes nothing: for each batch it trains without that batch of the
tune split (thresholds chosen out of fold as usual) and scores the batch with the lexicon
and that model, an estimate of how the model carries to a writer it has not seen (the
lexicon is in sample unless its phrases were written before reading the batch).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from consultations.safety.lexicon import default_lexicon
from consultations.safety.screen import Screen
from consultations.safety.semantic import SemanticModel
from consultations.safety.training import Example, read_examples, read_feedback_comments, train

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
MODEL = ROOT / "consultations" / "safety" / "data" / "semantic_model.json"


def _tune_rows() -> list[dict[str, object]]:
    with EVALUATION.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [row for row in rows if row["split"] == "tune"]


def leave_out(batches: list[int], background: list[str]) -> None:
    """Score each batch with a model trained without it (the lexicon as it is)."""
    lexicon = default_lexicon()
    screen = Screen(lexicon, None)
    rows = _tune_rows()
    caught = missed = flagged = clear = 0
    for batch in batches:
        rest = [row for row in rows if row.get("batch", 1) != batch]
        held = [row for row in rows if row.get("batch", 1) == batch]
        tune = [Example(str(r["text"]), int(str(r["label"])), str(r["category"])) for r in rest]
        model = Screen(lexicon, SemanticModel(train(screen, tune, background)))
        verdicts = [model.assess(str(row["text"])) for row in held]
        positives = [v.flagged for row, v in zip(held, verdicts, strict=True) if row["label"]]
        negatives = [v.flagged for row, v in zip(held, verdicts, strict=True) if not row["label"]]
        caught += sum(positives)
        missed += len(positives) - sum(positives)
        flagged += sum(negatives)
        clear += len(negatives) - sum(negatives)
        print(
            f"batch {batch}: recall {sum(positives) / len(positives):.3f} "
            f"({sum(positives)}/{len(positives)}), over-flagging "
            f"{sum(negatives) / len(negatives):.3f} ({sum(negatives)}/{len(negatives)})",
            flush=True,
        )
    print(
        f"all: recall {caught / (caught + missed):.3f} ({caught}/{caught + missed}), "
        f"over-flagging {flagged / (flagged + clear):.3f} ({flagged}/{flagged + clear})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leave-out", type=int, nargs="+", metavar="BATCH")
    args = parser.parse_args()
    started = time.perf_counter()
    background: list[str] = []
    if FEEDBACK.exists():
        background = read_feedback_comments(FEEDBACK)
    else:
        print(f"pxtextmining comments not found at {FEEDBACK}: training without them")
    if args.leave_out:
        leave_out(args.leave_out, background)
        return 0
    screen = Screen(default_lexicon(), None)
    tune = read_examples(EVALUATION, split="tune")
    model = train(screen, tune, background)
    MODEL.write_text(json.dumps(model, separators=(",", ":"), sort_keys=True) + "\n")
    print(
        f"trained on {len(tune)} tune texts, the shipped exemplars and "
        f"{model['background_comments']} feedback comments"
    )
    print(
        f"threshold {model['threshold']}, sentences {model['sentence_threshold']}, "
        f"without risk vocabulary {model['plain_threshold']}"
    )
    print(
        "real comments flagged out of fold "
        f"{model['real_comments_out_of_fold_flagged']} (lexicon included; by the model "
        f"{model['background_out_of_fold_flagged']} of those the lexicon let through)"
    )
    print(f"curated out-of-fold {model['curated_out_of_fold']}")
    print(f"tune out-of-fold {model['tune_out_of_fold']}")
    print(f"features: {len(model['word'])} word, {len(model['char'])} character")
    size = MODEL.stat().st_size // 1024
    print(f"wrote {MODEL} ({size} KiB) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
