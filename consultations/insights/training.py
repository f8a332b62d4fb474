"""Training the shipped text model from labelled patient-experience comments.

Used by ``bench/insights_train.py`` (which writes ``data/pxtextmining_model.json``) and by
``bench/insights_quality.py`` (which retrains on each cross-validation fold so that every
figure it reports is measured on comments the model never saw). Reports never train.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from consultations.insights.embedding import StaticEmbedding
from consultations.insights.text import (
    ANALYSIS_VERSION,
    lexicon_score,
    model_features,
    stem,
    theme_tokens,
    words,
)
from consultations.safety.weighting import class_ratio_scale

#: Weight of the embedding columns against the unit-length TF-IDF row.
EMBEDDING_SCALE = 1.0
#: Share of the major-category probabilities that comes from the sub-theme head.
SUBCATEGORY_MIX = 0.5
#: Added to each word's count in each label before the word columns of the category and
#: sub-theme heads are scaled by how much they tell the labels apart
#: (:func:`consultations.safety.weighting.class_ratio_scale`); ``None`` leaves them unscaled.
RATIO_SMOOTHING: float | None = 1.0

#: The nine major categories of the NHS patient-experience framework, as in the data.
MAJOR_CATEGORIES = (
    "Care received",
    "Staff",
    "Couldn't be improved",
    "Communication",
    "Environment/facilities",
    "Access",
    "Miscellaneous",
    "Transition/coordination",
    "Dignity",
)

SOURCE = (
    "Trained on pxtextmining phase 1 labelled NHS Friends and Family Test comments "
    "(The-Strategy-Unit/pxtextmining, datasets/phase_1/text_data.csv), MIT licence; "
    "see pxtextmining_LICENSE.txt"
)


@dataclass(frozen=True)
class LabelledComment:
    """One row of the pxtextmining file: the comment, its major category, its criticality."""

    text: str
    category: str
    criticality: int | None
    organisation: str
    #: The framework sub-theme the coders chose (44 in the file), when known.
    subcategory: str = ""


def criticality_class(value: int | None) -> str | None:
    """Sentiment class of a human criticality score (-5..5): <0 negative, 0 neutral, >0 positive."""
    if value is None:
        return None
    if value < 0:
        return "negative"
    if value > 0:
        return "positive"
    return "neutral"


def _criticality(raw: str) -> int | None:
    # The file has a few typing slips ("-o", "NA", "SS", "-9"); those rows get no score.
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if -5 <= value <= 5 else None


def read_pxtextmining(path: Path) -> list[LabelledComment]:
    """The comments with text, with category names as in :data:`MAJOR_CATEGORIES`."""
    rows: list[LabelledComment] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("feedback") or "").strip()
            if not text or text.upper() in {"NA", "N/A", "NULL"}:
                continue
            category = row["label"].replace("/ ", "/")
            rows.append(
                LabelledComment(
                    text=text,
                    category=category,
                    criticality=_criticality(row["criticality"].strip()),
                    organisation=row.get("organization", ""),
                    subcategory=(row.get("subcategory") or "").strip(),
                )
            )
    return rows


def _features(text: str) -> list[str]:
    return model_features([stem(w) for w in words(text)])


def fit_model(
    comments: Sequence[LabelledComment],
    *,
    min_df: int = 3,
    category_c: float = 4.0,
    sentiment_c: float = 1.0,
    embedding: StaticEmbedding | None = None,
    embedding_scale: float = EMBEDDING_SCALE,
    subcategory_mix: float = SUBCATEGORY_MIX,
    sentiment_embedding: bool = True,
    ratio_smoothing: float | None = RATIO_SMOOTHING,
) -> dict[str, Any]:
    """Fit both heads (categories and sentiment) and return the model as plain JSON data.

    Sentiment learns only from comments scored below or above zero: one trust scored most
    of its comments 0 whatever they said (plainly positive comments among them), so zero
    is not a reliable "neutral" to learn from. Neutral is the band around zero instead.

    Runs with one BLAS/OpenMP thread, as the themes and the opinion groups do: the
    logistic regressions' dense steps are small, and on a shared two-core machine under
    load OpenBLAS's threads spent 8x the CPU (19 s against 2.4 s for half of the
    pxtextmining file, 4.5x the wall time) waiting for each other.
    """
    with threadpool_limits(limits=1):
        return _fit_model(
            comments,
            min_df=min_df,
            category_c=category_c,
            sentiment_c=sentiment_c,
            embedding=embedding,
            embedding_scale=embedding_scale,
            subcategory_mix=subcategory_mix,
            sentiment_embedding=sentiment_embedding,
            ratio_smoothing=ratio_smoothing,
        )


def _fit_model(
    comments: Sequence[LabelledComment],
    *,
    min_df: int,
    category_c: float,
    sentiment_c: float,
    embedding: StaticEmbedding | None,
    embedding_scale: float,
    subcategory_mix: float,
    sentiment_embedding: bool,
    ratio_smoothing: float | None,
) -> dict[str, Any]:
    def rounded(values: Any) -> list[Any]:
        return np.round(np.asarray(values, dtype=np.float64), 4).tolist()  # type: ignore[no-any-return]

    vectoriser = CountVectorizer(analyzer=_features, min_df=min_df, binary=True)
    counts = vectoriser.fit_transform([c.text for c in comments])
    tfidf = TfidfTransformer().fit(counts)
    x = tfidf.transform(counts)
    categories = np.array([MAJOR_CATEGORIES.index(c.category) for c in comments])
    n_words = x.shape[1]

    def scaled_words(words: Any, labels: Any, matrix: Any) -> tuple[Any, Any]:
        # The word columns scaled by how much ``words`` (the rows' word counts) tell the
        # labels apart (the model file folds the scale into the weights; the dense columns
        # are left as they are).
        if ratio_smoothing is None:
            return matrix, np.ones(n_words)
        scale = class_ratio_scale(words, labels, ratio_smoothing)
        columns = np.concatenate([scale, np.ones(matrix.shape[1] - n_words)])
        return (matrix @ sparse.diags(columns)).tocsr(), scale

    dense = None
    if embedding is not None:
        # The reply's static-embedding vector as more columns: words the labelled file
        # never used still land near the categories of words it did.
        stems = [[stem(w) for w in words(c.text)] for c in comments]
        dense = sparse.csr_matrix(
            embedding_scale * embedding.embed_many([theme_tokens(s) for s in stems])
        )
        x_category = sparse.hstack([x, dense]).tocsr()
    else:
        x_category = x
    x_major, category_scale = scaled_words(counts, categories, x_category)
    category_model = LogisticRegression(C=category_c, max_iter=3000, class_weight="balanced").fit(
        x_major, categories
    )

    sub_extra: dict[str, Any] = {}
    names = sorted({c.subcategory for c in comments if c.subcategory})
    if subcategory_mix > 0 and len(names) > 1:
        # A second head over the framework's sub-themes: finer groups are more alike in
        # their words than a whole major category is, and each sub-theme's probability
        # flows to the major categories in the proportions the coders used it.
        labelled = [i for i, c in enumerate(comments) if c.subcategory]
        sub_y = np.array([names.index(comments[i].subcategory) for i in labelled])
        x_sub, sub_scale = scaled_words(counts[labelled], sub_y, x_category[labelled])
        sub_model = LogisticRegression(C=category_c, max_iter=3000, class_weight="balanced").fit(
            x_sub, sub_y
        )
        to_major = np.zeros((len(names), len(MAJOR_CATEGORIES)))
        np.add.at(to_major, (sub_y, categories[labelled]), 1.0)
        to_major /= to_major.sum(axis=1, keepdims=True)
        sub_extra = {
            "subcategories": names,
            "subcategory_mix": subcategory_mix,
            "subcategory_major": rounded(to_major),
            "subcategory_weights": rounded((sub_model.coef_[:, :n_words] * sub_scale).T),
            "subcategory_bias": rounded(sub_model.intercept_),
        }
        if dense is not None:
            sub_extra["embedding_subcategory_weights"] = rounded(sub_model.coef_[:, x.shape[1] :].T)

    scored = [i for i, c in enumerate(comments) if c.criticality is not None and c.criticality != 0]
    polarity = np.array([1 if (comments[i].criticality or 0) > 0 else 0 for i in scored])
    # The polarity-word count is one more column, so its weight is learned with the rest
    # and the words it explains ("kind", "rude") need not be learned one by one.
    lexicon = [[lexicon_score([stem(w) for w in words(comments[i].text)])] for i in scored]
    use_dense = dense is not None and sentiment_embedding
    blocks = [x[scored]] + ([dense[scored]] if dense is not None and use_dense else [])
    x_sentiment = sparse.hstack([*blocks, sparse.csr_matrix(lexicon)]).tocsr()
    sentiment_model = LogisticRegression(C=sentiment_c, max_iter=3000, class_weight="balanced").fit(
        x_sentiment, polarity
    )

    extra: dict[str, Any] = {}
    if dense is not None:
        extra = {
            "embedding_scale": embedding_scale,
            "embedding_category_weights": rounded(category_model.coef_[:, n_words:].T),
            "embedding_sentiment_weights": rounded(
                sentiment_model.coef_[0][n_words:-1] if use_dense else np.zeros(dense.shape[1])
            ),
        }
    return {
        "version": ANALYSIS_VERSION,
        "source": SOURCE,
        "licence": "MIT",
        "categories": list(MAJOR_CATEGORIES),
        "features": vectoriser.get_feature_names_out().tolist(),
        "idf": rounded(tfidf.idf_),
        "category_weights": rounded((category_model.coef_[:, :n_words] * category_scale).T),
        "category_bias": rounded(category_model.intercept_),
        "sentiment_weights": rounded(sentiment_model.coef_[0][:n_words]),
        "lexicon_weight": float(round(sentiment_model.coef_[0][-1], 4)),
        "sentiment_bias": float(round(sentiment_model.intercept_[0], 4)),
        **extra,
        **sub_extra,
    }
