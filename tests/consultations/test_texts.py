"""Built-in texts: complete catalogues, the same placeholders, overrides, plain words."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime

import pytest

from consultations.dialogue import yes_no
from consultations.safety.redaction import PLACEHOLDERS
from consultations.spec import parse_spec
from consultations.spec.loading import SpecError
from consultations.texts import (
    BUILTIN,
    ENGLISH,
    available_languages,
    catalogue_for,
    missing_texts,
    negotiate,
    placeholders,
    texts_for,
)
from consultations.texts.__main__ import main as texts_command
from tests.consultations.readability import grade, syllables, words
from tests.helpers import spec_data

SHIPPED = [language for language in available_languages() if language != "en"]

#: The plain-words limits for texts of a sentence or more (5+ words): about a reading
#: age of 9 to 11 on average, and no text much harder.
MEAN_GRADE_LIMIT = 6.0
TEXT_GRADE_LIMIT = 8.0
#: Texts held to a limit of their own (the safety reply's last sentence, once grade 10, was
#: reworded to the plain words of the rest). 13YARN's description names the peoples it is
#: for, "Aboriginal and Torres Strait Islander", as they are named: no plainer words do.
REVIEWED: dict[str, float] = {"helpline_first_nations": 11.5}


def test_at_least_two_languages_besides_english_are_shipped() -> None:
    assert {"cy", "es"} <= set(SHIPPED)


@pytest.mark.parametrize("language", SHIPPED)
def test_shipped_catalogues_are_complete(language: str) -> None:
    assert missing_texts(language) == (), (
        f"{language}.po lacks these texts: run `python -m consultations.texts update`, then "
        "translate the new entries (docs/languages.md)"
    )


@pytest.mark.parametrize("language", SHIPPED)
def test_translations_fill_in_the_same_placeholders(language: str) -> None:
    texts = texts_for(language)
    for key, english in BUILTIN.items():
        translated = texts.raw(key)
        assert (
            translated != english
            or key.endswith("_words")
            or "{" in english
            or key
            in (
                "web_post",
                "web_continue",
            )
        ), f"{language} {key} is still English"
        assert placeholders(translated) == placeholders(english), (language, key)


def test_a_language_without_a_catalogue_falls_back_to_english_and_names_what_it_lacks() -> None:
    assert missing_texts("fr") == tuple(BUILTIN)
    assert texts_for("fr")("stop_reply") == BUILTIN["stop_reply"]
    assert missing_texts("en-AU") == ()
    assert missing_texts("cy-GB") == ()
    assert texts_for("cy-GB")("consent_yes") == "Ydw, rwy'n cytuno"


def test_the_check_command_fails_naming_the_texts_a_language_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert texts_command(["check"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{lang}: complete" for lang in SHIPPED]
    assert texts_command(["check", "cy", "fr"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["cy: complete", "fr: missing " + ", ".join(BUILTIN)]


def test_a_changed_english_text_counts_as_missing_until_translated_again() -> None:
    catalogue = catalogue_for("es")
    assert catalogue is not None
    assert catalogue.get(BUILTIN["stop_reply"], context="stop_reply") is not None
    assert catalogue.get(BUILTIN["stop_reply"] + " (changed)", context="stop_reply") is None


def test_placeholders_are_filled_and_dates_written_in_the_language() -> None:
    day = date(2026, 12, 1)
    assert ENGLISH("opens_on", title="T", date=ENGLISH.date(day)) == (
        "“T” opens on 1 December 2026. Please come back then."
    )
    welsh = texts_for("cy")
    assert "Rhagfyr" in welsh.date(day)
    assert "diciembre" in texts_for("es").date(day)


def test_a_day_and_time_are_written_in_the_language_in_utc() -> None:
    moment = datetime(2026, 12, 3, 6, 25, tzinfo=UTC)
    assert ENGLISH.moment(moment) == "03 Dec 06:25"
    assert texts_for("cy").moment(moment) == "3 Rhag 06:25"
    assert texts_for("es").moment(moment) == "3 dic 06:25"
    # As stored by SQLite: no zone, taken as UTC whatever the machine's own.
    assert texts_for("cy").moment(datetime(2026, 5, 30, 23, 5)) == "30 Mai 23:05"


def test_keywords_are_understood_in_the_language_and_in_english() -> None:
    welsh, spanish = texts_for("cy"), texts_for("es")
    assert {"stopio", "gadael", "stop"} <= welsh.words("stop_words")
    # "dim" is Welsh for "nothing" or "no": an answer, never a request to leave.
    assert "dim" not in welsh.words("stop_words")
    assert "dim" not in welsh.words("help_words")
    assert {"basta", "alto", "stop"} <= spanish.words("stop_words")
    assert {"ayuda", "help"} <= spanish.words("help_words")
    assert "basta" not in ENGLISH.words("stop_words")
    assert yes_no("Sí, acepto", ("Sí, acepto", "No, gracias"), spanish) is True
    assert yes_no("vale", ("Sí, acepto", "No, gracias"), spanish) is True
    assert yes_no("ie", ("Ydw, rwy'n cytuno", "Dim diolch"), welsh) is True
    assert yes_no("Yes, I agree", ("Ydw, rwy'n cytuno", "Dim diolch"), welsh) is True
    assert yes_no("nage", ("Ydw, rwy'n cytuno", "Dim diolch"), welsh) is False
    # Typed as people type: an emoji or a mark after the word; a question is no answer.
    assert yes_no("yes 👍", ("Yes, I agree", "No thanks"), ENGLISH) is True
    assert yes_no("No!!", ("Yes, I agree", "No thanks"), ENGLISH) is False
    assert yes_no("ok?", ("Yes, I agree", "No thanks"), ENGLISH) is None


def test_rtl_languages_are_marked_right_to_left() -> None:
    assert texts_for("ar").direction == "rtl"
    assert texts_for("he").direction == "rtl"
    assert texts_for("fa-IR").direction == "rtl"
    assert texts_for("cy").direction == "ltr"


def test_a_spec_overrides_any_built_in_text() -> None:
    spec = parse_spec(
        spec_data(language="es", texts={"stop_reply": "Adiós.", "opens_on": "{title}: {date}"})
    )
    words = spec.wording()
    assert words("stop_reply") == "Adiós."
    assert words("opens_on", title="T", date="d") == "T: d"
    assert words("consent_yes") == "Sí, acepto"  # not overridden: the catalogue's
    assert parse_spec(spec.to_dict()) == spec
    assert (
        "stop_reply"
        not in parse_spec(
            spec_data(language="fr", texts={"stop_reply": "Au revoir."})
        ).missing_texts()
    )


@pytest.mark.parametrize(
    ("texts", "path", "words"),
    [
        ({"stop_replies": "x"}, "texts.stop_replies", "did you mean 'stop_reply'"),
        ({"stop_reply": "Bye {name}"}, "texts.stop_reply", "{name}"),
        ({"stop_reply": ""}, "texts.stop_reply", "blank"),
        ("Bye", "texts", "key: text pairs"),
    ],
)
def test_bad_overrides_are_named(texts: object, path: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_data(texts=texts))
    found = [str(problem) for problem in caught.value.problems]
    assert any(line.startswith(f"{path}:") and words in line for line in found), found


# -- plain words --------------------------------------------------------------------------


def test_the_syllable_counter_agrees_with_a_dictionary_on_common_words() -> None:
    counted = {
        "answer": 2,
        "make": 1,
        "changed": 1,
        "people": 2,
        "anything": 3,
        "medical": 3,
        "emergency": 4,
        "together": 3,
        "times": 1,
    }
    assert {word: syllables(word) for word in counted} == counted
    assert grade("The cat sat on the mat.") < 0
    assert (
        grade(
            "Notwithstanding the aforementioned considerations, comprehensive institutional "
            "accountability necessitates methodological transparency."
        )
        > 20
    )


def test_english_texts_are_plain() -> None:
    sentences = {
        key: grade(text)
        for key, text in BUILTIN.items()
        if not key.endswith("_words") and len(words(text)) >= 5
    }
    assert len(sentences) > 40
    assert statistics.mean(sentences.values()) <= MEAN_GRADE_LIMIT
    too_hard = {
        key: round(value, 1)
        for key, value in sentences.items()
        if value > REVIEWED.get(key, TEXT_GRADE_LIMIT)
    }
    assert too_hard == {}


def test_english_labels_use_short_words() -> None:
    labels = {k: t for k, t in BUILTIN.items() if not k.endswith("_words") and len(words(t)) < 5}
    long_words = {
        key: word for key, text in labels.items() for word in words(text) if syllables(word) > 4
    }
    assert long_words == {}


def test_the_english_placeholders_are_the_redactions_own() -> None:
    # A consultation in English stores what redaction.PLACEHOLDERS says, as it always has.
    assert {
        key.removeprefix("redacted_"): words
        for key, words in BUILTIN.items()
        if key.startswith("redacted_")
    } == PLACEHOLDERS


def test_an_opening_is_dated_in_the_consultation_s_time_zone() -> None:
    """22:00 UTC on the 20th is 09:00 on the 21st in Sydney: people there are told the 21st."""
    from datetime import UTC, datetime

    from consultations.dialogue import not_accepting_text
    from consultations.spec import parse_spec

    spec = parse_spec(
        spec_data(
            opens_at="2026-12-20T22:00:00+00:00",
            timezone="Australia/Sydney",
            title="Sydney clinic",
        )
    )
    said = not_accepting_text("open", spec, datetime(2026, 12, 1, tzinfo=UTC))
    assert said == "“Sydney clinic” opens on 21 December 2026. Please come back then."


def test_any_number_of_regions_asked_for_keeps_one_catalogue_a_language() -> None:
    # A browser's Accept-Language may name any region of a shipped language; each is
    # read as the language's own catalogue, and what is kept does not grow with them.
    from consultations.texts import catalogue

    welsh = negotiate(["cy"]).raw("consent_yes")
    assert welsh != ENGLISH.raw("consent_yes")
    for n in range(2_000):
        texts = negotiate([f"cy-Q{n}", "en"])
        assert texts.raw("consent_yes") == welsh
    kept = [
        catalogue._read_shipped.cache_info().currsize,
        catalogue._current.cache_info().currsize,
        catalogue._translated.cache_info().currsize,
    ]
    assert max(kept) <= len(SHIPPED) + 1, kept
