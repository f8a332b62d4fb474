"""Phrase lists found quickly, with exactly the matches of one regular expression.

The lexicon's phrase lists are alternations of a hundred branches or so, each tried at
the start of every word. Python's regular expressions try the branches one by one, so a
text of a hundred words costs thousands of attempts per list, nearly all failing at
their first letters.

:class:`Phrases` reads each branch once, with Python's own parser, for the few strings
of up to three characters that a match of it can start with ("i a", "i w", "kil", ...),
and indexes the branches by them. In a text, only the branches whose start is there are
tried, in their order, at the places it occurs. That gives the matches ``finditer`` of the
whole alternation gives, in the same order, because at any one place the alternation's
match is its first branch that matches there, and a branch whose start is not there
cannot match there. Anything the reading does not cover (a construct it does not know,
a text with characters outside ASCII, an empty match) is left to the whole alternation.

Reading and compiling every branch was most of the screen's start-up (about 0.8 s of CPU a
process on a quiet machine, in every process that screens: ``engage run``, its text
preparation processes, each command that imports or reports). What is read of a branch
depends on its text alone, so the readings of the shipped lexicon's branches are kept in
``data/phrase_starts.json`` (``python -m consultations.safety.lexicon update``), keyed by
a hash of each branch; a branch found there is compiled the first time a text may match
it, and one not found (the lexicon edited since) is read as it always was.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

# The parser behind ``re``; a private module, so every use of it is guarded: a pattern it
# cannot read is simply tried everywhere.
_parser: Any = importlib.import_module("re._parser")
_compiler: Any = importlib.import_module("re._compiler")

#: How many characters of a match's start are indexed.
_DEPTH = 5
#: At most this many starts per branch; a branch with more is indexed by fewer characters.
_MAX_STARTS = 2000
#: A character class wider than this ends the start there (``\w``, ``.``).
_MAX_CLASS = 12
_ASCII = [chr(code) for code in range(128)]
#: Each place a phrase may start (every phrase list begins with ``\b(?=\w)``).
_STARTS = re.compile(r"\b(?=\w)")
#: Keys whose branches are kept (:meth:`Phrases.candidates`), after which the store starts
#: again: 31,569 real and evaluation texts have 20,147 different keys. Each key costs its
#: string and a slot; what it maps to is shared (there are few different answers).
_KEY_CACHE = 1 << 15


class _Unreadable(Exception):
    """The pattern has a construct the start reading does not cover."""


class _TooMany(Exception):
    """The branch has too many starts at this depth."""


#: The starts being built: those complete (at full depth, or cut where the pattern allows
#: too many characters to follow), and those that further characters extend.
_States = tuple[frozenset[str], frozenset[str]]
#: The ASCII characters of single-character nodes, by the node and the pattern's flags.
_CLASSES: dict[tuple[str, int], frozenset[str] | None] = {}


class _Reader:
    """The possible starts of one parsed pattern, up to ``depth`` characters."""

    def __init__(self, state: Any, depth: int) -> None:
        self.state = state
        self.depth = depth

    def sequence(self, nodes: Iterable[Any], states: _States) -> _States:
        for node in nodes:
            if not states[1]:
                return states
            states = self.node(node, states)
            if len(states[0]) + len(states[1]) > _MAX_STARTS:
                raise _TooMany
        return states

    def node(self, node: Any, states: _States) -> _States:
        op, value = node
        if op in (_parser.AT, _parser.ASSERT, _parser.ASSERT_NOT):
            return states  # zero width: no characters (a looser set of starts, never tighter)
        if op in (_parser.LITERAL, _parser.NOT_LITERAL, _parser.IN, _parser.ANY):
            return self._character(node, states)
        if op is _parser.SUBPATTERN:
            _, add_flags, del_flags, pattern = value
            if add_flags or del_flags:
                raise _Unreadable
            return self.sequence(pattern, states)
        if op is _parser.ATOMIC_GROUP:
            return self.sequence(value, states)
        if op is _parser.BRANCH:
            done: set[str] = set()
            going: set[str] = set()
            for alternative in value[1]:
                more_done, more_going = self.sequence(alternative, states)
                done |= more_done
                going |= more_going
            return frozenset(done), frozenset(going)
        if op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.POSSESSIVE_REPEAT):
            return self._repeat(value, states)
        raise _Unreadable

    def _character(self, node: Any, states: _States) -> _States:
        done, going = states
        chars = self._class(node)
        if chars is None:
            return done | going, frozenset()  # anything may follow: the starts end here
        grown = {start + char for start in going for char in chars}
        depth = self.depth
        complete = {start for start in grown if len(start) >= depth}
        return done | complete, frozenset(grown - complete)

    def _class(self, node: Any) -> frozenset[str] | None:
        """The ASCII characters one single-character node matches (None: too many)."""
        op, value = node
        if op is _parser.LITERAL:
            return frozenset(chr(value))
        key = (repr(node), self.state.flags)
        if key not in _CLASSES:
            compiled = _compiler.compile(_parser.SubPattern(self.state, [node]), 0)
            chars = frozenset(c for c in _ASCII if compiled.match(c))
            _CLASSES[key] = chars if len(chars) <= _MAX_CLASS else None
        return _CLASSES[key]

    def _repeat(self, value: Any, states: _States) -> _States:
        low, high, pattern = value
        reached_done: frozenset[str] = frozenset()
        reached_going: frozenset[str] = frozenset()
        current = states
        for count in range(200):
            if count >= low:
                reached_done |= current[0]
                reached_going |= current[1]
            if count == high:
                return reached_done, reached_going
            following = self.sequence(pattern, current)
            if count >= low and following[0] <= reached_done and following[1] <= reached_going:
                return reached_done, reached_going  # nothing new: more repeats add nothing
            current = following
        raise _Unreadable


#: What is read of one branch (:func:`read_branch`): the strings a match may start with
#: (None: it may start anywhere), and for a branch that may start anywhere the strings
#: every match needs (:func:`needs`).
Reading = tuple[frozenset[str] | None, tuple[frozenset[str], ...]]


def branch_key(branch: str) -> str:
    """The key of a branch's reading: a hash of its text, which is all the reading
    depends on."""
    return hashlib.blake2b(branch.encode("utf-8"), digest_size=12).hexdigest()


def branch_source(source: str) -> str:
    """A phrase list's entry as the branch of its alternation that is read and matched."""
    return f"(?:{source})"


