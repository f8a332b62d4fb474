"""Seconds and peak memory of one report over up to 1,000,000 free-text responses.

Run by hand (needs PostgreSQL on 127.0.0.1:5432 for ``--only postgresql`` and the
pxtextmining data beside the repository, at ../shared/data/pxtextmining-phase1/):

    .venv/bin/python bench/report_scale.py [--rows 1000000] [--only sqlite]

Filling a store with a million rows through ``engage import`` takes minutes, so the rows
are written straight into the tables: each distinct comment of the data set is screened
and analysed once, exactly as intake does, and every stored row is one of them (sampled
with replacement, spread over 60 days, one participant each). The report is then made
in a fresh process, the same way ``engage report --format json`` makes it, and that
process's peak resident memory (``VmHWM``, else ``ru_maxrss``) is recorded with its
seconds.

The machine is shared and noisy, so beside the report, a second fresh process reads
every stored text and analysis back (what any report must at least do), and its seconds
and peak memory are recorded too: ``report_over_baseline`` is the figure to compare
across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import DATA, KEY, REPORT_SPEC, ROOT, fresh_pg_database
from sqlalchemy import text

SPEC = REPORT_SPEC
CONSULTATION = str(SPEC["id"])
BATCH = 50_000
DAYS = 60


def _platform(url: str) -> Any:
    from bot.config import Settings
    from bot.platform import create_platform

    return create_platform(Settings(database_url=url, secret_key=KEY, pseudonym_key=KEY))


def pool() -> list[tuple[str, list[str], float | None, str]]:
    """Each distinct comment screened and analysed once: (text, flags, sentiment, analysis)."""
    from bot.platform import analyse_at_intake
    from consultations import screening

    with DATA.open(encoding="utf-8") as handle:
        comments = sorted({r["feedback"] for r in csv.DictReader(handle) if r["feedback"].strip()})
    out = []
    for comment in comments:
        screened = screening.screen(comment)
        sentiment, analysis = analyse_at_intake(screened.text)
        out.append((screened.text, list(screened.flags), sentiment, json.dumps(analysis)))
    return out


def _pseudonym(n: int) -> str:
    """64 hex characters, like a real pseudonym (a keyed SHA-256)."""
    return hashlib.sha256(f"{KEY}:{n}".encode()).hexdigest()


def _rows(rows: int) -> Any:
    """(participant number, pool index, created_at) of each row, in batches."""
    chooser = random.Random(7)
    start = datetime(2026, 9, 1, 9, tzinfo=UTC)
    for first in range(0, rows, BATCH):
        yield [
            (n, chooser.randrange(1 << 30), start + timedelta(seconds=n * DAYS * 86400 // rows))
            for n in range(first, min(rows, first + BATCH))
        ]


async def _create(url: str) -> None:
    from consultations import service
    from consultations.spec import parse_spec
    from migrations import apply as migrate

    await migrate.downgrade_async(url, "base")
    await migrate.upgrade_async(url)
    platform = _platform(url)
    try:
        async with platform.sessionmaker.begin() as session:
            await service.create(session, parse_spec(SPEC), source="bench")
            await service.open_(session, CONSULTATION)
    finally:
        await platform.aclose()


Pool = list[tuple[str, list[str], float | None, str]]


def _responses(
    batch: list[tuple[int, int, datetime]],
    texts: list[tuple[str, list[str], float | None, str]],
    *,
    public: Any,
    when: Any,
) -> list[tuple[Any, ...]]:
    """The response rows of one batch, in the column order both stores are filled in."""
    rows = []
    for n, pick, at in batch:
        body, flags, sentiment, analysis = texts[pick % len(texts)]
        rows.append(
            (
                CONSULTATION,
                "better",
                "prompt",
                n + 1,
                "import",
                "[]",
                body,
                json.dumps(flags),
                public,
                sentiment,
                analysis,
                when(at),
            )
        )
    return rows


def fill_sqlite(path: str, rows: int, texts: Pool) -> None:
    asyncio.run(_create(f"sqlite+aiosqlite:///{path}"))
    db = sqlite3.connect(path)
    try:
        for batch in _rows(rows):
            db.executemany(
                "INSERT INTO participant (id, channel, pseudonym, created_at) VALUES (?, ?, ?, ?)",
                [(n + 1, "import", _pseudonym(n), "2026-09-01 09:00:00") for n, _, _ in batch],
            )
            values = _responses(
                batch, texts, public=0, when=lambda at: at.strftime("%Y-%m-%d %H:%M:%S.%f")
            )
            db.executemany(
                "INSERT INTO response (consultation_id, item_id, item_type, participant_id,"
                " channel, choices, text, flags, public, sentiment, analysis, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


async def fill_postgresql(
    url: str, rows: int, texts: list[tuple[str, list[str], float | None, str]]
) -> None:
    import asyncpg

    await _create(url)
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for batch in _rows(rows):
            await connection.copy_records_to_table(
                "participant",
                columns=["id", "channel", "pseudonym", "created_at"],
                records=[(n + 1, "import", _pseudonym(n), at) for n, _, at in batch],
            )
            records = _responses(batch, texts, public=False, when=lambda at: at)
            await connection.copy_records_to_table(
                "response",
                columns=[
                    "consultation_id",
                    "item_id",
                    "item_type",
                    "participant_id",
                    "channel",
                    "choices",
                    "text",
                    "flags",
                    "public",
                    "sentiment",
                    "analysis",
                    "created_at",
                ],
                records=records,
            )
        await connection.execute(f"SELECT setval('participant_id_seq', {rows + 1})")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _baseline(url: str) -> int:
    platform = _platform(url)
    n = 0
    try:
        async with platform.sessionmaker() as session:
            result = await session.stream(
                text("SELECT text, analysis FROM response WHERE consultation_id = :c"),
                {"c": CONSULTATION},
            )
            async for _ in result:
                n += 1
    finally:
        await platform.aclose()
    return n


async def _report(url: str) -> int:
    from consultations import reporting

    platform = _platform(url)
    try:
        async with platform.sessionmaker() as session:
            rendered = await reporting.render(session, CONSULTATION, fmt="json")
    finally:
        await platform.aclose()
    report = json.loads(rendered)
    return int(report["sentiment"]["n"])


def peak_rss_kb() -> int:
    """This process's peak resident memory in kB.

    Linux keeps ``ru_maxrss`` across exec, so a child started from a large parent would
    report the parent's peak: the memory's own high-water mark (``VmHWM``) is read first.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(what: str, url: str) -> None:
    """Run in a fresh process: time one baseline read or one report, with peak memory."""
    import consultations.insights  # noqa: F401  (loaded before timing, like the CLI)
    from consultations import reporting  # noqa: F401

    before = peak_rss_kb()
    started = time.perf_counter()
    n = asyncio.run(_baseline(url) if what == "baseline" else _report(url))
    seconds = time.perf_counter() - started
    peak = peak_rss_kb()
    print(
        json.dumps(
            {"n": n, "seconds": seconds, "peak_rss_mb": peak / 1024, "start_rss_mb": before / 1024}
        )
    )


