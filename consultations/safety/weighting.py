"""Column weights for linear models: the screen's semantic layer, and the analysis's
codebook heads (consultations/insights/training.py), are trained with them."""

from __future__ import annotations

from typing import Any

import numpy as np


def class_ratio_scale(
    matrix: Any, labels: np.ndarray[Any, np.dtype[np.int64]], smoothing: float
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Each column's largest absolute log-ratio between its smoothed share of one class's
    rows and its share of the other rows, over the mean of those.

    A column's share of a class is the number of that class's rows that have it, plus
    ``smoothing``, over the same for every column. Scaling a linear model's columns by
    this before fitting (the penalty then holds back alike the words that tell the
    classes apart and those every class uses) is the naive-Bayes weighting of a linear
    model. With two classes it is the log-ratio of the two classes' shares.
    """
    present = (matrix > 0).astype(np.float64)
    scale = np.zeros(present.shape[1])
    classes = np.unique(labels)
    for label in classes[1:] if len(classes) == 2 else classes:
        inside = np.asarray(present[labels == label].sum(axis=0)).ravel() + smoothing
        outside = np.asarray(present[labels != label].sum(axis=0)).ravel() + smoothing
        ratio = np.abs(np.log((inside / inside.sum()) / (outside / outside.sum())))
        scale = np.maximum(scale, ratio)
    mean = scale.mean()
    # Columns that all spread alike over the labels tell nothing apart: leave them equal.
    result: np.ndarray[Any, np.dtype[np.float64]] = (
        scale / mean if mean > 0 else np.ones_like(scale)
    )
    return result
