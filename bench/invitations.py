"""A follow-up's invitations to 10,000 people across Telegram and Mastodon, through the fakes.

    .venv/bin/python bench/invitations.py [--people 10000] [--window 10]
        [--mastodon-burst 30] [--mastodon-reserve 20] [--database-url URL]

``--people`` are invited. The earlier consultation had a quarter more: half took part
on Telegram (private chats), half on Mastodon (direct messages); one in ten said no to
being contacted again and one in ten said STOP, so they must not be invited. The
follow-up is launched (``bot/followups.py`` queues one outbox row per person) inside
its quiet hours, which end a minute or so later; the platform's outbox sender then
delivers both channels side by side, through the real python-telegram-bot and
Mastodon.py clients, to the fake Bot API (enforcing
Telegram's 30 messages a second overall and 1 a second per chat, answering 429 beyond)
and mastodon-mock (enforcing 300 requests per ``--window`` seconds: Mastodon's 300 per
5 minutes, time compressed, as in ``mastodon_burst.py``).

The same run first times a baseline: the same adapters sending 1,000 invitations per
channel straight to the fakes (no store, no outbox), so the platform's figure can be
read against what this machine allows at the moment (``ratio_to_baseline``).

Reported per channel: the time from the end of the quiet hours to the last invitation
delivered, against the ideal the platform's limits allow (Telegram: people / 30 s;
Mastodon: people / 300 x window), their ratio (target: within 1.05x), messages delivered
per person (must be exactly 1: nothing sent twice), and the earliest delivery against
the end of the quiet hours (nothing sent in them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.mastodon.adapter import MastodonAdapter  # noqa: E402
from adapters.mastodon.pacing import RequestPacer  # noqa: E402
from adapters.telegram.adapter import TelegramAdapter  # noqa: E402
from bot import followups  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.outbox import OutboxSender  # noqa: E402
from bot.platform import create_platform  # noqa: E402
from bot.runtime import no_analysis  # noqa: E402
from channels.adapter import RetryLater  # noqa: E402
from channels.events import OutboundMessage  # noqa: E402
from consultations import followups as followups_words  # noqa: E402
from consultations import service  # noqa: E402
from consultations.spec import parse_spec  # noqa: E402
from migrations import apply as migrate  # noqa: E402
from storage.channel_store import SqlChannelStore  # noqa: E402
from storage.tables import Consent, OutboxEntry, Participant  # noqa: E402
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.helpers import launch, spec_data  # noqa: E402

KEY = "bench-pseudonym-key-0123456789-abcdefghijklmnop"
TELEGRAM_PER_SECOND = 30
MASTODON_PER_WINDOW = 300


def _fate(n: int) -> str:
    """Who person ``n`` is: invited, declined re-contact, or left (STOP), on each channel."""
    return {0: "declined", 1: "left"}.get((n // 2) % 10, "agreed")


async def _people(platform: Any, count: int) -> dict[str, int]:
    """The earlier consultation's people, on both channels, in bulk; invited per channel."""
    wanted = Counter[str]()
    now = datetime.now(UTC)
    keyring = platform.keyring
    async with platform.sessionmaker.begin() as session:
        rows = []
        for n in range(count):
            channel = "telegram" if n % 2 == 0 else "mastodon"
            platform_id = str(100_000 + n) if channel == "telegram" else f"person{n}"
            address = (
                {"chat": 100_000 + n}
                if channel == "telegram"
                else {"acct": f"person{n}", "reply_to": str(9_000_000 + n), "visibility": "direct"}
            )
            rows.append(
                {
                    "channel": channel,
                    "pseudonym": keyring.pseudonym(channel, platform_id),
                    "address": keyring.seal(address),
                    "created_at": now,
                    "opted_out_at": now if _fate(n) == "left" else None,
                }
            )
            if _fate(n) == "agreed":
                wanted[channel] += 1
        result = await session.execute(
            Participant.__table__.insert().returning(Participant.__table__.c.id), rows
        )
        ids = [row[0] for row in result]
        consents = []
        for n, pid in enumerate(ids):
            for purpose in ("consultation", "recontact"):
                consents.append(
                    {
                        "participant_id": pid,
                        "consultation_id": "outpatient-booking",
                        "purpose": purpose,
                        "given": not (purpose == "recontact" and _fate(n) == "declined"),
                        "method": "explicit",
                        "given_at": now,
                        "withdrawn_at": now if _fate(n) == "left" else None,
                    }
                )
        await session.execute(Consent.__table__.insert(), consents)
    return dict(wanted)


