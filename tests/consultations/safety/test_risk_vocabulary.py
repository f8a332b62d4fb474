"""The risk vocabulary decides which replies the semantic layer scores. The lexicon reads
every reply: a phrase the vocabulary lacked a word of once went unread (held-out
disclosures passed as clear that way), so whatever the lexicon flags is flagged."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
import yaml

from consultations.safety.normalise import fold, normalise_folded
from consultations.safety.screen import Screen, default_screen
from consultations.safety.training import shipped_exemplars
from tests.consultations.safety.conftest import EVALUATION, LANGUAGES, read_jsonl

HERE = Path(__file__).resolve().parent


#: The texts are read in this many parts, each a test of its own: the whole set (some
#: 60,000 texts, half of them screened in full) took over the 180 s a test may take on a
#: slow machine, and the parts run side by side in the suite's workers.
PARTS = 8


@cache
def _texts() -> tuple[str, ...]:
    texts = [str(row["text"]) for row in read_jsonl(EVALUATION)]
    texts += [str(row["text"]) for row in read_jsonl(LANGUAGES)]
    texts += [example.text for example in shipped_exemplars()]
    for name in ("test_evaluation.py", "test_lexicon.py", "test_normalise.py"):
        texts += re.findall(r'"([^"\n]{4,})"', (HERE / name).read_text(encoding="utf-8"))
    return tuple(texts)


def _normalised(screen: Screen, text: str) -> str:
    return normalise_folded(fold(text), screen.known)


def _read_by_the_lexicon(screen: Screen, texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if screen.lexicon.read(screen.lexicon.mask(_normalised(screen, text)))[0]:
            yield text


@pytest.mark.parametrize("part", range(PARTS))
def test_every_text_the_lexicon_flags_is_flagged_with_or_without_risk_vocabulary(
    part: int,
) -> None:
    screen = default_screen()
    read = list(_read_by_the_lexicon(screen, _texts()[part::PARTS]))
    assert read
    assert [text for text in read if not screen.assess(text).flagged] == []


def test_some_texts_the_lexicon_flags_have_no_risk_vocabulary() -> None:
    # Texts whose lexicon phrase has no word of the risk vocabulary: before the lexicon
    # read every text, each of them passed as clear ("Set the date. My birthday ...", a
    # held-out disclosure of batch 36 or 37, was one). Without one among the texts above,
    # their test would not tell whether the lexicon reads beyond the risk vocabulary.
    screen = default_screen()
    unworded = next(
        (
            text
            for text in _read_by_the_lexicon(screen, _texts())
            if not screen.risky(_normalised(screen, text))
        ),
        None,
    )
    assert unworded is not None, "no text tells whether the lexicon reads beyond the vocabulary"
    assert screen.assess(unworded).flagged


@pytest.mark.parametrize(
    "text",
    [
        "The cafe was closed again",
        "Parking is expensive and the signs are confusing",
        "Lovely staff, thank you",
    ],
)
def test_ordinary_feedback_has_none(text: str) -> None:
    screen = default_screen()
    assert not screen.risky(_normalised(screen, text))


def test_stems_words_and_two_word_phrases() -> None:
    screen = default_screen()
    assert screen.risky("i feel suicidal")
    assert screen.risky("i was raped")
    assert screen.risky("i can not go on")
    assert not screen.risky("i can go")


OBJECTS = [
    "him",
    "her",
    "them",
    "you",
    "me",
    "someone",
    "that bloke",
    "the nurse",
    "my wife",
    "his",
    "this guy",
    "those",
    "everyone",
    "anyone",
    "the baby",
]


@pytest.mark.parametrize("macro", ["harmverb", "abuseverb"])
def test_every_harm_the_phrases_name_is_risk_vocabulary_before_whom_it_harms(macro: str) -> None:
    # The threats and the abuse the lexicon reads are built from these verbs; one the
    # gate lacked let a held-out threat ("gonna glass that bloke from the clinic") pass
    # as clear before the lexicon read every reply. Each verb, before whoever it is done
    # to, must be risk vocabulary (a word of the gate, or a phrase of two), so that the
    # semantic layer scores the wordings the lexicon has no phrase for.
    screen = default_screen()
    lacking = [
        f"{verb} {whom}"
        for verb in _macro_words(macro)
        for whom in OBJECTS
        if not screen.risky(_normalised(screen, f"{verb} {whom}"))
    ]
    assert lacking == []


def test_every_medicine_the_phrases_name_is_risk_vocabulary() -> None:
    # The phrases about saved or swallowed medicines use the ``pills`` list; a name on it
    # that the gate lacked let such a text pass as clear before the lexicon read every
    # reply ("a 3 month supply of amitriptyline ... i am keeping them for the 21st"), and
    # the semantic layer still scores only texts with risk vocabulary. "them" stands for
    # medicines named earlier, which the gate sees there.
    screen = default_screen()
    lacking = [name for name in _macro_words("pills") if name != "them" and not screen.risky(name)]
    assert lacking == []


def _macro_words(name: str) -> list[str]:
    """The alternatives of a one-level macro of the shipped lexicon (``(?:a|b|c)``)."""
    source = resources.files("consultations.safety").joinpath("data/lexicon.yaml")
    macro = yaml.safe_load(source.read_text(encoding="utf-8"))["macros"][name]
    alternatives = re.fullmatch(r"\(\?:(.*)\)", macro)
    assert alternatives is not None
    return alternatives.group(1).split("|")
