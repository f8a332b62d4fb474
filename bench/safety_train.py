"""Train the safety screen's semantic layer and write its model file.

    .venv/bin/python bench/safety_train.py

Trains on the package's exemplars, the evaluation set's tune split (never the held-out
split) and, when present, a sample of real NHS feedback comments from
``../shared/data/pxtextmining-phase1/text_data.csv`` (MIT) as ordinary look-alikes;
chooses the thresholds for recall on out-of-fold scores for the tune split and the
comments, and writes ``consultations/safety/data/semantic_model.json``. Run it after
changing the exemplars, the tune split, the lexicon's masks or the normalisation; a test
fails while the model's fingerprint does not match the training texts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from consultations.safety.lexicon import default_lexicon
from consultations.safety.screen import Screen
from consultations.safety.training import read_examples, read_feedback_comments, train

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "tests" / "data" / "safety" / "evaluation.jsonl"
FEEDBACK = ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv"
MODEL = ROOT / "consultations" / "safety" / "data" / "semantic_model.json"


def main() -> int:
    started = time.perf_counter()
    screen = Screen(default_lexicon(), None)
    tune = read_examples(EVALUATION, split="tune")
    background: list[str] = []
    if FEEDBACK.exists():
        background = read_feedback_comments(FEEDBACK)
    else:
        print(f"pxtextmining comments not found at {FEEDBACK}: training without them")
    model = train(screen, tune, background)
    MODEL.write_text(json.dumps(model, separators=(",", ":"), sort_keys=True) + "\n")
    print(
        f"trained on {len(tune)} tune texts, the shipped exemplars and "
        f"{model['background_comments']} feedback comments"
    )
    print(f"threshold {model['threshold']}, sentences {model['sentence_threshold']}")
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
