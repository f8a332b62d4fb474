"""The plumbing both platform adapters share: resuming sends, retries, pauses, text."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.plumbing.intake import MAX_BACKOFF, StopIntake, intake_loop
from adapters.plumbing.launch import with_retries
from adapters.plumbing.sending import Part, PartialSends, part_key
from adapters.plumbing.text import shorten, split_text
from adapters.plumbing.timing import Stopper

log = logging.getLogger(__name__)


class FakeTime:
    """A clock whose sleep advances it at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_send_in_parts_resumes_after_the_parts_delivered() -> None:
    partial: PartialSends[str] = PartialSends()
    delivered: list[str] = []
    fail_at = {1}

    def part(name: str) -> Part[str]:
        async def send(previous: str | None) -> str:
            if len(delivered) in fail_at:
                fail_at.clear()
                raise ConnectionError("lost")
            delivered.append(f"{name} after {previous}")
            return name

        return send

    parts = [part("a"), part("b"), part("c")]
    with pytest.raises(ConnectionError):
        await partial.send("row-1", parts, first="root")
    assert await partial.send("row-1", parts, first="root") == "c"
    assert delivered == ["a after root", "b after a", "c after b"]
    assert part_key("row-1", 0) != part_key("row-1", 1)
    assert len(part_key("row-1", 0)) == 32


async def test_launch_retries_wait_with_the_injected_sleep() -> None:
    time = FakeTime()
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("busy")
        return "posted"

    def retry_in(exc: Exception, attempt: int) -> float | None:
        return 2.0 ** (attempt - 1) if isinstance(exc, ConnectionError) else None

    result = await with_retries(
        flaky, retry_in=retry_in, sleep=time.sleep, attempts=4, log=log, what="posting"
    )
    assert (result, time.slept) == ("posted", [1.0, 2.0])

    async def refused() -> str:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await with_retries(
            refused, retry_in=retry_in, sleep=time.sleep, attempts=4, log=log, what="posting"
        )


async def test_a_pause_ends_when_stopping() -> None:
    stopper = Stopper(asyncio.sleep)
    pausing = asyncio.create_task(stopper.pause(3600))
    await asyncio.sleep(0)
    stopper.set()
    await asyncio.wait_for(pausing, 1.0)
    time = FakeTime()
    fake = Stopper(time.sleep)
    await fake.pause(5)
    assert time.slept == [5]


@pytest.mark.parametrize(
    ("first", "waits"),
    [(None, [1, 2, 4, 8, 16, 32, MAX_BACKOFF, 1]), (0.25, [0.25, 0.5, 1, 2, 4, 8, 16, 0.25])],
)
async def test_a_failing_intake_backs_off_from_its_first_wait_and_starts_again_after_a_success(
    first: float | None, waits: list[float]
) -> None:
    time = FakeTime()
    stopper = Stopper(time.sleep)
    rounds = 0

    async def step() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 8:
            return  # one round works: the next failure waits the first wait again
        if rounds == 10:
            raise StopIntake("enough")
        raise ConnectionError("down")

    options = {} if first is None else {"first_backoff": first}
    await intake_loop(step, stopper, log=log, what="intake", **options)
    assert time.slept == waits


def test_text_is_packed_into_pieces_under_a_custom_count() -> None:
    double = lambda text: 2 * len(text)  # noqa: E731
    pieces = split_text("aa bb cc dd", 10, measure=double)
    assert pieces == ["aa bb", "cc dd"]
    assert split_text("x" * 12, 10, measure=double) == ["xxxxx", "xxxxx", "xx"]
    assert split_text("hello", 20, prefix="@c ") == ["@c hello"]
    assert shorten("abcdef", 4) == "abc…"
