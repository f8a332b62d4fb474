"""An erasure asked for in a Telegram private chat leaves nothing of the person: no row
of any table (the polls sent in their chat included) and none of their words prepared
ahead in the server's memory; nothing more is sent to them."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import telegram
from sqlalchemy import select

from bot.platform import Platform
from bot.preparation import Preparation
from storage.tables import Participant, Publication
from tests.adapters.telegram.conftest import Running, start, stop
from tests.adapters.telegram.test_private_chat import export
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import launch, preparing, spec_data
from tests.waiting import wait_until

# A consultation in the UK: its texts are screened with hints other than those the
# inbox prepares a process's first texts with (those of no consultation in particular).
SPEC = spec_data(segments=[], consent={"text": "We listen."}, safety={"region": "UK"})
EVE_SAYS = "Evening slots would suit my shifts at the bakery"
ANN_SAYS = "Text me the day before the appointment"


@pytest.fixture
async def preparation() -> AsyncIterator[Preparation]:
    """One worker process preparing texts, its models loaded."""
    async with preparing() as started:
        yield started


async def to_the_prompt(running: Running, person: telegram.User) -> None:
    """``person`` joins, agrees and votes on the poll (sent in their chat); the prompt is
    the third message they get."""
    fake = running.fake
    fake.send_command(person, "/start", "outpatient-booking")
    consent = await running.said(person, 1)
    fake.press_button(person, consent, consent.callback_data[0])
    poll = await running.said(person, 2)
    assert poll.poll is not None
    fake.vote(person, poll, [1])
    await running.said(person, 3)


async def erase(running: Running, person: telegram.User, asked: int) -> None:
    """``person`` asks for erasure (their ``asked``-th message is the question) and says yes."""
    fake = running.fake
    fake.send_command(person, "/delete")
    confirm = await running.said(person, asked)
    fake.press_button(person, confirm, confirm.callback_data[0])
    erased = await running.said(person, asked + 1)
    assert "has been erased" in (erased.text or "")


async def dm_polls(running: Running) -> list[int | None]:
    """Whose chat each poll sent privately is in (participant ids)."""
    async with running.platform.sessionmaker() as session:
        return list(
            await session.scalars(
                select(Publication.participant_id)
                .where(Publication.kind == "dm-poll")
                .order_by(Publication.id)
            )
        )


async def test_an_erased_person_s_words_prepared_ahead_are_not_kept_in_memory(
    running: Running, preparation: Preparation
) -> None:
    fake, runtime = running.fake, running.platform.runtime
    runtime.preparation = preparation
    await launch(running.platform, SPEC)
    eve, ann = fake.user(1201, "Eve"), fake.user(1202, "Ann")
    await to_the_prompt(running, eve)
    prompt = fake.messages_to(eve)[-1]
    fake.reply(eve, prompt, EVE_SAYS)
    await running.said(eve, 4)  # the thread: her answer was stored

    # Prepared ahead as it waited in the inbox (with the hints of no consultation), and
    # never taken by its batch (which screened it with the consultation's): kept.
    async def kept() -> bool:
        return EVE_SAYS in runtime.kept_texts()

    await wait_until(kept, what="Eve's words prepared ahead")

    await erase(running, eve, 5)
    assert EVE_SAYS not in runtime.kept_texts()
    assert runtime.kept_texts() == set()

    # What comes next goes on as ever: Ann's answers are prepared and stored, and nothing
    # more is sent to Eve.
    await to_the_prompt(running, ann)
    fake.reply(ann, fake.messages_to(ann)[-1], ANN_SAYS)
    await running.said(ann, 4)
    stored = [r["text"] for r in await export(running.platform, "outpatient-booking")]
    assert [text for text in stored if text] == [ANN_SAYS]
    assert len(fake.messages_to(eve)) == 6
    assert await running.count(Participant) == 1


async def test_the_poll_sent_in_an_erased_person_s_chat_goes_with_them(
    running: Running,
) -> None:
    fake = running.fake
    await launch(running.platform, SPEC)
    eve, ann = fake.user(1211, "Eve"), fake.user(1212, "Ann")
    await to_the_prompt(running, eve)
    await to_the_prompt(running, ann)
    async with running.platform.sessionmaker() as session:
        people = {p.id for p in await session.scalars(select(Participant).order_by(Participant.id))}

    async def both_recorded() -> bool:
        return len(await dm_polls(running)) == 2

    await wait_until(both_recorded, what="the two polls sent privately recorded")
    assert set(await dm_polls(running)) == people  # each names whose chat it is in

    await erase(running, eve, 4)
    [ann_id] = await dm_polls(running)
    async with running.platform.sessionmaker() as session:
        left = list(await session.scalars(select(Participant.id)))
    assert left == [ann_id]  # only Ann's poll is left, and Ann

    # Ann's vote on her poll still finds its item.
    fake.vote(ann, fake.messages_to(ann)[1], [0])

    async def changed() -> bool:
        exported = await export(running.platform, "outpatient-booking")
        return [r["choices"] for r in exported if r["item"] == "ease"] == [["Very easy"]]

    await wait_until(changed, what="Ann's changed vote stored")


async def test_an_erased_person_s_chat_is_not_kept_in_the_adapter_s_memory(
    fake: FakeTelegram, platform: Platform, mode: str
) -> None:
    """Once the confirmation of an erasure has gone, the adapter's pacing of that private
    chat goes too: nothing in memory names the person. Others' chats are paced on."""
    running = await start(fake, platform, mode, chat_interval=0.01)
    try:
        adapter = running.adapter
        await launch(platform, SPEC)
        eve, ann = fake.user(1221, "Eve"), fake.user(1222, "Ann")
        await to_the_prompt(running, eve)
        await to_the_prompt(running, ann)
        assert {eve.id, ann.id} <= adapter.pacer.chats()

        await erase(running, eve, 4)

        async def let_go() -> bool:
            return eve.id not in adapter.pacer.chats() | adapter.sender.chats()

        await wait_until(let_go, what="Eve's chat dropped from the adapter's memory")
        assert ann.id in adapter.pacer.chats()
        # Ann's conversation goes on, paced as before.
        fake.reply(ann, fake.messages_to(ann)[-1], ANN_SAYS)
        await running.said(ann, 4)
        assert len(fake.messages_to(eve)) == 5
    finally:
        await stop(running)


