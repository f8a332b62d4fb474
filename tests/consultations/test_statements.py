"""The pure parts of statement voting: votes read, repeats spotted, the next one chosen."""

from __future__ import annotations

import pytest

from consultations.statements import (
    Known,
    Tally,
    choose_next,
    content_words,
    group_spreads,
    informativeness,
    is_done,
    near_duplicate,
    not_an_idea,
    parse_question,
    question_id,
    read_vote,
    similarity,
    statement_of,
    statement_ref,
)
from consultations.texts import texts_for


@pytest.mark.parametrize(
    ("raw", "vote"),
    [
        ("Agree", "agree"),
        ("agree", "agree"),
        (" I AGREE. ", "agree"),
        ("1", "agree"),
        ("Disagree", "disagree"),
        ("no", "disagree"),
        ("2", "disagree"),
        ("Pass", "pass"),
        ("not sure", "pass"),
        ("3", "pass"),
        ("Open on Sundays", None),
        ("4", None),
    ],
)
def test_votes_are_read_from_buttons_words_and_numbers(raw: str, vote: str | None) -> None:
    assert read_vote(raw) == vote


def test_done_words_end_the_step() -> None:
    assert is_done("Done") and is_done("no thanks!") and not is_done("Done by Friday")


def test_votes_and_done_words_are_read_in_the_consultations_language() -> None:
    spanish, welsh = texts_for("es"), texts_for("cy")
    assert [read_vote(w, spanish) for w in ("sí", "¡Vale!", "En desacuerdo", "no", "paso")] == [
        "agree",
        "agree",
        "disagree",
        "disagree",
        "pass",
    ]
    assert read_vote("ydw", welsh) == "agree" and read_vote("Anghytuno", welsh) == "disagree"
    # English stays understood in either; a yes is a vote only where one is asked for.
    assert read_vote("agree", spanish) == "agree" and read_vote("yes", welsh) == "agree"
    assert read_vote("sí", spanish, yes_no=False) is None
    assert read_vote("de acuerdo", spanish, yes_no=False) == "agree"
    for done in ("nada", "listo", "Hecho.", "no", "done"):
        assert is_done(done, spanish), done
    for done in ("wedi gorffen", "dim", "dyna ni", "done"):
        assert is_done(done, welsh), done
    assert not is_done("no", spanish, no_words=False)
    assert not is_done("nada", texts_for("en"))


@pytest.mark.parametrize(
    ("language", "reply"),
    [
        ("en", "ok"),
        ("en", "Thanks!"),
        ("en", "1"),
        ("en", "👍"),
        ("es", "sí"),
        ("es", "vale"),
        ("es", "gracias"),
        ("cy", "ydw"),
        ("cy", "diolch"),
    ],
)
def test_short_everyday_replies_are_not_ideas(language: str, reply: str) -> None:
    assert not_an_idea(reply, texts_for(language))


def test_a_short_idea_is_still_an_idea() -> None:
    assert not not_an_idea("More nurses")
    assert not not_an_idea("Más médicos", texts_for("es"))


def test_question_ids_round_trip_and_reject_junk() -> None:
    assert parse_question(question_id("ideas", 17)) == ("ideas", 17)
    assert parse_question(question_id("ideas", "add")) == ("ideas", "add")
    for junk in ("ideas", "#17", "ideas#x", "ideas#-1", "ideas#１２"):
        assert parse_question(junk) is None
    assert statement_of(statement_ref(5)) == 5
    assert statement_of("response:5") is None and statement_of(None) is None


def test_repeats_are_spotted_across_case_plurals_and_small_words() -> None:
    known = [Known(1, "Open on Saturday mornings"), Known(2, "Text me when the clinic runs late")]
    assert content_words("Open on Saturday mornings!") == content_words("open saturday morning")
    repeat = near_duplicate("the clinic should open on a saturday morning", known)
    assert repeat is not None and repeat.id == 1
    assert near_duplicate("Open on Sunday evenings", known) is None
    assert near_duplicate("Parking should be free", known) is None


