"""A batch runs the same statement texts whatever its size.

On PostgreSQL each statement text is prepared on each connection and kept there (and in
the server's backend): a text that carries one placeholder per row (an ``IN`` list, a
multi-row ``VALUES``) makes a new statement for every batch size, and a worker's memory
grows until every size has been seen on every connection. The texts are recorded as the
driver receives them, after SQLAlchemy has expanded its lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.platform import Platform
from channels.events import CONSENT, InboundEvent
from tests.fakes.channel import Person
from tests.helpers import launch, spec_data, statements_sent

CID = "outpatient-booking"
SPEC = spec_data(segments=[], consent={"text": "We listen. Reply STOP to leave."})


def steps(person: Person) -> list[InboundEvent]:
    """A new person's way through: start, consent, the poll, a free-text answer."""
    return [
        person.starts(CID),
        person.answers(CONSENT, "Yes, I agree"),
        person.answers("ease", "Easy"),
        person.says(f"Evening slots would help {person.platform_id}"),
    ]


async def run_through(
    platform: Platform,
    channel: str,
    size: int,
    name: str,
    handle: Callable[[list[InboundEvent]], Awaitable[None]],
) -> set[str]:
    """``size`` new people each take one step per batch; the texts run, all steps."""
    ways = [steps(Person(f"{name}{n}", channel=channel)) for n in range(size)]
    with statements_sent(platform.engine) as sent:
        for step in range(4):
            await handle([way[step] for way in ways])
    return {statement for statement, _ in sent}


SIZES = (2, 3, 5, 8, 13)


async def texts_by_size(
    platform: Platform, channel: str, handle: Callable[[list[InboundEvent]], Awaitable[None]]
) -> dict[int, set[str]]:
    # Statements read once, at their first use, are run before the count starts.
    await run_through(platform, channel, 2, "warm", handle)
    return {size: await run_through(platform, channel, size, f"p{size}-", handle) for size in SIZES}


async def test_the_telegram_inbox_batch_runs_the_same_statements_whatever_its_size(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)

    async def handle(events: list[InboundEvent]) -> None:
        # The webhook's many connections arrive together: one shared insert.
        await asyncio.gather(*(platform.inbox.receive(e) for e in events))
        assert await platform.inbox.process_pending(batch=len(events)) == len(events)

    found = await texts_by_size(platform, "telegram", handle)

    assert_same_texts(found)


async def test_the_web_group_commit_runs_the_same_statements_whatever_its_size(
    platform: Platform,
) -> None:
    await launch(platform, SPEC)

    async def handle(events: list[InboundEvent]) -> None:
        # As the page's group commit hands over its requests: one group each.
        outcomes = await platform.runtime.handle_groups([[e] for e in events])
        assert not any(isinstance(o, Exception) for o in outcomes), outcomes

    found = await texts_by_size(platform, "web", handle)

    assert_same_texts(found)


def assert_same_texts(found: dict[int, set[str]]) -> None:
    smallest = found[SIZES[0]]
    extra = {size: sorted(text[:60] for text in texts - smallest) for size, texts in found.items()}
    assert not any(extra.values()), f"texts batches of {SIZES[0]} did not run, by size: {extra}"
