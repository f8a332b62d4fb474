"""The free-text sections: themes, codebook categories and sentiment of prompt and thread replies.

Texts flagged for safety are counted but never quoted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from consultations import screening
from consultations.insights.codebook import Codebook, assign_columns, default_codebook
from consultations.insights.columns import TextColumns
from consultations.insights.embedding import default_embedding
from consultations.insights.phrases import describe
from consultations.insights.quotes import UNQUOTABLE_FLAGS, may_quote, pick_diverse, quote_text
from consultations.insights.records import ResponseRow
from consultations.insights.text import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    SENTIMENT_LABELS,
    TextAnalysis,
    default_analyser,
)
from consultations.insights.themes import ThemeInput, find_themes

__all__ = ["free_texts", "quotable", "quote_text", "sentiment_of", "sentiment_shares"]

IntArray = npt.NDArray[np.intp]


def free_texts(texts: TextColumns) -> TextColumns:
    """The non-blank prompt and thread replies and listened posts, with their analyses."""
    return texts.select(texts.free)


def quotable(row: ResponseRow) -> bool:
    """Whether a reply may be quoted (see :func:`consultations.insights.quotes.may_quote`;
    a listened post only when it addressed the service, :attr:`ResponseRow.quotable`)."""
    return row.quotable and may_quote(row.text, row.flags)


def sentiment_shares(analyses: Iterable[TextAnalysis]) -> dict[str, Any]:
    """Shares of positive, neutral and negative replies, with the mean score and count."""
    labels: Counter[str] = Counter()
    total = 0.0
    n = 0
    for a in analyses:
        labels[a.label] += 1
        total += a.sentiment
        n += 1
    return _shares(labels[POSITIVE], labels[NEUTRAL], labels[NEGATIVE], total, n)


def _shares(positive: int, neutral: int, negative: int, total: float, n: int) -> dict[str, Any]:
    return {
        POSITIVE: round(positive / n, 4) if n else 0.0,
        NEUTRAL: round(neutral / n, 4) if n else 0.0,
        NEGATIVE: round(negative / n, 4) if n else 0.0,
        "mean": round(total / n, 4) if n else 0.0,
        "n": n,
    }


def sentiment_of(texts: TextColumns, index: IntArray | None = None) -> dict[str, Any]:
    """:func:`sentiment_shares` of the replies ``index`` (default all) of ``texts``."""
    label = texts.label if index is None else texts.label[index]
    counts = np.bincount(label, minlength=len(SENTIMENT_LABELS))
    by_label = dict(zip(SENTIMENT_LABELS, counts.tolist(), strict=True))
    if index is None:
        scores = texts.sentiment
    elif texts.sentiment_mille is not None:
        scores = texts.sentiment_mille[index] / 1000.0
    else:
        scores = texts.sentiment[index]
    # Added one by one, left to right, as summing reply by reply does (same rounding).
    total = float(np.cumsum(scores)[-1]) if len(scores) else 0.0
    return _shares(by_label[POSITIVE], by_label[NEUTRAL], by_label[NEGATIVE], total, len(label))


def summarise_themes(
    text: TextColumns,
    hints: screening.Hints = screening.NO_HINTS,
    questions: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], IntArray]:
    """The ``themes`` section, and the theme index of each reply in ``text`` (quotes
    redacted with the consultation's ``hints``; ``questions``, what the replies answer)."""
    embedding = default_embedding()
    unquotable = text.flag_mask(*UNQUOTABLE_FLAGS)
    docs = ThemeInput(
        tokens=text.tokens,
        categories=_LazyCategories(text),  # type: ignore[arg-type]
        words=text.words,
        quotable=text.quotable & ~unquotable,
        texts=text.texts,
        allowed=lambda i: quotable(text.row(i)),
        embedder=embedding,
        withheld=unquotable,
        questions=questions,
        tone=text.label,
    )
    found, assignment = find_themes(docs, default_analyser().categories)
    n = len(text)
    flagged = text.safety_flagged
    themes = []
    for theme in found:
        members = theme.members
        quotes = [text.row(i) for i in theme.quotes]
        sentiment = sentiment_of(text, members)
        suggestions = int(text.suggestion[members].sum())
        count = len(members)
        themes.append(
            {
                "label": theme.label,
                "description": describe(theme.phrases, count, sentiment, suggestions),
                "phrases": list(theme.phrases),
                "keywords": list(theme.keywords),
                "count": count,
                "share": round(count / n, 4),
                "quotes": [quote_text(q.text or "", hints=hints) for q in quotes],
                "quote_refs": [
                    {"response": q.id, "item": q.item_id, "channel": q.channel} for q in quotes
                ],
                "sentiment": sentiment,
                "category": theme.category,
                "subcategory": theme.subcategory,
                "safety_flagged": int(flagged[members].sum()),
                "suggestions": suggestions,
            }
        )
    return themes, assignment


class _LazyCategories:
    """The category matrix of some replies, decoded when indexed (never all at once)."""

    def __init__(self, text: TextColumns) -> None:
        self._text = text

    def __getitem__(self, rows: IntArray) -> npt.NDArray[np.float64]:
        return self._text.category_matrix(np.asarray(rows))


def summarise_codebook(
    book: Codebook, text: TextColumns, hints: screening.Hints = screening.NO_HINTS
) -> tuple[dict[str, Any], npt.NDArray[np.intp]]:
    """The ``codebook`` section, and the category (index into its names, -1 for none) of
    each reply (quotes redacted with the consultation's ``hints``)."""
    best, score = assign_columns(book, text)
    n = len(text)
    names = book.names
    entries = []
    words = text.words
    for k, name in enumerate(names):
        members = np.flatnonzero(best == k)
        # Most confident first, readable, and no two saying the same thing.
        readable = members[words[members] >= 3]
        ranked = readable[np.argsort(-score[readable], kind="stable")].tolist()
        chosen = pick_diverse(
            ranked, lambda i: text.text(i) or "", lambda i: quotable(text.row(i)), 2
        )
        entries.append(
            {
                "name": name,
                "count": len(members),
                "share": round(len(members) / n, 4) if n else 0.0,
                "sentiment": sentiment_of(text, members),
                "quotes": [quote_text(text.text(i) or "", hints=hints) for i in chosen],
                "quote_refs": [
                    {"response": int(text.ids[i]), "item": text.row(i).item_id} for i in chosen
                ],
            }
        )
    section = {
        "name": book.name,
        "method": "trained model"
        if book.trained or names == default_codebook().names
        else "word and category match",
        "categories": entries,
        "unassigned": int((best < 0).sum()),
    }
    return section, best
