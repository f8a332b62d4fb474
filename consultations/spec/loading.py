"""Reading a consultation spec: the YAML or JSON file a health service writes.

The format is the "Consultation spec" section of the project contract. Three entry points
read it, each checking everything at once (:mod:`consultations.spec.validation`):

- :func:`load_spec_file` reads a file,
- :func:`load_spec` reads YAML or JSON text,
- :func:`parse_spec` checks data that is already loaded (a dict, e.g. from the dashboard).

All three return a :class:`ConsultationSpec` or raise :class:`SpecError`, which lists every
problem found (not just the first), each with the path of the field it concerns.

YAML is read with the YAML 1.2 rules for plain values: ``Yes``, ``No``, ``on`` and ``off``
stay text (so ``options: [Yes, No]`` means what it says), ``9:30`` stays text, and only
``true`` and ``false`` are yes/no values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Hashable, Iterable, Mapping
from datetime import date
from typing import Any

import yaml

from consultations.spec.model import ChannelLimits, ConsultationSpec
from consultations.spec.validation import ROOT, Problem, validate

__all__ = ["SpecError", "load_spec", "load_spec_file", "parse_spec", "read_spec_file"]


class SpecError(ValueError):
    """A spec could not be read or is not valid; ``problems`` lists everything found.

    ``str()`` of the error gives one problem per line. ``source`` names the file or text
    the spec came from, when known. ``unreadable`` says the file or text could not be read
    as YAML or JSON at all: then there is one problem, whose message names the source
    (and the line and column, when there is one).
    """

    def __init__(
        self, problems: Iterable[Problem], *, source: str | None = None, unreadable: bool = False
    ) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        self.unreadable = unreadable
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def parse_spec(
    data: object, *, limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Check loaded spec data and build the :class:`ConsultationSpec`.

    Args:
        data: the spec as loaded from YAML or JSON (a mapping of fields).
        limits: per-channel limits, keyed by channel name; the caller that knows the
            channels supplies them (the CLI takes them from the adapters). Each channel
            the spec uses that has limits here is checked: item texts, poll questions,
            option counts and lengths, the consent text, segment questions and the
            closing message; a channel without limits here gets no such checks.

    Returns:
        The spec, with defaults filled in: channels ``[web]``, language ``en``, the QI
        project named after the title, and any defaults of the chosen engagement model
        (see :mod:`consultations.models`).

    Raises:
        SpecError: listing every problem found, each with its field path.
    """
    return _checked(data, limits=limits, source=None)


