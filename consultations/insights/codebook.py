"""Codebooks: a service's own categories (name, description, example phrases).

A codebook file is YAML or JSON: either a list of categories or an object with ``name``
and ``categories``. Each category has ``name`` (required), ``description`` and
``examples`` (a list of phrases)::

    name: Booking project
    categories:
      - name: Phone line
        description: Getting through on the phone to book or change an appointment.
        examples: [phone rang out, on hold for ages]

The shipped default is the nine major NHS patient-experience categories. Replies are
assigned to it by the trained model stored with each response; any other codebook is
matched on the words of its descriptions and examples, and on how its examples sit in
the default categories (which lets "queue" match a category that says "waiting").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import yaml

from consultations.insights.columns import TextColumns
from consultations.insights.text import (
    TextAnalyser,
    TextAnalysis,
    category_matrix,
    default_analyser,
)

if TYPE_CHECKING:
    # Loaded where used: scipy takes most of a second to load, which a process that only
    # analyses replies at intake should not pay.
    from scipy import sparse  # type: ignore[import-untyped]

DEFAULT_CODEBOOK_FILE = "nhs_patient_experience.yaml"

#: Below this match score a reply is left unassigned rather than forced into a category.
MIN_MATCH = 0.12
#: Weight of word overlap against the default-category channel when matching.
WORD_WEIGHT = 0.6


class CodebookError(ValueError):
    """A codebook file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class CodebookCategory:
    """One category of a codebook."""

    name: str
    description: str = ""
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Codebook:
    """A named list of categories; ``trained`` is set only on the shipped default."""

    name: str
    categories: tuple[CodebookCategory, ...]
    trained: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Category names in order."""
        return tuple(c.name for c in self.categories)


def parse_codebook(data: Any, *, source: str = "codebook") -> Codebook:
    """Check and convert parsed YAML/JSON into a :class:`Codebook`.

    Raises:
        CodebookError: naming the field at fault, e.g. ``categories[2].examples``.
    """
    name = "Service codebook"
    if isinstance(data, dict):
        unknown = set(data) - {"name", "categories"}
        if unknown:
            raise CodebookError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        if "name" in data:
            if not isinstance(data["name"], str) or not data["name"].strip():
                raise CodebookError(f"{source}: name: must be a non-empty string")
            name = data["name"].strip()
        data = data.get("categories")
        where = "categories"
    else:
        where = "(top level)"
    if not isinstance(data, list) or not data:
        raise CodebookError(f"{source}: {where}: must be a non-empty list of categories")
    categories: list[CodebookCategory] = []
    seen: set[str] = set()
    for i, entry in enumerate(data):
        path = f"{source}: categories[{i}]"
        if not isinstance(entry, dict):
            raise CodebookError(f"{path}: must be a mapping with name, description, examples")
        unknown = set(entry) - {"name", "description", "examples"}
        if unknown:
            raise CodebookError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
        cat_name = entry.get("name")
        if not isinstance(cat_name, str) or not cat_name.strip():
            raise CodebookError(f"{path}.name: required, a non-empty string")
        if cat_name.strip().lower() in seen:
            raise CodebookError(f"{path}.name: {cat_name!r} appears more than once")
        seen.add(cat_name.strip().lower())
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise CodebookError(f"{path}.description: must be a string")
        examples = entry.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise CodebookError(f"{path}.examples: must be a list of strings")
        if not description.strip() and not examples:
            raise CodebookError(
                f"{path}: {cat_name!r} needs a description or examples to match replies"
            )
        categories.append(CodebookCategory(cat_name.strip(), description.strip(), tuple(examples)))
    return Codebook(name=name, categories=tuple(categories))


def load_codebook(path: str | Path) -> Codebook:
    """Read a codebook from a ``.yaml``/``.yml`` or ``.json`` file (see module docs)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CodebookError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CodebookError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from exc
    return parse_codebook(data, source=str(path))


@cache
def default_codebook() -> Codebook:
    """The nine NHS patient-experience major categories, matched by the trained model."""
    source = resources.files("consultations.insights").joinpath("data", DEFAULT_CODEBOOK_FILE)
    book = parse_codebook(yaml.safe_load(source.read_text(encoding="utf-8")), source="default")
    return Codebook(name=book.name, categories=book.categories, trained=True)


def is_default(codebook: Codebook) -> bool:
    """The codebook's categories are the default's, so the trained model applies."""
    return codebook.trained or codebook.names == default_codebook().names


FloatArray = npt.NDArray[np.float64]


