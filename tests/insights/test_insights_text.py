"""Per-response analysis: stored form, sentiment direction, speed."""

from __future__ import annotations

import json

import pytest

from consultations.insights import TextAnalysis, analyse_text
from consultations.insights.suggestions import is_suggestion
from consultations.insights.text import (
    _KNOWN_WORDS,
    TextAnalyser,
    _signed_sum,
    default_analyser,
    default_model,
    lexicon_score,
    stem,
    theme_tokens,
    theme_words,
    words,
)
from tests.insights.fixture import COMMENTS


def test_analysis_survives_a_round_trip_through_json() -> None:
    analysis = analyse_text("The phone line rang out every time I tried to book.")
    stored = json.loads(json.dumps(analysis.to_json()))
    assert TextAnalysis.from_json(stored) == analysis


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The nurses were kind, caring and wonderful.", "positive"),
        ("Nothing to improve, everything was excellent.", "positive"),
        ("Staff were rude and I waited three hours with no explanation.", "negative"),
        ("The phone line rang out every time I tried to book.", "negative"),
        ("", "neutral"),
    ],
)
def test_sentiment_reads_clear_cases(text: str, label: str) -> None:
    analysis = analyse_text(text)
    assert analysis.label == label
    assert -1.0 <= analysis.sentiment <= 1.0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # Praise said through a negation: the words alone read it the wrong way round.
        ("Could not have been more help.", "positive"),
        ("The lady I spoke to couldn't have been more helpful", "positive"),
        ("I couldn’t ask for better care", "positive"),
        ("Couldn't have asked for more", "positive"),
        ("Can't fault the care", "positive"),
        ("Cannot thank the staff enough", "positive"),
        ("I can't recommend them enough", "positive"),
        # And blame the same way.
        ("Staff could not care less", "negative"),
        ("Couldn't have been worse", "negative"),
        # A negation that is a plain complaint stays one.
        ("Could not get through on the phone for a week", "negative"),
        ("I can't get an appointment", "negative"),
    ],
)
def test_sentiment_reads_praise_and_blame_said_through_a_negation(text: str, label: str) -> None:
    assert analyse_text(text).label == label


def test_tokens_are_readable_content_words() -> None:
    analysis = analyse_text("The receptionists were always so helpful with my appointments!")
    assert analysis.tokens == ("receptionist", "helpful", "appointment")


def test_categories_are_a_distribution_over_the_default_codebook() -> None:
    analysis = analyse_text("Parking at the hospital is impossible and expensive.")
    names = default_analyser().categories
    assert len(analysis.categories) == len(names) == 9
    assert sum(analysis.categories) == pytest.approx(1.0, abs=0.01)
    assert names[max(range(9), key=analysis.categories.__getitem__)] == "Environment/facilities"


def test_suggestions_are_recognised() -> None:
    assert analyse_text("Please send reminders by text instead of letters.").suggestion
    assert not analyse_text("The receptionist was very kind.").suggestion


def test_words_and_stems() -> None:
    assert words("Couldn’t be better") == ["could", "not", "be", "better"]
    assert [stem(w) for w in ("nurses", "always", "glass", "bus")] == [
        "nurse",
        "always",
        "glass",
        "bus",
    ]


def test_intake_loads_the_model_once() -> None:
    # What keeps intake fast: the model is read and the analyser built once per process,
    # not per reply (the rate itself is measured by bench/insights_speed.py).
    analyse_text("warm-up")
    model_loads = default_model.cache_info().misses
    analysers_built = default_analyser.cache_info().misses

    for text in COMMENTS:
        analyse_text(text)

    # The words-only model is read at most once: not at all where the embedding's model
    # is installed (unless another test in this process asked for the fallback).
    assert default_model.cache_info().misses == model_loads <= 1
    assert default_analyser.cache_info().misses == analysers_built == 1
    assert default_analyser.cache_info().hits >= len(COMMENTS)


TRICKY = (
    "",
    "No.",
    "not bad, not good, never rude, hardly helpful",
    "Couldn’t be better! Wouldn't change a thing",
    "It's the nurse's job; the nurses' station was the staff's",
    "staff staff staff were kind kind kind and the staff were kind",
    "Ça va très bien. 😀 12 34",
    "Ask [name] on [phone] about my [id number]",
    "Pregunten por [nombre] en el [teléfono]; gofynnwch am [enw] ar [rhif ffôn]",
)


def test_placeholders_in_every_shipped_language_are_not_theme_words() -> None:
    text = "Pregunten por [nombre] en el [teléfono] o [correo electrónico]; [rhif ffôn] [enw]"
    assert theme_words(text) == ["pregunten", "por", "en", "el", "o"]


def test_each_part_of_an_analysis_is_what_the_word_functions_give() -> None:
    # analyse() keeps each word's part of the work from one reply to the next; what it
    # gives must stay what the documented functions give for the reply's words.
    analyser = default_analyser()
    for text in (*COMMENTS, *TRICKY, *COMMENTS):
        analysis = analyser.analyse(text)
        stems = [stem(w) for w in words(text)]
        assert analysis.tokens == theme_tokens([stem(w) for w in theme_words(text)])
        assert analysis.words == len(stems)
        assert analysis.suggestion == is_suggestion(text)


def test_the_store_of_words_seen_stays_bounded_and_the_analyses_the_same() -> None:
    analyser = TextAnalyser(default_model())
    before = [analyser.analyse(text) for text in COMMENTS]
    many = " ".join(f"w{n}x" for n in range(_KNOWN_WORDS + 100))
    assert analyser.analyse(many).words == _KNOWN_WORDS + 100
    assert len(analyser._known) <= _KNOWN_WORDS
    assert [analyser.analyse(text) for text in COMMENTS] == before
    assert before == [TextAnalyser(default_model()).analyse(text) for text in COMMENTS]


def test_the_lexicon_score_from_the_words_seen_is_lexicon_score() -> None:
    assert lexicon_score(["not", "at", "all", "helpful"]) == -1.0
    assert lexicon_score(["not", "at", "all", "very", "helpful"]) == 1.0
    analyser = default_analyser()
    for text in (*COMMENTS, *TRICKY, "not at all helpful", "never rude but not kind"):
        analyser.analyse(text)
        seen = [analyser._known[w] for w in words(text)]
        from_seen = _signed_sum([w.polarity for w in seen], [w.negator for w in seen])
        assert from_seen == lexicon_score([stem(w) for w in words(text)])