def _checked(
    data: object, *, limits: Mapping[str, ChannelLimits] | None, source: str | None
) -> ConsultationSpec:
    result = validate(data, limits=limits)
    if result.spec is None:
        raise SpecError(result.problems, source=source)
    return result.spec


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _SpecLoader(yaml.SafeLoader):
    """A safe YAML loader with YAML 1.2 plain values and no repeated keys.

    PyYAML follows YAML 1.1, where `Yes`, `No`, `on` and `off` are true/false and `9:30`
    is the number 570; in a consultation those are answer labels and times of day.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the field '{key}' appears twice here; keep only one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            # Only a value tagged by hand gets here (`!!int abc`): PyYAML's constructors
            # raise plain errors for those, without saying where.
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} cannot be read as {kind}", node.start_mark
            ) from None

    def construct_timestamp_or_text(self, node: yaml.ScalarNode) -> date | str:
        """A date (and time), or its text when it is not a real one.

        PyYAML raises a bare ValueError for 2026-02-30 or for month 13; given back as
        text, the field's own check says what is wrong at the field's path, as it does
        for the same text in a JSON spec.
        """
        text = self.construct_scalar(node)
        if not self.timestamp_regexp.match(text):  # tagged !!timestamp by hand
            return text
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return text


_SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", _SpecLoader.construct_timestamp_or_text)
_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SpecLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_SpecLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


class _RepeatedKeyError(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise _RepeatedKeyError(key)
        data[key] = value
    return data


def _read_document(text: str, source: str) -> object:
    """YAML or JSON text to data; SpecError (with line and column) if it cannot be read."""
    try:
        return _parse_document(text, source)
    except RecursionError:
        # Both parsers recurse once per level of brackets or indentation; a spec is a few
        # levels deep, so thousands of them is not a spec (and must not crash the reader).
        message = f"{source}: lists or fields are nested too deeply to be a spec"
        raise SpecError([Problem(ROOT, message)], source=source, unreadable=True) from None


def _parse_document(text: str, source: str) -> object:
    text = text.removeprefix("\ufeff")
    json_error: json.JSONDecodeError | None = None
    if re.match(r"\s*\{", text):
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except _RepeatedKeyError as repeated:
            raise SpecError(
                [Problem(ROOT, f"{source}: the field '{repeated}' appears twice; keep only one")],
                source=source,
                unreadable=True,
            ) from None
        except json.JSONDecodeError as error:
            if re.match(r'\s*\{\s*["}]', text):
                message = _json_error_message(error, source)
                raise SpecError([Problem(ROOT, message)], source=source, unreadable=True) from None
            json_error = error  # not JSON after all, but it may be YAML in flow style
    try:
        # _SpecLoader is a SafeLoader: it builds only plain data, never Python objects.
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as error:
        if json_error is not None:
            message = _json_error_message(json_error, source)
        else:
            message = _yaml_error_message(error, text, source)
        raise SpecError([Problem(ROOT, message)], source=source, unreadable=True) from None


def _json_error_message(error: json.JSONDecodeError, source: str) -> str:
    return f"{source}, line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"


def _yaml_error_message(error: yaml.YAMLError, text: str, source: str) -> str:
    """One line for a YAML error: where (line and column, once) and what, in plain words.

    PyYAML's own wording ("expected <block end>, but found '<block mapping start>'") is
    kept only for the mistakes not explained here.
    """
    if isinstance(error, yaml.reader.ReaderError):
        number = text.count("\n", 0, error.position) + 1
        place = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return (
            f"{source}, line {number}, column {place}: not valid YAML: the character "
            f"#x{error.character:04x} cannot be in a spec; delete it"
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        return f"{source}: not valid YAML: {' '.join(str(error).split())}"
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return f"{source}: not valid YAML: {error.problem or error.context or 'unreadable'}"
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    column = mark.column
    what = _yaml_explanation(error, lines, line[: mark.column])
    if what is None:
        what = error.problem or error.context or "unreadable"
    elif what.startswith(_INDENTATION):  # point at the line's first character
        column = len(line) - len(line.lstrip())
    return f"{source}, line {mark.line + 1}, column {column + 1}: not valid YAML: {what}"


_INDENTATION = "the indentation does not line up with the lines above"
_QUOTE_COLON = 'a text that contains ": " must be put in quotes, e.g. text: "Q1: what works?"'
_QUOTE_FLOW = (
    'inside [...] or {...}, a text that contains ": " or "?" must be put in quotes, '
    'e.g. {id: why, type: prompt, text: "Why? Tell us"}'
)


def _yaml_explanation(error: yaml.MarkedYAMLError, lines: list[str], before: str) -> str | None:
    """Plain words for the YAML mistakes people make most, or None.

    ``before`` is the text of the problem's line up to the problem.
    """
    problem = error.problem or ""
    context = error.context or ""
    opened = error.context_mark
    if problem == "mapping values are not allowed here":
        # `text: Q1: what works?` has a ': ' after the value began; `   text: x` alone
        # on a line means a plain text above it carried on to this line.
        if re.search(r":\s", before):
            return _QUOTE_COLON
        above = next(
            (earlier for earlier in reversed(lines[: _line_of(error)]) if earlier.strip()), ""
        )
        if re.fullmatch(r"\s*(?:- )?[^\s:#'\"]+:\S.*", above):
            return "put a space after the ':' on the line above (id: x, not id:x)"
        return _INDENTATION
    if problem.startswith("expected <block end>, but found"):
        if problem.endswith("'<scalar>'"):
            return (
                "the text after a closing quote or bracket is not part of the value; "
                "put the whole text in quotes, e.g. title: '\"Safe\" care' or "
                'text: "[Draft] the plan"'
            )
        return _INDENTATION
    if problem.startswith(("expected ',' or '}', but got", "expected ',' or ']', but got")):
        bracket = "{" if "'}'" in problem else "["
        if problem.endswith(("':'", "'?'")):
            if opened is not None and opened.line != _line_of(error):
                return (
                    f"the '{bracket}' on line {opened.line + 1} is not closed; if it is, "
                    f"{_QUOTE_FLOW}"
                )
            return _QUOTE_FLOW
        closing = "}" if bracket == "{" else "]"
        return f"inside {bracket}...{closing} the entries are separated by commas"
    if "that cannot start any token" in problem:
        if "'\\t'" in problem:
            return "indent with spaces, not tabs"
        found = re.search(r"character '(.)'", problem)
        sign = found[1] if found else "this character"
        return f"a text that begins with '{sign}' must be put in quotes"
    if context == "while scanning a quoted scalar":
        where = f" on line {opened.line + 1}" if opened is not None else ""
        return f"the quote opened{where} is never closed"
    if context.startswith(("while scanning an alias", "while scanning an anchor")) or (
        problem.startswith("found undefined alias")
    ):
        return (
            "a text that begins with '*' or '&' must be put in quotes, e.g. text: \"*new* times\""
        )
    if problem.startswith("could not determine a constructor for the tag '!"):
        return "a text that begins with '!' must be put in quotes, e.g. title: \"!Important\""
    if problem == "could not find expected ':'":
        return (
            "each line needs a field name, a colon and a value; a text on several lines "
            "goes in quotes, or after | with its lines indented"
        )
    if problem == "but found another document":
        return "a spec file holds one spec; remove the '---' line and what follows it"
    return None


def _line_of(error: yaml.MarkedYAMLError) -> int:
    mark = error.problem_mark or error.context_mark
    return mark.line if mark is not None else 0


def load_spec(
    text: str, *, source: str = "<spec>", limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Read a spec from YAML or JSON text and check it.

    Args:
        text: the spec.
        source: what to call the text in messages, usually the file name.
        limits: per-channel limits to check against, as for :func:`parse_spec`.

    Raises:
        SpecError: the text is not YAML/JSON (the message names line and column), or the
            spec has problems (all of them are listed).
    """
    data = _read_document(text, source)
    return _checked(data, limits=limits, source=source)


