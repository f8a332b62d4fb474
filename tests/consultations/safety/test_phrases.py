"""Phrase lists looked for by their starts find exactly what the whole alternation finds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from consultations.safety import lexicon as lexicon_module
from consultations.safety.lexicon import default_lexicon
from consultations.safety.phrases import (
    Phrases,
    branch_key,
    branch_source,
    literals,
    needs,
    read_branch,
    starts,
)

BRANCHES = [
    r"\bi (?:want|wanna) to die\b",
    r"\bi want\b",
    r"\b(?:kill|hurt)(?:ing|s)? (?:my|him)self\b",
    r"\b(?:\w+ )?(?:mum|dad) (?:hits|hit) me\b",  # may start at any word
    r"\bno(?:body|one)? cares?\b",
    r"\bto\b",
]
TEXTS = [
    "i want to die",
    "i wanna to die and i want more",
    "he said killing himself , my old dad hit me and mum hits me",
    "nobody cares . no one care . no care",
    "i want to want to die to to",
    "",
    "naïve i want to die",  # outside ASCII: the whole alternation is used
    "x  _service_  i want",
]


def _whole(branches: list[str]) -> re.Pattern[str]:
    return re.compile(rf"\b(?=\w)(?:{'|'.join(f'(?:{b})' for b in branches)})")


@pytest.mark.parametrize("text", TEXTS)
def test_matches_are_the_alternations_own(text: str) -> None:
    phrases = Phrases([BRANCHES, BRANCHES[::-1]])
    for table, branches in enumerate((BRANCHES, BRANCHES[::-1])):
        expected = [(m.span(), m.group(0)) for m in _whole(branches).finditer(text)]
        found = [(m.span(), m.group(0)) for m in phrases.finditer(table, text)]
        assert found == expected
        assert phrases.sub(table, " _x_ ", text) == _whole(branches).sub(" _x_ ", text)


@pytest.mark.parametrize("text", TEXTS)
def test_readings_kept_find_what_readings_made_at_start_up_find(text: str) -> None:
    """A branch whose reading is given is compiled only when a text may match it, and the
    matches are the same as when every branch is read at start-up."""
    tables = [BRANCHES, BRANCHES[::-1]]
    readings = {
        branch_key(branch_source(b)): read_branch(branch_source(b))[1] for b in BRANCHES[:4]
    }
    kept = Phrases(tables, readings)
    read = Phrases(tables)
    assert kept._branches[0][:4] == [None] * 4  # given: not compiled yet
    assert all(pattern is not None for pattern in kept._branches[0][4:])
    assert all(pattern is not None for table in read._branches for pattern in table)
    for table in range(len(tables)):
        assert [m.span() for m in kept.finditer(table, text)] == [
            m.span() for m in read.finditer(table, text)
        ]
        assert kept.sub(table, " _x_ ", text) == read.sub(table, " _x_ ", text)


def test_a_reading_is_found_by_its_branch_text_alone() -> None:
    """A reading kept for another branch is never used: a lexicon edited since the file
    was written reads its changed branches at start-up."""
    other = branch_source(r"\bi want\b")
    readings = {branch_key(other): read_branch(other)[1]}
    phrases = Phrases([[r"\bi wanted\b"]], readings)
    assert phrases._branches[0][0] is not None  # not in the readings: read and compiled
    assert [m.group(0) for m in phrases.finditer(0, "i want what i wanted")] == ["i wanted"]


def test_the_shipped_readings_are_those_of_the_shipped_lexicon() -> None:
    """``data/phrase_starts.json`` is current (``python -m consultations.safety.lexicon
    update`` after an edit of the lexicon), and the shipped lexicon uses it: none of its
    phrase branches is compiled before a text needs it."""
    assert lexicon_module.main(["check"]) == 0
    fresh = lexicon_module.Lexicon(lexicon_module._shipped_data())
    assert all(pattern is None for table in fresh.phrases._branches for pattern in table)
    shipped = lexicon_module.shipped_readings()
    for sources in fresh.phrases.branch_sources:
        for branch in sources:
            assert shipped[branch_key(branch)] == read_branch(branch)[1]


def test_the_places_looked_up_are_kept_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies bring any string at all: the store of places starts again when full, and
    places that start the same branches share one answer (a soak's numbered replies filled
    131,072 places at about 600 bytes each before)."""
    monkeypatch.setattr("consultations.safety.phrases._KEY_CACHE", 100)
    phrases = Phrases([BRANCHES, BRANCHES[::-1]])
    sizes = []
    for number in range(1000):
        text = f"reply {number} and {number * 7} : i want to die , nobody cares"
        phrases.candidates(text)
        sizes.append(len(phrases._keys))
        found = [m.group(0) for m in phrases.finditer(0, text)]
        assert found == ["i want to die", "nobody cares"]
    assert max(sizes) == 100
    answers = list(phrases._keys.values())
    assert len({id(answer) for answer in answers}) == len(set(answers)) < 20


def test_the_first_branch_that_matches_at_a_place_wins() -> None:
    phrases = Phrases([[r"\bi want\b", r"\bi want to die\b"]])
    assert [m.group(0) for m in phrases.finditer(0, "so i want to die")] == ["i want"]


def test_starts_and_needed_strings() -> None:
    assert starts(r"\b(?:kill|hurt)s? me") == frozenset({"kills", "kill ", "hurts", "hurt "})
    assert starts(r"\bab?c") == frozenset({"abc", "ac"})
    assert starts(r"\b\w+ dad") is None  # any word may start it
    assert starts(r"(\w)\1") is None  # a back reference is not read
    assert frozenset({"dad", "mum"}) in needs(r"\b(?:\w+ )?(?:mum|dad) hit")


def test_the_shipped_lexicon_reads_as_its_alternations() -> None:
    lexicon = default_lexicon()
    text = (
        "my dad hits me and i want to kill myself . the suicide prevention team said "
        "i am dying for a cuppa but nobody would miss me if i was gone"
    )
    for number in range(len(lexicon.phrases.sources)):
        expected = [m.span() for m in lexicon.phrases.pattern(number).finditer(text)]
        assert [m.span() for m in lexicon.phrases.finditer(number, text)] == expected


@pytest.mark.parametrize(
    "text", ["he hit me", "a hitch", "nothing here", "beats up", "", "the children beat"]
)
def test_a_literal_tree_finds_what_a_plain_search_finds(text: str) -> None:
    strings = ["hit", "hits", "hitting", "beat", "beat up", "the children", "the kids"]
    assert bool(literals(strings).search(text)) == any(s in text for s in strings)


def test_libyaml_reads_and_writes_the_lexicon_as_pure_python_does() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without the libyaml C library")
    source = (Path(lexicon_module.__file__).parent / "data" / "lexicon.yaml").read_text(
        encoding="utf-8"
    )
    data = yaml.load(source, Loader=yaml.CSafeLoader)
    assert data == yaml.safe_load(source)
    assert yaml.dump(data, Dumper=yaml.CSafeDumper) == yaml.safe_dump(data)
    assert default_lexicon().vocabulary == frozenset(
        re.findall(r"[a-z]{2,}", yaml.safe_dump(yaml.safe_load(source)))
    )