BASELINE_SAMPLE = 1000


async def _baseline(
    telegram: TelegramAdapter, mastodon: MastodonAdapter, sample: int
) -> dict[str, float]:
    """Seconds per message when each adapter sends ``sample`` invitations directly."""
    spec = parse_spec({**spec_data(id="booking-loop", model="closing-the-loop", segments=[])})
    words = followups_words.invitation(spec, "Improving outpatient booking")
    message = OutboundMessage(
        text=words.text,
        consultation_id=spec.id,
        question=words.question,
        question_type=words.question_type,
        options=words.options,
        kind="invitation",
    )

    async def channel(adapter: Any, address: Any) -> float:
        limit = asyncio.Semaphore(32)

        async def one(n: int) -> None:
            async with limit:
                for _ in range(20):  # the adapter asks to retry when paced or limited
                    try:
                        await adapter.send(address(n), message, key=f"base:{adapter.name}:{n}")
                        return
                    except RetryLater as exc:
                        await asyncio.sleep(exc.after or 0.5)

        started = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(sample)))
        return (time.monotonic() - started) / sample

    telegram_each, mastodon_each = await asyncio.gather(
        channel(telegram, lambda n: {"chat": 900_000 + n}),
        channel(mastodon, lambda n: {"acct": f"base{n}", "visibility": "direct"}),
    )
    return {"telegram": telegram_each, "mastodon": mastodon_each}


def _quiet_now() -> tuple[str, str, datetime]:
    """Quiet hours that hold now and end at the next whole minute (at least 20 s away)."""
    now = datetime.now(UTC)
    end = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
    start = now.replace(second=0, microsecond=0)
    return start.strftime("%H:%M"), end.strftime("%H:%M"), end


