"""The screen at a git revision and today's give the same outcome on every text.

    .venv/bin/python bench/safety_identity.py [--baseline main]

A speed change to the screen must not change what it finds. This script screens every
text of the evaluation set, the language set, the shipped exemplars and the real NHS
feedback comments (``../shared/data/pxtextmining-phase1/text_data.csv`` when present) with
the whole ``consultations/safety`` package of REV (code and data, unpacked to a temporary
folder) and with today's, each in a child process, and compares, text by text: the
normalised and prepared text, the lexicon's hits and the text the semantic layer reads,
the verdict (flag, categories, urgency, review, evidence), the semantic probability (to
1e-9: the sums run over sets, whose order already differs between processes) and the
redaction. It prints the number of texts compared and every difference, and exits 1 when
there is one.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from common import output_in_checkout
from safety_speed import unpack_screen

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "safety"
EXEMPLARS = ROOT / "consultations" / "safety" / "data" / "exemplars.jsonl"
# ../shared beside the checkout, or beside the folder of worktrees it sits in.
FEEDBACK = next(
    (
        path
        for base in (ROOT.parent, ROOT.parent.parent)
        if (path := base / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv").exists()
    ),
    ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv",
)
TOLERANCE = 1e-9

#: A child process: every outcome of the screen for every text, as JSON on stdout.
_CHILD = """
import html, json, sys
from consultations.safety import redaction
from consultations.safety.normalise import fold, normalise_folded
from consultations.safety.screen import default_screen
from consultations.safety.semantic import split_sentences

screen = default_screen()
model = screen.model
texts = json.load(open(sys.argv[1], encoding="utf-8"))
out = []
for text in texts:
    stripped = html.unescape(text).replace("\\xa0", " ").strip()
    normalised = normalise_folded(fold(stripped), screen.known)
    prepared = screen.prepare(stripped)
    hits, readable = screen.lexicon.read(prepared)
    verdict = screen.assess(stripped)
    redacted = redaction.redact(stripped)
    sentences = split_sentences(readable)
    out.append({
        "normalised": normalised,
        "risky": screen.lexicon.risky(normalised),
        "prepared": prepared,
        "hits": [[h.category, h.phrase, h.start, h.underlying] for h in hits],
        "readable": readable,
        "verdict": [verdict.flagged, list(verdict.categories), verdict.urgent,
                    verdict.needs_review, verdict.evidence],
        "probability": model.probability(readable) if model else 0.0,
        "sentences": [model.probability(s) for s in sentences] if model else [],
        "category": model.category(readable) if model else "",
        "scorable": [screen.scorable(s) for s in sentences],
        "redacted": [redacted.text, redacted.changed],
    })
import consultations.safety.screen as module
json.dump({"module": module.__file__, "outcomes": out}, sys.stdout)
"""


def corpus() -> list[tuple[str, str]]:
    """(source, text) for every text compared."""
    texts: list[tuple[str, str]] = []
    for name in ("evaluation.jsonl", "languages.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            texts.append((name, json.loads(line)["text"]))
    for line in EXEMPLARS.read_text(encoding="utf-8").splitlines():
        texts.append(("exemplars.jsonl", json.loads(line)["text"]))
    if FEEDBACK.exists():
        with FEEDBACK.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                comment = (row.get("feedback") or "").strip()
                if comment:
                    texts.append(("text_data.csv", comment))
    return texts


def _outcomes(package_root: Path, texts_file: Path) -> list[dict[str, object]]:
    found = json.loads(output_in_checkout(package_root, "-c", _CHILD, str(texts_file)))
    # The screen screened is the one asked for, not another on the path.
    if not Path(found["module"]).resolve().is_relative_to(package_root.resolve()):
        raise SystemExit(f"{found['module']} is not under {package_root}")
    outcomes: list[dict[str, object]] = found["outcomes"]
    return outcomes


def _same(key: str, then: object, now: object) -> bool:
    if key in ("probability", "sentences"):
        a = then if isinstance(then, list) else [then]
        b = now if isinstance(now, list) else [now]
        return len(a) == len(b) and all(
            abs(float(x) - float(y)) <= TOLERANCE for x, y in zip(a, b, strict=True)
        )
    return then == now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", default="main")
    args = parser.parse_args()
    texts = corpus()
    with tempfile.TemporaryDirectory() as folder:
        base = unpack_screen(args.baseline, Path(folder))
        texts_file = Path(folder) / "texts.json"
        texts_file.write_text(json.dumps([text for _, text in texts]), encoding="utf-8")
        then = _outcomes(base, texts_file)
        now = _outcomes(ROOT, texts_file)
    differences = 0
    largest = 0.0
    for (source, text), old, new in zip(texts, then, now, strict=True):
        for key in ("probability", "sentences"):
            a, b = old[key], new[key]
            pairs = (
                zip(a, b, strict=False) if isinstance(a, list) and isinstance(b, list) else [(a, b)]
            )
            for x, y in pairs:
                largest = max(largest, abs(float(x) - float(y)))  # type: ignore[arg-type]
        for key, value in old.items():
            if not _same(key, value, new[key]):
                differences += 1
                print(f"{source}: {text[:70]!r}\n  {key}: {value!r}\n  now: {new[key]!r}")
    counts: dict[str, int] = {}
    for source, _ in texts:
        counts[source] = counts.get(source, 0) + 1
    flagged = sum(1 for outcome in now if outcome["verdict"][0])  # type: ignore[index,misc]
    print(
        f"{len(texts)} texts ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
        f"{flagged} flagged; {differences} differences against {args.baseline}; "
        f"largest difference in a probability {largest:.1e}"
    )
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
