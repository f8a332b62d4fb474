"""Tests for the consultation spec format (consultations.spec) and the engagement models."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from consultations.insights.opinion import MIN_VOTES
from consultations.models import MODELS, template_yaml
from consultations.spec import (
    CHANNELS,
    QI,
    STAGES,
    ChannelLimits,
    Consent,
    ConsultationSpec,
    Helpline,
    Item,
    MastodonSettings,
    Problem,
    SafetySettings,
    Segment,
    SpecError,
    TelegramSettings,
    load_spec,
    load_spec_file,
    parse_spec,
)
from consultations.timed_chat import question_text

FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT_SPEC = FIXTURES / "outpatient-booking.yaml"
AEST = timezone(timedelta(hours=10))

Spec = dict[str, Any]


@pytest.fixture
def contract_expected() -> ConsultationSpec:
    """The contract's example spec, as objects."""
    return ConsultationSpec(
        id="outpatient-booking",
        title="Improving outpatient booking",
        organisation="Example Health Service",
        model="feedback-prompt",
        qi=QI(project="Outpatient booking redesign", stage="plan", cycle=1),
        channels=("web", "telegram", "mastodon"),
        language="en",
        consent=Consent(
            text=(
                "We use your answers to improve our booking service. "
                "Reply STOP to leave at any time."
            ),
            recontact=True,
        ),
        segments=(
            Segment(
                id="role",
                text="Which best describes you?",
                options=("Patient", "Carer", "Staff", "Community member"),
            ),
        ),
        items=(
            Item(
                id="ease",
                type="poll",
                text="How easy was it to book your last appointment?",
                options=("Very easy", "Easy", "Neither", "Hard", "Very hard"),
            ),
            Item(id="one-thing", type="prompt", text="What one thing would make booking easier?"),
            Item(
                id="reminder",
                type="thread",
                text="Let's design the reminder message together: what should it say?",
            ),
        ),
        opens_at=datetime(2026, 12, 1, 9, 0, tzinfo=AEST),
        closes_at=datetime(2026, 12, 15, 17, 0, tzinfo=AEST),
        closing_message="Thank you. We will share what we change.",
        telegram=TelegramSettings(chats=(-1001234567890,)),
        mastodon=MastodonSettings(visibility="public"),
    )


def minimal() -> Spec:
    """The smallest valid spec, as data."""
    return {
        "id": "waiting-room",
        "title": "A better waiting room",
        "organisation": "Example Health Service",
        "model": "feedback-prompt",
        "consent": {"text": "We use your answers to improve the waiting room."},
        "items": [{"id": "idea", "type": "prompt", "text": "What would make waiting easier?"}],
    }


def full() -> Spec:
    """A valid spec using every part of the format, as data."""
    return {
        "id": "booking",
        "title": "Improving booking",
        "organisation": "Example Health Service",
        "model": "co-design-thread",
        "qi": {"project": "Booking redesign", "stage": "do", "cycle": 2},
        "channels": ["web", "telegram"],
        "language": "en-AU",
        "consent": {"text": "We use your answers to improve booking.", "recontact": False},
        "segments": [
            {"id": "role", "text": "Which best describes you?", "options": ["Patient", "Staff"]},
            {"id": "age", "text": "How old are you?", "options": ["Under 25", "25 or over"]},
        ],
        "opens_at": "2026-12-01T09:00:00+10:00",
        "closes_at": "2026-12-15T17:00:00+10:00",
        "items": [
            {
                "id": "ease",
                "type": "poll",
                "text": "How easy was booking?",
                "options": ["Easy", "Neither", "Hard"],
            },
            {"id": "one-thing", "type": "prompt", "text": "What would make booking easier?"},
            {"id": "reminder", "type": "thread", "text": "What should a reminder say?"},
        ],
        "closing_message": "Thank you.",
        "telegram": {"chats": [-1001234567890, "@examplehealth"]},
        "mastodon": {"visibility": "unlisted"},
        "safety": {
            "region": "AU",
            "message": "If you need support now, please contact one of these services.",
            "helplines": [{"name": "Lifeline", "contact": "13 11 14"}],
        },
    }


def problems_of(data: object, **kwargs: Any) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, **kwargs)
    return caught.value.problems


def paths_of(data: object, **kwargs: Any) -> list[str]:
    return [problem.path for problem in problems_of(data, **kwargs)]


# --------------------------------------------------------------------------------------
# Valid specs


def test_contract_example_parses_to_expected_objects(
    contract_expected: ConsultationSpec,
) -> None:
    assert load_spec_file(CONTRACT_SPEC) == contract_expected


