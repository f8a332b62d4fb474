"""Opening and closing while an adapter has not started: the scheduler (on time) and the
dashboard (a launch, a close) leave the same actions for the same channels.

Two edges where they once differed: a close leaves a ``close:CHANNEL`` action only for
a channel with something to close there, and an opening whose started channels all
failed, with a channel still to come, stays open (that channel follows) rather than go
back to a draft.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import select

from adapters.web import WebAdapter
from bot.platform import Platform
from bot.schedule import Scheduler
from bot.web import operations
from bot.web.app import create_app
from channels.adapter import EventSink, PlatformUnreachable, PublishedPost
from consultations import service
from consultations.spec import ConsultationSpec, parse_spec
from storage.tables import Consultation, Publication, ScheduledAction
from tests.bot.test_dashboard import as_role
from tests.fakes.channel import FakeChannel
from tests.helpers import form_fields, spec_data
from tests.waiting import wait_until

OPENS = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=7)


@dataclass
class Away(FakeChannel):
    """A channel whose platform cannot be reached: its adapter never starts."""

    async def start(self, sink: EventSink) -> None:
        raise PlatformUnreachable("the platform could not be reached (test)")


@dataclass
class Failing(FakeChannel):
    """A channel that starts, and whose every post fails (its server's error)."""

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        raise RuntimeError("502 Bad Gateway")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _store(platform: Platform, **changes: Any) -> None:
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(spec_data(segments=[], **changes)), source="test")


async def _state(platform: Platform) -> str:
    async with platform.sessionmaker() as session:
        row = await session.get(Consultation, "outpatient-booking")
        assert row is not None
        return row.state


async def _actions(platform: Platform) -> list[tuple[str, bool]]:
    async with platform.sessionmaker() as session:
        rows = (await session.scalars(select(ScheduledAction))).all()
    return sorted((row.action, row.done_at is not None) for row in rows)


async def _marks(platform: Platform) -> list[tuple[str, str]]:
    async with platform.sessionmaker() as session:
        rows = (await session.execute(select(Publication.channel, Publication.kind))).all()
    return sorted((channel, kind) for channel, kind in rows)


# -- the scheduler ---------------------------------------------------------------------


async def test_a_close_on_time_leaves_nothing_for_a_channel_with_nothing_to_close(
    platform: Platform,
) -> None:
    """A consultation on the web alone, closing while this worker's Telegram adapter has
    not started: there is nothing of it on Telegram, so nothing is left to do there."""
    await _store(
        platform, channels=["web"], opens_at=OPENS.isoformat(), closes_at=CLOSES.isoformat()
    )
    clock = Clock(OPENS)
    adapters = {"web": WebAdapter(), "telegram": FakeChannel()}
    scheduler = Scheduler(
        platform.sessionmaker, platform.keyring, adapters, clock=clock, waiting={"telegram"}
    )
    assert (await scheduler.run_once()).opened == ["outpatient-booking"]
    clock.now = CLOSES
    assert (await scheduler.run_once()).closed == ["outpatient-booking"]
    assert await _state(platform) == service.CLOSED
    assert await _actions(platform) == [("close", True), ("open", True)]
    async with platform.sessionmaker() as session:
        outcome = await session.scalar(
            select(ScheduledAction.outcome).where(ScheduledAction.action == "close")
        )
    assert outcome == "closed"


