"""One poll broadcast to 1,000 private chats through the outbox, against the fake Bot API.

    .venv/bin/python bench/telegram_broadcast.py [--people 1000] [--database-url URL]

The fake enforces Telegram's limits (30 messages a second overall, 1 a second per chat,
20 a minute per group) and answers 429 when they are broken. Reports the time to deliver
every poll against the ideal (people / 30 s) and how many 429s were served.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.telegram.adapter import TelegramAdapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.outbox import OutboxSender  # noqa: E402
from bot.platform import create_platform  # noqa: E402
from channels.events import OutboundMessage  # noqa: E402
from migrations import apply as migrate  # noqa: E402
from storage import queries  # noqa: E402
from storage.channel_store import SqlChannelStore  # noqa: E402
from storage.tables import OutboxEntry, Publication  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.helpers import launch, spec_data  # noqa: E402

KEY = "bench-pseudonym-key-0123456789-abcdefghijklmnop"


async def run(people: int, database_url: str) -> None:
    settings = Settings(database_url=database_url, secret_key=KEY, pseudonym_key=KEY)
    platform = create_platform(settings)
    spec = await launch(platform, spec_data(segments=[]))
    poll = spec.item("ease")
    async with FakeTelegram() as fake:
        fake.enforce_rate_limits(global_per_second=30, per_chat_per_second=1)
        async with platform.sessionmaker.begin() as session:
            for n in range(people):
                user = fake.user(10_000 + n, f"P{n}")
                message = OutboundMessage(
                    text=poll.text,
                    consultation_id=spec.id,
                    question=poll.id,
                    question_type="poll",
                    options=poll.options,
                    kind="question",
                )
                await queries.add_outbox(
                    session,
                    channel="telegram",
                    key=f"bench:{n}",
                    payload=message.to_json(),
                    address=platform.keyring.seal({"chat": user.id}),
                )
        adapter = TelegramAdapter(
            fake.token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            base_url=fake.base_url,
        )
        sender = OutboxSender(platform.sessionmaker, platform.keyring, {"telegram": adapter})
        started = time.perf_counter()
        await sender.drain("telegram", within=600)
        elapsed = time.perf_counter() - started
        await adapter.stop()
        async with platform.sessionmaker() as session:
            sent = await session.scalar(
                select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == "sent")
            )
            remembered = await session.scalar(
                select(func.count()).select_from(Publication).where(Publication.kind == "dm-poll")
            )
        chats = [m.chat_id for m in fake.sent]
        ideal = people / 30
        print(f"people:              {people}")
        print(f"database:            {database_url.split(':')[0]}")
        print(f"time to finish:      {elapsed:.1f} s (ideal {ideal:.1f} s, {elapsed / ideal:.2f}x)")
        print(f"429s served:         {fake.rate_limited_count}")
        print(f"polls delivered:     {len(chats)} to {len(set(chats))} chats; rows sent {sent}")
        print(f"poll ids recorded:   {remembered}")
    await platform.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        asyncio.run(run(args.people, url))


if __name__ == "__main__":
    main()