def test_contract_example_times_keep_their_timezone() -> None:
    spec = load_spec_file(CONTRACT_SPEC)
    assert spec.opens_at is not None
    assert spec.opens_at.utcoffset() == timedelta(hours=10)
    assert spec.opens_at.astimezone(UTC) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_full_spec_parses_every_section() -> None:
    spec = parse_spec(full())
    assert spec.qi == QI(project="Booking redesign", stage="do", cycle=2)
    assert spec.language == "en-AU"
    assert spec.segment("age").options == ("Under 25", "25 or over")
    assert spec.telegram == TelegramSettings(chats=(-1001234567890, "@examplehealth"))
    assert spec.mastodon == MastodonSettings(visibility="unlisted")
    assert spec.safety == SafetySettings(
        region="AU",
        message="If you need support now, please contact one of these services.",
        helplines=(Helpline(name="Lifeline", contact="13 11 14"),),
    )
    assert spec.closes_at == datetime(2026, 12, 15, 17, 0, tzinfo=AEST)


def test_minimal_spec_gets_documented_defaults() -> None:
    spec = parse_spec(minimal())
    assert spec.channels == ("web",)
    assert spec.language == "en"
    assert spec.qi == QI(project="A better waiting room", stage="plan", cycle=1)
    assert spec.consent == Consent(
        text="We use your answers to improve the waiting room.", recontact=False
    )
    assert spec.segments == ()
    assert (spec.opens_at, spec.closes_at, spec.closing_message) == (None, None, None)
    assert spec.telegram == TelegramSettings()
    assert spec.mastodon == MastodonSettings()
    assert spec.safety == SafetySettings()


def test_qi_project_defaults_to_title_when_qi_has_only_a_stage() -> None:
    data = minimal() | {"qi": {"stage": "study"}}
    assert parse_spec(data).qi == QI(project="A better waiting room", stage="study", cycle=1)


def test_item_and_segment_lookup(contract_expected: ConsultationSpec) -> None:
    assert contract_expected.item("one-thing").type == "prompt"
    assert contract_expected.segment("role").text == "Which best describes you?"
    with pytest.raises(KeyError):
        contract_expected.item("role")
    with pytest.raises(KeyError):
        contract_expected.segment("ease")


@pytest.mark.parametrize("make", [minimal, full])
def test_to_dict_is_json_and_round_trips(make: Callable[[], Spec]) -> None:
    spec = parse_spec(make())
    as_json = json.dumps(spec.to_dict())
    assert parse_spec(json.loads(as_json)) == spec


def test_contract_example_round_trips_through_to_dict() -> None:
    spec = load_spec_file(CONTRACT_SPEC)
    assert spec.to_dict()["opens_at"] == "2026-12-01T09:00:00+10:00"
    assert parse_spec(spec.to_dict()) == spec
    assert load_spec(json.dumps(spec.to_dict())) == spec


def test_texts_are_trimmed() -> None:
    data = minimal()
    data["title"] = "  A better waiting room\n"
    data["items"][0]["text"] = "What would make waiting easier?\n"
    spec = parse_spec(data)
    assert spec.title == "A better waiting room"
    assert spec.items[0].text == "What would make waiting easier?"


def test_empty_optional_sections_count_as_absent() -> None:
    spec = load_spec(
        "id: x\ntitle: T\norganisation: O\nmodel: pulse-poll\nconsent: {text: C}\n"
        "segments:\ntelegram:\nitems: [{id: a, type: prompt, text: Q}]\n"
    )
    assert spec.segments == ()
    assert spec.telegram == TelegramSettings()


def test_poll_allows_multiple_answers() -> None:
    data = minimal()
    data["items"] = [
        {"id": "which", "type": "poll", "text": "Which?", "options": ["A", "B"], "multiple": True}
    ]
    assert parse_spec(data).items[0] == Item("which", "poll", "Which?", ("A", "B"), True)


# --------------------------------------------------------------------------------------
# YAML and JSON reading


def test_yaml_yes_no_and_times_of_day_stay_text() -> None:
    text = (
        "id: x\ntitle: T\norganisation: O\nmodel: pulse-poll\nconsent: {text: C}\n"
        "language: no\n"
        "items:\n"
        "  - {id: a, type: poll, text: Q, options: [Yes, No, Off]}\n"
        "  - {id: b, type: poll, text: When, options: [9:30, '10:30', 1, 2]}\n"
    )
    spec = load_spec(text)
    assert spec.language == "no"
    assert spec.item("a").options == ("Yes", "No", "Off")
    assert spec.item("b").options == ("9:30", "10:30", "1", "2")


def test_json_text_is_accepted() -> None:
    spec = parse_spec(full())
    assert load_spec(json.dumps(full(), indent=2), source="booking.json") == spec


def test_yaml_flow_mapping_document_is_accepted() -> None:
    text = (
        "{id: x, title: T, organisation: O, model: listening, consent: {text: C},"
        " items: [{id: a, type: prompt, text: Q}]}"
    )
    assert load_spec(text).model == "listening"


