"""Import rate and report time over 100,000 free-text responses, on SQLite and PostgreSQL.

Run by hand (needs PostgreSQL on 127.0.0.1:5432 and the pxtextmining data beside the
repository, at ../shared/data/pxtextmining-phase1/text_data.csv):

    .venv/bin/python bench/report_speed.py [--rows 100000]

It writes a CSV of real NHS comments sampled with replacement, imports it with the same
code as `engage import` (screening and text analysis included), then times the JSON
report the same way `engage report` makes it: load from the store, analyse, render.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import tempfile
import time
from pathlib import Path

from common import fresh_pg_database

from bot.config import Settings
from bot.platform import analyse_at_intake, create_platform
from consultations import records, reporting, service
from consultations.spec import parse_spec
from migrations import apply as migrate

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "pxtextmining-phase1" / "text_data.csv"
KEY = "bench-key-0123456789-0123456789-0123456789"
SPEC = {
    "id": "bench-report",
    "title": "What could we do better?",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "consent": {"text": "We use your answers to improve our care."},
    "channels": ["web"],
    "items": [{"id": "better", "type": "prompt", "text": "What could we do better?"}],
}


def write_sample(path: Path, rows: int) -> None:
    with DATA.open(encoding="utf-8") as handle:
        comments = [r["feedback"] for r in csv.DictReader(handle) if r["feedback"].strip()]
    chooser = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["respondent", "comment"])
        for n in range(rows):
            writer.writerow([f"r{n}", chooser.choice(comments)])


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
        started = time.perf_counter()
        async with platform.sessionmaker() as session:
            rendered = await reporting.render(session, "bench-report", fmt="json")
        report_seconds = time.perf_counter() - started
        report = json.loads(rendered)
    finally:
        await platform.aclose()
    return {
        "rows": result.imported,
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_second": round(result.imported / import_seconds),
        "report_seconds": round(report_seconds, 2),
        "themes": len(report["themes"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"the pxtextmining data is not at {DATA}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "comments.csv"
        write_sample(sample, args.rows)
        for name, url in (
            ("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db"),
            ("postgresql", asyncio.run(fresh_pg_database("engage_bench_report"))),
        ):
            results[name] = asyncio.run(measure(url, sample))
            print(f"{name}: {json.dumps(results[name])}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "report_speed.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
