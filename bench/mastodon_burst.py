"""Mastodon intake speed, and the request budget held during a burst of replies.

Run by hand (the test dependencies installed; no PostgreSQL needed, the store is a
SQLite file):

    .venv/bin/python bench/mastodon_burst.py [--mentions 1000] [--replies 1000]
        [--window 30]

Both parts run the real adapter and Mastodon.py against mastodon-mock served on
127.0.0.1 (``tests/fakes/mastodon_server.py``), with the platform's inbox processor and
outbox sender running as under ``engage run``.

1. Mentions ingested per second. ``--mentions`` public replies to a consultation's
   prompt wait on the instance; the adapter (polling, from a saved cursor) catches up.
   Timed from start to every reply committed to the inbox, and to every reply stored as
   a response.
2. The request budget. ``--replies`` people each send the bot a direct message at once;
   each needs an answer (the consent question), so the bot must make over a thousand
   requests. Mastodon allows 300 per 5 minutes; to finish in minutes rather than an hour
   the instance and the adapter's pacer both use 300 per ``--window`` seconds (the same
   budget, time compressed). Every request the bot makes is timestamped; the figure is
   the most requests in any window, beside the budget, and the 429s received.

The mock runs in this process (on its own thread), so it shares the CPU with the
platform: the figures are a floor for the platform, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from aiohttp import web
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.mastodon.adapter import MastodonAdapter  # noqa: E402
from adapters.mastodon.pacing import RequestPacer  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.platform import Platform, create_platform  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from consultations import service  # noqa: E402
from consultations.spec import parse_spec  # noqa: E402
from migrations import apply as migrate  # noqa: E402
from storage import queries  # noqa: E402
from storage.channel_store import SqlChannelStore  # noqa: E402
from storage.tables import InboxEntry, OutboxEntry, Publication, Response  # noqa: E402
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer  # noqa: E402
from tests.helpers import spec_data  # noqa: E402

KEY = "bench-pseudonym-key-0123456789-abcdefghijklmnop"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrst"


def settings_for(folder: str) -> Settings:
    """A migrated SQLite store in ``folder`` (call before the event loop starts)."""
    url = f"sqlite+aiosqlite:///{folder}/engage.db"
    migrate.upgrade(url)
    return Settings(
        database_url=url,
        public_url="http://127.0.0.1:8080",
        secret_key=SECRET,
        pseudonym_key=KEY,
    )


async def count(platform: Platform, *where: Any, table: Any = InboxEntry) -> int:
    async with platform.sessionmaker() as session:
        found = await session.scalar(select(func.count()).select_from(table).where(*where))
    return int(found or 0)


async def wait_until(check: Callable[[], Any], *, within: float, poll: float = 0.05) -> float:
    """Seconds until ``await check()`` is true (raises after ``within``)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise TimeoutError(f"not done within {within:g} s")
        await asyncio.sleep(poll)
    return time.monotonic() - started


async def launch(platform: Platform, adapter: MastodonAdapter) -> None:
    spec = parse_spec(spec_data(id="bench", channels=["mastodon"], items=spec_data()["items"][1:]))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="bench")
        await service.open_(session, spec.id)
    posts = await adapter.publish(spec)
    async with platform.sessionmaker.begin() as session:
        for post in posts:
            session.add(
                queries.new_publication(
                    platform.keyring,
                    consultation_id=spec.id,
                    item_id=post.item_id,
                    channel="mastodon",
                    platform_ref=post.platform_ref,
                    kind=post.kind,
                )
            )


def make_account(server: MastodonServer, name: str) -> None:
    """Create an account, waiting out the mock's per-address limit on account creation."""
    deadline = time.monotonic() + 600
    while True:
        try:
            server.token(name)
            return
        except requests.HTTPError as exc:
            if exc.response is None or exc.response.status_code != 429:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)  # the window resets within --window seconds


def in_parallel(work: Callable[[int], Any], count: int, workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(count)))


async def run_app(platform: Platform, adapter: MastodonAdapter) -> web.AppRunner:
    app = create_app(platform.settings, platform=platform, adapters=lambda p: {"mastodon": adapter})
    runner = web.AppRunner(app)
    await runner.setup()  # starts the inbox processor, outbox sender and the adapter
    return runner


