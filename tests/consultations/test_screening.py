"""Screening free text: what is redacted, what is flagged, and the reply to a disclosure.

The tables pin the current behaviour, cases the patterns were written for and near misses
beside them, so a change to a pattern shows exactly which texts it moves.
"""

from __future__ import annotations

import re

import pytest

from consultations.safety.screen import assess
from consultations.screening import (
    BY_MODEL,
    BY_PHRASE,
    REDACTED,
    SAFETY,
    default_helplines,
    general_note,
    hints_for,
    is_crisis,
    redact,
    safety_message,
    screen,
)
from consultations.spec import Helpline, Region, SafetySettings, parse_spec
from consultations.texts import available_languages, texts_for
from tests import helpers
from tests.helpers import spec_data

# -- redaction --------------------------------------------------------------------------------

REDACTIONS = [
    # emails and links
    ("Email me at jo.bloggs+nhs@example.co.uk please", "Email me at [email] please"),
    ("See https://example.org/booking?x=1 for details", "See [link] for details"),
    ("HTTP://EXAMPLE.ORG shouting", "[link] shouting"),
    ("or www.example.org/help", "or [link]"),
    # NHS numbers (3-3-4, valid mod-11 check digit) and Medicare numbers (4-5-1, with an
    # optional issue number, valid check digit)
    ("My NHS number is 943 476 5919", "My NHS number is [NHS number]"),
    ("NHS 943-476-5919", "NHS [NHS number]"),
    ("NHS 9434765919", "NHS [NHS number]"),
    ("Medicare 2123 45670 1", "Medicare [Medicare number]"),
    ("Medicare 2123 45670 1/2", "Medicare [Medicare number]"),
    # phone numbers, with or without a country code
    ("Call me on 0412 345 678", "Call me on [phone]"),
    ("ring +44 20 7946 0958 after 5", "ring [phone] after 5"),
    ("(02) 9876 5432", "[phone]"),
    ("0412.345.678 or 0412-345-678", "[phone] or [phone]"),
    # Written with 0044, the whole number goes (it is read as a long id).
    ("0044 7700 900123", "[id number]"),
    # social media handles
    ("tweet @nhs_england about it", "tweet [handle] about it"),
    ("ask @jo", "ask [handle]"),
    # A full fediverse handle is a handle, not an email address.
    ("follow @jo@mastodon.social", "follow [handle]"),
    # several details in one text
    (
        "jo@example.org, 0412 345 678, https://x.org",
        "[email], [phone], [link]",
    ),
]

KEPT = [
    "The staff were lovely",
    "Appointment at 10.30 on 12/03/2024",
    "I waited 3 hours",
    "I waited 45 minutes then 20 more",
    "Ward 12, bed 4",
    "Room 101",
    "1234567",  # seven digits: too short for a phone number
    "a@b",  # no domain: not an email
    "@",
    "me@",
    "Clinic hours 9-5",
    "",
]


@pytest.mark.parametrize(("text", "expected"), REDACTIONS)
def test_personal_details_are_replaced_by_placeholders(text: str, expected: str) -> None:
    assert redact(text) == (expected, True)
    screened = screen(text)
    assert (screened.text, screened.flags) == (expected, (REDACTED,))


@pytest.mark.parametrize("text", KEPT)
def test_text_without_personal_details_is_kept(text: str) -> None:
    assert redact(text) == (text, False)
    screened = screen(text)
    assert (screened.text, screened.flags) == (text, ())


# -- crisis disclosures -----------------------------------------------------------------------

DISCLOSURES = [
    "I have been thinking about suicide",
    "SUICIDAL thoughts again",
    "I want to kill myself",
    # Intent said outright, then a complaint: a disclosure whatever follows.
    "I am going to kill myself, the parking is awful",
    "I will kill myself, the parking charges are a joke",
    "I keep thinking about killing myself",
    "Some days I want to end it all",
    "I'm ending my life",
    "I want to take my own life",
    "I wanted to die",
    "I wish I were dead",
    "I'm better off dead",
    "There is no reason to live",
    "I don't want to wake up tomorrow",
    "I dont want to be here any more",
    "I have been self-harming again",
    "selfharm",
    "I've been cutting myself",
    "I keep hurting myself",
    "I took an overdose last year",
    "I could hang myself",
    "I want to hurt someone",
    "I could kill my husband",
    "I will kill them all",
    # An exception phrase does not hide a disclosure beside it.
    "The self-harm team was slow but I still self-harm",
]

