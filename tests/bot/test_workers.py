"""Three `engage run` workers on one PostgreSQL database, and one killed mid-run.

Only PostgreSQL: several workers sharing one store is a PostgreSQL deployment (SQLite is
one process, whose leases are trivially held; see ``test_leases.py``).

The workers serve the web channel and one Telegram bot (polling the fake Bot API). Web
answers go through every worker's port; the Telegram conversation goes through whichever
worker polls, and each reply is sent by whichever worker holds the outbox lease. The lease
holder is killed with SIGKILL while people are mid-conversation: another worker must take
over sending (and polling) within 10 seconds, everyone must finish, every answer must be
stored once, and no message may reach anyone twice, except a question re-asked once,
marked as such, because it was being sent at the moment of the kill.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.config import Settings
from bot.leases import lock_key
from bot.outbox import RESEND_PREFIX
from bot.platform import create_platform
from tests.conftest import TEST_KEY, TEST_SECRET, _truncate
from tests.fakes.telegram_api import MESSAGE_METHODS, FakeMessage, FakeTelegram
from tests.helpers import form_fields, launch, spec_data
from tests.processes import free_port
from tests.waiting import wait_until

ENGAGE = str(Path(sys.executable).parent / "engage")
TOKEN = "424242:WORKERS-TOKEN"
CID = "outpatient-booking"
CLOSING = "Thank you. We will share what we change."
TAKEOVER_SECONDS = 10.0


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def pg_url(postgres_database: str) -> str:
    await _truncate(postgres_database)
    return postgres_database


class Worker:
    """One `engage run` process on its own port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def workers(pg_url: str, tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    for number in range(3):
        port = free_port()
        env = {
            **os.environ,
            "ENGAGE_DATABASE_URL": pg_url,
            "ENGAGE_HTTP_PORT": str(port),
            "ENGAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ENGAGE_SECRET_KEY": TEST_SECRET,
            "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "0",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_MODE": "polling",
        }
        for name in ("MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
            env.pop(name, None)
        log = tmp_path / f"worker{number}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                ENGAGE, "run", env=env, cwd=tmp_path, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        started.append(Worker(process, port, log))
    try:
        async with aiohttp.ClientSession() as http:
            for worker in started:

                async def ready(worker: Worker = worker) -> bool:
                    try:
                        async with http.get(f"{worker.base}/readyz") as response:
                            return response.status == 200
                    except aiohttp.ClientConnectionError:
                        return False

                await wait_until(ready, within=90, every=0.2, what=f"worker on {worker.port}")
        yield started
    finally:
        for worker in started:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in started:
            try:
                async with asyncio.timeout(30):
                    await worker.process.wait()
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram_api:
        yield telegram_api


async def _lease_holder(pg_url: str, name: str) -> int | None:
    """The OS process id of the worker holding lease ``name`` (from its connection's name)."""
    unsigned = lock_key(name) & 0xFFFFFFFFFFFFFFFF
    connection = await asyncpg.connect(_dsn(pg_url))
    try:
        application = await connection.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 "
            "AND l.objsubid = 1 "
            # Advisory locks are per database: another database on the server may hold
            # the same key (another deployment, another test run).
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            unsigned >> 32,
            unsigned & 0xFFFFFFFF,
        )
    finally:
        await connection.close()
    match = re.fullmatch(r"engage lease (\d+)", application or "")
    return int(match.group(1)) if match else None


def _plain(message: FakeMessage) -> str:
    text = message.poll.question if message.poll is not None else (message.text or "")
    return text.removeprefix(RESEND_PREFIX)


class Telegrammers:
    """People in private chats with the bot, each answering whatever it asks next."""

    def __init__(self, fake: FakeTelegram, count: int) -> None:
        self.fake = fake
        self.people = [fake.user(5000 + n, f"Person{n}") for n in range(count)]
        self.answered: dict[int, set[str]] = {p.id: set() for p in self.people}

    def start(self) -> None:
        for person in self.people:
            self.fake.send_command(person, "/start", CID)

    def finished(self) -> bool:
        return all(any(m.text == CLOSING for m in self.fake.messages_to(p)) for p in self.people)

    def step(self) -> None:
        """Answer each person's newest question, once (a re-ask of an answered one is not)."""
        for person in self.people:
            sent = self.fake.messages_to(person)
            if not sent or sent[-1].text == CLOSING:
                continue
            last = sent[-1]
            if _plain(last) in self.answered[person.id]:
                continue
            self.answered[person.id].add(_plain(last))
            if last.poll is not None:
                self.fake.vote(person, last, [1])
            elif last.callback_data:
                self.fake.press_button(person, last, last.callback_data[0])  # yes, I agree
            else:
                self.fake.reply(person, last, f"A reply from person {person.id}")

    async def converse(self, until: float) -> None:
        while not self.finished() and time.monotonic() < until:
            self.step()
            await asyncio.sleep(0.05)


async def _answer_on_the_web(base: str, number: int) -> None:
    """One person on the web page: consent, then the poll and the prompt in one form."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{base}/c/{CID}")).text()
        consent = form_fields(page, f"/c/{CID}/consent")
        async with http.post(f"{base}/c/{CID}/consent", data={**consent, "answer": "yes"}) as r:
            assert r.status == 200, await r.text()
            page = await r.text()
        fields = form_fields(page, f"/c/{CID}/answers")
        answer = {**fields, "item:ease": "Easy", "item:one-thing": f"Web answer {number}"}
        async with http.post(f"{base}/c/{CID}/answers", data=answer) as response:
            assert response.status == 200, await response.text()


@pytest.mark.timeout(300)  # three processes starting on a small machine
async def test_three_workers_share_the_work_and_one_takes_over_when_the_sender_is_killed(
    pg_url: str, fake: FakeTelegram, workers: list[Worker]
) -> None:
    settings = Settings(database_url=pg_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY)
    platform = create_platform(settings)
    try:
        await launch(
            platform,
            spec_data(segments=[], consent={"text": "We listen."}, channels=["web", "telegram"]),
        )
    finally:
        await platform.aclose()
    pids = {w.process.pid: w for w in workers}

    # One worker holds each lease; the others wait.
    holder = await wait_until(
        lambda: _lease_holder(pg_url, "outbox telegram"), what="an outbox sender"
    )
    assert holder in pids
    poller = await wait_until(
        lambda: _lease_holder(pg_url, "telegram poller 424242"), what="a poller"
    )
    assert poller in pids

    # Web answers through every worker, Telegram conversations through the poller.
    await asyncio.gather(*(_answer_on_the_web(workers[n % 3].base, n) for n in range(15)))
    chatters = Telegrammers(fake, 12)
    chatters.start()
    conversation = asyncio.create_task(chatters.converse(time.monotonic() + 120))
    # Kill the sender while people are mid-conversation (their first answers are in).
    await wait_until(
        lambda: _async(len(fake.sent) >= 2 * len(chatters.people)),
        what="conversations under way",
    )
    killed = pids[holder]
    killed.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await killed.process.wait()
    survivors = [w for w in workers if w is not killed]

    successor = await wait_until(
        lambda: _lease_holder(pg_url, "outbox telegram"),
        within=TAKEOVER_SECONDS,
        what="another worker taking over the outbox",
    )
    lease_taken_after = time.monotonic() - killed_at
    assert successor in pids and successor != holder

    await asyncio.gather(
        *(_answer_on_the_web(survivors[n % 2].base, n) for n in range(15, 30)),
    )
    await conversation
    assert chatters.finished(), "someone was left without their next question"
    first_send_after = min(
        call.at
        for call in fake.calls
        if call.at > killed_at and call.method.lower() in MESSAGE_METHODS and call.status == 200
    )
    assert first_send_after - killed_at < TAKEOVER_SECONDS + 1, (
        f"sending resumed {first_send_after - killed_at:.1f} s after the kill"
    )
    assert lease_taken_after < TAKEOVER_SECONDS
    print(
        f"outbox lease taken over {lease_taken_after:.1f} s after the kill; "
        f"sending resumed after {first_send_after - killed_at:.1f} s"
    )

    # Exactly one poller at any time: getUpdates is never cut off by a second poller,
    # except the long poll the killed worker left open.
    conflicts = [c for c in fake.calls_to("getUpdates") if c.status == 409]
    assert len(conflicts) <= 1, [c.description for c in conflicts]

    # Nothing sent twice: each question reached each person once, or twice when the
    # second is the marked re-ask of a send the kill interrupted.
    for person in chatters.people:
        texts = Counter(_plain(m) for m in fake.messages_to(person))
        repeats = [m for m in fake.messages_to(person) if _is_reask(m)]
        for text, times in texts.items():
            assert times == 1 or (times == 2 and any(_plain(m) == text for m in repeats)), (
                f"{text!r} sent {times} times to one person"
            )

    # Everything stored exactly once, and nothing left in flight.
    connection = await asyncpg.connect(_dsn(pg_url))
    try:
        per_item = await connection.fetch(
            "SELECT p.channel, r.participant_id, r.item_id, count(*) AS n FROM response r "
            "JOIN participant p ON p.id = r.participant_id GROUP BY 1, 2, 3"
        )
        statuses = Counter(
            row["status"] for row in await connection.fetch("SELECT status FROM outbox")
        )
    finally:
        await connection.close()
    assert {row["n"] for row in per_item} == {1}
    people = Counter(row["channel"] for row in per_item)
    assert people == {"web": 30 * 2, "telegram": 12 * 3}
    assert set(statuses) <= {"sent", "unknown"}, statuses
    assert not (set(statuses) - {"sent"}) or statuses["unknown"] <= 32


def _is_reask(message: FakeMessage) -> bool:
    text = message.poll.question if message.poll is not None else (message.text or "")
    return text.startswith(RESEND_PREFIX)


async def _async(value: bool) -> bool:
    return value
