"""The outbox sender shared by several workers."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.outbox import OutboxSender
from bot.platform import Platform
from storage.tables import OutboxEntry
from tests.bot.test_runtime import deliver
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import launch, spec_data
from tests.waiting import wait_until


async def test_two_workers_send_each_message_once_and_one_sender_per_channel(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    people = [Person(f"w{n}") for n in range(12)]
    await deliver(platform, *(p.starts("outpatient-booking") for p in people))
    first, second = FakeChannel(), FakeChannel()
    senders = [
        OutboxSender(platform.sessionmaker, platform.keyring, {"telegram": channel})
        for channel in (first, second)
    ]
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(sender.run(stopping, idle=0.05)) for sender in senders]

    async def all_sent() -> bool:
        return len(first.sent) + len(second.sent) >= len(people)

    try:
        await wait_until(all_sent, within=20, what="every message sent")
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
    chats = sorted(address["chat"] for address, _ in first.sent + second.sent)
    assert chats == sorted(p.platform_id for p in people)
    if platform.engine.dialect.name == "postgresql":
        # the advisory lock makes one worker the only sender for the account
        assert not (first.sent and second.sent)


async def test_the_adapter_is_given_each_rows_idempotency_key_on_every_attempt(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("k1").starts("outpatient-booking"))
    channel = FakeChannel()
    channel.rate_limit(1, after=0.0)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {"telegram": channel}, base_delay=0.0
    )
    async with asyncio.timeout(10):
        while not channel.sent:
            await sender.run_once("telegram")
            await asyncio.sleep(0.05)
    async with platform.sessionmaker() as session:
        keys = list(await session.scalars(select(OutboxEntry.idempotency_key)))
    assert len(keys) == 1
    assert channel.keys == keys * 2  # the rate-limited attempt, then the one that went
