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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from consultations.insights import subcategories
from consultations.insights.columns import TokenTable
from consultations.insights.embedding import StaticEmbedding
from consultations.insights.phrases import (
    PhraseNamer,
    judgement,
    label_of,
    reach,
    says_nothing_of_the_service,
    word_shares,
)
from consultations.insights.text import SENTIMENT_LABELS
from consultations.screening import given_names

if TYPE_CHECKING:
    # scikit-learn and SciPy are imported where themes are found, not with this module:
    # every process that stores or reports (``engage run`` and each command) imports it
    # through the report's sections, and importing them took about a second of CPU on a
    # quiet machine, more than anything else at start-up (tests/insights/test_imports.py).
    from scipy import sparse  # type: ignore[import-untyped]
    from sklearn.cluster import KMeans  # type: ignore[import-untyped]
    from sklearn.decomposition import TruncatedSVD  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Largest number of themes shown; more overwhelms a reader.
MAX_THEMES = 12
#: Weight of the category profile against the vocabulary part (both unit length).
CATEGORY_WEIGHT = 3.0
#: Fit the SVD and k-means on at most this many replies, then place the rest: keeps a
#: 100,000-reply report inside its time budget with no visible change in the themes.
FIT_SAMPLE = 12_000
SVD_COMPONENTS = 40
#: Up to this many replies, the space is made once and kept whole.
WHOLE_LIMIT = 256 * 400
#: Beyond it, replies are placed this many at a time once the themes are fitted: bounds
#: the memory of a large report (a multiple of the 256 rows k-means predicts in one go,
#: so that placing in batches gives the same themes as placing all at once).
PLACE_BATCH = 256 * 100
#: Weight of the static-embedding part (unit length) when the embedding is shipped.
EMBEDDING_WEIGHT = 1.0
QUOTES_PER_THEME = 3
#: A label speaks for its theme when its rarest word that says anything is in this
#: share of the theme's replies (see :func:`_label`).
LABEL_REACH = 0.1
#: How many of a theme's best phrases may name it, best first.
LABEL_CHOICES = 3
#: Share of a theme's replies a sub-theme's words need to name it when no phrase speaks
#: for the theme (see :data:`.subcategories.FIT_SHARE` for when one does).
LOOSE_FIT_SHARE = 0.25
#: Share of a theme's replies that must praise (or blame) for a label that does.
TONE_AGREES = 0.6
RANDOM_STATE = 0


