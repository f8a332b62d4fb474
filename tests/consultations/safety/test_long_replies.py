"""Disclosures inside long replies: sentences scored on their own, cues kept to the
sentence they are in."""

from __future__ import annotations

import pytest

from consultations.safety.screen import TENTATIVE_MARGIN, assess, default_screen
from consultations.safety.semantic import split_sentences
from tests.consultations.safety.conftest import screen_without

# Written for these tests (not in the evaluation set): one clause of a complaint is a
# disclosure the lexicon does not list. Until tune batches 15 and 16 the clause was "I
# feel like I am so close to ending it all at the moment"; "close to ending it all" is a
# lexicon phrase since (its sentence scored 0.889 against a sentence threshold of 0.89).
# Since tune batches 20 and 21 (whole-text threshold 0.56) the shorter complaint below is
# caught whole (0.58), so the complaint around the clause is longer here. Since tune
# batches 22 and 23 (whole-text threshold 0.58) the shorter one is caught by its sentence
# again (0.52 whole). Since tune batches 40 and 41 "one bad night away from ending it
# all" is a lexicon phrase (its sentence scored 0.989 against a sentence threshold of
# 0.99), and the clause here is another the lexicon does not list (0.993). Since tune
# batches 68 to 72 the shorter complaint is caught whole again (0.54 against 0.49): it is
# among those caught whole below. Since tune batches 79 to 99 (short replies) it is caught
# by its sentence again (0.38 whole against 0.53). Since the model's features are scaled by
# how much they tell the classes apart, both complaints of these tests until then are
# caught whole (0.50 and 0.68 against 0.41; see the check-in test below), and the two here
# are longer (whole scores under the threshold; the sentence scores 1.0 on its own). Since
# tune batches 124 to 131 (whole-text threshold 0.31) those are caught whole too, and the
# two here are longer again (0.14 and 0.17 whole).
EMBEDDED = [
    "The car park only takes coins, the signs to outpatients are wrong, reception were "
    "short with me again and the wait was over two hours, and the pharmacy had closed by "
    "the time I was seen, and nobody had told the ward I was coming, so I sat in the "
    "corridor with my bags while the porters argued about a wheelchair and the café shut "
    "early. "
    "The hearing loop at the desk did not work, the water machine was empty, the toilets "
    "by the lifts were locked all afternoon, and the screen that calls names was stuck on "
    "the same page, so half the room missed their turn and had to queue again at the desk "
    "to ask. The chairs in the corridor are broken, the vending machine takes no cards, "
    "and the leaflets about the new booking line give a number that rings out. "
    "Some nights I think seriously about ending it all. Please answer the phones, "
    "fix the signs, keep the café open and hire more staff for the desk.",
    "Parking was a nightmare, the letter had the wrong clinic on it, the receptionist sent "
    "me to the wrong floor twice, the lift was broken, the form asked for my history three "
    "times over, and nobody called me back about the referral for three weeks even though "
    "I rang every morning and was told a manager would ring. "
    "The hearing loop at the desk did not work, the water machine was empty, the toilets "
    "by the lifts were locked all afternoon, and the screen that calls names was stuck on "
    "the same page, so half the room missed their turn and had to queue again at the desk "
    "to ask. The chairs in the corridor are broken, the vending machine takes no cards, "
    "and the leaflets about the new booking line give a number that rings out. "
    "Some nights I think seriously about ending it all. Please answer the phones, send "
    "letters that are right and give people a name to ask for.",
]

# Caught whole just over the whole-text threshold (0.54 and 0.43 against 0.31, under the
# tentative band's top, 0.61), where a flag by the model alone gets only a check-in; the
# disclosing sentence, scored 1.0 on its own, holds the dialogue as any flag does. (The
# complaints of the test above until tune batches 124 to 131, which lowered the
# threshold from 0.41; those of this test until then scored 0.77 and 0.89, over the band.)
EMBEDDED_JUST_OVER = [
    "The car park only takes coins, the signs to outpatients are wrong, reception were "
    "short with me again and the wait was over two hours, and the pharmacy had closed by "
    "the time I was seen, and nobody had told the ward I was coming, so I sat in the "
    "corridor with my bags while the porters argued about a wheelchair and the café shut "
    "early. Some nights I think seriously about ending it all. Please answer the phones, "
    "fix the signs, keep the café open and hire more staff for the desk.",
    "Parking was a nightmare, the letter had the wrong clinic on it, the receptionist sent "
    "me to the wrong floor twice, the lift was broken, the form asked for my history three "
    "times over, and nobody called me back about the referral for three weeks even though "
    "I rang every morning and was told a manager would ring. Some nights "
    "I think seriously about ending it all. Please answer the phones, send letters that are "
    "right and give people a name to ask for.",
]

