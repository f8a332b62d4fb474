"""The engage web app as `engage run` serves it, for the throughput benchmark.

Usage:
    python bench/web_server.py setup DATABASE_URL     # migrate, open the consultation
    python bench/web_server.py serve DATABASE_URL PORT

Several ``serve`` processes may share one port (SO_REUSEPORT: the kernel spreads the
connections), as several workers behind a proxy would. With ``BENCH_PROFILE=FILE`` a
server runs under cProfile and writes its statistics to FILE when it is terminated.
``BENCH_INTAKE_PROCESSES=N`` sets the worker processes that prepare free texts (by
default as ``engage run`` chooses); ``BENCH_PARALLEL_COMMITS=N`` the group commits in the
database at once on PostgreSQL (default 1, as ``engage run``).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys

from aiohttp import web

from bot.config import Settings
from bot.platform import analyse_at_intake, create_platform
from bot.preparation import default_processes
from bot.web.app import create_app
from consultations import screening, service
from consultations.spec import parse_spec
from migrations import apply as migrate
from tests.helpers import spec_data

KEY = "bench-key-0123456789-0123456789-0123456789"


def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=KEY,
        pseudonym_key=KEY,
        web_new_participants_per_minute=0,
    )


async def setup(database_url: str) -> None:
    await migrate.downgrade_async(database_url, "base")
    await migrate.upgrade_async(database_url)
    platform = create_platform(settings(database_url))
    spec = parse_spec(spec_data(id="bench", segments=[], channels=["web"]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="bench")
        await service.open_(session, spec.id)
    await platform.aclose()


async def serve(database_url: str, port: int) -> None:
    platform = create_platform(settings(database_url))
    # The text analysis and the safety screen load their models on first use: before
    # the clock, as a worker that has been running a while would have.
    analyse_at_intake("Loading the text analysis before the first answer.")
    screening.screen("Loading the safety screen before the first answer: I feel hopeless.")
    # As `engage run` does: free texts are prepared in a worker process where there are
    # cores for one (BENCH_INTAKE_PROCESSES=N to choose).
    processes = int(os.environ.get("BENCH_INTAKE_PROCESSES", default_processes()))
    parallel = int(os.environ.get("BENCH_PARALLEL_COMMITS", 1))
    app = create_app(
        settings(database_url),
        platform=platform,
        background=False,
        intake_processes=processes,
        parallel_commits=parallel,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # The preparation processes load their models as they start: the port opens (and
    # the bench's clock may start) only once they take texts, or the peak would measure
    # their loading.
    preparation = platform.runtime.preparation
    waited = 0.0
    while preparation is not None and not preparation.ready and waited < 300:
        await asyncio.sleep(0.1)
        waited += 0.1
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    command, database_url = sys.argv[1], sys.argv[2]
    if command == "setup":
        asyncio.run(setup(database_url))
        return
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
    try:
        asyncio.run(serve(database_url, int(sys.argv[3])))
    finally:
        if profiler is not None and profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
