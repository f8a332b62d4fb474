"""Free texts screened and analysed in a worker process, on the real screen and stores.

The process is a real one (``spawn``), with the real screen and intake analysis loaded:
what it returns must be what the request's own task would have made, and a disclosure
must still get the safety reply in the response to the request that carried it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.config import Settings
from bot.inbox import GroupCommit
from bot.platform import Platform, analyse_at_intake
from bot.preparation import Preparation
from bot.runtime import Runtime
from bot.web.app import create_app
from channels.events import CONSENT, EventKind, OutboundMessage
from consultations import screening
from storage.tables import OutboxEntry, Response
from tests.fakes.channel import Person
from tests.helpers import form_fields, launch, preparing, spec_data
from tests.waiting import wait_until

CID = "outpatient-booking"
SPEC = spec_data(segments=[], consent={"text": "We listen. Reply STOP to leave."})
DISCLOSURE = "Honestly I have been thinking about ending my life"
# One process for the whole module: starting one loads the models (a second or two).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def preparation() -> AsyncIterator[Preparation]:
    async with preparing() as started:
        yield started


def spawned_children() -> list[int]:
    """This process's children started by multiprocessing's ``spawn`` (the pool's)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in task.read_text().split():
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.append(int(pid))
    return found


async def at_the_prompt(runtime: Runtime, person: Person) -> None:
    await runtime.handle_now(person.starts(CID))
    await runtime.handle_now(person.answers(CONSENT, "Yes, I agree"))
    await runtime.handle_now(person.answers("ease", "Easy"))


async def test_texts_come_back_in_order_as_this_process_would_make_them(
    preparation: Preparation,
) -> None:
    texts = [
        "Booking by phone took too long, call me on 07700 900123",
        DISCLOSURE,
        "The receptionist was kind",
    ]
    # Requests arriving together share a call; each gets its own texts back, in order.
    done = await asyncio.gather(*(preparation.run([text]) for text in texts))

    expected = []
    for text in texts:
        screened = screening.screen(text)
        expected.append([(screened, analyse_at_intake(screened.text))])
    assert done == expected
    [[(disclosure, _)]] = [done[1] or [None]]  # type: ignore[misc]
    assert disclosure.crisis
    [[(redacted, _)]] = [done[0] or [None]]  # type: ignore[misc]
    assert "07700" not in redacted.text  # redacted in the process too


@sqlite_only
async def test_a_disclosure_prepared_in_the_process_gets_the_safety_reply_at_once(
    platform: Platform, preparation: Preparation
) -> None:
    await launch(platform, SPEC)
    runtime = Runtime(
        platform.sessionmaker,
        platform.keyring,
        inline_channels=frozenset({"web"}),
        analyse=analyse_at_intake,
    )
    runtime.preparation = preparation
    ann, ben = Person("ann", channel="web"), Person("ben", channel="web")
    for person in (ann, ben):
        await at_the_prompt(runtime, person)
    intake = GroupCommit(runtime)

    told, other = await asyncio.gather(
        intake.submit(ann.says(DISCLOSURE)), intake.submit(ben.says("Evening slots please"))
    )
    await intake.aclose()

    assert [m.kind for m in told.messages if m.kind == "safety"] == ["safety"]
    assert not any(m.kind == "safety" for m in other.messages)
    async with platform.sessionmaker() as session:
        stored = {
            r.text: (r.flags, r.sentiment, r.analysis)
            for r in await session.scalars(select(Response).where(Response.text.is_not(None)))
        }
    screened = screening.screen("Evening slots please")
    sentiment, analysis = analyse_at_intake(screened.text)
    assert stored["Evening slots please"] == ([], sentiment, analysis)
    assert "safety" in stored[screening.screen(DISCLOSURE).text][0]


@sqlite_only
async def test_a_killed_process_leaves_the_texts_to_this_one_and_nothing_is_lost(
    platform: Platform, preparation: Preparation
) -> None:
    await launch(platform, SPEC)
    runtime = Runtime(
        platform.sessionmaker,
        platform.keyring,
        inline_channels=frozenset({"web"}),
        analyse=analyse_at_intake,
    )
    runtime.preparation = preparation
    ann = Person("ann", channel="web")
    await at_the_prompt(runtime, ann)
    for pid in spawned_children():
        os.kill(pid, signal.SIGKILL)
    intake = GroupCommit(runtime)

    outcome = await intake.submit(ann.says(DISCLOSURE))
    await intake.aclose()

    assert [m.kind for m in outcome.messages if m.kind == "safety"] == ["safety"]
    assert not preparation.ready  # broken: from now on texts are prepared here
    assert await preparation.run(["Evening slots"]) is None


@sqlite_only
async def test_the_web_page_answers_a_disclosure_with_the_safety_page_when_a_process_prepares(
    settings: Settings, platform: Platform
) -> None:
    await launch(platform, spec_data(segments=[]))
    app = create_app(settings, platform=platform, background=False, intake_processes=1)
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    async with TestClient(TestServer(app)) as client:
        preparing = platform.runtime.preparation
        assert preparing is not None

        async def ready() -> bool:
            return preparing.ready

        await wait_until(ready, within=60, what="the preparation process to load its models")
        page = await (await client.get(f"/c/{CID}")).text()
        consent = form_fields(page, f"/c/{CID}/consent")
        page = await (
            await client.post(f"/c/{CID}/consent", data={**consent, "answer": "yes"})
        ).text()
        answers: dict[str, Any] = form_fields(page, f"/c/{CID}/answers")
        response = await client.post(
            f"/c/{CID}/answers", data={**answers, "item:one-thing": DISCLOSURE}
        )
        text = await response.text()
    assert response.status == 200
    assert "Lifeline" in text and "13 11 14" in text
    assert platform.runtime.preparation is None  # closed with the app


@sqlite_only
async def test_texts_stored_in_the_inbox_are_prepared_in_the_process_before_their_batch(
    platform: Platform, preparation: Preparation
) -> None:
    """A Telegram answer, acknowledged once stored: its words go to the process while it
    waits in the inbox, and its batch takes them instead of screening them on the loop;
    what is stored and sent is what the batch would have made."""
    spec = await launch(platform, {**SPEC, "channels": ["web", "telegram"]})
    runtime = platform.runtime
    runtime.preparation = preparation
    ann, cal = Person("ann"), Person("cal")
    for person in (ann, cal):
        for event in (
            person.starts(CID),
            person.answers(CONSENT, "Yes, I agree"),
            person.answers("ease", "Easy"),
        ):
            await platform.inbox.receive(event)
            await platform.inbox.process_pending()
    # The first text screened sets the hints the inbox prepares with: the consultation's.
    await platform.inbox.receive(cal.says("Evening slots please"))
    await platform.inbox.process_pending()
    hints = screening.hints_for(spec)
    assert runtime.recent_hints == hints

    for text, person in ((DISCLOSURE, ann), ("Call me on 07700 900123 please", cal)):
        await platform.inbox.receive(person.says(text))

        async def prepared(text: str = text) -> bool:
            return runtime.peek_screened(text, hints) is not None

        await wait_until(prepared, within=30, what="the text prepared in the process")
    await platform.inbox.process_pending()

    assert runtime.peek_screened(DISCLOSURE, hints) is None  # taken by the batch
    async with platform.sessionmaker() as session:
        stored = {
            r.text: r.flags
            for r in await session.scalars(select(Response).where(Response.text.is_not(None)))
        }
        sent = [
            OutboundMessage.from_json(p) for p in await session.scalars(select(OutboxEntry.payload))
        ]
    assert "safety" in stored[screening.screen(DISCLOSURE, hints).text]
    assert "07700" not in " ".join(stored)  # redacted in the process, as here
    assert [m.kind for m in sent].count("safety") == 1


async def test_a_request_s_texts_go_before_those_nobody_waits_for(
    preparation: Preparation,
) -> None:
    """The inbox's texts go a few at a time and after any request's: a web request that
    arrives behind a hundred of them waits for one short call, not for all of them."""
    behind = asyncio.gather(
        *(
            preparation.run([f"The car park was full at {n} o'clock"], behind=True)
            for n in range(100)
        )
    )
    await asyncio.sleep(0)  # the first few are sent
    request = await preparation.run([DISCLOSURE])

    assert request is not None and request[0] is not None and request[0][0].crisis
    assert not behind.done()  # most of the inbox's texts were still waiting
    done = await behind
    assert all(result is not None for result in done)


async def test_nothing_prepared_before_an_erasure_is_kept_after_it(
    platform: Platform, preparation: Preparation
) -> None:
    """An erasure drops every text kept prepared (it may be the person's words, prepared
    but never taken by a batch), and what was in the process at that moment is let go
    when it comes back; texts prepared after it are kept as ever."""
    await launch(platform, SPEC)
    runtime = platform.runtime
    runtime.preparation = preparation
    dee = Person("dee")
    await at_the_prompt(runtime, dee)
    await runtime.prepare_ahead(["Words prepared and never taken"])
    assert runtime.kept_texts() == {"Words prepared and never taken"}

    outcome = await runtime.handle_now(dee.event(EventKind.ERASE))
    assert outcome.erased
    assert runtime.kept_texts() == set()

    # A text in the process when an erasure drops what is kept is not kept on its return.
    in_flight = asyncio.create_task(runtime.prepare_ahead(["Words in the process meanwhile"]))
    await asyncio.sleep(0)  # one turn of the loop: the task hands its text to the process
    runtime.forget_prepared()  # as the erasure does
    await in_flight
    assert runtime.kept_texts() == set()

    await runtime.prepare_ahead(["Words prepared after it"])
    assert runtime.kept_texts() == {"Words prepared after it"}
