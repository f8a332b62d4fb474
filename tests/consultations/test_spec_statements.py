"""The ``statements`` item type in specs: seed statements and moderation, checked."""

from __future__ import annotations

import pytest

from consultations.spec import Problem, SpecError, parse_spec
from tests.helpers import statements_spec


def problems_of(data: object) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return list(caught.value.problems)


def test_a_statements_item_reads_with_its_seed_and_moderation() -> None:
    spec = parse_spec(statements_spec(moderation="pre"))
    item = spec.item("ideas")
    assert item.type == "statements"
    assert item.seed[0] == "Open on Saturday mornings"
    assert item.moderation == "pre"
    assert parse_spec(spec.to_dict()).item("ideas") == item  # stored and read back


def test_moderation_defaults_to_post_and_seed_to_none() -> None:
    data = statements_spec()
    del data["items"][0]["seed"], data["items"][0]["moderation"]
    item = parse_spec(data).item("ideas")
    assert (item.seed, item.moderation) == ((), "post")


def test_every_problem_of_a_statements_item_is_named_by_its_path() -> None:
    data = statements_spec()
    data["items"][0]["seed"] = ["Open late", " open  LATE ", "", "x" * 281, 7]
    data["items"][0]["moderation"] = "before"
    data["items"][0]["options"] = ["Yes", "No"]
    found = {(p.path, p.message) for p in problems_of(data)}
    assert found == {
        (
            "items[0].seed[1]",
            "repeats items[0].seed[0]; each statement must be different "
            "(ignoring capitals and spaces)",
        ),
        ("items[0].seed[2]", "is blank; write the text here"),
        (
            "items[0].seed[3]",
            "281 characters; a statement can have at most 280 (keep each to one short idea)",
        ),
        ("items[0].seed[4]", "must be text, not the number 7; put it in quotes if needed"),
        ("items[0].moderation", "unknown moderation 'before'; choose post or pre"),
        (
            "items[0].options",
            "only polls have options, and this item is a statements item; remove the options "
            "or change the type to poll",
        ),
    }


def test_seed_must_be_a_list() -> None:
    data = statements_spec()
    data["items"][0]["seed"] = "Open late"
    [problem] = problems_of(data)
    assert problem.path == "items[0].seed"
    assert problem.message.startswith("must be a list")


def test_only_statements_items_take_seed_or_moderation() -> None:
    data = statements_spec()
    data["items"].append(
        {"id": "why", "type": "prompt", "text": "Why?", "seed": ["a"], "moderation": "pre"}
    )
    assert {p.path for p in problems_of(data)} == {"items[1].seed", "items[1].moderation"}


def test_a_seed_the_runtime_would_take_for_a_repeat_is_refused_naming_both() -> None:
    data = statements_spec(
        seed=("Open on Saturday mornings", "Text me when it runs late", "open on saturday morning!")
    )
    assert [(p.path, p.message) for p in problems_of(data)] == [
        (
            "items[0].seed[2]",
            "says what items[0].seed[0] says, in other words (most of their words are the "
            "same); people would be asked about one idea twice, with its votes split",
        )
    ]
    # Judged in the spec's language: two Spanish ideas sharing only small words pass.
    data = statements_spec(
        seed=(
            "Que haya más médicos en el turno de la noche",
            "Que haya más enfermeras en el turno de la noche",
        )
    )
    data["language"] = "es"
    assert len(parse_spec(data).item("ideas").seed) == 2
