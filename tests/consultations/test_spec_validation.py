"""The spec checks (consultations.spec.validation), with channel limits as a parameter."""

from __future__ import annotations

from typing import Any

from consultations.spec import ChannelLimits, Problem, parse_spec
from consultations.spec.validation import Validation, validate

# Small, made-up limits: the checks know no platform, only what they are given.
NARROW = ChannelLimits(
    "telegram",
    text_max=200,
    poll_question_max=40,
    poll_options_min=2,
    poll_options_max=3,
    poll_option_max=10,
)


def spec(*channels: str, **item: Any) -> dict[str, Any]:
    """A valid spec on ``channels`` whose only item is a poll (changed by ``item``)."""
    poll = {"id": "ease", "type": "poll", "text": "How easy was it?", "options": ["Easy", "Hard"]}
    return {
        "id": "booking",
        "title": "Booking",
        "organisation": "Example Health Service",
        "model": "pulse-poll",
        "channels": list(channels),
        "consent": {"text": "We use your answers to improve booking."},
        "items": [poll | item],
    }


def test_valid_data_gives_the_spec_and_no_problems() -> None:
    result = validate(spec("web", "telegram"), limits={"telegram": NARROW})
    assert result.problems == ()
    assert result.spec == parse_spec(spec("web", "telegram"))


def test_problems_are_returned_not_raised() -> None:
    assert validate(None) == Validation(None, (Problem("(root)", "the spec is empty"),))


def test_a_poll_question_too_long_for_the_given_limits_names_its_field() -> None:
    result = validate(spec("telegram", text="q" * 41), limits={"telegram": NARROW})
    assert result.spec is None
    assert [str(p) for p in result.problems] == [
        "items[0].text: 41 characters; telegram allows at most 40 in a poll question"
    ]


def test_too_many_options_and_a_long_option_for_the_given_limits() -> None:
    options = ["A", "B", "C", "A much longer option"]
    result = validate(spec("telegram", options=options), limits={"telegram": NARROW})
    assert [(p.path, p.message) for p in result.problems] == [
        ("items[0].options", "4 options; telegram allows at most 3 in a poll"),
        ("items[0].options[3]", "20 characters; telegram allows at most 10"),
    ]


def test_the_same_spec_passes_wider_limits() -> None:
    wider = ChannelLimits("telegram", 4096, 300, 2, 12, 100)
    data = spec("telegram", text="q" * 41, options=["A", "B", "C", "A much longer option"])
    assert validate(data, limits={"telegram": wider}).problems == ()


def test_without_limits_for_a_channel_nothing_channel_specific_is_checked() -> None:
    data = spec("web", "mastodon", text="q" * 1000, options=[f"Option {n}" for n in range(20)])
    assert validate(data, limits={"telegram": NARROW}).problems == ()
    assert validate(data, limits={}).problems == ()
    assert validate(data).problems == ()


def test_limits_of_a_channel_the_spec_does_not_use_are_ignored() -> None:
    data = spec("web", text="q" * 41)
    assert validate(data, limits={"telegram": NARROW}).problems == ()


def test_each_channel_is_checked_against_its_own_limits() -> None:
    mastodon = ChannelLimits("mastodon", 500, 500, 2, 2, 50)
    data = spec("telegram", "mastodon", options=["A", "B", "C"])
    result = validate(data, limits={"telegram": NARROW, "mastodon": mastodon})
    assert [str(p) for p in result.problems] == [
        "items[0].options: 3 options; mastodon allows at most 2 in a poll"
    ]


def test_texts_outside_polls_use_the_text_limit() -> None:
    data = spec("telegram")
    data["consent"]["text"] = "c" * 201
    data["items"].append({"id": "why", "type": "prompt", "text": "w" * 201})
    data["closing_message"] = "t" * 200
    result = validate(data, limits={"telegram": NARROW})
    assert [p.path for p in result.problems] == ["consent.text", "items[1].text"]


def test_a_control_character_anywhere_is_named_with_every_other_problem() -> None:
    # PostgreSQL cannot store U+0000: refused here, naming the field, not by the database.
    data = spec("web") | {"title": "Bad\u0000title", "closing_message": "Bye\u0007"}
    data["items"][0]["options"] = ["Easy", "Hard", ""]
    problems = {(p.path, p.message) for p in validate(data).problems}
    assert (
        "title",
        "holds a control character (U+0000) that cannot be stored or shown; remove it",
    ) in problems
    assert any(path == "closing_message" and "U+0007" in m for path, m in problems)
    assert any(path == "items[0].options[2]" for path, _ in problems)
    # Tabs and line breaks are text.
    assert validate(spec("web") | {"closing_message": "Thank you.\n\tBye"}).problems == ()


def test_an_option_holding_the_csv_choice_separator_is_refused() -> None:
    # The CSV export joins the choices of one answer with "; ": "A; B" with "C" would read
    # back as three choices.
    result = validate(spec("web", options=["A; B", "C, D", "E"]))
    assert [(p.path, p.message) for p in result.problems] == [
        (
            "items[0].options[0]",
            "'A; B' holds '; ', which the CSV export puts between the choices of one answer; "
            "use a comma or 'and' instead",
        )
    ]
    assert validate(spec("web", options=["A;B", "C, D"])).problems == ()
