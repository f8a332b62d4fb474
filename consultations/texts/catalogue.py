"""Built-in texts in the consultation's language: gettext catalogues read with Babel.

Each language's catalogue is a gettext ``.po`` file in ``locale/`` (``cy.po``, ``es.po``),
read directly with :func:`babel.messages.pofile.read_po` the first time the language is
needed, so a fresh ``pip install -e .`` needs no compile step. An entry's context
(``msgctxt``) is the text's key, its ``msgid`` the English words of
:data:`consultations.texts.builtin.BUILTIN`: when the English changes, the old
translation no longer matches and the text counts as missing until it is translated
again (never a stale translation shown as current).

A text is chosen in this order: the spec's own ``texts`` override, the catalogue of the
spec's language (``en-AU`` tries ``en_AU``, then ``en``), then English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_skeleton, format_time, format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from consultations.texts.builtin import BUILTIN

__all__ = [
    "BUILTIN",
    "ENGLISH",
    "LOCALE_DIR",
    "Texts",
    "available_languages",
    "catalogue_for",
    "missing_texts",
    "placeholders",
    "texts_for",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
"""Where the shipped catalogues are: one ``LANG.po`` per language."""

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Written right to left; used when Babel does not know the language code.
_RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"})


def words_marked(language: str, page: str = "en") -> dict[str, str]:
    """The attributes for an element holding a consultation's own words (its title,
    questions, quoted answers) written in ``language`` on a page in ``page``: ``lang``,
    and ``dir`` when it is written right to left; none when the two are one language."""
    if _candidates(language)[-1] == _candidates(page)[-1]:
        return {}
    marked = {"lang": language}
    if texts_for(language).direction == "rtl":
        marked["dir"] = "rtl"
    return marked


def placeholders(text: str) -> frozenset[str]:
    """The ``{names}`` a text fills in."""
    return frozenset(_PLACEHOLDER.findall(text))


@lru_cache(maxsize=256)
def _candidates(language: str) -> tuple[str, ...]:
    """Catalogue names to try for a language code, most specific first (``en-AU``, ``en``).

    Kept for the languages asked for last: every text looked up asks for its language's
    (a bounded number: a browser's Accept-Language names any codes it likes).
    """
    parts = re.split(r"[-_]", language.strip())
    base = parts[0].lower()
    names = []
    if len(parts) > 1:
        names.append(f"{base}_{parts[1].upper() if len(parts[1]) == 2 else parts[1]}")
    names.append(base)
    return tuple(names)


@cache
def _shipped() -> frozenset[str]:
    """The names of the catalogues in :data:`LOCALE_DIR` (``cy``, ``es``, ...)."""
    return frozenset(path.stem for path in LOCALE_DIR.glob("*.po"))


def _read(name: str) -> Catalog | None:
    # Only shipped names reach the cache: a browser's Accept-Language may name any
    # region of a shipped language ("cy-ZZ", "cy-whatever"), and a cache keyed on every
    # name asked for would grow with each.
    return _read_shipped(name) if name in _shipped() else None


@cache
def _read_shipped(name: str) -> Catalog:
    with (LOCALE_DIR / f"{name}.po").open("rb") as handle:
        return read_po(handle, locale=None)


def catalogue_for(language: str) -> Catalog | None:
    """The shipped catalogue for ``language``, or ``None`` when there is none."""
    for name in _candidates(language):
        found = _read(name)
        if found is not None:
            return found
    return None


def available_languages() -> tuple[str, ...]:
    """English and every language with a catalogue in :data:`LOCALE_DIR`."""
    return ("en", *sorted(_shipped()))


def _translations(language: str) -> Mapping[str, str]:
    """Key -> translated words, for the texts this language's catalogue has (current ones)."""
    if _candidates(language)[-1] == "en":
        return _NONE
    # Keyed on the shipped catalogues only, so the caches below hold one entry a
    # catalogue whatever regions are asked for.
    return _translated(tuple(name for name in _candidates(language) if name in _shipped()))


_NONE: Mapping[str, str] = MappingProxyType({})


@lru_cache(maxsize=256)
def _translated(names: tuple[str, ...]) -> Mapping[str, str]:
    # Read-only and kept: every text looked up in the language reads it.
    return MappingProxyType(dict(_current(names)))


@cache
def _current(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for name in reversed(names):  # the general catalogue first, the regional one over it
        catalogue = _read(name)
        if catalogue is None:
            continue
        for key, english in BUILTIN.items():
            message = catalogue.get(english, context=key)
            if message is None or message.fuzzy or not isinstance(message.string, str):
                continue
            if message.string.strip():
                found[key] = message.string
    return tuple(found.items())


#: Texts that are a variant of a more general one (key: the general text's key): a spec
#: that words the general text gives the variant the same words, unless it words it too.
STANDS_IN = {"stop_reply_none": "stop_reply", "web_left_none": "web_left"}


def missing_texts(language: str) -> tuple[str, ...]:
    """Keys of the built-in texts ``language`` has no current translation of (English: none)."""
    if _candidates(language)[-1] == "en":
        return ()
    have = _translations(language)
    return tuple(key for key in BUILTIN if key not in have)


def _locale(language: str) -> Locale | None:
    for name in _candidates(language):
        try:
            return Locale.parse(name)
        except (UnknownLocaleError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class Texts:
    """The built-in texts as one consultation shows them: its language, its overrides.

    Call it with a key and the values of the text's placeholders:
    ``texts("opens_on", title=..., date=...)``. An unknown key is a ``KeyError``.
    """

    language: str = "en"
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, key: str, **values: object) -> str:
        """The words of text ``key``, with its placeholders filled in."""
        words = self.raw(key)
        if not values:
            return words

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(values[name]) if name in values else match.group(0)

        return _PLACEHOLDER.sub(fill, words)

    def raw(self, key: str) -> str:
        """The words of text ``key`` as written, placeholders unfilled."""
        english = BUILTIN[key]
        if key in self.overrides:
            return self.overrides[key]
        # A spec that words the general text and not its variant has its words used for both.
        general = STANDS_IN.get(key)
        if general is not None and general in self.overrides:
            return self.overrides[general]
        return _translations(self.language).get(key, english)

    def words(self, key: str) -> frozenset[str]:
        """A keyword list (``stop_words``...): the language's words and the English ones.

        Compared after :func:`consultations.dialogue.normalise` (lower case, no final
        full stop), so each is kept in lower case.
        """
        return _keywords(self.raw(key), BUILTIN[key])

    @property
    def direction(self) -> str:
        """``rtl`` for a language written right to left, else ``ltr``."""
        found = _locale(self.language)
        if found is not None:
            return "rtl" if found.text_direction == "rtl" else "ltr"
        return "rtl" if _candidates(self.language)[-1] in _RTL_LANGUAGES else "ltr"

    def date(self, value: date | datetime) -> str:
        """A date written out in the language (``1 December 2026``, ``1 Rhagfyr 2026``)."""
        found = _locale(self.language) or Locale.parse("en")
        day = value.date() if isinstance(value, datetime) else value
        # Plain English puts the day first (1 December 2026) wherever it is read.
        pattern = "d MMMM y" if found.language == "en" and not found.territory else "long"
        return format_date(day, format=pattern, locale=found)

    def seconds(self, count: int) -> str:
        """A wait of ``count`` seconds in the language, exact (``1 second``, ``42 eiliad``)."""
        found = _locale(self.language) or Locale.parse("en")
        return format_timedelta(
            timedelta(seconds=count), threshold=3600, granularity="second", locale=found
        )

    def moment(self, value: datetime) -> str:
        """A day and time in the language, short (``03 Dec 06:25``, ``3 Rhag 06:25``).

        In UTC, as stored (a naive ``value`` is taken as UTC), on a 24-hour clock.
        """
        found = _locale(self.language) or Locale.parse("en")
        if found.language == "en" and not found.territory:
            day = format_datetime(value, "dd MMM", tzinfo=UTC, locale=found)
        else:
            # The language's own order and abbreviation of day and month (CLDR's "MMMd").
            day = format_skeleton("MMMd", value, tzinfo=UTC, locale=found)
        return f"{day} {format_time(value, 'HH:mm', tzinfo=UTC, locale=found)}"


def _split(listed: str) -> set[str]:
    return {word.strip().lower() for word in listed.split(",") if word.strip()}


@cache
def _keywords(listed: str, english: str) -> frozenset[str]:
    """:meth:`Texts.words` of one list of words (asked for on every message: kept)."""
    return frozenset(_split(listed) | _split(english))


ENGLISH = Texts()
"""The built-in texts in English with no overrides (pages not tied to one consultation)."""


def texts_for(language: str, overrides: Mapping[str, str] | None = None) -> Texts:
    """The texts of a consultation in ``language`` with a spec's ``overrides``."""
    return Texts(language=language, overrides=dict(overrides or {}))


def negotiate(accepted: Iterable[str]) -> Texts:
    """The texts in the first of ``accepted`` languages that has a catalogue, else English."""
    shipped = set(available_languages())
    for language in accepted:
        if _candidates(language)[-1] in shipped:
            return texts_for(language)
    return ENGLISH
