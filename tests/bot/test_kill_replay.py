"""``engage run`` killed with SIGKILL in the middle of a replay of Telegram updates, restarted.

A real ``engage run`` process serves the fake Telegram Bot API (webhook mode over 40
connections, as Telegram delivers, then polling mode; on SQLite and on PostgreSQL) while
people go through a consultation of ten steps each: twelve updates a person (a vote
also brings the poll's totals) and ten messages from the bot: 40 people in the normal
suite (480 updates; 20 on PostgreSQL); ``ENGAGE_TEST_REPLAY_PEOPLE=420`` replays 5,040
(2,016 on PostgreSQL). Each person
answers the question they were last sent, as people do, so a question that never goes
out leaves them waiting for ever. Part way through, the process is killed with SIGKILL
(no clean-up at all) and started again. Then:

* every update Telegram saw acknowledged is stored, each exactly once;
* every person finishes, with exactly one answer per question stored;
* nothing is sent twice, except the messages in doubt at the kill (their request to
  Telegram had started): at most one per person, at most the sender's concurrency in
  all, each asked again once, its text opened with "In case this did not reach you:"
  (docs/operations.md); anything else in doubt is listed by ``engage outbox unknown``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import telegram
from sqlalchemy import func, select

from adapters.telegram import convert
from bot.outbox import RESEND_PREFIX
from consultations.keys import Keyring
from migrations import apply as migrate
from storage.db import create_engine, create_sessionmaker
from storage.tables import InboxEntry, OutboxEntry, Response
from tests.conftest import TEST_KEY
from tests.fakes.telegram_api import FakeMessage, FakeTelegram
from tests.processes import TOKEN, engage, engage_env, free_port, open_consultation, start, stop
from tests.throwaway_postgres import ThrowawayPostgres, new_database
from tests.waiting import wait_until

# 40 people (480 updates) in the normal suite, about a minute on a busy machine;
# ENGAGE_TEST_REPLAY_PEOPLE=420 replays 5,040 updates (docs/operations.md has the figures).
PEOPLE = int(os.environ.get("ENGAGE_TEST_REPLAY_PEOPLE", "40"))
STEPS = 10  # updates per person: /start, consent, re-contact, 2 segments, 2 polls, 3 texts
POLLS = 2  # a vote brings two updates: the person's answer and the poll's new totals
CONCURRENCY = 32  # the outbox sender's messages in flight per channel (bot/outbox.py)
CLOSING = "Thank you. We will share what we change."

SPEC: dict[str, Any] = {
    "id": "kill-replay",
    "title": "Booking, under fire",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "qi": {"project": "Faults", "stage": "plan", "cycle": 1},
    "channels": ["telegram"],
    "language": "en",
    "consent": {"text": "We use your answers to improve booking.", "recontact": True},
    "segments": [
        {"id": "role", "text": "Which best describes you?", "options": ["Patient", "Carer"]},
        {"id": "age", "text": "How old are you?", "options": ["Under 40", "40 or over"]},
    ],
    "items": [
        {
            "id": "ease",
            "type": "poll",
            "text": "How easy was booking?",
            "options": ["Easy", "Hard"],
        },
        {
            "id": "wait",
            "type": "poll",
            "text": "How long did you wait?",
            "options": ["Days", "Weeks"],
        },
        {"id": "one-thing", "type": "prompt", "text": "What one thing would help?"},
        {"id": "remind", "type": "thread", "text": "What should a reminder say?"},
        {"id": "other", "type": "prompt", "text": "Anything else to tell us?"},
    ],
    "closing_message": CLOSING,
}
ITEMS = {"role", "age", "ease", "wait", "one-thing", "remind", "other"}


def _question(message: FakeMessage) -> str:
    """What the bot asked, without the mark of a message asked again."""
    text = message.poll.question if message.poll is not None else (message.text or "")
    return text.removeprefix(RESEND_PREFIX)


@dataclass
class Person:
    user: telegram.User
    answered: set[str] = field(default_factory=set)
    finished: bool = False


class Crowd:
    """People who each answer the bot's latest question once, as it arrives."""

    def __init__(self, fake: FakeTelegram, people: int) -> None:
        self.fake = fake
        self.people = {1000 + n: Person(fake.user(1000 + n, f"P{n}")) for n in range(people)}
        self.seen = 0
        self.updates: set[int] = set()  # the updates that carry an event (not poll totals)

    def begin(self) -> None:
        for person in self.people.values():
            self._track(self.fake.send_command(person.user, "/start", SPEC["id"]))

    def _track(self, update: telegram.Update) -> None:
        self.updates.add(update.update_id)

    def step(self) -> None:
        """Answer every message the bot sent since the last step."""
        sent = self.fake.sent
        while self.seen < len(sent):
            message = sent[self.seen]
            self.seen += 1
            person = self.people.get(message.chat_id)
            if person is not None:
                self._answer(person, message)

    def _answer(self, person: Person, message: FakeMessage) -> None:
        question = _question(message)
        if question == CLOSING:
            person.finished = True
            return
        if question in person.answered:
            return  # asked again after the kill, and answered already: a person lets it be
        person.answered.add(question)
        user = person.user
        if message.poll is not None:
            self._track(self.fake.vote(user, message, [len(person.answered) % 2]))
        elif message.callback_data:
            # Consent: yes (first); re-contact: no (second); segments: either.
            choice = 1 if "contact you again" in question else 0
            self._track(self.fake.press_button(user, message, message.callback_data[choice]))
        else:
            self._track(
                self.fake.reply(user, message, f"Reply from {user.first_name} to: {question[:20]}")
            )

    def answered_last(self) -> bool:
        return all(len(p.answered) == STEPS - 1 for p in self.people.values())


