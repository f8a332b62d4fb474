"""The request budget: never more than the server allows in any window."""

from __future__ import annotations

from collections import deque

import pytest

from adapters.mastodon.pacing import RequestPacer
from channels.adapter import RetryLater


class Clock:
    """Fake time, handed to the pacer: its sleep advances the clock instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_800_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _max_in_window(times: list[float], window: float) -> int:
    best, inside = 0, deque[float]()
    for moment in times:
        inside.append(moment)
        while inside[0] <= moment - window:
            inside.popleft()
        best = max(best, len(inside))
    return best


async def test_no_window_holds_more_than_the_budget(clock: Clock) -> None:
    pacer = RequestPacer(
        limit=300,
        period=300,
        burst=30,
        reserve=10,
        clock=clock,
        wallclock=clock.wall,
        sleep=clock.sleep,
    )
    times = []
    for _ in range(1000):
        await pacer.acquire()
        times.append(clock.now)
    assert _max_in_window(times, 300) <= 290
    assert times[29] == pytest.approx(times[0])  # the burst goes at once
    assert 1000 / (times[-1] - times[0]) < 300 / 300  # and then under one a second


async def test_the_server_saying_little_is_left_slows_us(clock: Clock) -> None:
    pacer = RequestPacer(
        limit=300,
        period=300,
        burst=30,
        reserve=10,
        clock=clock,
        wallclock=clock.wall,
        sleep=clock.sleep,
    )
    pacer.observe(300, 12, clock.wall() + 100)  # two usable before the reset
    await pacer.acquire()
    await pacer.acquire()
    assert pacer.delay() > 0
    pacer.observe(300, 10, clock.wall() + 100)  # nothing usable: wait for the reset
    assert pacer.delay() == pytest.approx(100)


async def test_a_429_pauses_and_far_slots_are_refused(clock: Clock) -> None:
    pacer = RequestPacer(clock=clock, wallclock=clock.wall, sleep=clock.sleep)
    pacer.pause(30)
    with pytest.raises(RetryLater) as raised:
        await pacer.acquire(max_wait=5)
    assert raised.value.after == pytest.approx(30)
    await pacer.acquire()
    assert clock.now == pytest.approx(1030)
