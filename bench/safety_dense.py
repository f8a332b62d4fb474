"""Would dense word vectors beside the n-grams help the safety screen's semantic layer?

    .venv/bin/python bench/safety_dense.py [--batches 10 ... 35] [--scales 0 1 2]

Leave one batch out over the blind-written tune batches: for each batch, the semantic
layer is fitted without it (exemplars, the rest of the tune split and the real feedback
comments as in ``training.py``) and scores the batch; the lexicon is as shipped. The
scores of all the batches are pooled and the screen's recall is read at fixed budgets for
over-flagging (the whole-text and sentence thresholds swept together, the best pair kept),
once per scale of the dense block (0: n-grams alone, the shipped model).

The dense block is the unit-length mean of the words' vectors in the static embedding the
insights ship (``consultations/insights/data/static_embedding.npz``, distilled from
all-MiniLM-L6-v2, Apache-2.0), times the scale. Experiment only: the screen does not use it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from consultations.safety.lexicon import default_lexicon
from consultations.safety.screen import Screen
from consultations.safety.semantic import char_features, split_sentences, word_features
from consultations.safety.training import (
    _C,
    _vectoriser,
    read_feedback_comments,
    shipped_exemplars,
)

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "tests" / "data" / "safety" / "evaluation.jsonl"
EMBEDDING = ROOT / "consultations" / "insights" / "data" / "static_embedding.npz"
FEEDBACK = next(
    (
        path
        for base in (ROOT.parent, ROOT.parent.parent)
        if (path := base / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv").exists()
    ),
    ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv",
)


class Dense:
    """Unit-length mean word vectors of normalised texts."""

    def __init__(self) -> None:
        data = np.load(EMBEDDING)
        self.index = {str(w): i for i, w in enumerate(data["words"])}
        self.vectors = np.asarray(data["vectors"], dtype=np.float64)

    def _id(self, token: str) -> int | None:
        token = token.replace("'", "")
        found = self.index.get(token)
        if found is None and len(token) > 3 and token.endswith("s"):
            found = self.index.get(token[:-1])
        return found

    def matrix(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        out = np.zeros((len(texts), self.vectors.shape[1]))
        for row, text in enumerate(texts):
            ids = [i for t in text.split() if (i := self._id(t)) is not None]
            if ids:
                v = self.vectors[ids].sum(axis=0)
                out[row] = v / (np.linalg.norm(v) or 1.0)
        return out


class Fitted:
    def __init__(
        self,
        prepared: Sequence[str],
        labels: Sequence[int],
        background: Sequence[str],
        dense: Dense,
        scale: float,
    ) -> None:
        self.dense, self.scale = dense, scale
        self.word = _vectoriser(1).fit([word_features(t) for t in prepared])
        self.char = _vectoriser(2).fit([char_features(t) for t in prepared])
        texts = [*prepared, *background]
        self.classifier = LogisticRegression(C=_C, class_weight="balanced", max_iter=5000)
        self.classifier.fit(self._matrix(texts), np.asarray([*labels, *([0] * len(background))]))

    def _matrix(self, texts: Sequence[str]) -> Any:
        blocks = [
            self.word.transform([word_features(t) for t in texts]),
            self.char.transform([char_features(t) for t in texts]),
        ]
        if self.scale:
            blocks.append(sparse.csr_matrix(self.dense.matrix(texts) * self.scale))
        return sparse.hstack(blocks).tocsr()

    def probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        if not texts:
            return np.zeros(0)
        return np.asarray(self.classifier.predict_proba(self._matrix(texts))[:, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=list(range(10, 40)))
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.06, 0.08, 0.10])
    parser.add_argument(
        "--at", nargs="*", default=[], metavar="WHOLE:SENTENCE", help="also these thresholds"
    )
    args = parser.parse_args()
    screen = Screen(default_lexicon(), None)
    dense = Dense()
    with EVALUATION.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    tune = [r for r in rows if r["split"] == "tune"]
    ordinary = []
    if FEEDBACK.exists():
        for comment in read_feedback_comments(FEEDBACK):
            hits, read = screen.read(comment)
            if not hits:
                ordinary.append(read)
    exemplars = [(e.text, e.label) for e in shipped_exemplars()]
    reading: dict[str, tuple[bool, str]] = {}
    for text in {*(t for t, _ in exemplars), *(str(r["text"]) for r in tune)}:
        hits, prepared = screen.read(text)
        reading[text] = (bool(hits), prepared)
    held_rows = [r for r in tune if r.get("batch", 1) in args.batches]
    for scale in args.scales:
        started = time.perf_counter()
        whole: dict[str, float] = {}
        sentence: dict[str, float] = {}
        for batch in args.batches:
            train = exemplars + [
                (str(r["text"]), int(r["label"])) for r in tune if r.get("batch", 1) != batch
            ]
            fitted = Fitted(
                [reading[t][1] for t, _ in train], [y for _, y in train], ordinary, dense, scale
            )
            held = [str(r["text"]) for r in tune if r.get("batch", 1) == batch]
            for text, p in zip(
                held, fitted.probabilities([reading[t][1] for t in held]), strict=True
            ):
                whole[text] = float(p)
            pieces = [
                (text, part)
                for text in held
                if len(parts := split_sentences(reading[text][1])) > 1
                for part in parts
                if screen.scorable(part)
            ]
            for (text, _), p in zip(
                pieces, fitted.probabilities([part for _, part in pieces]), strict=True
            ):
                sentence[text] = max(sentence.get(text, 0.0), float(p))
        labels = np.asarray([int(r["label"]) for r in held_rows])
        texts = [str(r["text"]) for r in held_rows]
        lex = np.asarray([reading[t][0] for t in texts])
        risky = np.asarray([screen.scorable(reading[t][1]) for t in texts])
        pw = np.asarray([whole[t] for t in texts])
        ps = np.asarray([sentence.get(t, 0.0) for t in texts])
        pos, neg = labels == 1, labels == 0
        grid = []
        for t in np.arange(0.20, 1.0, 0.01):
            base = lex | (risky & (pw >= t))
            for s in np.arange(0.30, 1.01, 0.02):
                flagged = base | (ps >= s)
                grid.append((flagged[pos].mean(), flagged[neg].mean(), t, s, flagged))
        print(f"scale {scale}: {time.perf_counter() - started:.0f} s", flush=True)
        for budget in args.budgets:
            recall, over, t, s, flagged = max(
                (g for g in grid if g[1] <= budget), key=lambda g: (g[0], -g[1])
            )
            per = []
            for category in sorted({str(r["category"]) for r in held_rows if r["label"]}):
                mask = np.asarray(
                    [bool(r["label"]) and r["category"] == category for r in held_rows]
                )
                per.append(f"{category} {flagged[mask].mean():.3f}")
            print(
                f"  budget {budget:.2f}: recall {recall:.3f} ({int(flagged[pos].sum())}/"
                f"{int(pos.sum())}), over-flagging {over:.3f} ({int(flagged[neg].sum())}/"
                f"{int(neg.sum())}) at whole {t:.2f}, sentence {s:.2f}; " + ", ".join(per),
                flush=True,
            )
        for pair in args.at:
            t, s = (float(v) for v in pair.split(":"))
            flagged = lex | (risky & (pw >= t)) | (ps >= s)
            newest = args.batches[-2:]
            last = np.asarray([r.get("batch", 1) in newest for r in held_rows])
            print(
                f"  at {t:.2f}/{s:.2f}: recall {flagged[pos].mean():.3f}, over-flagging "
                f"{flagged[neg].mean():.3f}; batches {newest[0]} and {newest[1]} "
                f"{flagged[pos & last].mean():.3f}"
                f" / {flagged[neg & last].mean():.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