NIGHT_DOCTORS = "Que haya más médicos en el turno de la noche"
NIGHT_NURSES = "Que haya más enfermeras en el turno de la noche"


def test_repeats_are_judged_by_the_content_words_of_the_consultations_language() -> None:
    def score(a: str, b: str, language: str) -> float:
        return similarity(content_words(a, language), content_words(b, language))

    # Two ideas sharing only Spanish small words: English stop words made them 0.82 alike.
    assert score(NIGHT_DOCTORS, NIGHT_NURSES, "en") > 0.8
    assert score(NIGHT_DOCTORS, NIGHT_NURSES, "es") == 0.5
    assert near_duplicate(NIGHT_NURSES, [Known(1, NIGHT_DOCTORS)], "es-MX") is None
    # A true repeat is still one, across accents, plurals and small words.
    repeat = near_duplicate(
        "que haya mas medicos en los turnos de noche", [Known(1, NIGHT_DOCTORS)], "es"
    )
    assert repeat is not None and repeat.id == 1
    welsh = [Known(1, "Mwy o nyrsys yn y nos")]
    assert near_duplicate("Mwy o feddygon yn y nos", welsh, "cy") is None
    assert near_duplicate("mwy o nyrsys yn y nos!", welsh, "cy") is not None
    # English is as it was.
    assert (
        score("Open on Saturday mornings", "the clinic should open on a saturday morning", "en")
        == 0.75
    )
    # A language with no list: only words of one or two letters are left out.
    assert content_words("Ouvrir le samedi matin", "fr") == {"ouvrir", "samedi", "matin"}
    assert (
        near_duplicate("Plus d'infirmières la nuit", [Known(1, "Plus de médecins la nuit")], "fr")
        is None
    )


def test_the_next_statement_is_never_one_voted_on_or_ones_own() -> None:
    tallies = [Tally(1, "a", 0, 0, 0, author=7), Tally(2, "b", 0, 0, 0), Tally(3, "c", 0, 0, 0)]
    assert choose_next(tallies, voted={2}, participant_id=7) == tallies[2]
    assert choose_next(tallies, voted={2, 3}, participant_id=7) is None


def test_few_votes_and_even_splits_come_first() -> None:
    fresh = Tally(1, "new", 0, 0, 0)
    settled = Tally(2, "everyone agrees", 40, 0, 0)
    split = Tally(3, "half and half", 20, 20, 0)
    passed = Tally(4, "nobody knows", 1, 1, 38)
    assert informativeness(fresh) > informativeness(settled)
    assert informativeness(split) > informativeness(settled)
    assert informativeness(split) > informativeness(passed)
    assert choose_next([settled, split, passed], voted=()) == split
    # Equal scores: the older statement first, the same on every worker.
    assert choose_next([Tally(9, "x", 0, 0, 0), Tally(4, "y", 0, 0, 0)], voted=()).id == 4  # type: ignore[union-attr]


def test_group_spreads_are_half_the_range_of_smoothed_stances() -> None:
    votes = [("a1", "s1", 1), ("a2", "s1", 1), ("b1", "s1", -1), ("b2", "s1", -1)]
    votes += [("a1", "s2", 1), ("b1", "s2", 1), ("x", "s2", -1), ("a1", "s3", 1)]
    spreads = group_spreads(votes, {"a1": 0, "a2": 0, "b1": 1, "b2": 1})
    assert spreads["s1"] == pytest.approx((2 / 4 - (-2 / 4)) / 2)
    assert spreads["s2"] == 0.0  # both groups agree; "x" is in no group
    assert "s3" not in spreads  # only one group voted


def test_once_there_are_groups_their_split_decides() -> None:
    balanced_but_shared = Tally(1, "both groups split inside", 20, 20, 0, split=0.0)
    one_sided_overall = Tally(2, "one group for, one against", 30, 10, 0, split=0.9)
    assert choose_next([balanced_but_shared, one_sided_overall], voted=()) == one_sided_overall
