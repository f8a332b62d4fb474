"""PostgreSQL stopped (immediate) under a running ``engage run``, then started again.

The database is a throwaway server of the test's own (``tests/throwaway_postgres.py``):
the machine's shared one is never stopped. While it is down:

* the Telegram webhook answers 503, so Telegram keeps the update and delivers it again;
* the web page answers 503 with a page saying to try again in a moment;
* ``/readyz`` answers 503 and ``/healthz`` 200: the process keeps running.

When it is back, with nobody touching the process: ``/readyz`` is 200 again, the update
Telegram held is stored and answered, the person's form goes through, and everything
stored before the outage is still there.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, create_sessionmaker
from storage.tables import Base, Consent, InboxEntry, Response
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import spec_data
from tests.processes import TOKEN, engage_env, free_port, open_consultation, start, stop
from tests.throwaway_postgres import ThrowawayPostgres, new_database
from tests.waiting import wait_until

# Long enough that every background loop fails again and again (the inbox and the outbox
# try every half second, Telegram delivers again every 0.2 s), not once.
OUTAGE_SECONDS = 10.0
CID = "outpatient-booking"


@pytest.fixture
def cluster() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    server.start()
    yield server
    server.remove()


def _fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', page))


async def _count(url: str, table: type[Base], *where: Any) -> int:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            found = await session.scalar(select(func.count()).select_from(table).where(*where))
            return int(found or 0)
    finally:
        await engine.dispose()


@pytest.mark.timeout(180)
async def test_a_database_outage_loses_nothing_and_heals_by_itself(
    cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = await new_database(cluster)
    await open_consultation(url, spec_data(channels=["web", "telegram"]))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeTelegram(token=TOKEN, webhook_retry_interval=0.2) as fake:
        env = engage_env(
            url,
            port,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_MODE="webhook",
            TELEGRAM_WEBHOOK_SECRET="outage-secret",
        )
        log = tmp_path / "engage.log"
        server = await start(env, log)
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

                async def status(path: str) -> int:
                    try:
                        async with http.get(base + path) as response:
                            return response.status
                    except aiohttp.ClientConnectionError:
                        return 0

                async def ready() -> bool:
                    assert server.returncode is None, log.read_text()[-3000:]
                    return await status("/readyz") == 200

                await wait_until(ready, within=60, every=0.2, what="engage to be ready")

                # Before: a person on Telegram and one on the web page take part.
                alice = fake.user(1001, "Alice")
                fake.send_command(alice, "/start", CID)
                [consent] = await fake.wait_for_sent(1, chat=alice, within=20)
                page = await (await http.get(f"{base}/c/{CID}")).text()
                page = await (
                    await http.post(
                        f"{base}/c/{CID}/consent", data={**_fields(page), "answer": "yes"}
                    )
                ).text()
                form = _fields(page)
                assert "Which best describes you?" in page

                # The database goes away, at once.
                cluster.stop()
                down_at = time.monotonic()

                async def not_ready() -> bool:
                    return await status("/readyz") == 503

                await wait_until(not_ready, within=10, what="/readyz to say 503")
                assert await status("/healthz") == 200

                fake.press_button(alice, consent, consent.callback_data[0])  # yes

                async def refused() -> bool:
                    return any(d.status == 503 for d in fake.webhook.deliveries)

                await wait_until(refused, within=10, what="the webhook to answer 503")
                assert fake.pending_updates, "Telegram keeps the update while it is refused"

                answer = await http.post(
                    f"{base}/c/{CID}/answers", data={**form, "segment:role": "Carer"}
                )
                assert answer.status == 503
                assert answer.headers["Retry-After"].isdigit()
                assert "try again in a moment" in (await answer.text())
                shown = await http.get(f"{base}/c/{CID}")
                assert shown.status == 503 and "try again in a moment" in await shown.text()

                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
                assert server.returncode is None, "engage run keeps running through the outage"
                cluster.start()
                up_at = time.monotonic()
                outage = up_at - down_at

                await wait_until(ready, within=30, every=0.2, what="/readyz to be 200 again")
                recovered = time.monotonic() - up_at
                # The update Telegram held arrives and is answered: the next question.
                recontact = await fake.wait_for_sent(2, chat=alice, within=30)
                assert "contact you again" in (recontact[1].text or "")
                # The person sends the same form again, and it is taken.
                again = await http.post(
                    f"{base}/c/{CID}/answers", data={**form, "segment:role": "Carer"}
                )
                assert again.status == 200
        finally:
            await stop(server)
        assert server.returncode == 0, log.read_text()[-3000:]

    # Nothing accepted was lost: both Telegram updates, both consents, the web answer.
    assert await _count(url, InboxEntry, InboxEntry.channel == "telegram") == 2
    assert await _count(url, Consent, Consent.purpose == "consultation", Consent.given) == 2
    assert await _count(url, Response, Response.item_id == "role", Response.channel == "web") == 1
    print(f"\noutage {outage:.1f} s; ready again {recovered:.1f} s after the database was back")
