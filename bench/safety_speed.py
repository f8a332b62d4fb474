"""Speed of the safety screen: texts per second for single calls and for assess_many.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/safety_speed.py [--seconds 3]

Texts are real NHS feedback comments (pxtextmining, MIT, read from
``../shared/data/pxtextmining-phase1/text_data.csv`` when present) with the evaluation
set's disclosures mixed in at 2%; without the comments, the evaluation set's look-alikes
and disclosures. Runs on one core (the screen is single-threaded Python); rates are per
second of this process's CPU time, so other work on a shared machine does not lower them.

With ``--baseline REV`` the whole screen of git revision REV (its ``consultations/safety``
package, code and data, unpacked to a temporary folder) and today's are timed in two
child processes that take turns on the same texts, and the ratio of their medians is
printed: on a busy machine the ratio holds where the rates do not, so a rate measured for
REV on a quiet machine times the ratio estimates today's rate there.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from consultations.safety.screen import assess, assess_many, default_screen

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


#: A child process's timing loop: screen every text once to warm up, then for a while.
_CHILD = """
import json, sys, time
from consultations.safety.screen import assess
texts = json.load(open(sys.argv[1], encoding="utf-8"))
seconds = float(sys.argv[2])
for text in texts:
    assess(text)
done = 0
started = time.process_time()
while time.process_time() - started < seconds:
    for text in texts:
        assess(text)
    done += len(texts)
print(done / (time.process_time() - started))
"""


def _child_rate(package_root: Path, texts_file: Path, seconds: float) -> float:
    """Texts per CPU second of one child process screening with the package under root."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(texts_file), str(seconds)],
        env={**os.environ, "PYTHONPATH": str(package_root)},
        # From the package's own folder: ``python -c`` puts the working folder first on
        # the path, which would otherwise import the checkout the script was started in.
        cwd=package_root,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.strip())


def unpack_screen(revision: str, folder: Path) -> Path:
    """The safety screen of git revision ``revision`` (code and data) unpacked under
    ``folder``; the returned folder goes first on a child process's path."""
    base = folder / "baseline"
    base.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision, "consultations/__init__.py", "consultations/safety"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(base, filter="data")
    return base


def compare(revision: str, texts: list[str], seconds: float, turns: int = 5) -> None:
    """Print today's rate, REV's and their ratio, the two timed in turns."""
    with tempfile.TemporaryDirectory() as folder:
        base = unpack_screen(revision, Path(folder))
        texts_file = Path(folder) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        now: list[float] = []
        then: list[float] = []
        for _ in range(turns):
            now.append(_child_rate(ROOT, texts_file, seconds))
            then.append(_child_rate(base, texts_file, seconds))
    print(f"  now:      {statistics.median(now):8.0f} texts/s  (turns: {_rates(now)})")
    print(f"  {revision}: {statistics.median(then):8.0f} texts/s  (turns: {_rates(then)})")
    print(f"  ratio now / {revision}: {statistics.median(now) / statistics.median(then):.3f}")
    ratios = sorted(n / t for n, t in zip(now, then, strict=True))
    print(f"  ratio turn by turn: {', '.join(f'{r:.3f}' for r in ratios)}")


def _rates(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


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
        print(f"one call per text, against the whole screen at {args.baseline}")
        compare(args.baseline, texts, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
