"""What the benchmarks share: a fresh PostgreSQL database on the local server, and the
free-text consultation and real comments the report benchmarks fill it with, and a
measurement run in a new process on another checkout's code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
_DATA = Path("shared") / "data" / "pxtextmining-phase1" / "text_data.csv"


def _data_path() -> Path:
    """The comments beside this checkout, or beside the main checkout when this is a git
    worktree elsewhere (its ``.git`` file names ``<main>/.git/worktrees/<name>``)."""
    here = ROOT.parent / _DATA
    marker = ROOT / ".git"
    if here.exists() or not marker.is_file():
        return here
    gitdir = Path(marker.read_text().removeprefix("gitdir:").strip())
    beside_main = gitdir.parents[2].parent / _DATA
    return beside_main if beside_main.exists() else here


DATA = _data_path()
KEY = "bench-key-0123456789-0123456789-0123456789"
REPORT_SPEC: dict[str, Any] = {
    "id": "bench-report",
    "title": "What could we do better?",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "consent": {"text": "We use your answers to improve our care."},
    "channels": ["web"],
    "items": [{"id": "better", "type": "prompt", "text": "What could we do better?"}],
}


def cpu_seconds_of(pid: int) -> float:
    """CPU time (user and system) process ``pid`` has used so far, from /proc; 0 once it
    has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (any of its threads'), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue  # the thread ended
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass  # it exited
    return 0


async def fresh_pg_database(name: str) -> str:
    """Drop and create database ``name``; returns its SQLAlchemy URL."""
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def output_in_checkout(code: Path, *args: str) -> str:
    """What ``python ARGS`` prints in a new process with checkout ``code`` first on the
    path (its code measured, not this one's). It runs from that checkout's folder: ``python
    -c`` puts the working folder first on the path, which would otherwise import the
    checkout the script was started in."""
    done = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
        cwd=code,
    )
    return done.stdout


def run_checkout(script: Path, code: Path, store: str, database: str, *args: str) -> Any:
    """``script --child URL ARGS`` in a new process with checkout ``code`` first on the
    path, on a fresh SQLite file or a fresh PostgreSQL database named ``database``; the
    last line it prints, read as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        if store == "sqlite":
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
        else:
            url = asyncio.run(fresh_pg_database(database))
        printed = output_in_checkout(code, str(script), "--child", url, *args)
        return json.loads(printed.strip().splitlines()[-1])


def alternate(
    against: Path | None,
    rounds: int,
    measure: Callable[[Path], tuple[float, str]],
    least: Callable[[float], str],
) -> None:
    """Measure this checkout, and ``against`` when given, in turn for ``rounds`` rounds:
    ``measure(code)`` gives a cost (lower is better) and the line printed for the run;
    then the least cost of each, ``least(cost)``, and their ratio, this over the other."""
    codes = [ROOT] + ([against.resolve()] if against else [])
    runs: dict[Path, list[float]] = {code: [] for code in codes}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for _ in range(rounds):
        for code in codes:
            cost, line = measure(code)
            runs[code].append(cost)
            print(f"  {code}: {line}", flush=True)
    for code in codes:
        print(f"{code}: least {least(min(runs[code]))}")
    if against:
        ratio = min(runs[ROOT]) / min(runs[codes[1]])
        print(f"this checkout / {codes[1]}: {ratio:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