NOT_DISCLOSURES = [
    "The staff were lovely",
    "kms the printer jammed again",
    "The suicide prevention team were great",
    "The self harm service helped me",
    "Self-harm training for staff",
    "That film killed me, so funny",
    "The wait killed it for me",
    "I'm dying to see the new clinic",
    "endless wait",
    "",
]


@pytest.mark.parametrize("text", DISCLOSURES)
def test_crisis_disclosures_are_flagged(text: str) -> None:
    assert is_crisis(text)
    screened = screen(text)
    assert (screened.text, screened.flags, screened.crisis) == (text, (SAFETY,), True)


@pytest.mark.parametrize("text", NOT_DISCLOSURES)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert not is_crisis(text)
    screened = screen(text)
    assert (screened.flags, screened.crisis) == ((), False)


# -- both, and the text kept ------------------------------------------------------------------

SCREENED = [
    # text, stored text, flags (the safety flag first)
    ("  padded text  ", "padded text", ()),
    ("\nI want to die\n", "I want to die", (SAFETY,)),
    ("Email jo@x.org, I want to die", "Email [email], I want to die", (SAFETY, REDACTED)),
    ("Call 0412 345 678, I'm suicidal", "Call [phone], I'm suicidal", (SAFETY, REDACTED)),
    ("jo@x.org", "[email]", (REDACTED,)),
]


@pytest.mark.parametrize(("text", "stored", "flags"), SCREENED)
def test_screening_strips_redacts_and_flags(text: str, stored: str, flags: tuple[str, ...]) -> None:
    screened = screen(text)
    assert (screened.text, screened.flags) == (stored, flags)


@pytest.mark.parametrize(
    ("text", "evidence", "flagged_by"),
    [
        (helpers.BY_PHRASE, "stockpiling my tablets", BY_PHRASE),
        (helpers.BY_PHRASE_TOO, "have pills saved up", BY_PHRASE),
        (helpers.BY_MODEL, "semantic", BY_MODEL),
        (helpers.BY_MODEL_TOO, "semantic", BY_MODEL),
    ],
)
def test_a_disclosure_says_whether_a_listed_phrase_or_the_model_alone_flagged_it(
    text: str, evidence: str, flagged_by: str
) -> None:
    # The texts the channel, import and command-line tests use for each kind.
    assert assess(text).evidence == evidence
    screened = screen(text)
    assert screened.crisis and screened.flagged_by == flagged_by
    assert screened.by_model == (flagged_by == BY_MODEL)
    # Only the kind is kept: the matched phrase is nowhere on the result but in its text.
    assert evidence not in {str(value) for value in vars(screened).values()}


@pytest.mark.parametrize(
    "text",
    [
        "Ring me the day before",
        # Not read (another language): a person looks, but no phrase or model flagged it.
        "Je ne veux plus vivre. J'ai gardé des comprimés et je vais le faire ce soir.",
    ],
)
def test_a_text_that_is_no_disclosure_was_flagged_by_neither(text: str) -> None:
    screened = screen(text)
    assert not screened.crisis and not screened.by_model and screened.flagged_by is None


@pytest.mark.parametrize(
    ("language", "safety", "text", "stored"),
    [
        ("es", None, "Escríbanme al 612 34 56 78, gracias", "Escríbanme al [teléfono], gracias"),
        ("es", {"region": "US"}, "Soy de México: 55 1234 5678", "Soy de México: [teléfono]"),
        ("cy", None, "Dyma fy rhif: 029 2034 5678", "Dyma fy rhif: [rhif ffôn]"),
    ],
)
def test_a_consultations_region_and_language_reach_the_redaction(
    language: str, safety: dict[str, str] | None, text: str, stored: str
) -> None:
    changes = {"safety": safety} if safety else {}
    spec = parse_spec(spec_data(language=language, **changes))
    screened = screen(text, hints_for(spec))
    assert (screened.text, screened.flags) == (stored, (REDACTED,))


