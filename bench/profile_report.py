"""cProfile of one report (``engage report --format json``) over rows written straight
into the store, as ``report_scale.py`` writes them.

    PYTHONPATH=$PWD .venv/bin/python bench/profile_report.py [--rows 100000] [--postgres]

Prints the report's seconds without and then with the profiler, and the most costly
functions (``--sort tottime`` or ``cumtime``, ``--top N``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time

from common import fresh_pg_database
from report_scale import CONSULTATION, _platform, fill_postgresql, fill_sqlite, pool


async def _report(url: str) -> None:
    from consultations import reporting

    platform = _platform(url)
    try:
        async with platform.sessionmaker() as session:
            await reporting.render(session, CONSULTATION, fmt="json")
    finally:
        await platform.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()
    import consultations.insights  # noqa: F401  (loaded before timing, like the CLI)
    from consultations import reporting  # noqa: F401

    texts = pool()
    with tempfile.TemporaryDirectory() as folder:
        if args.postgres:
            url = asyncio.run(fresh_pg_database("engage_bench_profile_report"))
            asyncio.run(fill_postgresql(url, args.rows, texts))
        else:
            path = f"{folder}/bench.db"
            fill_sqlite(path, args.rows, texts)
            url = f"sqlite+aiosqlite:///{path}"
        print(f"load average {os.getloadavg()}")
        for _ in range(2):
            started = time.perf_counter()
            asyncio.run(_report(url))
            print(f"report {time.perf_counter() - started:.2f} s")
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        asyncio.run(_report(url))
        profiler.disable()
        print(f"report {time.perf_counter() - started:.2f} s under the profiler")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