@pytest.fixture(params=["webhook", "polling"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of this module's own (the machine's is shared and slow to
    commit); only the engage process is killed, never this server."""
    server = ThrowawayPostgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated store: a SQLite file, then a new database on the module's server."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}"
        await migrate.upgrade_async(url)
        return url
    return await new_database(request.getfixturevalue("cluster"))


@pytest.mark.timeout(max(300, PEOPLE * 3))
async def test_kill_9_mid_replay_loses_nothing_and_sends_nothing_twice(
    store_url: str, mode: str, tmp_path: Path
) -> None:
    database_url = store_url
    # Each round trip to PostgreSQL costs far more than SQLite's in-process calls on a
    # busy test machine: fewer people there keep the test within minutes.
    people = PEOPLE if database_url.startswith("sqlite") else max(20, PEOPLE * 2 // 5)
    started = time.monotonic()
    # Telegram delivers to a webhook over up to 40 connections at once (setWebhook,
    # max_connections), one chat at a time.
    async with FakeTelegram(
        token=TOKEN, webhook_retry_interval=0.05, webhook_connections=40
    ) as fake:
        env = engage_env(
            database_url,
            free_port(),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_MODE=mode,
            TELEGRAM_WEBHOOK_SECRET="kill-replay-secret",
            # The fake has no flood control; Telegram's own 30 a second would make this
            # test take minutes. Per-chat pacing (one a second) stays on.
            TELEGRAM_MESSAGES_PER_SECOND="1000",
        )
        await open_consultation(database_url, SPEC)

        log = tmp_path / "engage.log"
        crowd = Crowd(fake, people)
        server = await start(env, log)
        try:
            crowd.begin()
            kill_at = people * STEPS * 2 // 5  # 40% of the bot's messages out
            while len(fake.sent) < kill_at:
                crowd.step()
                await asyncio.sleep(0.01)
                assert server.returncode is None, log.read_text()[-3000:]
            server.send_signal(signal.SIGKILL)
            await server.wait()
            killed_at = time.monotonic() - started
            crowd.step()

            in_doubt = await _rows_in_doubt(database_url)
            assert len(in_doubt) <= CONCURRENCY, in_doubt
            assert max(Counter(in_doubt).values(), default=0) <= 1  # one per person at most

            # People carry on while it is down: their updates wait at Telegram.
            await asyncio.sleep(0.5)
            crowd.step()
            server = await start(env, log)

            async def everyone_answered() -> bool:
                crowd.step()
                assert server.returncode is None, log.read_text()[-3000:]
                return crowd.answered_last()

            await wait_until(
                everyone_answered,
                within=max(150, people * 2),
                every=0.02,
                what="everyone to answer",
            )
            outbox = await _wait_for_quiet_outbox(database_url, crowd)
        finally:
            await stop(server)
        finished_at = time.monotonic() - started

        updates = fake._next_update_id - 1
        acknowledged = _acknowledged(fake, mode)
        sent = list(fake.sent)
        unknown_code, unknown_out = await engage(env, "outbox", "unknown")

    # Every update was handed over in the end; each is stored exactly once.
    # Each person answered each question once; each vote also brings a poll's totals.
    assert len(crowd.updates) == people * STEPS
    assert updates == people * (STEPS + POLLS)
    assert acknowledged == set(range(1, updates + 1))
    keyring = Keyring(TEST_KEY)
    bot_id = int(TOKEN.split(":")[0])
    refs = {keyring.reference("telegram", convert.event_id(bot_id, n)) for n in crowd.updates}
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            stored = list(await session.scalars(select(InboxEntry.event_id)))
            answers = (
                await session.execute(
                    select(Response.participant_id, Response.item_id, func.count()).group_by(
                        Response.participant_id, Response.item_id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(stored) == len(set(stored)) == len(crowd.updates)
    assert set(stored) == refs

    # Everyone finished, with one answer to each question.
    assert len({participant for participant, _, _ in answers}) == people
    assert {count for _, _, count in answers} == {1}
    assert Counter(item for _, item, _ in answers) == {item: people for item in ITEMS}

    # Nothing sent twice but what was in doubt, each asked again once and marked.
    again = [
        m for m in sent if (m.text or (m.poll.question if m.poll else "")).startswith(RESEND_PREFIX)
    ]
    per_chat: Counter[tuple[int, str]] = Counter((m.chat_id, _question(m)) for m in sent)
    twice = {key for key, count in per_chat.items() if count > 1}
    assert max(per_chat.values()) <= 2
    assert twice <= {(m.chat_id, _question(m)) for m in again}
    assert len(again) <= len(in_doubt)
    assert max(Counter(m.chat_id for m in again).values(), default=0) <= 1
    # A person who did not get the closing words has them listed as in doubt.
    unfinished = [p for p in crowd.people.values() if not p.finished]
    assert unknown_code == 0
    assert len(unfinished) == outbox.get("unknown", 0) <= len(in_doubt)
    print(
        f"\n{mode} on {database_url.split(':')[0]}: {updates} updates, {len(sent)} messages; "
        f"killed at {killed_at:.1f} s with {len(in_doubt)} in doubt, {len(again)} asked again; "
        f"all done at {finished_at:.1f} s"
    )


def _acknowledged(fake: FakeTelegram, mode: str) -> set[int]:
    """The update ids Telegram counts as delivered: a 2xx to the webhook, or confirmed."""
    if mode == "webhook":
        return {d.update_id for d in fake.webhook.deliveries if d.status and 200 <= d.status < 300}
    offsets = [
        int(c.params["offset"]) for c in fake.calls_to("getUpdates") if c.params.get("offset")
    ]
    confirmed = max(offsets, default=1)
    pending = {u.update_id for u in fake.pending_updates}
    return set(range(1, confirmed)) - pending


async def _rows_in_doubt(database_url: str) -> list[int | None]:
    """The participants of the rows left ``sending`` by the killed process."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list(
                await session.scalars(
                    select(OutboxEntry.participant_id).where(OutboxEntry.status == "sending")
                )
            )
    finally:
        await engine.dispose()


