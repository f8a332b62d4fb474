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


class FixedWindowServer:
    """Counts requests per fixed window as Mastodon does and answers with its headers."""

    def __init__(self, clock: Clock, limit: int, period: float) -> None:
        self.clock, self.limit, self.period = clock, limit, period
        self.counts: dict[int, int] = {}

    def request(self, pacer: RequestPacer) -> None:
        window = int(self.clock.wall() // self.period)
        self.counts[window] = self.counts.get(window, 0) + 1
        assert self.counts[window] <= self.limit, "the server would answer 429"
        reset = (window + 1) * self.period
        pacer.observe(self.limit, self.limit - self.counts[window], reset)


def _pacer(clock: Clock, **options: int) -> RequestPacer:
    settings = {"limit": 300, "period": 300, "burst": 30, "reserve": 20, **options}
    return RequestPacer(**settings, clock=clock, wallclock=clock.wall, sleep=clock.sleep)


async def test_once_the_window_is_known_bulk_uses_nearly_all_of_it(clock: Clock) -> None:
    pacer = _pacer(clock)
    server = FixedWindowServer(clock, 300, 300)
    for _ in range(1500):
        await pacer.acquire(bulk=True)
        server.request(pacer)
    full = sorted(server.counts.items())[1:-1]  # whole windows only
    assert full, server.counts
    for _, count in full:
        assert 300 - pacer.margin - 2 <= count <= 300  # never over, hardly any unused
    # Five windows' worth in little more than five windows' time.
    assert clock.now - 1000.0 < 5.3 * 300


async def test_bulk_leaves_the_reserve_to_replies(clock: Clock) -> None:
    pacer = _pacer(clock, reserve=20, margin=3)
    reset = clock.wall() + 300  # a whole window ahead: the whole reserve is kept
    pacer.observe(300, 23, reset)
    assert pacer.delay(bulk=True) == pytest.approx(300)
    assert pacer.delay() == 0  # a reply still goes now
    # Half the window left: half the reserve is kept from bulk requests.
    clock.now += 150
    pacer.observe(300, 23, reset)
    assert pacer.delay(bulk=True) == 0
    pacer.observe(300, 13, reset)
    assert pacer.delay(bulk=True) == pytest.approx(150)
    # Only the margin left: even replies wait for the reset.
    pacer.observe(300, 3, reset)
    assert pacer.delay() == pytest.approx(150)
    clock.now += 150
    assert pacer.delay(bulk=True) == 0  # a new window


async def test_a_count_from_an_earlier_response_does_not_raise_the_budget(clock: Clock) -> None:
    pacer = _pacer(clock, reserve=20, margin=3)
    reset = clock.wall() + 100
    pacer.observe(300, 3, reset)
    pacer.observe(300, 40, reset)  # answered before the other, arriving after it
    assert pacer.delay() == pytest.approx(100)


async def test_a_429_pauses_and_far_slots_are_refused(clock: Clock) -> None:
    pacer = RequestPacer(clock=clock, wallclock=clock.wall, sleep=clock.sleep)
    pacer.pause(30)
    with pytest.raises(RetryLater) as raised:
        await pacer.acquire(max_wait=5)
    assert raised.value.after == pytest.approx(30)
    await pacer.acquire()
    assert clock.now == pytest.approx(1030)