@dataclass(frozen=True)
class ThemeInput:
    """What theme finding needs from the replies, one column per field (one row each).

    Columns rather than one object per reply: building 100,000 small objects costs more
    than the clustering itself. ``tokens`` may be plain token lists or a
    :class:`~consultations.insights.columns.TokenTable` (each reply's distinct tokens).
    """

    tokens: Sequence[Sequence[str]] | TokenTable
    categories: FloatArray
    words: Sequence[int] | npt.NDArray[np.integer]
    quotable: Sequence[bool] | npt.NDArray[np.bool_]
    texts: Sequence[str]
    #: A further check before a reply is quoted, asked only of the few about to be chosen.
    allowed: Callable[[int], bool] | None = None
    #: Static-embedding vectors of the replies (see :mod:`.embedding`), when shipped.
    embedding: npt.NDArray[np.floating] | None = None
    #: Or the embedding itself, applied batch by batch (nothing of size n is kept).
    embedder: StaticEmbedding | None = None
    #: Replies whose words never show in a theme's keywords (flagged by the safety
    #: screen): they belong to their theme and are counted, but say nothing of it.
    withheld: npt.NDArray[np.bool_] | None = None
    #: The questions the replies answer: a phrase that only repeats one names no theme.
    questions: Sequence[str] = ()
    #: Each reply's tone, as its index in :data:`~.text.SENTIMENT_LABELS`, when known: a
    #: label that praises or blames must agree with most of its theme.
    tone: npt.NDArray[np.integer] | None = None

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

    The space is fitted on at most :data:`FIT_SAMPLE` replies (a seeded sample) and the
    rest are placed :data:`PLACE_BATCH` at a time, so memory stays bounded however many
    replies there are; up to :data:`WHOLE_LIMIT` replies, everything is one batch.
    """
    # One BLAS and OpenMP thread: on a shared two-core machine under load, threads made
    # a 100,000-reply report 2-3x slower (bench/report_scale.py), and alone they gain
    # little at these sizes.
    with threadpool_limits(limits=1):
        return _find_themes(
            docs,
            category_names,
            max_themes=max_themes,
            n_themes=n_themes,
            category_weight=category_weight,
            embedding_weight=embedding_weight,
        )


def _find_themes(
    docs: ThemeInput,
    category_names: Sequence[str],
    *,
    max_themes: int,
    n_themes: int | None,
    category_weight: float,
    embedding_weight: float | None,
) -> tuple[list[Theme], IntArray]:
    n = len(docs)
    if n == 0:
        return [], np.zeros(0, dtype=np.intp)
    space = _Space(docs, category_weight, embedding_weight)
    k = n_themes if n_themes is not None else theme_count(n, max_themes)
    assignment, sums = space.cluster(k)
    # Renumber by size so theme 0 is the largest.
    sizes = np.bincount(assignment)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    assignment = rank[assignment].astype(np.intp)
    sums = sums[order]
    sizes = sizes[order]
    centres = sums / np.maximum(sizes, 1)[:, None]
    candidates = space.quote_candidates(assignment, centres)

    namer = PhraseNamer(docs.texts, docs.quotable, docs.questions)
    words_by_id = list(space.table.vocab)
    # Keywords come from the replies that may be read: a withheld reply counts in a
    # group of its own that no theme reads ("belt, stepfather, sister" from disclosures).
    groups = len(sizes)
    counted = (
        assignment
        if docs.withheld is None
        else np.where(docs.withheld, groups, assignment).astype(np.intp)
    )
    df_in_all = space.theme_document_frequency(counted, groups + 1)[:groups]
    readable_sizes = np.bincount(counted, minlength=groups + 1)[:groups]
    themes: list[Theme] = []
    used_labels: set[str] = set()
    for t in range(int(assignment.max()) + 1):
        members = np.flatnonzero(assignment == t).astype(np.intp)
        if len(members) == 0:
            continue
        readable = int(readable_sizes[t])
        keywords = (
            _keywords(df_in_all[t], readable, space.df_kept, n, words_by_id) if readable else ()
        )
        mean_profile = space.categories(members).mean(axis=0)
        top = int(mean_profile.argmax())
        category = category_names[top] if mean_profile[top] >= 0.5 else None
        quotes = _quotes(space, candidates[t], docs)
        # Phrases at least two people wrote. A theme too small for any is named by a
        # phrase of one of its replies, which then is that person's words: it names the
        # theme in the report, but is not one of its phrases, so nothing said back in
        # public ("You said ...") repeats one person's answer.
        phrases = namer.ranked(members)
        naming = phrases
        extra: str | None = None
        if len(phrases) < 1 or all(_taken(p, used_labels) for p in phrases):
            extra = namer.fallback(members, quotes)
            naming = [*phrases, extra] if extra and extra not in phrases else phrases
        texts = namer.sample_texts(members)
        agrees = _agrees_with(docs.tone, members)
        sub = subcategories.fitting(texts, category, docs.questions)
        if sub is not None and sub.name.lower() not in used_labels and agrees(sub.name):
            label = sub.name
        else:
            sub = None
            label, weak = _label(naming, category, used_labels, word_shares(texts), agrees)
            # The phrase of few writers ("Staff have to ask", one reply of eighteen) is
            # the weakest name of all.
            if weak or (extra is not None and label == label_of(extra)):
                # No phrase speaks for most of the theme ("Cups of tea" for replies about
                # the ward's toilets, heat, television and meals): a sub-theme that fits
                # more loosely says more of it.
                loose = subcategories.fitting(texts, category, docs.questions, LOOSE_FIT_SHARE)
                fits = loose is not None and loose.name.lower() not in used_labels
                if loose is not None and fits and agrees(loose.name):
                    sub, label = loose, loose.name
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


def _sample(n: int, size: int) -> IntArray:
    if n <= size:
        return np.arange(n, dtype=np.intp)
    rng = np.random.default_rng(RANDOM_STATE)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


#: Rows whose norms are taken at a time (see :func:`_row_norms`).
_NORM_ROWS = 4096


_Floats = TypeVar("_Floats", npt.NDArray[np.float32], npt.NDArray[np.float64])


def _row_norms(a: _Floats) -> _Floats:
    """Each row's Euclidean length, as an (n, 1) column: the same values, bit for bit, as
    ``np.linalg.norm(a, axis=1, keepdims=True)``, which squares the whole array into two
    temporary copies first. Here a few thousand rows are squared at a time: on a large
    report that is a few megabytes reused instead of hundreds of megabytes of fresh
    memory, whose first use costs more than the arithmetic."""
    norms = np.empty((len(a), 1), dtype=a.dtype)
    for start in range(0, len(a), _NORM_ROWS):
        part = a[start : start + _NORM_ROWS]
        np.sqrt(
            np.add.reduce(part * part, axis=1, keepdims=True), out=norms[start : start + _NORM_ROWS]
        )
    return norms


def _unit_rows(a: FloatArray) -> FloatArray:
    norms = _row_norms(a)
    norms[norms == 0] = 1.0
    result: FloatArray = a / norms
    return result


def _unit_rows_in_place(a: _Floats) -> _Floats:
    """:func:`_unit_rows`, dividing ``a`` itself."""
    norms = _row_norms(a)
    norms[norms == 0] = 1.0
    a /= norms
    return a


def _batches(n: int) -> list[IntArray]:
    if n <= WHOLE_LIMIT:
        return [np.arange(n, dtype=np.intp)]
    return [
        np.arange(start, min(n, start + PLACE_BATCH), dtype=np.intp)
        for start in range(0, n, PLACE_BATCH)
    ]


def _add_groups(sums: FloatArray, block: FloatArray, labels: IntArray) -> None:
    """Add each row of ``block`` to the sum of its group."""
    for t in range(len(sums)):
        mask = labels == t
        if mask.any():
            sums[t] += block[mask].sum(axis=0)


class _Space:
    """Where replies sit: vocabulary (TF-IDF reduced by SVD), category profile, embedding.

    Each part is unit length per reply; rows are made on demand for any set of replies,
    so a large consultation is never held as one (n, dimensions) array.
    """

    def __init__(
        self, docs: ThemeInput, category_weight: float, embedding_weight: float | None
    ) -> None:
        self.docs = docs
        self.n = n = len(docs)
        self.table = (
            docs.tokens
            if isinstance(docs.tokens, TokenTable)
            else TokenTable.from_lists(docs.tokens)
        )
        self.width = max(1, len(self.table.vocab))
        df = np.bincount(self.table.ids, minlength=self.width).astype(np.float64)
        idf = np.log((1 + n) / (1 + df)) + 1
        # Words used once carry no grouping signal and only slow the SVD down.
        idf[df < 2] = 0.0
        self.idf = idf
        #: Replies using each word that counts (as ``(x > 0).sum(axis=0)``).
        self.df_kept = np.where(idf > 0, df, 0.0)
        self.category_weight = category_weight
        self.embedding_weight = EMBEDDING_WEIGHT if embedding_weight is None else embedding_weight
        self._embedding_columns: npt.NDArray[np.intp] | None = None
        self._whole: FloatArray | None = None
        self.svd: TruncatedSVD | None = None
        components = min(SVD_COMPONENTS, self.width - 1, n - 1)
        if components >= 2 and self.df_kept.any():
            from sklearn.decomposition import TruncatedSVD

            svd = TruncatedSVD(components, algorithm="randomized", random_state=RANDOM_STATE)
            # A handful of replies with almost no words in common has no variance left
            # to explain: sklearn then divides 0 by 0 for explained_variance_ratio_,
            # which is not used here, so that warning is not a fault.
            with np.errstate(invalid="ignore", divide="ignore"):
                svd.fit(self.tfidf(_sample(n, FIT_SAMPLE)))
            self.svd = svd

    def categories(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.docs.categories[rows], dtype=np.float64)

    def tfidf(self, rows: IntArray) -> sparse.csr_matrix:
        """The unit-length TF-IDF rows of ``rows``."""
        from scipy import sparse

        part = self.table.take(np.asarray(rows, dtype=np.int64))
        x = sparse.csr_matrix(
            (np.ones(len(part.ids)), part.ids.astype(np.int64), part.ptr),
            shape=(len(rows), self.width),
        )
        x.sum_duplicates()
        x.data[:] = 1.0
        x = sparse.csr_matrix(x @ sparse.diags(self.idf))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        x = sparse.csr_matrix(sparse.diags(1.0 / norms) @ x)
        x.eliminate_zeros()
        return x

    def _embedding(self, rows: IntArray) -> npt.NDArray[np.floating] | None:
        docs = self.docs
        if docs.embedding is not None:
            return docs.embedding[rows]
        embedder = docs.embedder
        if embedder is None:
            return None
        if self._embedding_columns is None:
            get = embedder.index.get
            self._embedding_columns = np.asarray(
                [get(w, -1) for w in self.table.vocab], dtype=np.intp
            )
        from scipy import sparse

        part = self.table.take(np.asarray(rows, dtype=np.int64))
        cols = self._embedding_columns[part.ids]
        owner = np.repeat(np.arange(len(rows), dtype=np.intp), np.diff(part.ptr))
        known = cols >= 0
        counts = sparse.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (owner[known], cols[known])),
            shape=(len(rows), len(embedder.vectors)),
        )
        out = np.asarray(counts @ embedder.vectors, dtype=np.float32)
        return _unit_rows_in_place(out)

    def rows(self, rows: IntArray) -> FloatArray:
        """The space of ``rows``, one row each."""
        whole = self._whole
        if whole is not None:
            if len(rows) == len(whole) and (len(rows) == 0 or rows[-1] == len(whole) - 1):
                return whole  # every row, in order (callers pass increasing rows): no copy
            return whole[rows]
        # Each part is made unit length in place and written straight into its columns
        # (the same arithmetic as stacking copies, without the copies).
        # The embedding part (the widest) is widened to float64 in its own columns and
        # made unit length there, not in a copy of its own.
        parts: list[tuple[FloatArray, float]] = []
        if self.svd is not None:
            z = np.asarray(self.svd.transform(self.tfidf(rows)), dtype=np.float64)
            parts.append((_unit_rows_in_place(z), 1.0))
        if self.category_weight > 0 or not parts:
            probs = np.array(self.categories(rows), dtype=np.float64)
            parts.append((_unit_rows_in_place(probs), self.category_weight))
        embedding = self._embedding(rows)
        if embedding is None or self.embedding_weight <= 0:
            embedding = None
        width = sum(p.shape[1] for p, _ in parts)
        extra = 0 if embedding is None else embedding.shape[1]
        out = np.empty((len(rows), width + extra), dtype=np.float64)
        start = 0
        for part, weight in parts:
            end = start + part.shape[1]
            if weight == 1.0:
                out[:, start:end] = part
            else:
                np.multiply(weight, part, out=out[:, start:end])
            start = end
        if embedding is not None:
            vectors = out[:, start:]
            vectors[...] = embedding
            _unit_rows_in_place(vectors)
            if self.embedding_weight != 1.0:
                vectors *= self.embedding_weight
        return out

    def cluster(self, k: int) -> tuple[IntArray, FloatArray]:
        """Each reply's group, and the sum of each group's rows in the space."""
        n = self.n
        if n <= WHOLE_LIMIT:
            # Small enough to keep whole: every later step reads it, none recomputes it.
            self._whole = self.rows(np.arange(n, dtype=np.intp))
        sample = _sample(n, FIT_SAMPLE)
        fit_on = self.rows(sample)
        # k-means cannot make more groups than there are distinct points.
        distinct = len(np.unique(np.round(fit_on, 6), axis=0))
        k = max(1, min(k, distinct))
        assignment: IntArray | None = None
        model: KMeans | None = None
        if k == 1:
            assignment = np.zeros(n, dtype=np.intp)
        else:
            from sklearn.cluster import KMeans
            from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = KMeans(n_clusters=k, n_init=3, random_state=RANDOM_STATE).fit(fit_on)
            if len(sample) == n:
                assignment = np.asarray(model.labels_, dtype=np.intp)
        if assignment is None:
            assert model is not None
            # Place the rest batch by batch, adding up each group's rows on the way.
            parts: list[IntArray] = []
            sums = np.zeros((k, fit_on.shape[1]), dtype=np.float64)
            for batch in _batches(n):
                block = self.rows(batch)
                labels = np.asarray(model.predict(block), dtype=np.intp)
                parts.append(labels)
                _add_groups(sums, block, labels)
            return np.concatenate(parts), sums[: int(max(p.max() for p in parts)) + 1]
        groups = int(assignment.max()) + 1
        sums = np.zeros((groups, fit_on.shape[1]), dtype=np.float64)
        for batch in _batches(n):
            _add_groups(sums, self.rows(batch), assignment[batch])
        return assignment, sums

    def quote_candidates(
        self, assignment: IntArray, centres: FloatArray, keep: int = 60
    ) -> list[tuple[IntArray, FloatArray]]:
        """Per theme, its most typical readable quotable replies (at most ``keep``), best
        first, with their relevance (see :func:`_quotes`)."""
        docs = self.docs
        quotable = np.asarray(docs.quotable, dtype=bool)
        words = np.asarray(docs.words)
        groups = len(centres)
        found: list[list[tuple[IntArray, FloatArray]]] = [[] for _ in range(groups)]
        for batch in _batches(self.n):
            block: FloatArray | None = None
            labels = assignment[batch]
            for t in range(groups):
                mask = (labels == t) & quotable[batch]
                if not mask.any():
                    continue
                if block is None:
                    block = self.rows(batch)
                chosen = batch[mask]
                vecs = block[mask]
                centre = centres[t]
                centre_norm = float(np.linalg.norm(centre)) or 1.0
                # Row by row (not one matrix product, whose rounding can depend on where
                # a row sits in its block): equal replies get equal scores in any batch.
                dots = (vecs * centre).sum(axis=1)
                typical = dots / (_row_norms(vecs)[:, 0] * centre_norm + 1e-12)
                lengths = words[chosen]
                readable = np.where(
                    lengths < 6, 0.6 + 0.08 * lengths, np.where(lengths > 60, 0.8, 1.0)
                )
                relevance = typical * readable
                best = np.argsort(-relevance, kind="stable")[:keep]
                found[t].append((chosen[best], relevance[best]))
        out: list[tuple[IntArray, FloatArray]] = []
        for parts in found:
            if not parts:
                out.append((np.zeros(0, dtype=np.intp), np.zeros(0)))
                continue
            index = np.concatenate([p[0] for p in parts])
            relevance = np.concatenate([p[1] for p in parts])
            best = np.lexsort((index, -relevance))[:keep]
            out.append((index[best], relevance[best]))
        return out

    def theme_document_frequency(
        self, assignment: IntArray, groups: int
    ) -> npt.NDArray[np.float64]:
        """(groups, words): how many replies of each theme use each word that counts."""
        width = self.width
        counts = np.zeros(groups * width, dtype=np.int64)
        table = self.table
        kept = self.idf > 0
        for batch in _batches(self.n):
            lo, hi = int(table.ptr[batch[0]]), int(table.ptr[batch[-1] + 1])
            ids = table.ids[lo:hi].astype(np.int64)
            theme = np.repeat(
                assignment[batch].astype(np.int64), np.diff(table.ptr[batch[0] : batch[-1] + 2])
            )
            use = kept[ids]
            counts += np.bincount(theme[use] * width + ids[use], minlength=groups * width)
        return counts.reshape(groups, width).astype(np.float64)


def _keywords(
    df_in: npt.NDArray[np.float64],
    size: int,
    df_all: FloatArray,
    n: int,
    words_by_id: Sequence[str],
    count: int = 6,
) -> tuple[str, ...]:
    """Words frequent in the theme and rarer elsewhere: p(w|theme) * log(p(w|theme)/p(w))."""
    p_in = df_in / size
    p_all = df_all / n
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(df_in >= 2, p_in * np.log(p_in / p_all), 0.0)
    score = np.nan_to_num(score)
    # A few more than asked for, as a redaction mark ("xxxx") or a given name kept in
    # the replies ("amy") is passed over.
    best = np.argsort(-score, kind="stable")[: count + 4]
    names = given_names()
    found = [words_by_id[i] for i in best if score[i] > 0]
    return tuple(
        [w for w in found if not says_nothing_of_the_service(w) and w not in names][:count]
    )


def _taken(phrase: str, used: set[str]) -> bool:
    """Whether another theme's label is ``phrase``, or one of the two holds the other and
    is most of it: "Happy with all care" and "Happy with all care received" name one idea
    twice; "Mental health" and "Help with my mental health" are two."""
    padded, size = f" {phrase} ", phrase.count(" ") + 1
    for label in used:
        other, other_size = f" {label} ", label.count(" ") + 1
        if (padded in other or other in padded) and min(size, other_size) >= 0.6 * max(
            size, other_size
        ):
            return True
    return False


def _agrees_with(tone: npt.NDArray[np.integer] | None, members: IntArray) -> Callable[[str], bool]:
    """Whether a label's judgement agrees with the theme ``members``: a label that praises
    ("Food was very good") names a theme at least :data:`TONE_AGREES` of whose replies
    read as praise, and one that blames likewise; with no tones known, any label does."""
    if tone is None or len(members) == 0:
        return lambda label: True
    counts = np.bincount(np.asarray(tone)[members], minlength=len(SENTIMENT_LABELS))
    share = dict(zip(SENTIMENT_LABELS, (counts / len(members)).tolist(), strict=True))

    def agrees(label: str) -> bool:
        judged = judgement(label)
        return judged is None or share[judged] >= TONE_AGREES

    return agrees


def _label(
    phrases: Sequence[str],
    category: str | None,
    used: set[str],
    shares: Mapping[str, float] | None = None,
    agrees: Callable[[str], bool] | None = None,
) -> tuple[str, bool]:
    """The label, and whether it is weak (it speaks for few of the theme's replies, or
    its praise or blame is not most of theirs).

    Of the theme's first :data:`LABEL_CHOICES` phrases no other theme has taken, the
    first whose rarest word that says anything is in :data:`LABEL_REACH` of its replies
    (``shares``, from :func:`~.phrases.word_shares`) and that ``agrees`` with their tone:
    "Caring staff" rather than "Night staff" for a theme about staff where few speak of
    nights. Without one, the best phrase, weak; without any, the category.
    """
    free = [p for p in phrases if not _taken(p, used)]
    if shares is not None:
        for phrase in free[:LABEL_CHOICES]:
            if reach(phrase, shares) >= LABEL_REACH and (agrees is None or agrees(phrase)):
                return label_of(phrase), False
    if free:
        return label_of(free[0]), shares is not None
    # "Transition/coordination" reads as "transition and coordination".
    about = category.lower().replace("/", " and ") if category else None
    base = f"Other replies about {about}" if about else "Other replies"
    label, suffix = base, 2
    while label.lower() in used:
        label = f"{base} ({suffix})"
        suffix += 1
    return label, True


def _quotes(
    space: _Space, candidates: tuple[IntArray, FloatArray], docs: ThemeInput
) -> tuple[int, ...]:
    """Typical, readable and mutually different replies (maximal marginal relevance).

    Typical: close to the theme's centre. Readable: 6 to 60 words preferred, so a quote
    says something without being a wall of text (short ones still qualify if nothing
    longer exists). Different: each next quote is penalised by its word overlap with
    those already chosen, and near-copies are skipped. The candidates are the theme's
    60 most relevant quotable replies (see :meth:`_Space.quote_candidates`).
    """
    index, relevance = candidates
    if len(index) == 0:
        return ()
    cand_rel = dict(zip(index.tolist(), relevance.tolist(), strict=True))
    x = space.tfidf(index)
    overlap = np.asarray((x @ x.T).todense())
    texts = {i: docs.texts[i] for i in index.tolist()}
    chosen: list[int] = []
    chosen_pos: list[int] = []
    seen_texts: set[str] = set()
    refused: set[int] = set()
    while len(chosen) < QUOTES_PER_THEME:
        best, best_pos, best_score = -1, -1, -math.inf
        for pos, i in enumerate(index.tolist()):
            if i in chosen:
                continue
            key = " ".join(texts[i].lower().split())
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
        seen_texts.add(" ".join(texts[best].lower().split()))
    return tuple(chosen)
