"""The Flesch-Kincaid grade of plain English, with a syllable counter of our own.

Grade = 0.39 x (words per sentence) + 11.8 x (syllables per word) - 15.59 (Kincaid et
al., 1975). A grade of 4 to 6 is what a reader of 9 to 11 years manages. Syllables are
counted by the usual rule of thumb: groups of vowels, less a silent final "e" and the
"-ed" or "-es" that adds no syllable, at least one a word. It is off by one now and then, as
every counter without a dictionary is, which washes out over many words.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z']+")
_SENTENCE_END = re.compile(r"[.!?:;]+(?:\s|$)")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """How many syllables ``word`` has, by rule of thumb."""
    word = word.lower().strip("'")
    if not word:
        return 0
    if len(word) <= 3:
        return 1
    count = len(_VOWEL_GROUPS.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")):
        count -= 1  # a silent final e: "make", "time"
    elif word.endswith("ed") and not word.endswith(("ted", "ded")):
        count -= 1  # "asked", "changed": no extra syllable
    elif word.endswith("es") and not word.endswith(("ses", "xes", "zes", "ches", "shes", "ges")):
        count -= 1  # "makes", "times"
    return max(1, count)


def words(text: str) -> list[str]:
    """The words of ``text`` (placeholders and numbers aside)."""
    return _WORD.findall(re.sub(r"\{[a-z_]+\}", "it", text))


def sentences(text: str) -> int:
    """How many sentences ``text`` has (at least one)."""
    return max(1, len(_SENTENCE_END.findall(text.strip())))


def grade(text: str) -> float:
    """The Flesch-Kincaid grade of ``text``."""
    found = words(text)
    if not found:
        return 0.0
    total = sum(syllables(word) for word in found)
    return 0.39 * len(found) / sentences(text) + 11.8 * total / len(found) - 15.59