async def _wait_for_quiet_outbox(database_url: str, crowd: Crowd) -> dict[str, int]:
    """Outbox rows by status once everything is handled and sent, and stays so.

    Quiet: Telegram holds no update, the inbox has nothing unhandled, and the outbox
    nothing waiting; and every person has their closing words or they are in doubt.
    """
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    fake = crowd.fake
    try:

        async def quiet() -> dict[str, int] | None:
            crowd.step()
            if fake.pending_updates:
                return None
            async with sessions() as session:
                unhandled = await session.scalar(
                    select(func.count(InboxEntry.id)).where(
                        InboxEntry.processed_at.is_(None), InboxEntry.failed_at.is_(None)
                    )
                )
                rows = await session.execute(
                    select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
                )
                counts = {status: int(n) for status, n in rows}
            busy = sum(counts.get(s, 0) for s in ("pending", "claimed", "sending"))
            unfinished = sum(not p.finished for p in crowd.people.values())
            if unhandled or busy or unfinished > counts.get("unknown", 0):
                return None
            return counts

        result = await wait_until(quiet, within=90, every=0.2, what="everything to be sent")
        await asyncio.sleep(0.5)
        assert result is not None and await quiet() == result, "quiet, and stays so"
        return result
    finally:
        await engine.dispose()
