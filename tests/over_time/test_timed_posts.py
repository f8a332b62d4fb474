"""Timed questions are posted once across workers, and again after a failed post."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.platform import Platform
from bot.timeline import Timeline
from channels.adapter import ChannelAdapter, PublishedPost, QuestionPoster
from consultations.spec import ConsultationSpec
from storage.tables import Publication
from tests.fakes.channel import FakeChannel
from tests.helpers import launch
from tests.over_time.helpers import after, rows, timed_spec


@dataclass
class PostingChannel(FakeChannel):
    """An in-memory channel that posts timed questions (and fails when told to)."""

    posted: list[tuple[str, str]] = field(default_factory=list)
    fail_posts: int = 0

    async def post_question(
        self, spec: ConsultationSpec, item_id: str, text: str, posts: Sequence[PublishedPost]
    ) -> list[PublishedPost]:
        await asyncio.sleep(0)  # let another worker run meanwhile
        if self.fail_posts:
            self.fail_posts -= 1
            raise ConnectionError("the platform is down")
        self.posted.append((item_id, text))
        return [PublishedPost(item_id, f"q-{item_id}-{len(self.posted)}")]


_IS_A_POSTER: type[QuestionPoster] = PostingChannel
_IS_A_CHANNEL: type[ChannelAdapter] = PostingChannel


async def test_two_workers_post_a_due_question_once(platform: Platform) -> None:
    start = datetime.now(UTC)
    await launch(platform, timed_spec(start, channels=["telegram"]))
    channel = PostingChannel()
    workers = [
        Timeline(
            platform.sessionmaker, platform.keyring, {"telegram": channel}, clock=after(start, 0.5)
        )
        for _ in range(3)
    ]
    ticks = await asyncio.gather(*(w.tick() for w in workers))
    # Each question once, whichever worker claimed it.
    assert sum(len(t.posted) for t in ticks) == 2
    assert sorted(item for item, _ in channel.posted) == ["parking", "waiting"]
    texts = dict(channel.posted)
    assert texts["waiting"].startswith("Q1. ") and texts["parking"].startswith("Q2. ")
    published = await rows(platform, Publication)
    assert sorted(p.item_id for p in published) == ["parking", "waiting"]


async def test_a_failed_post_is_tried_again_at_the_next_tick(platform: Platform) -> None:
    start = datetime.now(UTC)
    await launch(platform, timed_spec(start, channels=["telegram"]))
    channel = PostingChannel(fail_posts=1)
    timeline = Timeline(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, clock=after(start, 0.2)
    )
    assert (await timeline.tick()).posted == {}
    assert (await timeline.tick()).posted == {"clinic-chat/waiting": ["telegram"]}
    assert (await timeline.tick()).posted == {}
    assert [item for item, _ in channel.posted] == ["waiting"]


async def test_no_question_is_posted_where_the_launch_failed(platform: Platform) -> None:
    """No introduction with the consent text went out there: no questions either."""
    start = datetime.now(UTC)
    await launch(platform, timed_spec(start, channels=["telegram"]))
    async with platform.sessionmaker.begin() as session:
        session.add(
            Publication(
                consultation_id="clinic-chat",
                item_id=None,
                channel="telegram",
                platform_ref="unpublished:clinic-chat",
                kind="unpublished",
            )
        )
    channel = PostingChannel()
    timeline = Timeline(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, clock=after(start, 0.5)
    )
    assert (await timeline.tick()).posted == {}
    assert channel.posted == []
