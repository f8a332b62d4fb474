"""A closing-the-loop follow-up's invitations, with ``engage run`` killed while they go out.

People take part in a consultation on Telegram, in private chats, and agree to be
contacted again. A closing-the-loop follow-up is launched with the command line while a
real ``engage run`` sends, five messages a second; part way through the invitations
(each carries "you said, we did") the process is killed with SIGKILL and started again
(sending at once). Then each person has received the invitation exactly once, except
those whose send the kill interrupted: those are never sent twice, but listed by
``engage outbox unknown``.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from migrations import apply as migrate
from tests.fakes.telegram_api import FakeTelegram
from tests.processes import (
    TOKEN,
    ended,
    engage,
    engage_env,
    free_port,
    open_consultation,
    outbox_counts,
    start,
    stop,
)
from tests.waiting import wait_until

# Enough that, sent five a second, the invitations take eight seconds: the kill falls
# among them (after a few, long before the last) even on a busy machine.
PEOPLE = 40
CLOSING = "Thank you. We will share what we change."
SAID = "You said: the wait was too long. We did: a second clinic on Tuesdays."

EARLIER: dict[str, Any] = {
    "id": "clinic-wait",
    "title": "Waiting at the clinic",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "qi": {"project": "Clinic waits", "stage": "plan", "cycle": 1},
    "channels": ["telegram"],
    "safety": {"region": "AU"},
    "consent": {"text": "We use your answers to shorten waits.", "recontact": True},
    "items": [{"id": "one-thing", "type": "prompt", "text": "What one thing would help?"}],
    "closing_message": CLOSING,
}
LOOP: dict[str, Any] = {
    "id": "clinic-wait-loop",
    "title": "What we changed at the clinic",
    "organisation": "Example Health Service",
    "model": "closing-the-loop",
    "qi": {"project": "Clinic waits", "stage": "act", "cycle": 1},
    "channels": ["telegram"],
    "safety": {"region": "AU"},
    "consent": {"text": "Tell us what you think of the change."},
    "items": [
        {
            "id": "reaction",
            "type": "poll",
            "text": f"{SAID} How do you feel about this change?",
            "options": ["Good", "Not sure", "Bad"],
        }
    ],
    "follow_up": {"of": ["clinic-wait"], "invite": "recontact"},
    "quiet_hours": {"start": "00:00", "end": "00:00"},  # any hour: no quiet hours here
}


@pytest.mark.timeout(300)
async def test_kill_9_while_invitations_go_out_sends_each_person_one(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'engage.db'}"
    await migrate.upgrade_async(database_url)
    await open_consultation(database_url, EARLIER)
    async with FakeTelegram(token=TOKEN) as fake:
        env = engage_env(
            database_url,
            free_port(),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_MODE="polling",
            # The fake has no flood control: the people take part, and the sends the kill
            # left are finished, at once (Telegram's 30 a second would take half a minute).
            TELEGRAM_MESSAGES_PER_SECOND="1000",
        )
        # Slow enough that the kill falls while the invitations go out.
        sending_slowly = {**env, "TELEGRAM_MESSAGES_PER_SECOND": "5"}

        log = tmp_path / "engage.log"
        server = await start(env, log)
        try:
            people = [fake.user(3000 + n, f"P{n}") for n in range(PEOPLE)]
            for person in people:
                fake.send_command(person, "/start", "clinic-wait")
            seen = 0

            async def everyone_finished() -> bool:
                nonlocal seen
                assert server.returncode is None, log.read_text()[-3000:]
                while seen < len(fake.sent):
                    message = fake.sent[seen]
                    seen += 1
                    person = next((p for p in people if p.id == message.chat_id), None)
                    if person is None or (message.text or "") == CLOSING:
                        continue
                    if message.callback_data:  # consent, then re-contact: yes to both
                        fake.press_button(person, message, message.callback_data[0])
                    else:
                        fake.reply(person, message, "A second clinic")
                finished = {m.chat_id for m in fake.sent if (m.text or "") == CLOSING}
                return len(finished) == PEOPLE

            await wait_until(everyone_finished, within=120, what="everyone to take part")
            before = len(fake.sent)
            await stop(server)
            assert server.returncode == 0, log.read_text()[-3000:]

            # The follow-up is launched with the command line while `engage run` sends
            # slowly.
            server = await start(sending_slowly, log)
            await open_consultation(database_url, LOOP, open_=False)
            code, out = await engage(env, "consultation", "launch", "clinic-wait-loop")
            assert code == 0, out
            assert out.splitlines()[-1] == f"invited {PEOPLE} on telegram"

            def invitations() -> list[int]:
                return [m.chat_id for m in fake.sent[before:] if SAID in (m.text or "")]

            async def some_went_out() -> bool:
                assert server.returncode is None, log.read_text()[-3000:]
                return len(invitations()) >= PEOPLE // 8

            await wait_until(some_went_out, within=60, every=0.01, what="invitations")
            server.send_signal(signal.SIGKILL)
            await server.wait()
            assert len(invitations()) < PEOPLE, "killed while the invitations went out"
            server = await start(env, log)

            async def all_handled() -> dict[str, int] | None:
                assert server.returncode is None, log.read_text()[-3000:]
                counts = await outbox_counts(database_url, "invite:%")
                busy = sum(counts.get(s, 0) for s in ("pending", "claimed", "sending"))
                return None if busy else counts

            outbox = await wait_until(all_handled, within=90, every=0.2, what="invitations sent")
            await asyncio.sleep(0.5)
        finally:
            await stop(server)
            await ended(server)
        received = Counter(invitations())
        code, unknown = await engage(env, "outbox", "unknown", "--json")
        assert code == 0, unknown

    # Nobody twice; everyone once, but for the sends the kill interrupted, which are
    # listed and never sent again. A send in doubt may have reached the platform before
    # the kill (the process died before it could mark it sent), or not.
    assert max(received.values()) == 1
    in_doubt = [row for row in json.loads(unknown) if row.get("kind") == "invitation"]
    assert outbox == {"sent": outbox["sent"], **({"unknown": len(in_doubt)} if in_doubt else {})}
    assert outbox["sent"] + len(in_doubt) == PEOPLE
    assert outbox["sent"] <= len(received) <= PEOPLE
