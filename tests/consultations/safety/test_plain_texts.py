"""Texts without risk vocabulary: scored whole by the semantic layer against a stricter
threshold of their own (``plain_threshold``), when long enough."""

from __future__ import annotations

import pytest

from consultations.safety.screen import PLAIN_MIN_WORDS, default_screen
from consultations.safety.training import PLAIN_BUDGET, choose_plain_threshold
from tests.consultations.safety.conftest import screen_without

# Disclosures of the tune split with not one word of the risk vocabulary: before the
# stricter threshold, the semantic layer never scored them and they passed as clear.
WITHOUT_RISK_WORDS = [
    "wish i could just cease to be tbh",
    "honestly don't care if I see next year",
    "I lie awake hoping the lights go out for me for good.",
    "sometimes I want to drive into the cyclists on my road, it's getting worse",
    "Dad has started telling me his bank passwords and which of us gets the house. "
    "He's fifty and not ill.",
]

# Short replies that score high on function words alone: never scored without risk words.
SHORT_PLAIN = ["Not a thing", "Not that I know of.", "I want to go home", "Nothing at all"]

# Ordinary feedback of six words and more without risk vocabulary.
ORDINARY = [
    "Reception staff were friendly and the waiting room was clean and quiet",
    "I would like appointments in the evening because I work full time.",
    "The physiotherapist was patient and showed me exercises to do at home",
    "More chairs in the waiting area would help on busy mornings",
]


@pytest.mark.parametrize("text", WITHOUT_RISK_WORDS)
def test_a_paraphrase_without_risk_words_is_scored_and_flagged(text: str) -> None:
    screen = default_screen()
    prepared = screen.read(text)[1]
    assert not screen.lexicon.risky(prepared)
    assert screen.plain_scorable(prepared)
    verdict = screen.assess(text)
    assert verdict.flagged
    assert verdict.evidence == "semantic"
    # A model file without the threshold (written before it) leaves such texts unscored.
    assert not screen_without("plain_threshold").assess(text).flagged


@pytest.mark.parametrize("text", SHORT_PLAIN)
def test_short_replies_without_risk_words_are_not_scored(text: str) -> None:
    screen = default_screen()
    prepared = screen.read(text)[1]
    assert not screen.plain_scorable(prepared)
    assert not screen.assess(text).flagged


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_feedback_without_risk_words_stays_clear(text: str) -> None:
    screen = default_screen()
    assert screen.plain_scorable(screen.read(text)[1])
    assert not screen.assess(text).flagged


def test_plain_threshold_is_stricter_than_the_whole_text_one() -> None:
    model = default_screen().model
    assert model is not None
    assert model.threshold < model.plain_threshold <= 1.0
    assert PLAIN_MIN_WORDS > 3


def test_choose_plain_threshold_keeps_within_both_budgets() -> None:
    # 2,000 tune look-alikes (2 allowed at 0.1%), all plain; 1,000 background comments
    # (1 allowed), all plain.
    labels = [0] * 2000 + [1] * 10
    probabilities = [0.1] * 2000 + [0.95] * 10
    for i, p in enumerate([0.93, 0.9, 0.86, 0.8, 0.7]):
        probabilities[i] = p
    plain = [True] * len(labels)
    background_probabilities = [0.05] * 1000
    background_probabilities[0] = 0.91
    background_probabilities[1] = 0.88
    scope = list(range(len(labels)))
    assert PLAIN_BUDGET == 0.001
    threshold = choose_plain_threshold(
        probabilities,
        labels,
        plain,
        scope,
        ([True] * 1000, background_probabilities),
        lowest=0.5,
    )
    # 0.89: two look-alikes (0.93, 0.9) and one comment (0.91) at or above it; at 0.88 a
    # second comment, and at 0.86 a third look-alike, would be over.
    assert threshold == 0.89
    # Texts that are not plain never count against the budget.
    not_plain = [False] * len(labels)
    assert (
        choose_plain_threshold(
            probabilities,
            labels,
            not_plain,
            scope,
            ([False] * 1000, background_probabilities),
            lowest=0.5,
        )
        == 0.5
    )


def test_choose_plain_threshold_gives_up_above_one_when_nothing_fits() -> None:
    labels = [0] * 100
    probabilities = [0.999] * 100
    threshold = choose_plain_threshold(
        probabilities, labels, [True] * 100, range(100), ([], []), lowest=0.5
    )
    assert threshold > 1.0