def load_spec_file(
    path: str | os.PathLike[str], *, limits: Mapping[str, ChannelLimits] | None = None
) -> ConsultationSpec:
    """Read and check a spec file (YAML or JSON, UTF-8).

    Raises:
        SpecError: the file cannot be read (the message names it) or the spec has problems.
    """
    return read_spec_file(path, limits=limits)[0]


def read_spec_file(
    path: str | os.PathLike[str], *, limits: Mapping[str, ChannelLimits] | None = None
) -> tuple[ConsultationSpec, str]:
    """:func:`load_spec_file`, with the file's text as read (once: it may be a pipe)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError:
        reason = f"there is no file {name}"
    except IsADirectoryError:
        reason = f"{name} is a folder, not a spec file"
    except UnicodeDecodeError as error:
        # Where, as for YAML's own errors: the line and column of the first bad byte.
        before = error.object[: error.start]
        line = before.count(b"\n") + 1
        start = before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")
        column = len(start.removeprefix("\ufeff") if line == 1 else start) + 1
        reason = (
            f"{name}, line {line}, column {column}: not UTF-8 text (the byte "
            f"0x{error.object[error.start]:02x} cannot be read); save the file as UTF-8"
        )
    except OSError as error:
        reason = f"cannot read {name}: {error.strerror or error}"
    else:
        return load_spec(text, source=name, limits=limits), text
    raise SpecError([Problem(ROOT, reason)], source=name, unreadable=True)