def measure(what: str, url: str) -> dict[str, Any]:
    # The code measured is this checkout's, unless PYTHONPATH names another (to measure
    # an earlier version against the same rows).
    env = {**os.environ}
    env.setdefault("PYTHONPATH", str(ROOT))
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, "--url", url],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--child", choices=("baseline", "report"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    if not DATA.exists():
        raise SystemExit(f"the pxtextmining data is not at {DATA}")
    texts = pool()
    results: dict[str, Any] = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as folder:
        print(f"load average {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
        for name in ("sqlite", "postgresql"):
            if args.only and name != args.only:
                continue
            started = time.perf_counter()
            if name == "sqlite":
                path = f"{folder}/bench.db"
                fill_sqlite(path, args.rows, texts)
                url = f"sqlite+aiosqlite:///{path}"
            else:
                url = asyncio.run(fresh_pg_database("engage_bench_scale"))
                asyncio.run(fill_postgresql(url, args.rows, texts))
            fill_seconds = time.perf_counter() - started
            base = measure("baseline", url)
            report = measure("report", url)
            results[name] = {
                "fill_seconds": round(fill_seconds, 1),
                "report_seconds": round(report["seconds"], 2),
                "report_peak_rss_mb": round(report["peak_rss_mb"]),
                "report_start_rss_mb": round(report["start_rss_mb"]),
                "baseline_read_seconds": round(base["seconds"], 2),
                "baseline_peak_rss_mb": round(base["peak_rss_mb"]),
                "report_over_baseline": round(report["seconds"] / base["seconds"], 1),
                "texts_reported": report["n"],
            }
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    results["load_average"] = list(os.getloadavg())
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"report_scale_{args.rows}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