async def run(
    people: int, window: int, database_url: str, *, burst: int, reserve: int
) -> dict[str, Any]:
    settings = Settings(database_url=database_url, secret_key=KEY, pseudonym_key=KEY)
    platform = create_platform(settings, analyse=no_analysis)
    await launch(platform, spec_data(segments=[], channels=["telegram", "mastodon"]))
    total = people + people // 4  # one in ten declined and one in ten left
    wanted = await _people(platform, total)
    async with (
        FakeTelegram() as fake,
        MastodonServer(
            limits=InstanceLimits(max_options=5),
            ratelimit=MASTODON_PER_WINDOW,
            ratelimit_window=window,
            streaming=False,
        ) as server,
    ):
        fake.enforce_rate_limits(global_per_second=TELEGRAM_PER_SECOND, per_chat_per_second=1)
        for n in range(0, total, 2):
            fake.user(100_000 + n, f"P{n}")
        store = SqlChannelStore(platform.sessionmaker, platform.keyring)
        telegram = TelegramAdapter(fake.token, store=store, base_url=fake.base_url)
        mastodon = MastodonAdapter(
            server.base_url,
            server.bot_token,
            store=store,
            pacer=RequestPacer(
                limit=MASTODON_PER_WINDOW, period=float(window), burst=burst, reserve=reserve
            ),
        )
        # Statuses made, by whom they went to: a request repeated with the same
        # idempotency key (after a 429 or a lost answer) returns the status already made,
        # so distinct status ids per person say whether anyone got two.
        posted: dict[str, set[str]] = {}
        session = mastodon.account.client.session
        original = session.request

        def stamped(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            response = original(method, url, *args, **kwargs)
            if (
                method.upper() == "POST"
                and url.endswith("/api/v1/statuses")
                and response.status_code == 200
            ):
                text = str((kwargs.get("data") or {}).get("status", ""))
                acct = text.split(maxsplit=1)[0]
                posted.setdefault(acct, set()).add(str(response.json()["id"]))
            return response

        session.request = stamped  # type: ignore[method-assign]

        # The baseline, same fakes and clients, same limits, no store and no outbox: the
        # adapters sending a sample straight away, 32 at a time per channel. On a shared
        # machine it says what the platform could reach here at best.
        sample = min(BASELINE_SAMPLE, people // 2)
        for n in range(sample):
            fake.user(900_000 + n, f"B{n}")
        bare = await _baseline(telegram, mastodon, sample)
        print(f"baseline: {bare}", flush=True)

        start, end, quiet_end = _quiet_now()
        loop = parse_spec(
            {
                **spec_data(id="booking-loop", model="closing-the-loop", segments=[]),
                "channels": ["telegram", "mastodon"],
                "follow_up": {"of": ["outpatient-booking"]},
                "quiet_hours": {"start": start, "end": end},
            }
        )
        async with platform.sessionmaker.begin() as db:
            await service.create(db, loop, source="bench")
            await service.open_(db, loop.id)
            invited = await followups.invite(db, platform.keyring, loop)
        print(f"invited {invited}; quiet hours end at {quiet_end:%H:%M:%S} UTC", flush=True)

        sender = OutboxSender(
            platform.sessionmaker,
            platform.keyring,
            {"telegram": telegram, "mastodon": mastodon},
        )
        await asyncio.gather(
            sender.drain("telegram", within=7200), sender.drain("mastodon", within=7200)
        )
        await telegram.stop()
        await mastodon.stop()
        async with platform.sessionmaker() as db:
            spans = {
                channel: (first, last, n)
                for channel, first, last, n in await db.execute(
                    select(
                        OutboxEntry.channel,
                        func.min(OutboxEntry.sent_at),
                        func.max(OutboxEntry.sent_at),
                        func.count(OutboxEntry.id),
                    )
                    .where(OutboxEntry.status == "sent")
                    .group_by(OutboxEntry.channel)
                )
            }
            unsent = await db.scalar(
                select(func.count(OutboxEntry.id)).where(OutboxEntry.status != "sent")
            )
        telegram_chats = Counter(m.chat_id for m in fake.sent if m.chat_id < 900_000)
        mastodon_people = {
            acct: len(ids) for acct, ids in posted.items() if not acct.startswith("@base")
        }
        rate_limited = fake.rate_limited_count
    await platform.aclose()

    ideal = {
        "telegram": wanted.get("telegram", 0) / TELEGRAM_PER_SECOND,
        "mastodon": wanted.get("mastodon", 0) / MASTODON_PER_WINDOW * window,
    }
    results: dict[str, Any] = {"people": people, "database": database_url.split(":")[0]}
    for channel in ("telegram", "mastodon"):
        first, last, n = spans[channel]
        elapsed = (last - quiet_end).total_seconds()
        results[channel] = {
            "invited": invited.get(channel, 0),
            "should_be_invited": wanted.get(channel, 0),
            "delivered": n,
            "seconds_after_quiet_hours_to_last": round(elapsed, 1),
            "ideal_seconds": round(ideal[channel], 1),
            "ratio_to_ideal": round(elapsed / ideal[channel], 3),
            "first_delivery_after_quiet_end_s": round((first - quiet_end).total_seconds(), 2),
            "baseline_seconds_same_count": round(bare[channel] * n, 1),
            "ratio_to_baseline": round(elapsed / (bare[channel] * n), 3),
        }
    results["telegram"]["most_messages_to_one_chat"] = max(telegram_chats.values())
    results["telegram"]["chats_reached"] = len(telegram_chats)
    results["telegram"]["429s_served"] = rate_limited
    results["mastodon"]["most_statuses_to_one_person"] = max(mastodon_people.values())
    results["mastodon"]["people_reached"] = len(mastodon_people)
    results["mastodon"]["window_seconds"] = window
    results["mastodon"]["pacer_burst_and_reserve"] = [burst, reserve]
    results["unsent_rows"] = unsent
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=10, help="Mastodon's 5 minutes, shrunk")
    parser.add_argument("--mastodon-burst", type=int, default=30, help="the pacer's burst")
    parser.add_argument(
        "--mastodon-reserve", type=int, default=20, help="requests per window left for others"
    )
    parser.add_argument("--database-url", help="default: a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        results = asyncio.run(
            run(
                args.people,
                args.window,
                url,
                burst=args.mastodon_burst,
                reserve=args.mastodon_reserve,
            )
        )
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "invitations.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