async def erase_from_the_command_line(database_url: str, person: telegram.User) -> str:
    """``engage participant erase`` for ``person``, in a process of its own; its output."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "MASTODON_"))},
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    erasing = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "engage"),
        *("participant", "erase", "--channel", "telegram", "--platform-id", str(person.id)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await erasing.communicate()
    assert erasing.returncode == 0, err.decode()
    return out.decode()


async def test_an_erasure_from_the_command_line_reaches_the_running_server_s_memory(
    fake: FakeTelegram, platform: Platform, mode: str, preparation: Preparation
) -> None:
    """``engage participant erase`` while the server runs: the server drops the person's
    words prepared ahead and their chat from the adapter's memory, as it does for an
    erasure it handles itself; others' conversations go on."""
    running = await start(fake, platform, mode, chat_interval=0.01)
    try:
        runtime, adapter = platform.runtime, running.adapter
        runtime.preparation = preparation
        await launch(platform, SPEC)
        eve, ann = fake.user(1231, "Eve"), fake.user(1232, "Ann")
        await to_the_prompt(running, eve)
        await to_the_prompt(running, ann)
        fake.reply(eve, fake.messages_to(eve)[-1], EVE_SAYS)
        await running.said(eve, 4)

        async def kept() -> bool:
            return EVE_SAYS in runtime.kept_texts()

        await wait_until(kept, what="Eve's words prepared ahead")
        assert eve.id in adapter.pacer.chats()

        out = await erase_from_the_command_line(platform.settings.database_url, eve)
        assert out.startswith("erased: 2 responses")

        async def let_go() -> bool:
            return EVE_SAYS not in runtime.kept_texts() and eve.id not in (
                adapter.pacer.chats() | adapter.sender.chats()
            )

        await wait_until(let_go, what="Eve's words and chat dropped from the server's memory")
        assert ann.id in adapter.pacer.chats()
        fake.reply(ann, fake.messages_to(ann)[-1], ANN_SAYS)
        await running.said(ann, 4)
        stored = [r["text"] for r in await export(platform, "outpatient-booking")]
        assert [text for text in stored if text] == [ANN_SAYS]
        assert len(fake.messages_to(eve)) == 4
    finally:
        await stop(running)


async def test_the_polls_sent_in_a_person_s_chat_are_in_what_is_held_about_them(
    running: Running,
) -> None:
    """`engage participant export` gives everything stored about a person: the record of
    each poll sent in their private chat (it names them, and goes with their erasure) is
    among it, with the item and round it asked."""
    from consultations import records

    fake = running.fake
    await launch(running.platform, SPEC)
    eve, ann = fake.user(1221, "Eve"), fake.user(1222, "Ann")
    await to_the_prompt(running, eve)
    await to_the_prompt(running, ann)

    async def both_recorded() -> bool:
        return len(await dm_polls(running)) == 2

    await wait_until(both_recorded, what="the two polls sent privately recorded")
    async with running.platform.sessionmaker() as session:
        held = await records.participant_data(
            session, running.platform.keyring, "telegram", str(eve.id)
        )
    assert held is not None
    [poll] = held["private_polls"]  # hers alone, not Ann's
    assert poll["consultation"] == "outpatient-booking"
    assert poll["item"] == "ease"
    assert poll["round"] is None
    assert poll["sent_at"]
