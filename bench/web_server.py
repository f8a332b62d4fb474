"""The engage web app as `engage run` serves it, for the throughput benchmark.

Usage: python bench/web_server.py DATABASE_URL PORT
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bot.config import Settings
from bot.platform import analyse_at_intake, create_platform
from bot.web.app import create_app
from consultations import service
from consultations.spec import parse_spec
from migrations import apply as migrate
from tests.helpers import spec_data

KEY = "bench-key-0123456789-0123456789-0123456789"


async def serve(database_url: str, port: int) -> None:
    await migrate.downgrade_async(database_url, "base")
    await migrate.upgrade_async(database_url)
    settings = Settings(database_url=database_url, secret_key=KEY, pseudonym_key=KEY)
    platform = create_platform(settings)
    spec = parse_spec(spec_data(id="bench", segments=[], channels=["web"]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="bench")
        await service.open_(session, spec.id)
    analyse_at_intake("Loading the text analysis before the first answer.")
    app = create_app(settings, platform=platform, background=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
