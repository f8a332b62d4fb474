"""The bot's overall pace: never more than 30 requests in any second, none of it wasted."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from adapters.telegram.pacing import ChatPacer


class Clock:
    """Fake time: sleeping advances it, and each wake-up is late by ``lateness``."""

    def __init__(self, lateness: float = 0.0) -> None:
        self.now = 100.0
        self.lateness = lateness

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Others waiting get their turn before time moves on, as on a real loop.
        until = self.now + seconds + self.lateness
        await asyncio.sleep(0)
        self.now = max(self.now, until)


def _most_in_a_second(times: list[float]) -> int:
    best, inside = 0, deque[float]()
    for moment in times:
        inside.append(moment)
        while inside[0] <= moment - 1.0:
            inside.popleft()
        best = max(best, len(inside))
    return best


async def test_late_wake_ups_are_not_lost_and_no_second_holds_more_than_30() -> None:
    # Each wake-up 3 ms late, as on a busy event loop: a bucket refilling every 1/30 s
    # would lose 3 ms a message (9%); the window gives the time back.
    clock = Clock(lateness=0.003)
    pacer = ChatPacer(overall_per_second=30, overall_margin=0.02, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(600):
        await pacer.overall(bulk=True)
        times.append(clock.now)
    assert _most_in_a_second(times) <= 30
    elapsed = times[-1] - times[0]
    assert elapsed / (599 / 30) < 1.04


async def test_a_reply_goes_before_bulk_sends_waiting_for_the_same_slot() -> None:
    clock = Clock()
    pacer = ChatPacer(overall_per_second=2, overall_margin=0.0, clock=clock, sleep=clock.sleep)
    order: list[str] = []

    async def send(name: str, bulk: bool) -> None:
        await pacer.overall(bulk=bulk)
        order.append(name)

    await send("first", True)
    await send("second", True)  # the window is full until a second has passed
    await asyncio.gather(
        send("invitation 1", True), send("invitation 2", True), send("reply", False)
    )
    assert order[2] == "reply"
    assert sorted(order[3:]) == ["invitation 1", "invitation 2"]


@pytest.mark.parametrize("limit", [0])
async def test_the_overall_pace_can_be_left_to_others(limit: int) -> None:
    clock = Clock()
    pacer = ChatPacer(overall_per_second=limit, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        await pacer.overall()
    assert clock.now == 100.0


async def test_a_chats_next_request_is_kept_an_interval_from_the_last_answer() -> None:
    # Telegram counts a request as it arrives, somewhere between its start and its
    # answer: kept an interval from the answer, the next cannot arrive too soon however
    # long the first took on the way (a busy machine once got a 429 that way).
    clock = Clock()
    pacer = ChatPacer(chat_interval=1.0, margin=0.05, clock=clock, sleep=clock.sleep)
    await pacer.starting(42)
    started = clock.now
    clock.now += 0.4  # the request took 0.4 s to be answered
    pacer.answered(42)
    answered = clock.now
    clock.now = started + 1.1  # the planned slot: an interval after the start
    await pacer.starting(42)
    assert clock.now == pytest.approx(answered + 1.05)
    # Another chat is not held by it.
    before = clock.now
    await pacer.starting(7)
    assert clock.now == before