def test_malformed_yaml_names_line_and_column() -> None:
    text = "id: x\ntitle: T\nitems:\n  - id: a\n    text: Q1: what works?\n"
    with pytest.raises(SpecError) as caught:
        load_spec(text, source="chat.yaml")
    [problem] = caught.value.problems
    assert problem.path == "(root)"
    assert "chat.yaml, line 5, column 13" in problem.message
    assert "quotes" in problem.message
    assert caught.value.source == "chat.yaml"


QUOTE_IN_BRACKETS = (
    'inside [...] or {...}, a text that contains ": " or "?" must be put in quotes, '
    'e.g. {id: why, type: prompt, text: "Why? Tell us"}'
)
YAML_MISTAKES = [
    (
        "a field less indented than the one above",
        "id: x\nitems:\n  - id: a\n    type: prompt\n   text: Q\n",
        "line 5, column 4: not valid YAML: the indentation does not line up with the lines above",
    ),
    (
        "a field more indented than the one above",
        "id: x\nitems:\n  - id: a\n    type: prompt\n     text: Q\n",
        "line 5, column 6: not valid YAML: the indentation does not line up with the lines above",
    ),
    (
        "a list entry out of line",
        "id: x\nitems:\n  - id: a\n   - id: b\n",
        "line 4, column 4: not valid YAML: the indentation does not line up with the lines above",
    ),
    (
        "': ' inside a text",
        "id: x\ntitle: Q1: what works?\n",
        'line 2, column 10: not valid YAML: a text that contains ": " must be put in quotes, '
        'e.g. text: "Q1: what works?"',
    ),
    (
        "'?' inside a text in braces",
        "id: x\nitems:\n  - {id: a, type: prompt, text: Why? Tell us}\n",
        "line 3, column 36: not valid YAML: " + QUOTE_IN_BRACKETS,
    ),
    (
        "': ' inside a text in braces too",
        "id: x\nitems:\n  - {id: a, type: prompt, text: Q1: what works?}\n",
        "line 3, column 35: not valid YAML: " + QUOTE_IN_BRACKETS,
    ),
    (
        "a bracket never closed",
        "id: x\noptions: [Yes, No\ntitle: T\n",
        "line 3, column 6: not valid YAML: the '[' on line 2 is not closed; if it is, "
        + QUOTE_IN_BRACKETS,
    ),
    (
        "a quote never closed",
        'id: x\ntitle: "Booking\nitems: []\n',
        "line 4, column 1: not valid YAML: the quote opened on line 2 is never closed",
    ),
    (
        "a tab",
        "id: x\n\ttitle: T\n",
        "line 2, column 1: not valid YAML: indent with spaces, not tabs",
    ),
    (
        "no space after the colon",
        "id:x\ntitle: T\n",
        "line 2, column 6: not valid YAML: put a space after the ':' on the line above "
        "(id: x, not id:x)",
    ),
    (
        "text after a quoted text",
        'id: x\ntitle: "Safe" care\n',
        "line 2, column 15: not valid YAML: the text after a closing quote or bracket is not "
        "part of the value; put the whole text in quotes, e.g. title: '\"Safe\" care' or "
        'text: "[Draft] the plan"',
    ),
    (
        "a control character",
        "id: x\ntitle: a\x07b\n",
        "line 2, column 9: not valid YAML: the character #x0007 cannot be in a spec; delete it",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [m[1:] for m in YAML_MISTAKES], ids=[m[0] for m in YAML_MISTAKES]
)
def test_yaml_mistake_is_one_line_in_plain_words(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(text, source="bad/x.yaml")
    assert caught.value.unreadable
    assert caught.value.problems == [Problem("(root)", f"bad/x.yaml, {message}")]


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec('{\n  "id": "x",\n  "title": }\n')
    assert "line 3, column 12" in str(caught.value)


NOT_REAL_MOMENTS = [
    ("2026-02-30T09:00:00Z", "is not a real date and time: February 2026 has 28 days, not 30"),
    ("2026-13-45T09:00:00+00:00", "is not a real date and time: there is no month 13"),
    ("2026-12-01T24:00:00+10:00", "is not a real date and time: there is no hour 24 (at most 23)"),
    (
        "2026-12-01T09:00:00+25:00",
        "is not a real date and time: there is no timezone +25:00 (they run from -23:59 to +23:59)",
    ),
    ("2026-02-29", "is not a real date: February 2026 has 28 days, not 29"),
]


@pytest.mark.parametrize("form", ["yaml", "json"])
@pytest.mark.parametrize("field", ["opens_at", "closes_at", "items[0].at"])
@pytest.mark.parametrize(("value", "said"), NOT_REAL_MOMENTS)
def test_a_date_that_is_not_real_is_a_problem_at_its_field(
    form: str, field: str, value: str, said: str
) -> None:
    data = full()
    if field == "items[0].at":
        data["items"][0]["at"] = value
    else:
        data[field] = value
    if form == "json":
        text = json.dumps(data, indent=2)
    else:  # unquoted, so that YAML reads it as a date
        text = yaml.safe_dump(data, sort_keys=False).replace(f"'{value}'", value)
        assert f" {value}\n" in text
    with pytest.raises(SpecError) as caught:
        load_spec(text, source=f"booking.{form}")
    assert caught.value.problems == [
        Problem(field, f"'{value}' {said}; write it like 2026-12-01T09:00:00+10:00")
    ]


@pytest.mark.parametrize("value", ["!!int abc", "!!float abc", "!!bool maybe"])
def test_a_value_tagged_as_what_it_is_not_names_its_line(value: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(f"id: x\ntitle: {value}\n", source="tagged.yaml")
    [problem] = caught.value.problems
    assert problem.path == "(root)"
    assert problem.message.startswith("tagged.yaml, line 2, column 8: "), problem.message


def test_text_tagged_as_a_date_is_a_problem_at_its_field() -> None:
    data = full()
    del data["opens_at"]
    text = yaml.safe_dump(data, sort_keys=False) + "opens_at: !!timestamp soon\n"
    assert problems_of_text(text) == [
        Problem(
            "opens_at", "'soon' is not a date and time; write it like 2026-12-01T09:00:00+10:00"
        )
    ]


def problems_of_text(text: str) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        load_spec(text)
    return caught.value.problems


@pytest.mark.parametrize(
    "text", ["id: x\ntitle: A\ntitle: B\n", '{"id": "x", "title": "A", "title": "B"}']
)
def test_repeated_field_is_an_error(text: str) -> None:
    with pytest.raises(SpecError, match="'title' appears twice"):
        load_spec(text)


def test_empty_text_is_an_error() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec("# nothing yet\n")
    assert caught.value.problems == [Problem("(root)", "the spec is empty")]


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_spec_file(missing)
    assert str(missing) in str(caught.value)


def test_spec_file_problems_carry_the_source(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("id: Bad Id\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec_file(path)
    assert caught.value.source == str(path)
    assert "id" in [problem.path for problem in caught.value.problems]


# --------------------------------------------------------------------------------------
# Mistakes: each reported at its field path


def _set(path: list[str | int], value: object) -> Callable[[Spec], None]:
    def change(data: Spec) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: list[str | int]) -> Callable[[Spec], None]:
    def change(data: Spec) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


MISTAKES: list[tuple[str, Callable[[Spec], None], str, str]] = [
    # (name, change to full(), expected path, words the message must contain)
    ("unknown root field", _set(["titel"], "x"), "titel", "did you mean 'title'?"),
    ("unknown item field", _set(["items", 0, "colour"], "red"), "items[0].colour", "allowed"),
    ("unknown consent field", _set(["consent", "expires"], 1), "consent.expires", "recontact"),
    ("unknown qi field", _set(["qi", "lead"], "Sam"), "qi.lead", "project, stage, cycle"),
    ("missing id", _drop(["id"]), "id", "missing"),
    ("missing title", _drop(["title"]), "title", "missing"),
    ("missing organisation", _drop(["organisation"]), "organisation", "missing"),
    ("missing model", _drop(["model"]), "model", "missing"),
    ("missing consent", _drop(["consent"]), "consent", "missing"),
    ("missing consent text", _drop(["consent", "text"]), "consent.text", "missing"),
    ("missing items", _drop(["items"]), "items", "missing"),
    ("missing item type", _drop(["items", 1, "type"]), "items[1].type", "missing"),
    ("empty items", _set(["items"], []), "items", "at least one"),
    ("items not a list", _set(["items"], {"id": "a"}), "items", "must be a list"),
    ("title is a list", _set(["title"], ["a"]), "title", "must be text"),
    ("blank title", _set(["title"], "   "), "title", "blank"),
    ("blank consent text", _set(["consent", "text"], ""), "consent.text", "blank"),
    ("null item text", _set(["items", 1, "text"], None), "items[1].text", "empty"),
    ("blank option", _set(["items", 0, "options", 1], " "), "items[0].options[1]", "blank"),
    ("bad id", _set(["id"], "Booking Survey"), "id", "'booking-survey'"),
    ("long id", _set(["id"], "a" * 65), "id", "at most 64"),
    ("bad item id", _set(["items", 1, "id"], "one_thing"), "items[1].id", "'one-thing'"),
    ("bad segment id", _set(["segments", 0, "id"], "Role"), "segments[0].id", "lowercase"),
    ("numeric id", _set(["items", 0, "id"], 7), "items[0].id", "the number 7"),
    ("duplicate item id", _set(["items", 2, "id"], "ease"), "items[2].id", "items[0]"),
    ("duplicate segment id", _set(["segments", 1, "id"], "role"), "segments[1].id", "segments[0]"),
    ("item id is a segment id", _set(["items", 1, "id"], "age"), "items[1].id", "segments[1]"),
    ("poll with one option", _set(["items", 0, "options"], ["A"]), "items[0].options", "2"),
    ("poll without options", _drop(["items", 0, "options"]), "items[0].options", "at least 2"),
    (
        "duplicate options",
        _set(["items", 0, "options"], ["Easy", "Hard", " easy "]),
        "items[0].options[2]",
        "repeats items[0].options[0]",
    ),
    ("options on a prompt", _set(["items", 1, "options"], ["A", "B"]), "items[1].options", "poll"),
    ("multiple on a thread", _set(["items", 2, "multiple"], True), "items[2].multiple", "poll"),
    ("multiple not a boolean", _set(["items", 0, "multiple"], "yes"), "items[0].multiple", "true"),
    ("unknown item type", _set(["items", 1, "type"], "survey"), "items[1].type", "poll, prompt"),
    ("unknown model", _set(["model"], "survey"), "model", "pulse-poll"),
    ("unknown stage", _set(["qi", "stage"], "check"), "qi.stage", "plan, do, study or act"),
    ("zero cycle", _set(["qi", "cycle"], 0), "qi.cycle", "whole number"),
    ("text cycle", _set(["qi", "cycle"], "2"), "qi.cycle", "whole number"),
    ("boolean cycle", _set(["qi", "cycle"], True), "qi.cycle", "whole number"),
    ("unknown channel", _set(["channels", 1], "twitter"), "channels[1]", "web, telegram"),
    ("duplicate channel", _set(["channels", 1], "web"), "channels[1]", "twice"),
    ("no channels", _set(["channels"], []), "channels", "at least one"),
    ("channels not a list", _set(["channels"], "web"), "channels", "must be a list"),
    ("bad language", _set(["language"], "English"), "language", "en-AU"),
    ("recontact not a boolean", _set(["consent", "recontact"], "yes"), "consent.recontact", "true"),
    ("consent not fields", _set(["consent"], "I agree"), "consent", "set of fields"),
    ("closes before opens", _set(["closes_at"], "2026-11-30T09:00:00+10:00"), "closes_at", "after"),
    ("closes when opens", _set(["closes_at"], "2026-12-01T09:00:00+10:00"), "closes_at", "after"),
    ("naive opens_at", _set(["opens_at"], "2026-12-01T09:00:00"), "opens_at", "timezone"),
    (
        "naive datetime object",
        _set(["closes_at"], datetime(2026, 12, 15, 17, 0)),
        "closes_at",
        "timezone",
    ),
    ("date only", _set(["opens_at"], "2026-12-01"), "opens_at", "time and a timezone"),
    ("unparseable time", _set(["opens_at"], "next Monday"), "opens_at", "2026-12-01T09:00"),
    (
        "segment with one option",
        _set(["segments", 0, "options"], ["A"]),
        "segments[0].options",
        "2",
    ),
    ("segment missing text", _drop(["segments", 1, "text"]), "segments[1].text", "missing"),
    (
        "bad telegram chat",
        _set(["telegram", "chats", 1], "examplehealth"),
        "telegram.chats[1]",
        "@",
    ),
    ("boolean telegram chat", _set(["telegram", "chats", 0], True), "telegram.chats[0]", "@"),
    (
        "duplicate telegram chat",
        _set(["telegram", "chats", 1], -1001234567890),
        "telegram.chats[1]",
        "twice",
    ),
    ("unknown telegram field", _set(["telegram", "topic"], 3), "telegram.topic", "chats"),
    (
        "bad visibility",
        _set(["mastodon", "visibility"], "private"),
        "mastodon.visibility",
        "unlisted",
    ),
    ("unknown region", _set(["safety", "region"], "NZ"), "safety.region", "AU, UK or US"),
    (
        "helpline missing contact",
        _drop(["safety", "helplines", 0, "contact"]),
        "safety.helplines[0].contact",
        "missing",
    ),
    ("blank closing message", _set(["closing_message"], ""), "closing_message", "blank"),
]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [pytest.param(change, path, words, id=name) for name, change, path, words in MISTAKES],
)
def test_mistake_is_reported_at_its_path(
    change: Callable[[Spec], None], path: str, words: str
) -> None:
    data = full()
    change(data)
    problems = problems_of(data)
    assert [problem.path for problem in problems] == [path]
    assert words in problems[0].message


def test_document_that_is_not_fields_is_a_root_problem() -> None:
    assert problems_of(["id", "title"]) == [
        Problem("(root)", "must be a set of fields (like `id: ...`), not a list")
    ]


def test_unknown_field_message_lists_allowed_fields() -> None:
    data = full()
    data["items"][1]["hint"] = "x"
    [problem] = problems_of(data)
    assert problem.message == (
        "unknown field 'hint'; the fields allowed here are: id, type, text, options, multiple, "
        "seed, moderation, rounds, round_gap, at"
    )


def test_unknown_model_message_lists_every_model() -> None:
    [problem] = problems_of(minimal() | {"model": "pulse"})
    assert problem.message.startswith(
        "unknown engagement model 'pulse' (did you mean 'pulse-poll'?)"
    )
    for name in MODELS:
        assert name in problem.message


def test_every_problem_is_reported_at_once() -> None:
    data = full()
    data["id"] = "Booking"
    del data["title"]
    data["qi"]["stage"] = "check"
    data["channels"] = ["web", "sms"]
    data["items"][0]["options"] = ["Yes"]
    data["items"][1]["multiple"] = True
    data["items"][2]["id"] = "ease"
    data["mastodon"]["visibility"] = "direct"
    assert paths_of(data) == [
        "title",
        "id",
        "qi.stage",
        "channels[1]",
        "items[0].options",
        "items[1].multiple",
        "items[2].id",
        "mastodon.visibility",
    ]


def test_error_text_lists_one_problem_per_line() -> None:
    data = minimal()
    data["id"] = "X"
    data["consent"] = {"text": " ", "recontact": 1}
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    lines = str(caught.value).splitlines()
    assert lines == [str(problem) for problem in caught.value.problems]
    assert [line.split(":")[0] for line in lines] == ["id", "consent.text", "consent.recontact"]


def test_yaml_booleans_for_yes_no_are_reported_as_text() -> None:
    text = CONTRACT_SPEC.read_text().replace("recontact: true", "recontact: yes")
    with pytest.raises(SpecError) as caught:
        load_spec(text)
    assert caught.value.problems == [
        Problem("consent.recontact", "must be true or false, not the text 'yes'")
    ]


def test_naive_yaml_timestamp_is_an_error() -> None:
    text = CONTRACT_SPEC.read_text().replace("2026-12-01T09:00:00+10:00", "2026-12-01 09:00:00")
    with pytest.raises(SpecError) as caught:
        load_spec(text)
    assert [problem.path for problem in caught.value.problems] == ["opens_at"]


# --------------------------------------------------------------------------------------
# Channel limits


def _telegram_spec(**item: Any) -> Spec:
    data = minimal()
    data["channels"] = ["web", "telegram"]
    data["items"] = [{"id": "q", "type": "poll", "text": "Which?", "options": ["A", "B"]} | item]
    return data


# The Bot API's numbers, written out here: the domain is checked against whatever limits
# it is given, and tests/adapters/telegram/test_limits.py holds the adapter to these.
LIMITS = {
    "telegram": ChannelLimits(
        "telegram",
        text_max=4096,
        poll_question_max=300,
        poll_options_min=2,
        poll_options_max=12,
        poll_option_max=100,
    )
}


def test_long_option_is_reported_with_its_length() -> None:
    data = _telegram_spec(options=["A", "B", "C", "x" * 120])
    [problem] = problems_of(data, limits=LIMITS)
    assert str(problem) == "items[0].options[3]: 120 characters; telegram allows at most 100"


def test_too_many_options_for_telegram() -> None:
    data = _telegram_spec(options=[f"Option {n}" for n in range(13)])
    assert [str(p) for p in problems_of(data, limits=LIMITS)] == [
        "items[0].options: 13 options; telegram allows at most 12 in a poll"
    ]


def test_long_poll_question_for_telegram() -> None:
    data = _telegram_spec(text="x" * 301)
    assert [str(p) for p in problems_of(data, limits=LIMITS)] == [
        "items[0].text: 301 characters; telegram allows at most 300 in a poll question"
    ]


def test_long_texts_outside_polls_for_telegram() -> None:
    data = _telegram_spec()
    data["items"].append({"id": "story", "type": "prompt", "text": "x" * 4097})
    data["consent"]["text"] = "c" * 4097
    data["closing_message"] = "t" * 5000
    assert paths_of(data, limits=LIMITS) == ["consent.text", "items[1].text", "closing_message"]


def test_limits_at_the_maximum_are_accepted() -> None:
    data = _telegram_spec(text="q" * 300, options=["o" * 100] + [f"{n}" for n in range(11)])
    assert len(parse_spec(data, limits=LIMITS).items[0].options) == 12


def test_limits_apply_only_to_channels_the_spec_uses() -> None:
    data = _telegram_spec(options=[f"Option {n}" for n in range(13)])
    data["channels"] = ["web"]
    assert len(parse_spec(data, limits=LIMITS).items[0].options) == 13


def test_limits_of_several_channels_are_each_reported() -> None:
    small = ChannelLimits("mastodon", 500, 500, 2, 4, 50)
    data = _telegram_spec(options=[f"Option {n}" for n in range(13)])
    data["channels"] = ["telegram", "mastodon"]
    messages = [str(p) for p in problems_of(data, limits=LIMITS | {"mastodon": small})]
    assert messages == [
        "items[0].options: 13 options; telegram allows at most 12 in a poll",
        "items[0].options: 13 options; mastodon allows at most 4 in a poll",
    ]


def test_limit_problems_come_with_other_problems() -> None:
    data = _telegram_spec(options=["A", "y" * 101])
    data["title"] = ""
    assert paths_of(data, limits=LIMITS) == ["title", "items[0].options[1]"]


def test_load_spec_file_checks_limits() -> None:
    tiny = ChannelLimits("telegram", 4096, 300, 2, 4, 100)
    with pytest.raises(SpecError) as caught:
        load_spec_file(CONTRACT_SPEC, limits={"telegram": tiny})
    assert [str(p) for p in caught.value.problems] == [
        "items[0].options: 5 options; telegram allows at most 4 in a poll"
    ]


# --------------------------------------------------------------------------------------
# Engagement models


def test_all_nine_models_are_named() -> None:
    assert list(MODELS) == [
        "pulse-poll",
        "feedback-prompt",
        "co-design-thread",
        "timed-chat",
        "priority-setting",
        "idea-crowdsourcing",
        "listening",
        "recruitment",
        "closing-the-loop",
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_model_template_is_a_valid_spec(name: str) -> None:
    model = MODELS[name]
    template = model.template("my-consultation")
    spec = parse_spec(copy.deepcopy(template), limits=LIMITS)
    assert spec.id == "my-consultation"
    assert spec.model == name
    assert spec.qi.stage == model.stages[0]
    assert {item.type for item in spec.items} <= set(model.item_kinds)
    assert set(model.stages) <= set(STAGES)
    assert set(spec.channels) <= set(CHANNELS)
    assert model.summary.endswith(".")
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize("name", list(MODELS))
def test_model_yaml_template_matches_the_template(name: str) -> None:
    text = template_yaml(name, "my-consultation")
    assert text.startswith("# ")
    assert load_spec(text) == parse_spec(MODELS[name].template("my-consultation"))


def test_the_templates_of_timed_models_collect_answers_as_they_stand() -> None:
    """A timed chat's questions each have their time (without one they all went out at
    launch and the "A1 ..." answers they asked for were dropped); listening gathers a
    hashtag; priority setting asks its deciding poll in rounds."""
    chat = parse_spec(MODELS["timed-chat"].template("chat"))
    prompts = [item for item in chat.items if item.type == "prompt"]
    times = [item.at for item in prompts]
    assert all(times) and times == sorted(times) and len(set(times)) == len(times)
    listening = parse_spec(MODELS["listening"].template("heard"))
    assert listening.items == () and listening.mastodon.listen
    priorities = parse_spec(MODELS["priority-setting"].template("first"))
    assert any(item.rounds > 1 for item in priorities.items)


def test_the_timed_chat_template_numbers_each_question_once() -> None:
    """The engine puts "Q1." before a timed question's words, so the template's own
    words carry no number of their own (they were posted as "Q1. Q1: How do you...")."""
    chat = parse_spec(MODELS["timed-chat"].template("chat"))
    for number, item in enumerate(chat.timed_items, start=1):
        post = question_text(chat, item)
        assert post.startswith(f"Q{number}. ")
        assert f"Q{number}:" not in post and f"Q{number}." not in post[len(f"Q{number}. ") :]


def test_the_idea_crowdsourcing_template_seeds_enough_statements_for_groups() -> None:
    """Opinion groups place only people who voted on MIN_VOTES statements: with fewer
    seeds the report of a new consultation found no groups however many took part."""
    ideas = parse_spec(MODELS["idea-crowdsourcing"].template("ideas"))
    [item] = ideas.items
    assert len(item.seed) >= MIN_VOTES


def test_template_rejects_a_bad_id() -> None:
    with pytest.raises(ValueError, match="not a valid consultation id"):
        MODELS["pulse-poll"].template("My Poll")


def test_template_yaml_rejects_an_unknown_model() -> None:
    with pytest.raises(ValueError, match="pulse-poll"):
        template_yaml("survey", "x")


def test_recruitment_asks_to_recontact_unless_the_spec_says_not_to() -> None:
    data = minimal() | {"model": "recruitment"}
    spec = parse_spec(data)
    assert spec.consent.recontact is True
    assert spec.closing_message == MODELS["recruitment"].closing_message_default
    data["consent"] = {"text": "We use your answers.", "recontact": False}
    data["closing_message"] = "Thanks."
    spec = parse_spec(data)
    assert spec.consent.recontact is False
    assert spec.closing_message == "Thanks."


def test_other_models_leave_recontact_off() -> None:
    assert parse_spec(minimal() | {"model": "pulse-poll"}).consent.recontact is False


def test_model_never_forbids_items() -> None:
    data = full() | {"model": "pulse-poll"}
    assert [item.type for item in parse_spec(data).items] == ["poll", "prompt", "thread"]


def test_limit_problems_follow_the_order_of_the_item() -> None:
    data = _telegram_spec(text="x" * 301, options=[f"Option {n}" for n in range(12)] + ["z" * 101])
    assert paths_of(data, limits=LIMITS) == [
        "items[0].text",
        "items[0].options",
        "items[0].options[12]",
    ]


def test_template_yaml_takes_a_model_object() -> None:
    model = MODELS["closing-the-loop"]
    spec = load_spec(template_yaml(model, "you-said-we-did"))
    assert spec.qi.stage == "act"
    assert spec.closing_message == model.closing_message_default


def test_staff_names_are_redacted_unless_the_spec_keeps_them() -> None:
    from tests.helpers import spec_data

    assert parse_spec(spec_data()).safety.keep_staff_names is False
    kept = parse_spec(spec_data(safety={"region": "UK", "keep_staff_names": True}))
    assert kept.safety.keep_staff_names is True
    found = problems_of(spec_data(safety={"keep_staff_names": "yes"}))
    assert [p.path for p in found] == ["safety.keep_staff_names"]


def test_the_moderators_response_target_defaults_to_a_day_and_may_only_be_shorter() -> None:
    from tests.helpers import spec_data

    assert parse_spec(spec_data()).safety.response_hours == 24.0
    assert parse_spec(spec_data(safety={"response_hours": 4})).safety.response_hours == 4.0
    for wrong in (30, 0, "soon", True):
        found = problems_of(spec_data(safety={"response_hours": wrong}))
        assert [p.path for p in found] == ["safety.response_hours"]


def every_field() -> Spec:
    """A valid spec in which every field of every part takes a value other than its default."""
    data = full() | {
        "model": "priority-setting",
        "language": "en",
        "qi": {"project": "Booking redesign", "stage": "do", "cycle": 2},
        "consent": {"text": "We use your answers to improve booking.", "recontact": True},
        "segments": [
            {
                "id": "role",
                "text": "Which best describes you?",
                "options": ["Patient", "Staff"],
                "expected": {"Patient": 0.8, "Staff": 0.2},
            }
        ],
        "items": [
            {
                "id": "ease",
                "type": "poll",
                "text": "Which parts of booking were hard?",
                "options": ["Finding a time", "The phone line", "The letter"],
                "multiple": True,
                "rounds": 2,
                "round_gap": "48h",
            },
            {
                "id": "ideas",
                "type": "statements",
                "text": "What should booking do differently?",
                "seed": ["Let me book online"],
                "moderation": "pre",
            },
            {
                "id": "chat",
                "type": "prompt",
                "text": "What is the waiting room like?",
                "at": "2026-12-02T10:00:00+10:00",
            },
        ],
        "mastodon": {"visibility": "unlisted", "listen": ["#ExampleHealth"]},
        "retention": "30d",
        "safety": {
            "region": "UK",
            "message": "If you need support now, please contact one of these services.",
            "helplines": [{"name": "Samaritans", "contact": "116 123"}],
            "response_hours": 4,
            "keep_staff_names": True,
        },
        "texts": {"stop_reply": "You have left. Thank you for your time."},
        "follow_up": {"of": ["outpatient-booking"], "invite": "recontact"},
        "reminder": {"after": "2d"},
        "quiet_hours": {"start": "20:00", "end": "09:00"},
        "timezone": "Australia/Brisbane",
    }
    return data


def fields_set(value: object, seen: dict[type, set[str]]) -> None:
    """Record, by class, the dataclass fields that hold something other than their default."""
    if isinstance(value, tuple | list):
        for part in value:
            fields_set(part, seen)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return
    named = seen.setdefault(type(value), set())
    for spec_field in dataclasses.fields(value):
        held = getattr(value, spec_field.name)
        if spec_field.default is not dataclasses.MISSING:
            default: object = spec_field.default
        elif spec_field.default_factory is not dataclasses.MISSING:
            default = spec_field.default_factory()
        else:
            default = dataclasses.MISSING
        if held != default and held not in ((), None, False):
            named.add(spec_field.name)
        fields_set(held, seen)


def test_every_field_of_the_spec_round_trips_through_to_dict() -> None:
    """A field that to_dict leaves out comes back as its default, and this test fails."""
    spec = parse_spec(every_field())
    held: dict[type, set[str]] = {}
    fields_set(spec, held)
    assert spec.follow_up is not None and spec.reminder is not None
    # A follow-up's only way to invite is its default, so it cannot be told apart.
    held[type(spec.follow_up)].add("invite")
    parts = {ConsultationSpec, Item, Segment, Consent, QI, TelegramSettings, MastodonSettings}
    parts |= {SafetySettings, Helpline, type(spec.follow_up), type(spec.reminder)}
    assert parts <= set(held)
    for part, found in held.items():
        # A field left out of comparison is not part of the value (how it was written).
        everything = {f.name for f in dataclasses.fields(part) if f.compare}
        assert found == everything, f"{part.__name__}: give every field a value in every_field()"

    assert parse_spec(spec.to_dict()) == spec
    assert parse_spec(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.to_dict()["safety"]["response_hours"] == 4.0