def assign(
    codebook: Codebook,
    analyses: Sequence[TextAnalysis],
    *,
    analyser: TextAnalyser | None = None,
    word_weight: float = WORD_WEIGHT,
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """The best category for each reply (-1 when nothing matches well) and its score.

    For the default codebook the stored model probabilities decide. For another codebook
    the score mixes two cosine similarities: the reply's words against the category's
    name, description and examples (TF-IDF), and the reply's default-category profile
    against that of the category's examples. ``analyser`` must be the one that made
    ``analyses`` (the shipped one unless evaluating a retrained model); ``word_weight`` 1
    matches on words alone.
    """
    n = len(analyses)
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    probs = category_matrix(analyses)
    if is_default(codebook):
        return probs.argmax(axis=1).astype(np.intp), probs.max(axis=1)
    return _match(
        codebook,
        probs,
        lambda vocab: _binary_matrix([a.tokens for a in analyses], vocab),
        analyser,
        word_weight,
    )


def assign_columns(
    codebook: Codebook, texts: TextColumns, *, word_weight: float = WORD_WEIGHT
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """:func:`assign` for replies held as columns (the same results, without a record each)."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    if is_default(codebook):
        if texts.categories_mille is not None:
            # Stored per mille: the same order and maxima, without decoding every score.
            mille = texts.categories_mille
            return mille.argmax(axis=1).astype(np.intp), mille.max(axis=1) / 1000.0
        probs = texts.category_matrix()
        return probs.argmax(axis=1).astype(np.intp), probs.max(axis=1)

    def reply_matrix(vocab: dict[str, int]) -> sparse.csr_matrix:
        from scipy import sparse

        table = texts.tokens
        mapped = np.asarray([vocab.get(w, -1) for w in table.vocab], dtype=np.int64)
        cols = mapped[table.ids] if len(table.ids) else np.zeros(0, dtype=np.int64)
        owner = table.row_of_each()
        known = cols >= 0
        x = sparse.csr_matrix(
            (np.ones(int(known.sum())), (owner[known], cols[known])), shape=(n, len(vocab))
        )
        x.sum_duplicates()
        x.data[:] = 1.0
        return x

    return _match(codebook, texts.category_matrix(), reply_matrix, None, word_weight)


def _match(
    codebook: Codebook,
    probs: FloatArray,
    reply_matrix: Callable[[dict[str, int]], sparse.csr_matrix],
    analyser: TextAnalyser | None,
    word_weight: float,
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    from scipy import sparse

    n = len(probs)
    analyse = (analyser or default_analyser()).analyse
    entry_analyses = [
        [analyse(t) for t in (c.name, c.description, *c.examples) if t.strip()]
        for c in codebook.categories
    ]
    vocab: dict[str, int] = {}
    for group in entry_analyses:
        for a in group:
            for tok in a.tokens:
                vocab.setdefault(tok, len(vocab))
    reply_x = reply_matrix(vocab)
    entry_x = _binary_matrix(
        [tuple(t for a in group for t in a.tokens) for group in entry_analyses], vocab
    )
    # Document frequency over the replies themselves: words every reply uses say little.
    df = np.asarray(reply_x.sum(axis=0)).ravel()
    idf = np.log((1 + n) / (1 + df)) + 1
    word_sim = _cosine(reply_x @ sparse.diags(idf), entry_x @ sparse.diags(idf))

    entry_profiles = np.asarray(
        [np.mean([a.categories for a in group], axis=0) for group in entry_analyses]
    )
    profile_sim = _cosine_dense(probs, entry_profiles)
    score = word_weight * word_sim + (1 - word_weight) * profile_sim
    best = score.argmax(axis=1).astype(np.intp)
    best_score = score.max(axis=1)
    best[best_score < MIN_MATCH] = -1
    return best, best_score


def _binary_matrix(docs: Sequence[Sequence[str]], vocab: dict[str, int]) -> sparse.csr_matrix:
    from scipy import sparse

    indptr = [0]
    indices: list[int] = []
    for doc in docs:
        indices.extend(sorted({vocab[t] for t in doc if t in vocab}))
        indptr.append(len(indices))
    data = np.ones(len(indices))
    return sparse.csr_matrix((data, indices, indptr), shape=(len(docs), len(vocab)))


def _cosine(a: sparse.csr_matrix, b: sparse.csr_matrix) -> FloatArray:
    an = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel())
    bn = np.sqrt(np.asarray(b.multiply(b).sum(axis=1)).ravel())
    dots = np.asarray((a @ b.T).todense())
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = dots / np.outer(an, bn)
    return np.nan_to_num(sim)


def _cosine_dense(a: FloatArray, b: FloatArray) -> FloatArray:
    an = np.linalg.norm(a, axis=1, keepdims=True)
    bn = np.linalg.norm(b, axis=1, keepdims=True)
    an[an == 0] = 1
    bn[bn == 0] = 1
    result: FloatArray = (a / an) @ (b / bn).T
    return result
