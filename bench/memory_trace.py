"""Run a Python script with tracemalloc on, writing a snapshot of its memory now and then.

    python bench/memory_trace.py DIR EVERY FRAMES SCRIPT [ARGS...]
    python bench/memory_trace.py --compare FIRST LAST [--top 25] [--frames 6]

The first form runs SCRIPT (for example the `engage` entry point) and every EVERY
seconds, and once more on exit (also on SIGTERM), writes ``DIR/<pid>-<n>.types.json``:
how many objects of each type the garbage collector tracks, with the resident memory,
Python's small blocks in use and glibc's heap in use and free (which see the strings and
numbers the collector does not track); cheap: the process runs at its own speed. With
FRAMES above 0 tracemalloc traces that many frames per allocation and
``DIR/<pid>-<n>.snap`` holds its snapshot too; tracing costs a great deal of CPU
(twice or more with 12 frames), so a soak traced this way must run at a rate the traced
process still keeps up with, or the snapshots show its backlog of requests, not what it
keeps.

The second form compares two of these files: for type counts, the memory figures and the
types whose count grew most; for snapshots, the allocation sites whose live memory grew
most, grouped by their innermost frames, with the growth and the count of blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import re
import runpy
import signal
import sys
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

from common import rss_kib

#: Names of the process-wide memory figures in a census (sizes in KiB); they start with
#: "~", which no type name does.
FIGURES = ("~ resident KiB", "~ pymalloc blocks", "~ malloc in use KiB", "~ malloc free KiB")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks")
        + ("uordblks", "fordblks", "keepcost")
    ]


def memory_figures() -> dict[str, int]:
    """Resident memory, Python's small blocks in use, and glibc's heap in use and free.

    Strings and numbers are not tracked by the collector, so a census of types cannot see
    them grow; these figures can. glibc's only where it has ``mallinfo2`` (2.33 and later).
    """
    figures = {"~ pymalloc blocks": sys.getallocatedblocks()}
    resident = rss_kib(os.getpid())
    if resident:
        figures["~ resident KiB"] = resident
    with contextlib.suppress(OSError, AttributeError):
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
        mallinfo2.restype = _Mallinfo2
        info = mallinfo2()
        figures["~ malloc in use KiB"] = (info.uordblks + info.hblkhd) // 1024
        figures["~ malloc free KiB"] = info.fordblks // 1024
    return figures


def census() -> dict[str, int]:
    """Objects the garbage collector tracks, by type; asyncpg's prepared statements by text;
    and the process's memory figures (:data:`FIGURES`).

    A statement's text is counted under ``statement: `` and its first 70 characters with
    its numbered parameters (``$12``) written ``$``, so that one statement prepared for
    many batch sizes shows as one line with its count.
    """
    counts: Counter[str] = Counter()
    for thing in gc.get_objects():
        kind = type(thing).__qualname__
        counts[kind] += 1
        if kind == "PreparedStatementState":
            query = re.sub(r"\$\d+", "$", str(getattr(thing, "query", "")))
            counts[f"statement: {query[:70]}"] += 1
    return {**memory_figures(), **dict(counts.most_common())}


def run(folder: Path, every: float, frames: int, script: str, args: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if frames > 0:
        tracemalloc.start(frames)
    taken = [0]
    lock = threading.Lock()

    def snapshot() -> None:
        with lock:
            stem = folder / f"{os.getpid()}-{taken[0]:03d}"
            stem.with_suffix(".types.json").write_text(json.dumps(census()))
            if frames > 0:
                tracemalloc.take_snapshot().dump(str(stem.with_suffix(".snap")))
            taken[0] += 1

    stopped = threading.Event()

    def now_and_then() -> None:
        while not stopped.wait(every):
            snapshot()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=now_and_then, daemon=True).start()
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        stopped.set()
        snapshot()


def compare_types(first: Path, last: Path, top: int) -> None:
    before = json.loads(first.read_text())
    after = json.loads(last.read_text())
    for name in FIGURES:
        if name in before and name in after:
            print(f"{name[2:]}: {before[name]:,} -> {after[name]:,}")
    before = {k: v for k, v in before.items() if not k.startswith("~")}
    after = {k: v for k, v in after.items() if not k.startswith("~")}
    grown = {name: after.get(name, 0) - before.get(name, 0) for name in {*before, *after}}

    def tracked(counts: dict[str, int]) -> int:  # statements are counted by type as well
        return sum(v for k, v in counts.items() if not k.startswith("statement: "))

    print(f"objects tracked: {tracked(before):,} -> {tracked(after):,}")
    for name, change in sorted(grown.items(), key=lambda item: -item[1])[:top]:
        print(f"{change:+10,d}  {name} ({after.get(name, 0):,})")


def compare(first: Path, last: Path, top: int, frames: int) -> None:
    if first.name.endswith(".types.json"):
        compare_types(first, last, top)
        return
    ignored = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    ]
    before = tracemalloc.Snapshot.load(str(first)).filter_traces(ignored)
    after = tracemalloc.Snapshot.load(str(last)).filter_traces(ignored)
    total = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename")
    )
    print(f"live traced memory grew by {total / 2**20:.1f} MiB")
    for stat in after.compare_to(before, "traceback")[:top]:
        print(f"\n+{stat.size_diff / 2**20:.2f} MiB, {stat.count_diff:+d} blocks")
        for line in stat.traceback.format(limit=frames, most_recent_first=True):
            print("   ", line)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--compare":
        parser = argparse.ArgumentParser()
        parser.add_argument("--compare", nargs=2, type=Path, metavar=("FIRST", "LAST"))
        parser.add_argument("--top", type=int, default=25)
        parser.add_argument("--frames", type=int, default=6)
        args = parser.parse_args()
        compare(args.compare[0], args.compare[1], args.top, args.frames)
        return
    folder, every, frames, script, *rest = sys.argv[1:]
    run(Path(folder), float(every), int(frames), script, rest)


if __name__ == "__main__":
    main()
