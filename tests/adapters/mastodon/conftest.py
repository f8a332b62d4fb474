"""The Mastodon adapter running for real against mastodon-mock, over HTTP on 127.0.0.1.

``world`` starts the whole platform (web app, inbox processor, outbox sender and the
adapter) talking to a :class:`~tests.fakes.mastodon_server.MastodonServer` with the real
Mastodon.py; people act through the server's helpers and tests wait, with deadlines, for
what the store and the bot's statuses show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestServer
from mastodon.return_types import Status
from sqlalchemy import func, select

from adapters.mastodon.adapter import MastodonAdapter
from adapters.mastodon.api import DEFAULT_TIMEOUT
from adapters.mastodon.pacing import RequestPacer
from bot.platform import Platform
from bot.web.app import create_app
from channels.adapter import ChannelAdapter
from consultations.spec import ConsultationSpec
from storage import queries
from storage.channel_store import SqlChannelStore
from storage.tables import Base, Publication
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer
from tests.helpers import launch, spec_data
from tests.waiting import PATIENCE, wait_until

T = TypeVar("T")

# The demo spec on a stock instance: its 5-option poll needs an instance allowing 5.
FIVE_OPTIONS = InstanceLimits(max_options=5)


# Tests poll and sweep every fraction of a second, far more often than a real
# deployment, so the test instance allows ten times Mastodon's 300 requests per 5
# minutes and the adapter paces to that. Tests of the budget itself use the real one.
TEST_BUDGET = 3000


def budget_pacer(limit: int = TEST_BUDGET) -> RequestPacer:
    """A pacer for the test instance's budget, with room for bursts."""
    return RequestPacer(limit=limit, period=300.0, burst=limit // 10, reserve=10)


def make_adapter(server: MastodonServer, platform: Platform, **options: Any) -> MastodonAdapter:
    """An adapter with short intervals, so tests see polling and sweeps within seconds."""
    settings: dict[str, Any] = {
        "poll_interval": 0.2,
        "reconcile_interval": 2.0,
        "sweep_interval": 0.5,
        "listen_interval": 0.3,
        "stall_timeout": 2.0,
        "probe_timeout": 3.0,
        "stream_retry": 1.0,
        # A failed intake round (a 500, a 429 that says when) is tried again at once,
        # not after a second doubling per failure.
        "retry_backoff": 0.05,
        # The adapter's own default, not shorter: the instance runs in this process, and on
        # a loaded machine its first answer (to a freshly started server) takes seconds.
        # No test here waits for a request to time out.
        "timeout": DEFAULT_TIMEOUT,
        "pacer": budget_pacer(),
    }
    settings.update(options)
    return MastodonAdapter(
        server.base_url,
        server.bot_token,
        store=SqlChannelStore(platform.sessionmaker, platform.keyring),
        **settings,
    )


@dataclass
class World:
    """The platform serving Mastodon, and the instance it talks to."""

    server: MastodonServer
    platform: Platform
    adapter: MastodonAdapter
    app: TestServer | None = None

    async def start(self, extra: Mapping[str, ChannelAdapter] | None = None) -> None:
        """Run the platform (inbox, outbox, the adapters' intake) as ``engage run`` does.

        ``extra`` adds other channels' adapters beside Mastodon's.
        """
        adapters: dict[str, ChannelAdapter] = {"mastodon": self.adapter, **(extra or {})}
        app = create_app(
            self.platform.settings, platform=self.platform, adapters=lambda p: adapters
        )
        # The platform fixture disposes of the engine, not the app.
        for context in [c for c in app.cleanup_ctx if getattr(c, "__name__", "") == "_dispose"]:
            app.cleanup_ctx.remove(context)
        self.app = TestServer(app, host="127.0.0.1")
        await self.app.start_server()

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.close()
            self.app = None

    async def launch(self, data: dict[str, Any] | None = None) -> ConsultationSpec:
        """Store and open a consultation, then post it on Mastodon (as the CLI does)."""
        spec = await launch(self.platform, data or spec_data(channels=["web", "mastodon"]))
        posts = await self.adapter.publish(spec)
        async with self.platform.sessionmaker.begin() as session:
            for post in posts:
                session.add(
                    queries.new_publication(
                        self.platform.keyring,
                        consultation_id=spec.id,
                        item_id=post.item_id,
                        channel="mastodon",
                        platform_ref=post.platform_ref,
                        kind=post.kind,
                    )
                )
        return spec

    async def post_of(self, item_id: str | None, kind: str = "item") -> str:
        """The platform reference of a launch post."""
        async with self.platform.sessionmaker() as session:
            row = await session.scalar(
                select(Publication).where(
                    Publication.item_id == item_id if item_id else Publication.item_id.is_(None),
                    Publication.kind == kind,
                )
            )
        assert row is not None, f"no {kind} post for {item_id}"
        return queries.publication_ref(self.platform.keyring, row)

    async def count(self, table: type[Base], *where: Any) -> int:
        async with self.platform.sessionmaker() as session:
            found = await session.scalar(select(func.count()).select_from(table).where(*where))
            return int(found or 0)

    async def rows(self, table: type[T], *where: Any) -> list[T]:
        async with self.platform.sessionmaker() as session:
            return list((await session.scalars(select(table).where(*where))).all())

    async def received(self, person: str, count: int, *, within: float = PATIENCE) -> list[Status]:
        """The bot's first ``count`` statuses to ``person`` (oldest first), once they exist."""

        async def enough() -> list[Status] | None:
            got = await asyncio.to_thread(self.server.received, person)
            return got if len(got) >= count else None

        return await wait_until(enough, within=within, what=f"{count} statuses to {person}")

    async def act(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one of the server's (blocking) people helpers off the loop."""
        return await asyncio.to_thread(action, *args, **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[MastodonServer]:
    async with MastodonServer(limits=FIVE_OPTIONS, ratelimit=TEST_BUDGET) as running:
        yield running


@pytest.fixture
async def world(server: MastodonServer, platform: Platform) -> AsyncIterator[World]:
    """The platform and an adapter for ``server``; started by the test when it wants."""
    built = World(server, platform, make_adapter(server, platform))
    try:
        yield built
    finally:
        await built.stop()