def read_branch(branch: str) -> tuple[re.Pattern[str], Reading]:
    """``branch`` compiled, and what is read of it."""
    pattern, prefixes = _read(branch)
    return pattern, (prefixes, () if prefixes is not None else needs(branch))


def starts(pattern: str) -> frozenset[str] | None:
    """The strings a match of ``pattern`` may start with: every match starts with one of
    them (a shorter one when the match or what is known of it is shorter). None when the
    pattern may start anywhere, or cannot be read."""
    return _read(pattern)[1]


def _read(pattern: str) -> tuple[re.Pattern[str], frozenset[str] | None]:
    """``pattern`` compiled, and its starts (:func:`starts`). The pattern is parsed once
    for both: parsing is most of the cost of compiling, and the screen's start-up (in
    each process that screens) compiles hundreds of phrases."""
    try:
        parsed = _parser.parse(pattern, 0)
        compiled: re.Pattern[str] = _compiler.compile(parsed, 0)
    except Exception:  # noqa: BLE001 - the private parser changed: compile as usual
        return re.compile(pattern), None
    try:
        if parsed.state.flags & ~(re.UNICODE | re.DOTALL):
            return compiled, None
        for depth in range(_DEPTH, 0, -1):
            try:
                done, going = _Reader(parsed.state, depth).sequence(
                    list(parsed), (frozenset(), frozenset([""]))
                )
            except _TooMany:
                continue
            prefixes = done | going
            return compiled, None if "" in prefixes else prefixes
    except (_Unreadable, _TooMany, re.error, AttributeError, TypeError, ValueError):
        return compiled, None
    return compiled, None


def needs(pattern: str) -> tuple[frozenset[str], ...]:
    """Sets of strings such that every match of ``pattern`` has one string of each set
    (rarest-looking set first); empty when none is known."""
    try:
        parsed = _parser.parse(pattern, 0)
        if parsed.state.flags & ~(re.UNICODE | re.DOTALL):
            return ()
        return tuple(sorted(_needed(list(parsed)), key=_rarity))
    except (_Unreadable, re.error, AttributeError, TypeError, ValueError):
        return ()


