"""The sub-theme head: trained beside the category head and mixed into its probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from consultations.insights.text import TextAnalyser
from consultations.insights.training import LabelledComment, fit_model

ROWS = [
    ("the car park was full and expensive", "Environment/facilities", "Parking", 1),
    ("no parking spaces near the clinic", "Environment/facilities", "Parking", -2),
    ("parking cost too much", "Environment/facilities", "Parking", -1),
    ("the ward was dirty and smelly", "Environment/facilities", "Cleanliness", -3),
    ("toilets were not clean", "Environment/facilities", "Cleanliness", -2),
    ("spotless clean ward", "Environment/facilities", "Cleanliness", 3),
    ("the nurses were kind and caring", "Staff", "Staff attitude", 4),
    ("lovely friendly staff", "Staff", "Staff attitude", 3),
    ("rude receptionist", "Staff", "Staff attitude", -3),
    ("waited months for a first appointment", "Access", "Waiting list", -3),
    ("long wait to be seen", "Access", "Waiting list", -2),
    ("quick to get an appointment", "Access", "Waiting list", 2),
    # One reply for each other major category: the heads are trained over all nine.
    ("the treatment helped my pain", "Care received", "Treatment", 3),
    ("nothing could be better", "Couldn't be improved", "Nothing to improve", 3),
    ("nobody explained my results", "Communication", "Information", -2),
    ("a survey about the survey", "Miscellaneous", "Other", 1),
    ("my discharge letter never reached my doctor", "Transition/coordination", "Discharge", -3),
    ("treated me with respect and privacy", "Dignity", "Respect", 3),
]


def _comments(with_subcategory: bool) -> list[LabelledComment]:
    return [
        LabelledComment(text, category, score, "Trust", sub if with_subcategory else "")
        for text, category, sub, score in ROWS
    ]


def test_the_sub_theme_head_is_stored_and_flows_to_its_major_category() -> None:
    model = fit_model(_comments(True), min_df=1)
    names = model["subcategories"]
    assert len(names) == 10 and names[:3] == ["Cleanliness", "Discharge", "Information"]
    major = np.asarray(model["subcategory_major"])
    # Each sub-theme was coded under one major category, so all its weight goes there.
    assert major.shape == (10, 9)
    assert major.sum(axis=1) == pytest.approx(np.ones(10))
    assert major[names.index("Parking"), model["categories"].index("Environment/facilities")] == 1
    analysis = TextAnalyser(model).analyse("parking was expensive")
    assert sum(analysis.categories) == pytest.approx(1.0, abs=0.01)
    best = model["categories"][int(np.argmax(analysis.categories))]
    assert best == "Environment/facilities"


def test_the_mix_moves_the_probabilities_and_a_model_without_the_head_still_works() -> None:
    with_head = fit_model(_comments(True), min_df=1)
    without = fit_model(_comments(True), min_df=1, subcategory_mix=0.0)
    unlabelled = fit_model(_comments(False), min_df=1)
    assert "subcategory_weights" not in without and "subcategory_weights" not in unlabelled
    text = "staff were rude about the long wait"
    mixed = TextAnalyser(with_head).analyse(text).categories
    plain = TextAnalyser(without).analyse(text).categories
    assert mixed != plain
    assert TextAnalyser(without).analyse(text) == TextAnalyser(unlabelled).analyse(text)