@pytest.mark.parametrize(
    ("language", "stored"),
    [
        ("en", "I'm [name], email [email] or ring [phone]. NHS number [NHS number]"),
        (
            "es",
            "I'm [nombre], email [correo electrónico] or ring [teléfono]. NHS number "
            "[número del NHS]",
        ),
        ("cy", "I'm [enw], email [e-bost] or ring [rhif ffôn]. NHS number [rhif GIG]"),
    ],
)
def test_personal_details_become_placeholders_in_the_consultations_language(
    language: str, stored: str
) -> None:
    text = "I'm Sarah, email sarah.jones@example.com or ring 07700 900123. NHS number 943 476 5919"
    spec = parse_spec(spec_data(language=language, safety={"region": "UK"}))
    assert screen(text, hints_for(spec)).text == stored


def test_a_spec_may_keep_staff_given_names_in_praise() -> None:
    # The spec's safety.keep_staff_names reaches every intake through the hints; the
    # writer's own name and a staff surname are redacted all the same.
    text = "Nurse Amy was lovely. My name is Sarah Jones."
    kept = parse_spec(spec_data(safety={"region": "UK", "keep_staff_names": True}))
    assert screen(text, hints_for(kept)).text == "Nurse Amy was lovely. My name is [name]."
    default = parse_spec(spec_data(safety={"region": "UK"}))
    assert screen(text, hints_for(default)).text == "Nurse [name] was lovely. My name is [name]."


def test_a_spec_may_word_its_own_placeholders() -> None:
    spec = parse_spec(spec_data(language="es", texts={"redacted_name": "[persona]"}))
    assert screen("Me atendió Sarah Jones", hints_for(spec)).text == "Me atendió [persona]"


# -- the reply to a disclosure ----------------------------------------------------------------

CLOSING = (
    "We can't give medical or crisis help here. But someone from the Example Health "
    "team has been told about your message and will read it."
)


@pytest.mark.parametrize(
    ("region", "helplines"),
    [
        (
            "AU",
            [
                "Emergency (police, ambulance): 000",
                "Lifeline, 24 hours: 13 11 14 or text 0477 13 11 14",
            ],
        ),
        ("UK", ["Emergency: 999", "Samaritans, 24 hours: 116 123"]),
        ("US", ["Emergency: 911", "988 Suicide and Crisis Lifeline: call or text 988"]),
    ],
)
def test_safety_message_lists_the_regions_helplines(region: Region, helplines: list[str]) -> None:
    message = safety_message(SafetySettings(region=region), "Example Health")
    lines = message.split("\n")
    assert lines[0].startswith("Thank you for telling us.")
    assert lines[2] == "If you are in danger now, call emergency services."
    listed = [line[2:] for line in lines if line.startswith("- ")]
    assert listed == [f"{h.name}: {h.contact}" for h in default_helplines(region)]
    assert listed[: len(helplines)] == helplines
    assert lines[-1] == CLOSING


@pytest.mark.parametrize(
    ("language", "region", "helplines"),
    [
        (
            "cy",
            "UK",
            [
                "Argyfwng: 999",
                "Samaritans, 24 awr: 116 123",
                "NHS 111, opsiwn 2 ar gyfer argyfwng iechyd meddwl: 111",
                "Shout, gwasanaeth tecstio mewn argyfwng: tecstiwch SHOUT i 85258",
            ],
        ),
        (
            "es",
            "US",
            [
                "Emergencias: 911",
                "988 Suicide and Crisis Lifeline: llame o envíe un mensaje de texto al 988",
                "Crisis Text Line: envíe HOME por mensaje de texto al 741741",
            ],
        ),
        (
            "es",
            "AU",
            [
                "Emergencias (policía, ambulancia): 000",
                "Lifeline, las 24 horas: 13 11 14 o envíe un mensaje de texto al 0477 13 11 14",
                "Suicide Call Back Service: 1300 659 467",
                "13YARN (apoyo en crisis para personas aborígenes e isleñas del estrecho de "
                "Torres): 13 92 76",
                "Kids Helpline (de 5 a 25 años): 1800 55 1800",
            ],
        ),
    ],
)
def test_the_helplines_are_described_in_the_consultations_language(
    language: str, region: Region, helplines: list[str]
) -> None:
    texts = texts_for(language)
    message = safety_message(SafetySettings(region=region), "Example Health", texts)
    assert [line[2:] for line in message.split("\n") if line.startswith("- ")] == helplines
    # The short note for a public place lists the first of them, in the same words.
    note = general_note(SafetySettings(region=region), texts).split("\n")
    assert note == [texts("safety_public"), *(f"- {line}" for line in helplines[:3])]


