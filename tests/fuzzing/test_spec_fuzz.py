"""Fuzzing the spec loader: any data or text gives a spec or a SpecError, nothing else.

A spec comes from whoever writes the file, or from the dashboard's form. Whatever it
holds, :func:`~consultations.spec.parse_spec` and :func:`~consultations.spec.load_spec`
either return a :class:`~consultations.spec.ConsultationSpec` or raise
:class:`~consultations.spec.SpecError` listing problems, each with a field path and a
message; no other exception escapes (CONTRACT.md: every problem reported with its field
path).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, timedelta, timezone
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from adapters.mastodon.limits import MASTODON_DEFAULT_LIMITS
from adapters.telegram.limits import TELEGRAM_LIMITS
from consultations.spec import ConsultationSpec, SpecError, load_spec, parse_spec
from tests.helpers import SPEC

LIMITS = {"telegram": TELEGRAM_LIMITS, "mastodon": MASTODON_DEFAULT_LIMITS}

# Words the loader knows, so generated data reaches past the first "unknown field".
_FIELDS = sorted(
    {
        *SPEC,
        *SPEC["qi"],
        *SPEC["consent"],
        "type",
        "options",
        "multiple",
        "seed",
        "moderation",
        "follow_up",
        "of",
        "invite",
        "opens_at",
        "closes_at",
        "telegram",
        "mastodon",
        "chats",
        "visibility",
        "safety",
        "region",
        "helplines",
    }
)
_WORDS = sorted(
    {
        "poll",
        "prompt",
        "thread",
        "statements",
        "plan",
        "do",
        "study",
        "act",
        "web",
        "telegram",
        "mastodon",
        "public",
        "unlisted",
        "pre",
        "post",
        "recontact",
        "en",
        "pulse-poll",
        "feedback-prompt",
        "co-design-thread",
        "closing-the-loop",
        "2026-12-01T09:00:00+10:00",
        "2026-12-01",
        "",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(_WORDS),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=10))]) | st.none()),
    st.binary(max_size=8),
)
keys = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=12), st.integers(), st.none())
data = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(keys, inner, max_size=6)
        | st.tuples(inner, inner)
    ),
    max_leaves=30,
)


def _check(call: Any) -> ConsultationSpec | None:
    """Run ``call``; a SpecError must name a field path and say what is wrong."""
    try:
        return call()  # type: ignore[no-any-return]
    except SpecError as error:
        raised = error
    assert raised.problems, "a SpecError lists at least one problem"
    for problem in raised.problems:
        assert isinstance(problem.path, str) and problem.path
        assert isinstance(problem.message, str) and problem.message
    assert str(raised)
    return None


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place in nested dicts and lists where a value could be swapped."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@st.composite
def mutated_specs(draw: st.DrawFn) -> object:
    """The demo spec with a few fields replaced, removed or added: near-valid input."""
    spec: Any = copy.deepcopy(SPEC)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(spec)))
        if not path:
            spec = draw(data)
            continue
        parent = spec
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(keys)] = draw(data)
        else:
            parent[path[-1]] = draw(data)
    return spec


@given(data)
def test_any_data_gives_a_spec_or_a_spec_error(value: object) -> None:
    _check(lambda: parse_spec(value, limits=LIMITS))


@given(mutated_specs())
def test_a_changed_spec_gives_a_spec_or_a_spec_error(value: object) -> None:
    _check(lambda: parse_spec(value, limits=LIMITS))
    _check(lambda: parse_spec(value))


def _yaml_text(value: object) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return repr(value)


def _json_text(value: object) -> str:
    return json.dumps(value, default=str)


@given(
    st.one_of(
        st.text(max_size=200),
        st.text(
            alphabet=st.sampled_from(list("{}[]:,-'\"#&*!|>%@`\n\t ?aZ09.\\\ufeff")), max_size=80
        ),
        mutated_specs().map(_yaml_text),
        mutated_specs().map(_json_text),
    )
)
def test_any_text_gives_a_spec_or_a_spec_error(text: str) -> None:
    _check(lambda: load_spec(text, source="fuzz.yaml", limits=LIMITS))


@given(mutated_specs().map(_yaml_text), st.integers(min_value=0), st.text(max_size=5))
def test_a_damaged_spec_file_gives_a_spec_or_a_spec_error(text: str, at: int, noise: str) -> None:
    where = at % (len(text) + 1)
    _check(lambda: load_spec(text[:where] + noise + text[where + 1 :], source="fuzz.yaml"))


def test_the_demo_spec_survives_the_round_trip() -> None:
    """The strategies start from a valid spec: the tests above are not all errors."""
    assert isinstance(load_spec(_yaml_text(SPEC)), ConsultationSpec)
    assert isinstance(load_spec(_json_text(SPEC)), ConsultationSpec)


def test_deeply_nested_text_is_a_spec_error() -> None:
    """Found by fuzzing: thousands of nested brackets made both parsers overflow the stack."""
    for text in ("a: " + "[" * 5000 + "]" * 5000, '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        assert _check(lambda text=text: load_spec(text, source="deep.yaml")) is None
