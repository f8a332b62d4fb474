"""Import rate and report time over 100,000 free-text responses, on SQLite and PostgreSQL.

Run by hand (needs PostgreSQL on 127.0.0.1:5432 and the pxtextmining data beside the
repository, at ../shared/data/pxtextmining-phase1/text_data.csv):

    .venv/bin/python bench/report_speed.py [--rows 100000]

It writes a CSV of real NHS comments sampled with replacement, imports it with the same
code as `engage import` (screening and text analysis included), then times the JSON
report the same way `engage report` makes it: load from the store, analyse, render.

The machine is shared and noisy, so each figure comes with a baseline measured in the
same run on the same database: for the import, parsing the CSV and storing its rows with
one plain executemany into a scratch table; for the report, reading every stored text
back. The ratios (import / baseline, report / baseline) are what to compare across runs.
``--distinct`` drops one word at random from each sampled comment, so that nearly every
row is a different text (the worst case: no repeated replies to reuse screening for).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import tempfile
import time
from pathlib import Path

from common import DATA, KEY, REPORT_SPEC, ROOT, fresh_pg_database
from sqlalchemy import text

from bot.config import Settings
from bot.platform import analyse_at_intake, create_platform
from consultations import records, service
from consultations.records import read_csv
from consultations.spec import parse_spec
from migrations import apply as migrate

SPEC = REPORT_SPEC


def write_sample(path: Path, rows: int, *, distinct: bool = False) -> None:
    with DATA.open(encoding="utf-8") as handle:
        comments = [r["feedback"] for r in csv.DictReader(handle) if r["feedback"].strip()]
    chooser = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["respondent", "comment"])
        for n in range(rows):
            comment = chooser.choice(comments)
            if distinct:
                words = comment.split()
                if len(words) > 3:
                    del words[chooser.randrange(len(words))]
                    comment = " ".join(words)
            writer.writerow([f"r{n}", comment])


async def baseline_import(platform: object, sample: Path) -> float:
    """Seconds to parse the CSV and store its rows with one plain executemany."""
    sessionmaker = platform.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker.begin() as session:
        await session.execute(text("DROP TABLE IF EXISTS bench_baseline"))
        await session.execute(
            text("CREATE TABLE bench_baseline (line INTEGER, respondent TEXT, body TEXT)")
        )
    started = time.perf_counter()
    raw = await asyncio.to_thread(sample.read_bytes)  # as the import reads it
    parsed, _ = read_csv(raw.decode("utf-8-sig"), "comment", "respondent")
    async with sessionmaker.begin() as session:
        await session.execute(
            text("INSERT INTO bench_baseline VALUES (:line, :who, :body)"),
            [{"line": line, "who": who, "body": body} for line, who, body in parsed],
        )
    return time.perf_counter() - started


async def baseline_report(platform: object) -> float:
    """Seconds to read every stored text back (what any report must at least do)."""
    sessionmaker = platform.sessionmaker  # type: ignore[attr-defined]
    started = time.perf_counter()
    async with sessionmaker() as session:
        result = await session.stream(
            text("SELECT text, analysis FROM response WHERE consultation_id = 'bench-report'")
        )
        async for _ in result:
            pass
    return time.perf_counter() - started


async def measure(url: str, sample: Path) -> dict[str, float]:
    await migrate.downgrade_async(url, "base")
    await migrate.upgrade_async(url)
    platform = create_platform(Settings(database_url=url, secret_key=KEY, pseudonym_key=KEY))
    try:
        async with platform.sessionmaker.begin() as session:
            await service.create(session, parse_spec(SPEC), source="bench")
            await service.open_(session, "bench-report")
        started = time.perf_counter()
        async with platform.sessionmaker.begin() as session:
            result = await records.import_csv(
                session,
                platform.keyring,
                "bench-report",
                sample,
                text_column="comment",
                participant_column="respondent",
                analyse=analyse_at_intake,
            )
        import_seconds = time.perf_counter() - started
        # Imported here, outside both timings: the import's second process loads this
        # script again, and reports (scipy, the opinion maps) are no part of what it does.
        from consultations import reporting

        started = time.perf_counter()
        async with platform.sessionmaker() as session:
            rendered = await reporting.render(session, "bench-report", fmt="json")
        report_seconds = time.perf_counter() - started
        report = json.loads(rendered)
        read_seconds = await baseline_report(platform)
        plain_seconds = await baseline_import(platform, sample)
    finally:
        await platform.aclose()
    return {
        "rows": result.imported,
        "flagged": result.flagged,
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_second": round(result.imported / import_seconds),
        "baseline_import_rows_per_second": round(result.imported / plain_seconds),
        "import_over_baseline": round(import_seconds / plain_seconds, 1),
        "report_seconds": round(report_seconds, 2),
        "baseline_read_seconds": round(read_seconds, 2),
        "report_over_baseline": round(report_seconds / read_seconds, 1),
        "themes": len(report["themes"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--distinct", action="store_true", help="nearly every text differs")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"the pxtextmining data is not at {DATA}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "comments.csv"
        write_sample(sample, args.rows, distinct=args.distinct)
        print(f"load average {os.getloadavg()} on {os.cpu_count()} cores")
        for name in ("sqlite", "postgresql"):
            if args.only and name != args.only:
                continue
            url = (
                f"sqlite+aiosqlite:///{folder}/bench.db"
                if name == "sqlite"
                else asyncio.run(fresh_pg_database("engage_bench_report"))
            )
            results[name] = asyncio.run(measure(url, sample))
            print(f"{name}: {json.dumps(results[name])}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    results["load_average"] = list(os.getloadavg())  # type: ignore[assignment]
    (out / "report_speed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