SERVICE_NAMES = (
    "Lifeline",
    "Suicide Call Back Service",
    "13YARN",
    "Kids Helpline",
    "Samaritans",
    "NHS 111",
    "Shout",
    "988 Suicide and Crisis Lifeline",
    "Crisis Text Line",
)


@pytest.mark.parametrize("language", [code for code in available_languages() if code != "en"])
@pytest.mark.parametrize("region", ["AU", "UK", "US"])
def test_translated_helplines_keep_every_name_and_number(language: str, region: Region) -> None:
    english = default_helplines(region)
    translated = default_helplines(region, texts_for(language))
    assert len(translated) == len(english)
    for source, words in zip(english, translated, strict=True):
        # Services' names, keywords to text ("SHOUT") and numbers are the services' own:
        # each one in the English is in the translation.
        english_words = f"{source.name} {source.contact}"
        kept = [name for name in SERVICE_NAMES if name in english_words]
        kept += [w for w in re.findall(r"\w+", english_words) if w.isupper() or w.isdigit()]
        assert kept
        for token in kept:
            assert token in f"{words.name} {words.contact}", (language, token)


@pytest.mark.parametrize("language", available_languages())
def test_a_check_in_has_the_same_help_in_words_that_do_not_presume(language: str) -> None:
    """For a tentative flag: the same helplines and danger line, other words around them."""
    texts = texts_for(language)
    settings = SafetySettings(region="UK")
    for categories, care in (
        (("suicidal-passive",), "safety_check_in"),
        (("third-party",), "safety_check_in_other"),
    ):
        full = safety_message(settings, "Example Health", texts, categories).split("\n")
        check_in = safety_message(
            settings, "Example Health", texts, categories, check_in=True
        ).split("\n")
        assert check_in[0] == texts(care) and check_in[0] != full[0]
        assert check_in[-1] == texts("safety_check_in_next", organisation="Example Health")
        assert check_in[1:-1] == full[1:-1]  # the danger line and every helpline


def test_safety_message_uses_the_consultations_own_words_and_helplines() -> None:
    settings = SafetySettings(
        region="UK",
        message="We are sorry things are hard.",
        helplines=(Helpline("Local crisis team", "0800 000 000"),),
    )
    assert safety_message(settings, "Example Health").split("\n") == [
        "We are sorry things are hard.",
        "",
        "If you are in danger now, call emergency services.",
        # The consultation's helplines take the place of the region's.
        "- Local crisis team: 0800 000 000",
        "",
        CLOSING,
    ]


@pytest.mark.parametrize(
    ("categories", "about_someone_else", "danger"),
    [
        (("third-party",), True, "If they are in danger now"),
        ((), False, "If you are in danger now"),
        (("suicidal-passive",), False, "If you are in danger now"),
        # Worried about someone and at risk too: the reply speaks to the writer.
        (("third-party", "suicidal-active"), False, "If you are in danger now"),
        (("harm-to-others",), False, "If you or someone else is in danger now"),
        (("suicidal-active", "harm-to-others"), False, "If you or someone else is in danger now"),
        # Someone hurting the writer, or a child at risk: either may be who is in danger.
        (("safeguarding",), False, "If you or someone else is in danger now"),
    ],
)
def test_the_safety_reply_speaks_to_whoever_the_disclosure_says_is_at_risk(
    categories: tuple[str, ...], about_someone_else: bool, danger: str
) -> None:
    lines = safety_message(SafetySettings(region="UK"), "Example Health", categories=categories)
    lines_of = lines.split("\n")
    assert ("worried about someone" in lines_of[0]) is about_someone_else
    assert lines_of[2] == f"{danger}, call emergency services."
    assert "Samaritans, 24 hours: 116 123" in lines  # the same helplines either way


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a\x00b", "ab"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),  # no escape reaches a terminal
        ("bell\x07 and\x7f del and\x85 next line", "bell and del and next line"),
        ("tab\tand\nlines\r\nkept", "tab\tand\nlines\r\nkept"),
        ("no-break\xa0space &amp; entity", "no-break space & entity"),
    ],
)
def test_control_characters_are_dropped_at_intake(text: str, kept: str) -> None:
    assert screen(text).text == kept