def literals(strings: Iterable[str]) -> re.Pattern[str]:
    """A pattern that finds any of ``strings``, written as a tree of their letters so
    that each place in a text is tried against a few first letters, not every string."""
    tree: dict[str, Any] = {}
    for string in strings:
        node = tree
        for char in string:
            node = node.setdefault(char, {})
        node[""] = {}

    def written(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + written(rest) for char, rest in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return re.compile(written(tree))


@lru_cache(maxsize=256)
def _gate(needed: tuple[frozenset[str], ...]) -> _AllOf:
    return _AllOf(tuple(literals(strings) for strings in needed))


class _AllOf:
    """Patterns that must all be found (see :func:`needs`)."""

    def __init__(self, patterns: tuple[re.Pattern[str], ...]) -> None:
        self.patterns = patterns

    def search(self, text: str) -> bool:
        return all(pattern.search(text) for pattern in self.patterns)


def _stripped_rarity(strings: frozenset[str]) -> tuple[int, int]:
    """:func:`_rarity` by the strings' words: " me " is as common as "me"."""
    return (-min(len(string.strip()) for string in strings), len(strings))


def _rarity(strings: frozenset[str]) -> tuple[int, int]:
    return (-min(map(len, strings)), len(strings))


def _needed(nodes: list[Any]) -> list[frozenset[str]]:
    """For a sequence: each part's needed strings (every one of them needed)."""
    options: list[frozenset[str]] = []
    run = ""
    for op, value in nodes:
        if op is _parser.LITERAL:
            run += chr(value)
            continue
        if run:
            options.append(frozenset([run]))
            run = ""
        if op is _parser.SUBPATTERN:
            if value[1] or value[2]:
                raise _Unreadable
            options.extend(_needed(list(value[3])))
        elif op is _parser.BRANCH:
            best = [
                min(_needed(list(alternative)), key=_rarity, default=None)
                for alternative in value[1]
            ]
            if all(b is not None for b in best):
                options.append(frozenset().union(*(b for b in best if b is not None)))
        elif op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.POSSESSIVE_REPEAT):
            if value[0] >= 1:
                options.extend(_needed(list(value[2])))
        elif op is _parser.ATOMIC_GROUP:
            options.extend(_needed(list(value)))
    if run:
        options.append(frozenset([run]))
    return options


#: For each table of a :class:`Phrases`, the places a branch may match and which ones.
Candidates = list[list[tuple[int, tuple[int, ...]]]]


#: The branches, by table, that may match at a place (see :meth:`Phrases._branches_at`).
_Branches = tuple[tuple[int, tuple[int, ...]], ...]


