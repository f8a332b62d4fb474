"""What every ``engage`` command shares: usage errors, output files, passwords, signals."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO


class UsageError(Exception):
    """Bad input: reported on one line, exit status 2."""


@contextlib.contextmanager
def output(path: str | None) -> Any:
    """Standard output, or a file written whole (a failed run leaves no half file)."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        handle: TextIO = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"--output: cannot write {path}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise UsageError("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\n")


def install_stop_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