# The clause of the tests above until tune batches 40 and 41, now a lexicon phrase: still
# caught inside the complaint.
EMBEDDED_LISTED = [
    "The car park only takes coins, the signs to outpatients are wrong, reception were "
    "short with me again and the wait was over two hours. Most days I feel I am one bad "
    "night away from ending it all. Please answer the phones and hire more staff.",
    "Parking was a nightmare and nobody called me back about the referral. Honestly I am "
    "one bad day from ending it. The receptionist was kind though.",
]

# Caught by sentence scoring while the whole-text threshold was 0.64, and by the whole
# text (0.63) since the thresholds were set for recall. The second was missed while the
# sentence threshold was 0.83, caught by its sentence (0.75) at 0.74, and by the whole
# text since tune batch 7 (disclosures inside complaints) joined the training.
EMBEDDED_CAUGHT_WHOLE = [
    "My referral was lost twice, the GP blames the hospital and the hospital blames the "
    "GP, and I have now waited seven months for a scan. Most nights I lie awake wishing I "
    "could fall asleep and never wake. It is not good enough and somebody needs to take "
    "responsibility.",
    "My referral was lost twice, the GP blames the hospital and the hospital blames the "
    "GP, and I have now waited seven months for a scan. Most nights I lie awake wishing I "
    "could just stop existing. It is not good enough and somebody needs to take "
    "responsibility.",
]

# Context in one sentence does not set aside a report in another.
REPORTS_IN_COMPLAINTS = [
    "We were sent a leaflet and the website is out of date. My daughter says she wants to "
    "kill herself and CAMHS will not see her for a year.",
    "The form took an hour to fill in. My husband keeps saying he wants to die and the "
    "crisis team never rang back.",
]

SAFE_LONG = [
    "We watched a film in group. The boy in it says he wants to die.",
    "The physio was great. I used to self harm at university but I have been well for "
    "years now. Parking was fine.",
    "I thought I was going to die during the birth but the midwives were calm. The food "
    "on the ward was cold though.",
]


@pytest.mark.parametrize("text", EMBEDDED)
def test_a_disclosing_sentence_in_a_complaint_is_caught_on_its_own(text: str) -> None:
    screen = default_screen()
    assert screen.model is not None
    prepared = screen.read(text)[1]
    assert screen.model.probability(prepared) < screen.model.threshold
    verdict = assess(text)
    assert verdict.flagged
    assert verdict.evidence == "semantic"
    # Scoring the text whole, as before, misses it.
    assert not screen_without("sentence_threshold").assess(text).flagged


@pytest.mark.parametrize("text", EMBEDDED_JUST_OVER)
def test_a_disclosing_sentence_is_held_even_when_the_whole_is_only_just_over(text: str) -> None:
    screen = default_screen()
    assert screen.model is not None
    prepared = screen.read(text)[1]
    whole = screen.model.probability(prepared)
    assert screen.model.threshold <= whole < screen.model.threshold + TENTATIVE_MARGIN
    verdict = assess(text)
    assert verdict.flagged and verdict.by_model
    assert not verdict.tentative
    assert verdict.categories[0] == "suicidal-active"
    # Without sentence scores the whole text alone gives only a check-in.
    assert screen_without("sentence_threshold").assess(text).tentative


@pytest.mark.parametrize("text", EMBEDDED_LISTED)
def test_a_listed_disclosure_in_a_complaint_is_caught(text: str) -> None:
    verdict = assess(text)
    assert verdict.flagged
    assert verdict.evidence != "semantic"


@pytest.mark.parametrize("text", EMBEDDED_CAUGHT_WHOLE)
def test_a_disclosure_in_a_complaint_can_be_caught_by_the_whole_text(text: str) -> None:
    screen = default_screen()
    assert screen.model is not None
    assert screen.model.probability(screen.read(text)[1]) >= screen.model.threshold
    verdict = assess(text)
    assert verdict.flagged
    assert verdict.evidence == "semantic"


@pytest.mark.parametrize("text", REPORTS_IN_COMPLAINTS)
def test_a_report_in_a_complaint_stands_beside_forms_and_leaflets(text: str) -> None:
    verdict = assess(text)
    assert verdict.flagged
    assert verdict.evidence != "semantic"
    assert "third-party" in verdict.categories


@pytest.mark.parametrize("text", SAFE_LONG)
def test_fiction_recovery_and_birth_stories_stay_clear(text: str) -> None:
    assert not assess(text).flagged


def test_sentence_threshold_is_stricter_than_the_whole_text_one() -> None:
    model = default_screen().model
    assert model is not None
    assert model.threshold < model.sentence_threshold < 1.0


@pytest.mark.parametrize(
    ("normalised", "sentences"),
    [
        ("the wait was long . i want to die ; sort it out", 3),
        ("no sentence break here", 1),
        ("dr . smith was kind ! thanks ...", 3),
    ],
)
def test_sentences_are_split_at_sentence_punctuation(normalised: str, sentences: int) -> None:
    assert len(split_sentences(normalised)) == sentences
