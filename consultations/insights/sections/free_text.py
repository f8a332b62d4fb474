"""The free-text sections: themes, codebook categories and sentiment of prompt and thread replies.

Texts flagged for safety are counted but never quoted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from consultations.insights.codebook import Codebook, assign, default_codebook
from consultations.insights.embedding import default_embedding
from consultations.insights.phrases import describe
from consultations.insights.quotes import UNQUOTABLE_FLAGS, may_quote, pick_diverse, quote_text
from consultations.insights.records import LISTENING, PROMPT, THREAD, ResponseRow
from consultations.insights.suggestions import is_suggestion
from consultations.insights.text import (
    ANALYSIS_VERSION,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    TextAnalysis,
    analyse_text,
    category_matrix,
    default_analyser,
)
from consultations.insights.themes import ThemeInput, find_themes

__all__ = ["TextRow", "quotable", "quote_text", "sentiment_shares", "text_rows"]


@dataclass(frozen=True)
class TextRow:
    """A free-text reply with its text analysis (stored at intake, or computed if missing)."""

    row: ResponseRow
    analysis: TextAnalysis


def text_rows(rows: Sequence[ResponseRow]) -> list[TextRow]:
    """The non-blank prompt and thread replies and listened posts, each with its analysis."""
    out = []
    for r in rows:
        if r.item_type in (PROMPT, THREAD, LISTENING) and r.text and r.text.strip():
            analysis = r.analysis if r.analysis is not None else analyse_text(r.text)
            if analysis.version < ANALYSIS_VERSION:
                # Stored before suggestions were read clause by clause: read them again.
                analysis = replace(analysis, suggestion=is_suggestion(r.text))
            out.append(TextRow(r, analysis))
    return out


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
    return {
        POSITIVE: round(labels[POSITIVE] / n, 4) if n else 0.0,
        NEUTRAL: round(labels[NEUTRAL] / n, 4) if n else 0.0,
        NEGATIVE: round(labels[NEGATIVE] / n, 4) if n else 0.0,
        "mean": round(total / n, 4) if n else 0.0,
        "n": n,
    }


def summarise_themes(text: Sequence[TextRow]) -> tuple[list[dict[str, Any]], np.ndarray[Any, Any]]:
    """The ``themes`` section, and the theme index of each reply in ``text``."""
    analyses = [t.analysis for t in text]
    embedding = default_embedding()
    docs = ThemeInput(
        tokens=[a.tokens for a in analyses],
        categories=category_matrix(analyses),
        words=[a.words for a in analyses],
        quotable=[t.row.quotable and not UNQUOTABLE_FLAGS.intersection(t.row.flags) for t in text],
        texts=[t.row.text or "" for t in text],
        allowed=lambda i: quotable(text[i].row),
        embedding=None if embedding is None else embedding.embed_many([a.tokens for a in analyses]),
    )
    found, assignment = find_themes(docs, default_analyser().categories)
    n = len(text)
    themes = []
    for theme in found:
        members = [text[i] for i in theme.members]
        quotes = [text[i].row for i in theme.quotes]
        sentiment = sentiment_shares(m.analysis for m in members)
        suggestions = sum(1 for m in members if m.analysis.suggestion)
        themes.append(
            {
                "label": theme.label,
                "description": describe(theme.phrases, len(members), sentiment, suggestions),
                "phrases": list(theme.phrases),
                "keywords": list(theme.keywords),
                "count": len(members),
                "share": round(len(members) / n, 4),
                "quotes": [quote_text(q.text or "") for q in quotes],
                "quote_refs": [
                    {"response": q.id, "item": q.item_id, "channel": q.channel} for q in quotes
                ],
                "sentiment": sentiment,
                "category": theme.category,
                "subcategory": theme.subcategory,
                "safety_flagged": sum(1 for m in members if m.row.safety_flagged),
                "suggestions": suggestions,
            }
        )
    return themes, assignment


def summarise_codebook(
    book: Codebook, text: Sequence[TextRow]
) -> tuple[dict[str, Any], list[str | None]]:
    """The ``codebook`` section, and the category name (or None) of each reply."""
    analyses = [t.analysis for t in text]
    best, score = assign(book, analyses)
    n = len(text)
    names = book.names
    categories: list[str | None] = [names[b] if b >= 0 else None for b in best.tolist()]
    entries = []
    for k, name in enumerate(names):
        members = np.flatnonzero(best == k)
        # Most confident first, readable, and no two saying the same thing.
        ranked = sorted(
            (int(i) for i in members if text[int(i)].analysis.words >= 3),
            key=lambda i: -float(score[i]),
        )
        chosen = pick_diverse(
            ranked, lambda i: text[i].row.text or "", lambda i: quotable(text[i].row), 2
        )
        entries.append(
            {
                "name": name,
                "count": len(members),
                "share": round(len(members) / n, 4) if n else 0.0,
                "sentiment": sentiment_shares(analyses[i] for i in members),
                "quotes": [quote_text(text[i].row.text or "") for i in chosen],
                "quote_refs": [
                    {"response": text[i].row.id, "item": text[i].row.item_id} for i in chosen
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
    return section, categories