async def ingest(mentions: int, settings: Settings) -> dict[str, Any]:
    platform = create_platform(settings)
    async with MastodonServer(streaming=False, ratelimit=300) as server:
        adapter = MastodonAdapter(
            server.base_url,
            server.bot_token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            streaming=False,
            poll_interval=0.2,
            sweep_interval=3600,
        )
        await launch(platform, adapter)
        # A first run saves the cursor; the replies then wait while the platform is down.
        runner = await run_app(platform, adapter)
        await wait_until(lambda: _has_cursor(platform), within=10)
        await runner.cleanup()
        async with platform.sessionmaker() as session:
            row = await session.scalar(
                select(Publication).where(Publication.item_id == "one-thing")
            )
            prompt = queries.publication_ref(platform.keyring, row) if row else None
        people = [f"person{n}" for n in range(200)]
        await asyncio.to_thread(in_parallel, lambda n: make_account(server, people[n]), len(people))
        await asyncio.to_thread(
            in_parallel,
            lambda n: server.reply(people[n % len(people)], str(prompt), f"Idea number {n}"),
            mentions,
        )
        started = time.monotonic()
        requests_before = adapter.account.api.pacer.stats.requests
        runner = await run_app(platform, adapter)
        inboxed = await wait_until(
            lambda: _at_least(platform, mentions, InboxEntry.channel == "mastodon"), within=300
        )
        stored = await wait_until(
            lambda: _at_least(platform, mentions, Response.channel == "mastodon", table=Response),
            within=600,
        )
        stored += inboxed
        requests = adapter.account.api.pacer.stats.requests - requests_before
        await runner.cleanup()
        elapsed = time.monotonic() - started
    await platform.aclose()
    return {
        "mentions": mentions,
        "seconds_to_inbox": round(inboxed, 2),
        "mentions_ingested_per_second": round(mentions / inboxed, 1),
        "seconds_to_stored_responses": round(stored, 2),
        "responses_stored_per_second": round(mentions / stored, 1),
        "requests_to_the_instance": requests,
        "total_seconds": round(elapsed, 2),
    }


async def burst(replies: int, window: int, settings: Settings) -> dict[str, Any]:
    platform = create_platform(settings)
    limits = InstanceLimits(max_options=5)
    async with MastodonServer(limits=limits, ratelimit=300, ratelimit_window=window) as server:
        pacer = RequestPacer(limit=300, period=float(window))
        adapter = MastodonAdapter(
            server.base_url,
            server.bot_token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            pacer=pacer,
            poll_interval=1.0,
            reconcile_interval=float(window),
            sweep_interval=float(window),
        )
        stamps: list[float] = []
        session = adapter.account.client.session
        original = session.request

        def stamped(*args: Any, **kwargs: Any) -> Any:
            stamps.append(time.monotonic())
            return original(*args, **kwargs)

        session.request = stamped  # type: ignore[method-assign]
        await launch(platform, adapter)
        people = [f"person{n}" for n in range(replies)]
        await asyncio.to_thread(in_parallel, lambda n: make_account(server, people[n]), replies)
        runner = await run_app(platform, adapter)
        started = time.monotonic()
        await asyncio.to_thread(in_parallel, lambda n: server.dm(people[n], "start bench"), replies)
        posted = time.monotonic() - started
        inboxed = await wait_until(
            lambda: _at_least(platform, replies, InboxEntry.channel == "mastodon"), within=600
        )
        sent = await wait_until(
            lambda: _at_least(platform, replies, OutboxEntry.status == "sent", table=OutboxEntry),
            within=3600,
            poll=0.5,
        )
        sent += inboxed
        await runner.cleanup()
        failed = await count(platform, OutboxEntry.status == "failed", table=OutboxEntry)
    await platform.aclose()
    busiest = _busiest(stamps, window)
    duration = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "direct_messages": replies,
        "window_seconds": window,
        "budget_per_window": 300,
        "requests_made": len(stamps),
        "most_requests_in_any_window": busiest,
        "requests_per_window_average": round(len(stamps) / duration * window, 1)
        if duration
        else None,
        "server_429s": pacer.stats.paused_by_server,
        "seconds_people_took_to_post": round(posted, 1),
        "seconds_to_inbox": round(inboxed, 1),
        "seconds_until_every_answer_sent": round(sent, 1),
        "failed_messages": failed,
        "equivalent_at_300_per_5_minutes": {
            "most_requests_in_any_5_minutes": busiest,
            "minutes_until_every_answer_sent": round(sent * 300 / window / 60, 1),
        },
    }


async def _has_cursor(platform: Platform) -> bool:
    from storage.tables import ChannelCursor

    async with platform.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(ChannelCursor)) == 1


async def _at_least(platform: Platform, wanted: int, *where: Any, table: Any = InboxEntry) -> bool:
    return await count(platform, *where, table=table) >= wanted


def _busiest(stamps: list[float], window: float) -> int:
    best, inside = 0, deque[float]()
    for moment in sorted(stamps):
        inside.append(moment)
        while inside[0] <= moment - window:
            inside.popleft()
        best = max(best, len(inside))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=1000)
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--skip-burst", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["ingest"] = asyncio.run(ingest(args.mentions, settings_for(folder)))
        print(json.dumps(results["ingest"], indent=2), flush=True)
    if not args.skip_burst:
        with tempfile.TemporaryDirectory() as folder:
            results["burst"] = asyncio.run(burst(args.replies, args.window, settings_for(folder)))
            print(json.dumps(results["burst"], indent=2), flush=True)
    out = ROOT / "bench" / "results" / "mastodon_burst.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
