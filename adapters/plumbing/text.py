"""Text cut to a platform's limit, counted the platform's way.

Telegram counts UTF-16 code units (https://core.telegram.org/api/entities#entity-length);
Mastodon counts characters, every URL as 23 and a remote mention by its local part
(https://docs.joinmastodon.org/user/posting/#text). Each passes its own ``measure``.
"""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]

SEPARATORS = ("\n\n", "\n", " ")


def split_text(text: str, limit: int, *, measure: Measure = len, prefix: str = "") -> list[str]:
    """``text`` as pieces that each start with ``prefix`` and measure at most ``limit``.

    Splits between paragraphs where it can, then between lines, then between words, and
    packs as much as fits into each piece; a word longer than a piece is cut.
    """
    room = limit - measure(prefix)
    if room < 1:
        raise ValueError(f"a limit of {limit} leaves no room after {prefix!r}")

    def fits(chunk: str) -> bool:
        return measure(chunk) <= room

    chunks = [chunk.strip() for chunk in _chunks(text.strip(), fits, room, measure, SEPARATORS)]
    return [f"{prefix}{chunk}" for chunk in chunks if chunk] or [prefix.rstrip() or text]


def shorten(text: str, limit: int, *, measure: Measure = len) -> str:
    """``text`` cut to ``limit`` with an ellipsis when it is longer."""
    if measure(text) <= limit:
        return text
    return text[: _fitting(text, limit - 1, measure)].rstrip() + "…"


def _fitting(text: str, room: int, measure: Measure) -> int:
    """How many characters of ``text`` measure at most ``room`` (at least one)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def _chunks(
    text: str, fits: Callable[[str], bool], room: int, measure: Measure, separators: tuple[str, ...]
) -> list[str]:
    if fits(text):
        return [text]
    if not separators:
        pieces: list[str] = []
        while text:
            cut = _fitting(text, room, measure)
            pieces.append(text[:cut])
            text = text[cut:]
        return pieces
    separator = separators[0]
    chunks: list[str] = []
    current: str | None = None
    for part in text.split(separator):
        candidate = part if current is None else f"{current}{separator}{part}"
        if fits(candidate):
            current = candidate
            continue
        if current is not None:
            chunks.append(current)
        parts = [part] if fits(part) else _chunks(part, fits, room, measure, separators[1:])
        chunks.extend(parts[:-1])
        current = parts[-1]
    if current is not None:
        chunks.append(current)
    return chunks
