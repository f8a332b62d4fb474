"""Themes in free-text replies: groups of similar replies, named by their own words.

Each reply is placed in a space made of two parts, both read from its stored analysis:

* the consultation's own vocabulary (TF-IDF over the reply's content words, reduced with
  truncated SVD), which finds what this consultation's replies are about;
* the reply's profile over the nine NHS patient-experience categories from the shipped
  model, which carries what thousands of labelled comments taught about which words go
  together (so "rude receptionist" and "nurses were kind" both sit near "Staff").

k-means groups the replies; each group is named by the phrase its replies use most
relative to the rest (see :mod:`consultations.insights.phrases`), keeps its distinctive
words as keywords, and is quoted by replies that are close to its centre and unlike each
other.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.cluster import KMeans  # type: ignore[import-untyped]
from sklearn.decomposition import TruncatedSVD  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]

from consultations.insights import subcategories
from consultations.insights.phrases import PhraseNamer, label_of

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Largest number of themes shown; more overwhelms a reader.
MAX_THEMES = 12
#: Weight of the category profile against the vocabulary part (both unit length).
CATEGORY_WEIGHT = 1.5
#: Fit the SVD and k-means on at most this many replies, then place the rest: keeps a
#: 100,000-reply report inside its time budget with no visible change in the themes.
FIT_SAMPLE = 12_000
SVD_COMPONENTS = 40
#: Weight of the static-embedding part (unit length) when the embedding is shipped.
EMBEDDING_WEIGHT = 1.0
QUOTES_PER_THEME = 3
RANDOM_STATE = 0


@dataclass(frozen=True)
class ThemeInput:
    """What theme finding needs from the replies, one column per field (one row each).

    Columns rather than one object per reply: building 100,000 small objects costs more
    than the clustering itself.
    """

    tokens: Sequence[Sequence[str]]
    categories: FloatArray
    words: Sequence[int]
    quotable: Sequence[bool]
    texts: Sequence[str]
    #: A further check before a reply is quoted, asked only of the few about to be chosen.
    allowed: Callable[[int], bool] | None = None
    #: Static-embedding vectors of the replies (see :mod:`.embedding`), when shipped.
    embedding: npt.NDArray[np.floating] | None = None

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Theme:
    """One theme: its name, its distinctive words, its members and chosen quotes.

    ``members`` and ``quotes`` are indices into the documents given to :func:`find_themes`.
    """

    label: str
    keywords: tuple[str, ...]
    members: IntArray
    quotes: tuple[int, ...]
    category: str | None
    #: The theme's most distinctive phrases, best first (the label is one of them,
    #: unless a framework sub-theme fits: see :mod:`.subcategories`).
    phrases: tuple[str, ...] = ()
    subcategory: str | None = None


def theme_count(n: int, max_themes: int = MAX_THEMES) -> int:
    """How many themes for ``n`` replies: grows like sqrt(n/3), from 1 up to ``max_themes``."""
    if n < 3:
        return 1
    return max(1, min(max_themes, round(math.sqrt(n / 3))))


def find_themes(
    docs: ThemeInput,
    category_names: Sequence[str],
    *,
    max_themes: int = MAX_THEMES,
    n_themes: int | None = None,
    category_weight: float = CATEGORY_WEIGHT,
    embedding_weight: float | None = None,
) -> tuple[list[Theme], IntArray]:
    """Group replies into themes; returns the themes (largest first) and each reply's theme.

    Deterministic for the same input. ``n_themes`` fixes the number of groups (used by
    the evaluation); otherwise it follows :func:`theme_count`. ``category_weight`` 0 turns
    the category profile off (vocabulary only), as the evaluation does for comparison.
    """
    n = len(docs)
    if n == 0:
        return [], np.zeros(0, dtype=np.intp)
    vocab, x = _tfidf(docs.tokens)
    probs = docs.categories
    space = _space(x, probs, category_weight, docs.embedding, embedding_weight)
    k = n_themes if n_themes is not None else theme_count(n, max_themes)
    assignment = _cluster(space, k)
    # Renumber by size so theme 0 is the largest.
    sizes = np.bincount(assignment)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    assignment = rank[assignment].astype(np.intp)

    namer = PhraseNamer(docs.texts, docs.quotable)
    words_by_id = _surface(vocab)
    df_all = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float64)
    themes: list[Theme] = []
    used_labels: set[str] = set()
    for t in range(int(assignment.max()) + 1):
        members = np.flatnonzero(assignment == t).astype(np.intp)
        if len(members) == 0:
            continue
        keywords = _keywords(x, members, df_all, n, words_by_id)
        mean_profile = probs[members].mean(axis=0)
        top = int(mean_profile.argmax())
        category = category_names[top] if mean_profile[top] >= 0.5 else None
        quotes = _quotes(space, x, members, docs)
        phrases = namer.ranked(members)
        if len(phrases) < 1 or all(p in used_labels for p in phrases):
            extra = namer.fallback(members, quotes)
            phrases += [extra] if extra and extra not in phrases else []
        sub = subcategories.fitting(namer.sample_texts(members), category)
        if sub is not None and sub.name.lower() not in used_labels:
            label = sub.name
        else:
            sub = None
            label = _label(phrases, category, used_labels)
        used_labels.add(label.lower())
        themes.append(
            Theme(
                label,
                keywords,
                members,
                quotes,
                category,
                tuple(phrases),
                sub.name if sub is not None else None,
            )
        )
    return themes, assignment


def _tfidf(token_lists: Sequence[Sequence[str]]) -> tuple[dict[str, int], sparse.csr_matrix]:
    vocab: dict[str, int] = {}
    setdefault = vocab.setdefault
    indices = [setdefault(t, len(vocab)) for t in chain.from_iterable(token_lists)]
    n = len(token_lists)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, token_lists), dtype=np.int64, count=n), out=indptr[1:])
    x = sparse.csr_matrix(
        (np.ones(len(indices)), np.asarray(indices, dtype=np.int64), indptr),
        shape=(n, max(1, len(vocab))),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    df = np.asarray(x.sum(axis=0)).ravel()
    idf = np.log((1 + n) / (1 + df)) + 1
    # Words used once carry no grouping signal and only slow the SVD down.
    idf[df < 2] = 0.0
    x = sparse.csr_matrix(x @ sparse.diags(idf))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sparse.csr_matrix(sparse.diags(1.0 / norms) @ x)
    x.eliminate_zeros()
    return vocab, x


def _sample(n: int, size: int) -> IntArray:
    if n <= size:
        return np.arange(n, dtype=np.intp)
    rng = np.random.default_rng(RANDOM_STATE)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


def _space(
    x: sparse.csr_matrix,
    probs: FloatArray,
    category_weight: float,
    embedding: npt.NDArray[np.floating] | None = None,
    embedding_weight: float | None = None,
) -> FloatArray:
    n, v = x.shape
    components = min(SVD_COMPONENTS, v - 1, n - 1)
    parts: list[FloatArray] = []
    if components >= 2 and x.nnz > 0:
        svd = TruncatedSVD(components, algorithm="randomized", random_state=RANDOM_STATE)
        # A handful of replies with almost no words in common has no variance left to
        # explain: sklearn then divides 0 by 0 for explained_variance_ratio_, which is
        # not used here, so that warning is not a fault.
        with np.errstate(invalid="ignore", divide="ignore"):
            svd.fit(x[_sample(n, FIT_SAMPLE)])
        z = np.asarray(svd.transform(x), dtype=np.float64)
        parts.append(_unit_rows(z))
    if category_weight > 0 or not parts:
        parts.append(category_weight * _unit_rows(probs))
    if embedding is not None:
        weight = EMBEDDING_WEIGHT if embedding_weight is None else embedding_weight
        if weight > 0:
            parts.append(weight * _unit_rows(np.asarray(embedding, dtype=np.float64)))
    return np.hstack(parts)


def _unit_rows(a: FloatArray) -> FloatArray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: FloatArray = a / norms
    return result


def _cluster(space: FloatArray, k: int) -> IntArray:
    n = len(space)
    sample = _sample(n, FIT_SAMPLE)
    fit_on = space[sample]
    # k-means cannot make more groups than there are distinct points.
    distinct = len(np.unique(np.round(fit_on, 6), axis=0))
    k = max(1, min(k, distinct))
    if k == 1:
        return np.zeros(n, dtype=np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KMeans(n_clusters=k, n_init=3, random_state=RANDOM_STATE).fit(fit_on)
    if len(sample) == n:
        return np.asarray(model.labels_, dtype=np.intp)
    return np.asarray(model.predict(space), dtype=np.intp)


def _surface(vocab: dict[str, int]) -> list[str]:
    words = [""] * len(vocab)
    for word, i in vocab.items():
        words[i] = word
    return words


def _keywords(
    x: sparse.csr_matrix,
    members: IntArray,
    df_all: FloatArray,
    n: int,
    words_by_id: Sequence[str],
    count: int = 6,
) -> tuple[str, ...]:
    """Words frequent in the theme and rarer elsewhere: p(w|theme) * log(p(w|theme)/p(w))."""
    df_in = np.asarray((x[members] > 0).sum(axis=0)).ravel().astype(np.float64)
    p_in = df_in / len(members)
    p_all = df_all / n
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(df_in >= 2, p_in * np.log(p_in / p_all), 0.0)
    score = np.nan_to_num(score)
    best = np.argsort(-score, kind="stable")[:count]
    return tuple(words_by_id[i] for i in best if score[i] > 0)


def _label(phrases: Sequence[str], category: str | None, used: set[str]) -> str:
    """The best phrase no other theme has taken; else the category."""
    for phrase in phrases:
        if phrase not in used:
            return label_of(phrase)
    base = f"Other replies about {category.lower()}" if category else "Short replies"
    label, suffix = base, 2
    while label.lower() in used:
        label = f"{base} ({suffix})"
        suffix += 1
    return label


def _quotes(
    space: FloatArray, x: sparse.csr_matrix, members: IntArray, docs: ThemeInput
) -> tuple[int, ...]:
    """Typical, readable and mutually different replies (maximal marginal relevance).

    Typical: close to the theme's centre. Readable: 6 to 60 words preferred, so a quote
    says something without being a wall of text (short ones still qualify if nothing
    longer exists). Different: each next quote is penalised by its word overlap with
    those already chosen, and near-copies are skipped.
    """
    quotable = np.asarray([i for i in members if docs.quotable[i]], dtype=np.intp)
    if len(quotable) == 0:
        return ()
    centre = space[members].mean(axis=0)
    centre_norm = float(np.linalg.norm(centre)) or 1.0
    vecs = space[quotable]
    typical = (vecs @ centre) / (np.linalg.norm(vecs, axis=1) * centre_norm + 1e-12)
    lengths = np.asarray([docs.words[i] for i in quotable])
    readable = np.where(lengths < 6, 0.6 + 0.08 * lengths, np.where(lengths > 60, 0.8, 1.0))
    relevance = typical * readable
    candidates = quotable[np.argsort(-relevance, kind="stable")[:60]]
    cand_rel = dict(zip(quotable.tolist(), relevance.tolist(), strict=True))
    overlap = np.asarray((x[candidates] @ x[candidates].T).todense())
    chosen: list[int] = []
    chosen_pos: list[int] = []
    seen_texts: set[str] = set()
    refused: set[int] = set()
    while len(chosen) < QUOTES_PER_THEME:
        best, best_pos, best_score = -1, -1, -math.inf
        for pos, i in enumerate(candidates.tolist()):
            if i in chosen:
                continue
            key = " ".join(docs.texts[i].lower().split())
            if key in seen_texts:
                continue
            redundancy = max((overlap[pos, p] for p in chosen_pos), default=0.0)
            if redundancy > 0.8 or i in refused:
                continue
            score = cand_rel[i] - 0.7 * redundancy
            if score > best_score:
                best, best_pos, best_score = i, pos, score
        if best < 0:
            break
        if docs.allowed is not None and not docs.allowed(best):
            refused.add(best)
            continue
        chosen.append(best)
        chosen_pos.append(best_pos)
        seen_texts.add(" ".join(docs.texts[best].lower().split()))
    return tuple(chosen)
