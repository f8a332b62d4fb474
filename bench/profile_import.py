"""cProfile of `engage import` over a sample of the pxtextmining comments.

    PYTHONPATH=$PWD .venv/bin/python bench/profile_import.py [--rows 20000] [--postgres]

Uses the same import code and intake analysis as the CLI, but analyses in this process
(no second process) so the profile sees every step; prints the 15 most costly functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from common import fresh_pg_database
from report_speed import KEY, SPEC, write_sample

from bot.config import Settings
from bot.platform import analyse_at_intake, create_platform
from consultations import records, service
from consultations.spec import parse_spec
from migrations import apply as migrate


async def run(
    url: str, sample: Path, profiler: cProfile.Profile, parallel_from: int
) -> tuple[int, float]:
    await migrate.downgrade_async(url, "base")
    await migrate.upgrade_async(url)
    platform = create_platform(Settings(database_url=url, secret_key=KEY, pseudonym_key=KEY))
    try:
        async with platform.sessionmaker.begin() as session:
            await service.create(session, parse_spec(SPEC), source="bench")
            await service.open_(session, "bench-report")
        analyse_at_intake("warm up the models")
        started = time.perf_counter()
        profiler.enable()
        async with platform.sessionmaker.begin() as session:
            result = await records.import_csv(
                session,
                platform.keyring,
                "bench-report",
                sample,
                text_column="comment",
                participant_column="respondent",
                analyse=analyse_at_intake,
                parallel_from=parallel_from,
            )
        profiler.disable()
        return result.imported, time.perf_counter() - started
    finally:
        await platform.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--pool", action="store_true", help="share the work with the second process"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sample = Path(folder) / "comments.csv"
        write_sample(sample, args.rows)
        url = (
            asyncio.run(fresh_pg_database("engage_bench_profile"))
            if args.postgres
            else f"sqlite+aiosqlite:///{folder}/bench.db"
        )
        profiler = cProfile.Profile()
        rows, seconds = asyncio.run(run(url, sample, profiler, 0 if args.pool else 10**12))
    print(f"{rows} rows in {seconds:.2f} s under the profiler ({rows / seconds:.0f} rows/s)")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
