"""Column scales by how much each column tells the labels apart."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse  # type: ignore[import-untyped]

from consultations.safety.weighting import class_ratio_scale


def test_two_classes_give_the_log_ratio_of_their_shares() -> None:
    # Column 0 only in the positive rows, column 1 in every row, column 2 only in negatives.
    matrix = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1]]))
    labels = np.array([1, 1, 0, 0])
    scale = class_ratio_scale(matrix, labels, 0.5)
    positive = np.array([2.5, 2.5, 0.5])
    negative = np.array([0.5, 2.5, 2.5])
    ratio = np.abs(np.log((positive / positive.sum()) / (negative / negative.sum())))
    assert scale == pytest.approx(ratio / ratio.mean())
    # A word both classes use alike weighs least; the two telling words weigh alike.
    assert scale[1] < scale[0] == pytest.approx(scale[2])


def test_several_classes_take_the_largest_ratio_of_any_class_against_the_rest() -> None:
    # Column 0 marks class 2 alone; column 1 is spread over every class.
    matrix = sparse.csr_matrix(np.array([[0, 1], [0, 1], [0, 1], [1, 1], [1, 1], [0, 1]]))
    labels = np.array([0, 0, 1, 2, 2, 1])
    scale = class_ratio_scale(matrix, labels, 0.5)
    assert scale.mean() == pytest.approx(1.0)
    assert scale[0] > scale[1]


def test_counts_are_presence_not_frequency() -> None:
    once = sparse.csr_matrix(np.array([[1, 1], [1, 0], [0, 1]]))
    often = sparse.csr_matrix(np.array([[7, 1], [2, 0], [0, 3]]))
    labels = np.array([1, 1, 0])
    expected = class_ratio_scale(once, labels, 0.5)
    assert expected[0] > expected[1]
    assert class_ratio_scale(often, labels, 0.5) == pytest.approx(expected)


def test_columns_that_tell_nothing_apart_stay_equal() -> None:
    matrix = sparse.csr_matrix(np.array([[1, 1], [1, 1]]))
    assert class_ratio_scale(matrix, np.array([1, 0]), 0.5) == pytest.approx([1.0, 1.0])
