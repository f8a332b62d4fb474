"""A static word embedding shipped with the package: meaning beyond a service's own words.

Two replies about "the receptionist was abrupt" and "front desk staff were rude" share no
content word, so a vocabulary-only space cannot bring them together; a sentence encoder
can, but costs a neural network per reply. A static embedding keeps most of that for the
cost of a table look-up: each word's vector was computed once, at build time, by
``bench/distil_embedding.py`` (the model2vec method over sentence-transformers
all-MiniLM-L6-v2, Apache-2.0), reduced by PCA, weighted by Zipf rank and stored as
float16 in ``data/static_embedding.npz``. A reply's vector is the mean of its words'.

Only numpy (and scipy, already a dependency) is needed at run time. When the file is
missing (a trimmed install), every caller falls back to the vocabulary and the trained
category profile alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from itertools import chain

import numpy as np
import numpy.typing as npt

EMBEDDING_FILE = "static_embedding.npz"

FloatArray = npt.NDArray[np.float32]


class StaticEmbedding:
    """Word vectors keyed by the light stems that :func:`text.theme_tokens` produces."""

    def __init__(self, words: Sequence[str], vectors: npt.NDArray[np.floating]) -> None:
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.index: dict[str, int] = dict(zip(words, range(len(words)), strict=True))
        # One zero row at the end stands for "no known word" (filled in place: one copy).
        self.vectors: FloatArray = np.zeros((len(vectors) + 1, vectors.shape[1]), np.float32)
        self.vectors[:-1] = vectors
        self.dims = int(vectors.shape[1])

    def embed_many(self, token_lists: Sequence[Sequence[str]]) -> FloatArray:
        """Unit-length mean vectors, one row per token list (zeros when no word is known).

        One sparse (replies x words) matrix times the word vectors: a single pass in C
        rather than a small sum per reply.
        """
        # Loaded here: intake embeds one reply at a time and never needs scipy.
        from scipy import sparse  # type: ignore[import-untyped]

        n = len(token_lists)
        if n == 0:
            return np.zeros((0, self.dims), dtype=np.float32)
        get = self.index.get
        lengths = np.fromiter(map(len, token_lists), dtype=np.intp, count=n)
        total = int(lengths.sum())
        cols = np.fromiter(
            (get(t, -1) for t in chain.from_iterable(token_lists)), dtype=np.intp, count=total
        )
        rows = np.repeat(np.arange(n, dtype=np.intp), lengths)
        known = cols >= 0
        counts = sparse.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (rows[known], cols[known])),
            shape=(n, len(self.vectors)),
        )
        out = np.asarray(counts @ self.vectors, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: FloatArray = out / norms
        return result

    def embed(self, tokens: Sequence[str]) -> FloatArray:
        """One reply's unit-length vector (intake calls this once per reply: kept small)."""
        get = self.index.get
        return self.embed_ids([i for t in tokens if (i := get(t)) is not None])

    def embed_ids(self, ids: list[int]) -> FloatArray:
        """:meth:`embed` of tokens already looked up in :attr:`index` (each at most once)."""
        if not ids:
            zero: FloatArray = self.vectors[-1]
            return zero
        total: FloatArray = self.vectors[ids].sum(axis=0)
        # float32's square root, taken through float64 and rounded back: the same number
        # (a double's correctly rounded root rounds to the float's), without numpy's call.
        norm = float(np.float32(math.sqrt(total @ total)))
        return total / norm if norm else total


def load_embedding(path: str | os.PathLike[str]) -> StaticEmbedding:
    """Read an embedding file written by ``bench/distil_embedding.py``."""
    with np.load(path, allow_pickle=False) as data:
        # tolist() gives Python strings in one pass (str() of each numpy string took
        # most of the loading time).
        return StaticEmbedding(data["words"].tolist(), data["vectors"])


@cache
def default_embedding() -> StaticEmbedding | None:
    """The shipped embedding, or None when the file is not installed (the fallback)."""
    source = resources.files("consultations.insights").joinpath("data", EMBEDDING_FILE)
    if not source.is_file():
        return None
    with resources.as_file(source) as path:
        return load_embedding(path)
