"""Speed of the safety screen: texts per second for single calls and for assess_many.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/safety_speed.py [--seconds 3]

Texts are real NHS feedback comments (pxtextmining, MIT, read from
``../shared/data/pxtextmining-phase1/text_data.csv`` when present) with the evaluation
set's disclosures mixed in at 2%; without the comments, the evaluation set's look-alikes
and disclosures. Runs on one core (the screen is single-threaded Python); rates are per
second of this process's CPU time, so other work on a shared machine does not lower them.

With ``--baseline REV`` the screen built from the lexicon and model at git revision REV
(with today's code) is timed in the same run, the two taking turns, and the ratio is
printed: on a busy machine the ratio holds where the rates do not, so a rate measured for
REV on a quiet machine times the ratio estimates today's rate there.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from consultations.safety.lexicon import Lexicon
from consultations.safety.screen import Screen, assess, assess_many, default_screen
from consultations.safety.semantic import SemanticModel

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "tests" / "data" / "safety" / "evaluation.jsonl"
FEEDBACK = ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv"


def corpus() -> tuple[str, list[str]]:
    """A description of the texts, and the texts."""
    rows = [json.loads(line) for line in EVALUATION.read_text(encoding="utf-8").splitlines()]
    disclosures = [r["text"] for r in rows if r["label"] == 1]
    if FEEDBACK.exists():
        with FEEDBACK.open(newline="", encoding="utf-8") as handle:
            comments = [(r.get("feedback") or "").strip() for r in csv.DictReader(handle)]
        comments = [c for c in comments if c]
        texts: list[str] = []
        for i, comment in enumerate(comments):
            texts.append(comment)
            if i % 50 == 0:
                texts.append(disclosures[(i // 50) % len(disclosures)])
        return f"{len(comments)} NHS feedback comments with 2% disclosures", texts
    return "the evaluation set", [r["text"] for r in rows]


def _rate(run: object, texts: list[str], seconds: float) -> float:
    assert callable(run)
    # CPU time of this process, so that other work on a shared machine does not count.
    done = 0
    started = time.process_time()
    while time.process_time() - started < seconds:
        run(texts)
        done += len(texts)
    return done / (time.process_time() - started)


def screen_at(revision: str) -> Screen:
    """The screen with the lexicon and model files of a git revision."""

    def show(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{revision}:{path}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    data = yaml.safe_load(show("consultations/safety/data/lexicon.yaml"))
    # Cues that today's code reads but REV's lexicon did not have come from today's.
    current = yaml.safe_load((ROOT / "consultations/safety/data/lexicon.yaml").read_text())
    data["cues"] = {**current["cues"], **data["cues"]}
    lexicon = Lexicon(data)
    model = SemanticModel(json.loads(show("consultations/safety/data/semantic_model.json")))
    return Screen(lexicon, model)


def _compare(screen: Screen, base: Screen, texts: list[str], seconds: float) -> None:
    # Turns of a fraction of the time each, so that both see the same load.
    runs: dict[str, list[float]] = {"now": [], "baseline": []}
    for _ in range(6):
        for name, which in (("now", screen), ("baseline", base)):
            runs[name].append(_rate(_screening(which), texts, seconds / 6))
    now, then = statistics.median(runs["now"]), statistics.median(runs["baseline"])
    print(f"  now:      {now:8.0f} texts/s")
    print(f"  baseline: {then:8.0f} texts/s")
    print(f"  ratio now / baseline: {now / then:.3f}")


def _screening(screen: Screen) -> Callable[[list[str]], None]:
    def run(batch: list[str]) -> None:
        for text in batch:
            screen.assess(text)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--baseline", metavar="REV", help="compare with the screen at REV")
    args = parser.parse_args()
    label, texts = corpus()
    lengths = [len(t) for t in texts]
    print(f"{len(texts)} texts from {label}; median {statistics.median(lengths):.0f} characters")
    started = time.perf_counter()
    default_screen()
    print(f"first use (load lexicon and model): {time.perf_counter() - started:.3f} s")

    def single(batch: list[str]) -> None:
        for text in batch:
            assess(text)

    def many(batch: list[str]) -> None:
        assess_many(batch)

    short = [t for t in texts if len(t) <= 120]
    for name, batch in (
        ("all texts", texts),
        (f"replies up to 120 characters ({len(short)})", short),
    ):
        print(name)
        print(f"  assess, one call per text: {_rate(single, batch, args.seconds):8.0f} texts/s")
        print(f"  assess_many, one batch:    {_rate(many, batch, args.seconds):8.0f} texts/s")
    if args.baseline:
        print(f"one call per text, against the lexicon and model at {args.baseline}")
        _compare(default_screen(), screen_at(args.baseline), texts, 2 * args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
