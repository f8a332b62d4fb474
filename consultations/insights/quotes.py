"""What a report may quote, and how a quote is cut and chosen.

A quote is the evidence a QI lead reads first, so every section quotes through here:

* never a reply flagged for safety or held for review, and never one that reads as a
  crisis disclosure now (replies imported before the screen existed were never screened);
* redacted again, with the consultation's hints (its phone regions and its placeholders,
  :func:`consultations.screening.hints_for`) as at intake: a reply imported unscreened is
  read as the consultation reads its replies, and placeholders are left alone, so this is
  safe to repeat;
* HTML entities decoded (survey exports carry ``&nbsp;`` and ``&amp;``, sometimes twice)
  and stray tags dropped;
* cut at the end of a sentence when the reply is long, at a word only when no sentence
  ends early enough to keep the quote meaningful;
* chosen to be typical of the group and unlike each other (:func:`pick_diverse`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence

from consultations import screening

#: Longest quote shown; the full reply stays reachable through its response id.
QUOTE_CHARS = 300
#: A sentence cut must keep at least this much, else the cut falls at a word.
MIN_SENTENCE_CUT = 60
#: Flags that keep a reply out of every quote.
UNQUOTABLE_FLAGS = frozenset({screening.SAFETY, screening.REVIEW})
#: Word overlap (Jaccard) above which two replies say the same thing.
SAME_SAYING = 0.5

# Only markup that web forms and survey exports leave behind; "<was>" in a reply is words.
_TAG = re.compile(
    r"<\s*/?\s*(?:br|p|div|span|b|i|u|em|strong|a|ul|ol|li|font|hr)\b[^<>]{0,200}>",
    re.IGNORECASE,
)
_INVISIBLE = re.compile("[\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff]")
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u2019\u201d)\]]*(?=\s)")
_WORD = re.compile(r"(?:[^\W_]|')+")  # words in any alphabet


def decode(text: str) -> str:
    """Entities decoded (up to three layers, as in ``&amp;nbsp;``), tags dropped, spaces tidied."""
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    text = _TAG.sub(" ", text)
    text = _INVISIBLE.sub(" ", text)
    return " ".join(text.split())


def trim(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters at the last sentence end, else the last word."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= MIN_SENTENCE_CUT:
        return head[: ends[-1]].rstrip()
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + " …"


def quote_text(
    text: str, limit: int = QUOTE_CHARS, hints: screening.Hints = screening.NO_HINTS
) -> str:
    """A reply as a report quotes it: decoded, redacted (with the consultation's
    ``hints``), trimmed at a sentence boundary."""
    redacted, _ = screening.redact(decode(text), hints=hints)
    return trim(redacted, limit)


def may_quote(text: str | None, flags: Iterable[str]) -> bool:
    """Whether a reply may be quoted at all (see the module's first rule)."""
    if not text or not text.strip():
        return False
    if UNQUOTABLE_FLAGS.intersection(flags):
        return False
    return not screening.is_crisis(decode(text))


def word_set(text: str) -> frozenset[str]:
    """The distinct lower-case words of a text, for comparing quotes."""
    return frozenset(_WORD.findall(text.lower()))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two word sets (0 for two empty ones)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def pick_diverse(
    candidates: Sequence[int],
    text_of: Callable[[int], str],
    allowed: Callable[[int], bool],
    count: int,
    *,
    limit: int | None = 60,
) -> list[int]:
    """Up to ``count`` of ``candidates`` (best first), skipping any too like one already taken.

    ``allowed`` is asked only of candidates that might be taken, so an expensive check
    (the crisis screen) runs on a handful of replies, not on the whole group.
    """
    chosen: list[int] = []
    seen: list[frozenset[str]] = []
    looked = 0
    for i in candidates:
        if len(chosen) == count or (limit is not None and looked >= limit):
            break
        looked += 1
        words = word_set(text_of(i))
        if any(overlap(words, other) > SAME_SAYING for other in seen):
            continue
        if not allowed(i):
            continue
        chosen.append(i)
        seen.append(words)
    return chosen