class Phrases:
    """Several phrase lists, each one alternation (``\\b(?=\\w)(?:(?:a)|(?:b)|...)``),
    looked for in one pass over a text's word starts."""

    def __init__(
        self, tables: Sequence[Sequence[str]], readings: Mapping[str, Reading] | None = None
    ) -> None:
        """``readings``: what is already read of branches, by :func:`branch_key` (a branch
        found there is compiled only when first tried; any other is read here)."""
        # The whole alternations are compiled only if needed (texts outside ASCII): the
        # screen starts in each process that uses it.
        self.sources = [
            rf"\b(?=\w)(?:{'|'.join(branch_source(b) for b in branches)})" for branches in tables
        ]
        self._patterns: list[re.Pattern[str] | None] = [None] * len(tables)
        self.branch_sources = [[branch_source(b) for b in branches] for branches in tables]
        self._branches: list[list[re.Pattern[str] | None]] = []
        self._by_start: dict[str, list[tuple[int, int]]] = {}
        # Branches that may start anywhere are looked for on their own, in one scan each
        # that reports every place they match (a lookahead finds overlapping ones too),
        # when the text has the strings they need.
        self._anywhere: list[tuple[int, int, str, tuple[frozenset[str], ...]]] = []
        known = readings or {}
        for table, sources in enumerate(self.branch_sources):
            compiled: list[re.Pattern[str] | None] = []
            self._branches.append(compiled)
            for number, branch in enumerate(sources):
                reading = known.get(branch_key(branch)) if known else None
                if reading is None:
                    pattern, reading = read_branch(branch)
                    compiled.append(pattern)
                else:
                    compiled.append(None)  # compiled when a text first may match it
                prefixes, needed = reading
                if prefixes is None:
                    scan = rf"\b(?=\w)(?={branch})"
                    self._anywhere.append((table, number, scan, needed))
                    continue
                for prefix in prefixes:
                    self._by_start.setdefault(prefix, []).append((table, number))
        # One search for the rarest strings of them all: in most texts none is there, and
        # no branch that may start anywhere is looked for at all.
        firsts = [min(needed, key=_stripped_rarity) for _, _, _, needed in self._anywhere if needed]
        self._anywhere_gate = (
            literals(frozenset().union(*firsts))
            if firsts and len(firsts) == len(self._anywhere)
            else None
        )
        self._keys: dict[str, _Branches] = {}
        # Each different answer once: keys that start the same branches share it (the
        # answers are few, as the index's prefixes are: this needs no bound).
        self._answers: dict[_Branches, _Branches] = {}
        self._last: tuple[str, Candidates | None] = ("", None)

    def pattern(self, table: int) -> re.Pattern[str]:
        """Table ``table``'s whole alternation, compiled."""
        compiled = self._patterns[table]
        if compiled is None:
            compiled = self._patterns[table] = re.compile(self.sources[table])
        return compiled

    def _branches_at(self, key: str) -> _Branches:
        """The branches, by table, that may match where the text continues with ``key``."""
        found: set[tuple[int, int]] = set()
        for size in range(1, len(key) + 1):
            found.update(self._by_start.get(key[:size], ()))
        tables: dict[int, list[int]] = {}
        for table, number in sorted(found):
            tables.setdefault(table, []).append(number)
        answer = tuple((table, tuple(numbers)) for table, numbers in tables.items())
        return self._answers.setdefault(answer, answer)

    def candidates(self, text: str) -> Candidates | None:
        """Where in ``text`` each table's branches may match; None for a text the index
        does not cover (characters outside ASCII)."""
        last_text, last = self._last
        if text == last_text:
            return last
        if not text.isascii():
            return None
        keys = self._keys
        found: Candidates = [[] for _ in self.sources]
        for start in _STARTS.finditer(text):
            at = start.start()
            key = text[at : at + _DEPTH]
            entry = keys.get(key)
            if entry is None:
                entry = self._branches_at(key)
                if len(keys) >= _KEY_CACHE:
                    keys.clear()
                keys[key] = entry
            for table, numbers in entry:
                found[table].append((at, numbers))
        anywhere = self._anywhere
        if self._anywhere_gate is not None and not self._anywhere_gate.search(text):
            anywhere = []
        for table, number, scan, needed in anywhere:
            if not _gate(needed).search(text):
                continue
            places = [match.start() for match in re.finditer(scan, text)]
            if places:
                found[table] = _merge(found[table], places, number)
        self._last = (text, found)
        return found

    def finditer(
        self, table: int, text: str, candidates: Candidates | None = None
    ) -> Iterator[re.Match[str]]:
        """The matches of table ``table``'s alternation in ``text``, as its ``finditer``
        gives them; ``candidates`` from :meth:`candidates` for this very text, if known."""
        if candidates is None:
            candidates = self.candidates(text)
        if candidates is None:
            return self.pattern(table).finditer(text)
        found = self._matches(table, text, candidates[table])
        if found is None:
            return self.pattern(table).finditer(text)
        return iter(found)

    def _matches(
        self, table: int, text: str, places: list[tuple[int, tuple[int, ...]]]
    ) -> list[re.Match[str]] | None:
        branches = self._branches[table]
        found: list[re.Match[str]] = []
        end = 0
        for at, numbers in places:
            if at < end:
                continue
            for number in numbers:
                branch = branches[number]
                if branch is None:
                    branch = branches[number] = re.compile(self.branch_sources[table][number])
                match = branch.match(text, at)
                if match is not None:
                    if match.end() == at:
                        return None  # an empty match: the alternation's own rules apply
                    found.append(match)
                    end = match.end()
                    break
        return found

    def sub(self, table: int, replacement: str, text: str) -> str:
        """``text`` with every match of table ``table`` replaced by the plain string
        ``replacement``, as the alternation's ``sub`` gives it."""
        candidates = self.candidates(text)
        if candidates is not None and not candidates[table]:
            return text  # no branch of the table can start anywhere in the text
        pieces: list[str] = []
        last = 0
        for match in self.finditer(table, text, candidates):
            pieces.append(text[last : match.start()])
            pieces.append(replacement)
            last = match.end()
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def _merge(
    places: list[tuple[int, tuple[int, ...]]], more: list[int], number: int
) -> list[tuple[int, tuple[int, ...]]]:
    """``places`` with branch ``number`` added at each place in ``more``."""
    by_place = {at: set(numbers) for at, numbers in places}
    for at in more:
        by_place.setdefault(at, set()).add(number)
    return [(at, tuple(sorted(by_place[at]))) for at in sorted(by_place)]
