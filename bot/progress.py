"""Progress for long work: shown on a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts work done and redraws one status line on a terminal, at most 10 times a second."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.done = 0
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        """Report absolute progress (usable as a ``progress`` callback)."""
        self.done = done
        if total is not None:
            self.total = total
        self._draw()

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            percent = 100 * self.done / self.total
            line = f"\r{self.label}: {self.done:,}/{self.total:,} ({percent:.0f}%)"
        else:
            line = f"\r{self.label}: {self.done:,}"
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