async def test_an_opening_on_time_with_a_channel_to_come_is_not_undone_when_the_others_fail(
    platform: Platform,
) -> None:
    """Telegram started but failing, Mastodon not started yet: the consultation opens,
    marked unpublished on both, and is published on Mastodon once its adapter starts."""
    await _store(platform, channels=["telegram", "mastodon"], opens_at=OPENS.isoformat())
    waiting = {"mastodon"}
    adapters = {"telegram": Failing(name="telegram"), "mastodon": FakeChannel(name="mastodon")}
    clock = Clock(OPENS)
    scheduler = Scheduler(
        platform.sessionmaker, platform.keyring, adapters, clock=clock, waiting=waiting
    )
    assert (await scheduler.run_once()).opened == ["outpatient-booking"]
    assert await _state(platform) == service.OPEN
    assert await _marks(platform) == [("mastodon", "unpublished"), ("telegram", "unpublished")]
    assert await _actions(platform) == [("open", True), ("open:mastodon", False)]
    async with platform.sessionmaker() as session:
        outcome = await session.scalar(
            select(ScheduledAction.outcome).where(ScheduledAction.action == "open")
        )
    assert outcome == "opened; telegram failed: 502 Bad Gateway, mastodon once its adapter starts"

    waiting.clear()  # Mastodon's adapter started
    clock.now += timedelta(minutes=1)
    assert (await scheduler.run_once()).published == ["outpatient-booking/mastodon"]
    assert await _state(platform) == service.OPEN
    assert ("mastodon", "unpublished") not in await _marks(platform)


async def test_an_opening_on_time_that_fails_everywhere_is_undone_and_tried_again(
    platform: Platform,
) -> None:
    """With no channel to come, an opening published nowhere is a draft again."""
    await _store(platform, channels=["telegram"], opens_at=OPENS.isoformat())
    scheduler = Scheduler(
        platform.sessionmaker,
        platform.keyring,
        {"telegram": Failing(name="telegram")},
        clock=Clock(OPENS),
    )
    assert (await scheduler.run_once()).opened == []
    assert await _state(platform) == service.DRAFT
    assert await _actions(platform) == [("open", False)]


# -- the dashboard ---------------------------------------------------------------------


@pytest.fixture
async def serving(platform: Platform) -> AsyncIterator[tuple[web.Application, Any]]:
    """A server whose Mastodon adapter cannot reach its platform, and whose Telegram
    adapter starts but cannot post; signed in as a lead."""
    app = create_app(
        platform.settings,
        platform=platform,
        adapters=lambda p: {
            "web": WebAdapter(),
            "telegram": Failing(name="telegram"),
            "mastodon": Away(name="mastodon"),
        },
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=unused_port())) as client:

        async def tried_to_start() -> bool:
            return "mastodon" in app[operations.READY].waiting

        await wait_until(tried_to_start, what="Mastodon's first start to fail")
        await as_role(platform, client, "lead")
        yield app, client


async def _press(client: Any, action: str) -> str:
    path = f"/dashboard/c/outpatient-booking/{action}"
    page = await (await client.get("/dashboard/c/outpatient-booking")).text()
    response = await client.post(path, data=form_fields(page, path))
    assert response.status == 200
    return str(await response.text())


async def test_a_dashboard_close_leaves_nothing_for_a_channel_with_nothing_to_close(
    platform: Platform, serving: tuple[web.Application, Any]
) -> None:
    await _store(platform, channels=["web"])
    _, client = serving
    assert "The consultation is open." in await _press(client, "launch")
    page = await _press(client, "close")
    assert "The consultation is closed." in page
    assert "once the adapter starts" not in page
    assert await _actions(platform) == []


async def test_a_dashboard_launch_with_a_channel_to_come_is_not_undone_when_the_others_fail(
    platform: Platform, serving: tuple[web.Application, Any]
) -> None:
    await _store(platform, channels=["telegram", "mastodon"])
    _, client = serving
    page = await _press(client, "launch")
    assert "The consultation is open." in page
    assert "Could not reach: telegram." in page
    assert "published there once the adapter starts: mastodon." in page
    assert await _state(platform) == service.OPEN
    assert await _marks(platform) == [("mastodon", "unpublished"), ("telegram", "unpublished")]
    assert await _actions(platform) == [("open:mastodon", False)]


async def test_a_dashboard_launch_that_fails_everywhere_is_undone(
    platform: Platform, serving: tuple[web.Application, Any]
) -> None:
    await _store(platform, channels=["telegram"])
    _, client = serving
    page = await _press(client, "launch")
    assert "Could not reach: telegram." in page
    assert await _state(platform) == service.DRAFT
    assert await _actions(platform) == []
