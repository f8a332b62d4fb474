"""Schedules and reminders through the fake Bot API, with an injected clock.

Two schedulers over the same store stand for two ``engage run`` workers: a consultation
opens at ``opens_at`` and closes at ``closes_at`` once (its native group poll posted
once and stopped once), and a person who started and stopped answering gets one
reminder, privately, unless they said STOP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import select

from adapters.web import WebAdapter
from bot import commands
from bot.config import Settings
from bot.outbox import OutboxSender
from bot.platform import Platform
from bot.schedule import Scheduler
from bot.web import operations
from bot.web.app import create_app
from consultations import service
from consultations.spec import parse_spec
from storage.tables import Consultation, OutboxEntry, Publication, ScheduledAction
from tests.adapters.telegram.conftest import TOKEN, make_adapter, start, stop, unreachable_adapter
from tests.bot.test_dashboard import as_role, audit_trail, log_in
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import form_fields, launch, spec_data
from tests.waiting import wait_until

GROUP = -100777
OPENS = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _store(platform: Platform, data: dict[str, Any]) -> None:
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(data), source="test")


async def _state(platform: Platform, consultation_id: str) -> str:
    async with platform.sessionmaker() as session:
        row = await session.get(Consultation, consultation_id)
        assert row is not None
        return row.state


async def _store_a_week_in_the_group(fake: FakeTelegram, platform: Platform) -> None:
    """A consultation on the web and in the clinic's Telegram group, open for a week from
    :data:`OPENS`."""
    await _store_in_the_group(
        fake,
        platform,
        opens_at=OPENS.isoformat(),
        closes_at=(OPENS + timedelta(days=7)).isoformat(),
    )


async def _store_in_the_group(fake: FakeTelegram, platform: Platform, **changes: Any) -> None:
    """A consultation on the web and in the clinic's Telegram group (``changes`` made to
    its spec), not launched."""
    fake.group(GROUP, "Clinic group", supergroup=True)
    await _store(
        platform,
        spec_data(
            channels=["web", "telegram"], segments=[], telegram={"chats": [GROUP]}, **changes
        ),
    )


@contextlib.asynccontextmanager
async def _serving(
    platform: Platform, port: int, *, away: bool = True, **options: Any
) -> AsyncIterator[tuple[web.Application, TestClient[Any, Any]]]:
    """A server (web and Telegram) whose Telegram adapter's Bot API is to be at ``port``,
    and a client of it. With ``away`` nothing listens there yet (a fake started on it
    later plays Telegram coming back): served once the adapter's first start has failed.
    ``options`` go to :func:`bot.web.app.create_app`."""
    adapter = unreachable_adapter(platform, port)
    app = create_app(
        platform.settings,
        platform=platform,
        adapters=lambda p: {"web": WebAdapter(), "telegram": adapter},
        **options,
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=unused_port())) as client:
        if away:

            async def tried_to_start() -> bool:
                return "telegram" in app[operations.READY].waiting

            await wait_until(tried_to_start, what="the adapter's first start to fail")
        yield app, client


async def _press(client: TestClient[Any, Any], action: str) -> str:
    """The dashboard's ``action`` button pressed on the consultation's page; the page."""
    path = f"/dashboard/c/outpatient-booking/{action}"
    page = await (await client.get("/dashboard/c/outpatient-booking")).text()
    response = await client.post(path, data=form_fields(page, path))
    assert response.status == 200
    return str(await response.text())


async def test_opens_and_closes_on_time_once_whatever_the_number_of_workers(
    fake: FakeTelegram, platform: Platform
) -> None:
    await _store_a_week_in_the_group(fake, platform)
    adapter = make_adapter(fake, platform)
    clock = Clock(OPENS - timedelta(minutes=1))
    workers = [
        Scheduler(platform.sessionmaker, platform.keyring, {"telegram": adapter}, clock=clock)
        for _ in range(3)
    ]

    async def everyone() -> list[Any]:
        return list(await asyncio.gather(*(w.run_once() for w in workers)))

    await everyone()
    assert await _state(platform, "outpatient-booking") == "draft"
    assert fake.calls_to("sendPoll") == []

    clock.now = OPENS
    done = await everyone()
    assert sum(len(d.opened) for d in done) == 1
    assert await _state(platform, "outpatient-booking") == "open"
    assert len(fake.calls_to("sendPoll")) == 1  # the one poll, posted once

    clock.now = OPENS + timedelta(days=3)
    await everyone()
    assert len(fake.calls_to("sendPoll")) == 1

    clock.now = OPENS + timedelta(days=7)
    done = await everyone()
    assert sum(len(d.closed) for d in done) == 1
    assert await _state(platform, "outpatient-booking") == "closed"
    assert len(fake.calls_to("stopPoll")) == 1  # the native poll is closed on Telegram
    await everyone()
    assert len(fake.calls_to("stopPoll")) == 1
    async with platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction))).all()
    assert sorted((a.action, a.done_at is not None) for a in actions) == [
        ("close", True),
        ("open", True),
    ]
    await adapter.stop()


async def test_an_action_whose_worker_died_is_taken_over_after_its_lease(
    fake: FakeTelegram, platform: Platform
) -> None:
    await _store(platform, spec_data(channels=["web"], segments=[], opens_at=OPENS.isoformat()))
    clock = Clock(OPENS)
    # A worker claimed the opening and died before doing it.
    async with platform.sessionmaker.begin() as session:
        session.add(
            ScheduledAction(consultation_id="outpatient-booking", action="open", claimed_at=OPENS)
        )
    survivor = Scheduler(platform.sessionmaker, platform.keyring, {}, clock=clock)
    assert (await survivor.run_once()).opened == []
    clock.now = OPENS + timedelta(minutes=11)  # past the ten-minute lease
    assert (await survivor.run_once()).opened == ["outpatient-booking"]
    assert await _state(platform, "outpatient-booking") == "open"


async def _launch_with_a_reminder(platform: Platform) -> None:
    """A consultation on Telegram alone, open, that reminds who stopped answering after
    48 hours, at any hour (quiet hours have tests of their own: the tests run at any)."""
    await launch(
        platform,
        spec_data(
            channels=["telegram"],
            segments=[],
            reminder={"after": "48h"},
            quiet_hours={"start": "00:00", "end": "00:00"},
        ),
    )


async def test_one_reminder_to_people_who_started_and_did_not_finish(
    fake: FakeTelegram, platform: Platform
) -> None:
    await _launch_with_a_reminder(platform)
    running = await start(fake, platform, "polling")
    try:
        people = {name: fake.user(3000 + n, name) for n, name in enumerate(["Ann", "Ben", "Cat"])}
        for person in people.values():
            fake.send_command(person, "/start", "outpatient-booking")
            consent = await running.said(person, 1)
            fake.press_button(person, consent, consent.callback_data[0])
            recontact = await running.said(person, 2)
            fake.press_button(person, recontact, recontact.callback_data[1])
            await running.said(person, 3)  # the poll: where they stop, for now
        ben = people["Ben"]
        fake.vote(ben, await running.said(ben, 3), [0])
        prompt = await running.said(ben, 4)
        fake.reply(ben, prompt, "Online booking")
        thread = await running.said(ben, 5)
        fake.reply(ben, thread, "Name the clinic")
        await running.said(ben, 6)  # thanks: Ben finished
        fake.send_text(people["Cat"], "STOP")
        await running.said(people["Cat"], 4)

        clock = Clock(datetime.now(UTC) + timedelta(hours=47))
        workers = [
            Scheduler(platform.sessionmaker, platform.keyring, platform.adapters, clock=clock)
            for _ in range(2)
        ]
        assert [(await w.run_once()).reminded for w in workers] == [{}, {}]  # not yet due

        clock.now += timedelta(hours=2)
        first, second = await asyncio.gather(*(w.run_once() for w in workers))
        assert (
            first.reminded.get("outpatient-booking", 0)
            + second.reminded.get("outpatient-booking", 0)
            == 1
        )
        # A sender living at the same moment as the schedulers delivers it.
        sender = OutboxSender(
            platform.sessionmaker, platform.keyring, {"telegram": running.adapter}, clock=clock
        )
        assert await sender.run_once("telegram") == 1

        async def asked_again() -> bool:
            # The reminder's last message is the poll she stopped at.
            return fake.messages_to(people["Ann"].id)[-1].poll is not None

        await running.said(people["Ann"], 4)
        await wait_until(asked_again, what="the reminder's poll")
        after = fake.messages_to(people["Ann"].id)[3:]
        # The reminder's words and the question she stopped at, asked again (a native
        # poll in a private chat: short enough to be the poll's question whole).
        words = " ".join(m.text or (m.poll.question if m.poll else "") for m in after)
        assert "A reminder: you started “Improving outpatient booking”" in words
        assert words.endswith("How easy was it to book your last appointment?")
        assert after[-1].poll is not None
        reminded = len(fake.messages_to(people["Ann"].id))

        clock.now += timedelta(days=5)
        assert [(await w.run_once()).reminded for w in workers] == [{}, {}]  # never twice
        assert await sender.run_once("telegram") == 0
        await asyncio.sleep(0.3)
        assert len(fake.messages_to(people["Ann"].id)) == reminded
        assert len(fake.messages_to(people["Ben"].id)) == 6  # finished: no reminder
        assert len(fake.messages_to(people["Cat"].id)) == 4  # said STOP: no reminder
        async with platform.sessionmaker() as session:
            keys = (
                await session.scalars(
                    select(OutboxEntry.idempotency_key).where(
                        OutboxEntry.idempotency_key.like("reminder:%")
                    )
                )
            ).all()
        assert len(keys) == 1
    finally:
        await stop(running)


async def test_no_reminder_once_the_person_has_gone_on_to_another_consultation(
    fake: FakeTelegram, platform: Platform
) -> None:
    """Their reply would answer the other consultation's question, not the reminder's."""
    await _launch_with_a_reminder(platform)
    await launch(
        platform,
        spec_data(id="second-booking", title="Second booking", channels=["telegram"], segments=[]),
    )
    running = await start(fake, platform, "polling")
    try:
        ann, dev = fake.user(3100, "Ann"), fake.user(3101, "Dev")
        for person in (ann, dev):
            fake.send_command(person, "/start", "outpatient-booking")
            consent = await running.said(person, 1)
            fake.press_button(person, consent, consent.callback_data[0])
            recontact = await running.said(person, 2)
            fake.press_button(person, recontact, recontact.callback_data[1])
            await running.said(person, 3)  # the poll: where they stop
        # Ann goes on to the second consultation and stops there too.
        fake.send_command(ann, "/start", "second-booking")
        consent = await running.said(ann, 4)
        fake.press_button(ann, consent, consent.callback_data[0])
        await running.said(ann, 5)

        clock = Clock(datetime.now(UTC) + timedelta(hours=49))
        scheduler = Scheduler(
            platform.sessionmaker, platform.keyring, platform.adapters, clock=clock
        )
        done = await scheduler.run_once()
        assert done.reminded == {"outpatient-booking": 1}  # Dev only
        sender = OutboxSender(
            platform.sessionmaker, platform.keyring, {"telegram": running.adapter}, clock=clock
        )
        assert await sender.run_once("telegram") == 1
        await running.said(dev, 4)
        await asyncio.sleep(0.3)
        assert not any("A reminder" in (m.text or "") for m in fake.messages_to(ann.id))
    finally:
        await stop(running)


class Ticking:
    """A clock that gives each of ``times`` in turn, then the last for ever: time goes
    on while a scheduler's pass runs."""

    def __init__(self, *times: datetime) -> None:
        self.times = list(times)

    def __call__(self) -> datetime:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


async def test_an_opening_that_runs_after_closes_at_opens_nothing_and_says_why(
    platform: Platform, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A consultation whose closes_at has passed by the time its opening runs (no worker
    ran in its whole time, or the pass began just before it) is not opened; the log and
    `consultation show` say why."""
    closes = OPENS + timedelta(hours=1)
    data = spec_data(
        channels=["web"], segments=[], opens_at=OPENS.isoformat(), closes_at=closes.isoformat()
    )
    await _store(platform, data)
    # The pass begins a second before closes_at; the opening runs a second after it.
    late = Scheduler(
        platform.sessionmaker,
        platform.keyring,
        {},
        clock=Ticking(closes - timedelta(seconds=1), closes + timedelta(seconds=1)),
    )
    assert (await late.run_once()).opened == []
    assert await _state(platform, "outpatient-booking") == "draft"

    await _store(platform, {**data, "id": "evening-clinics"})
    down = Scheduler(platform.sessionmaker, platform.keyring, {}, clock=Clock(closes))
    assert (await down.run_once()).opened == []
    assert await _state(platform, "evening-clinics") == "draft"
    for cid in ("outpatient-booking", "evening-clinics"):
        code = await commands.show(argparse.Namespace(id=cid, json=False), settings)
        assert code == commands.OK
        shown = capsys.readouterr().out
        assert "  state:        draft\n" in shown
        assert f"  opening:      not opened: closes_at: {closes.isoformat()} has passed" in shown
    code = await commands.show(argparse.Namespace(id="evening-clinics", json=True), settings)
    assert json.loads(capsys.readouterr().out)["not_opened"].startswith("not opened: closes_at")


async def test_opening_and_closing_wait_for_an_adapter_not_started_yet(
    fake: FakeTelegram, platform: Platform
) -> None:
    """Telegram unreachable when the consultation opens and when it closes, its adapter
    not started: the web channel opens on time, and the group poll is posted, then
    stopped, once the adapter starts; each once, whatever the number of workers."""
    await _store_a_week_in_the_group(fake, platform)
    # Every post and poll fails, as while Telegram is away.
    fake.inject_error(502, "Bad Gateway", count=1000)
    waiting = {"telegram"}
    adapters = {"web": WebAdapter(), "telegram": make_adapter(fake, platform)}
    clock = Clock(OPENS)
    workers = [
        Scheduler(platform.sessionmaker, platform.keyring, adapters, clock=clock, waiting=waiting)
        for _ in range(2)
    ]

    async def everyone() -> list[Any]:
        return list(await asyncio.gather(*(w.run_once() for w in workers)))

    done = await everyone()
    assert sum(len(d.opened) for d in done) == 1
    assert await _state(platform, "outpatient-booking") == "open"
    assert fake.calls_to("sendPoll") == []  # not tried while the adapter waits
    async with platform.sessionmaker() as session:
        kinds = (await session.scalars(select(Publication.kind))).all()
    assert kinds == ["unpublished"]  # not offered on Telegram before it is posted there

    fake.clear_errors()
    waiting.discard("telegram")  # the adapter started
    clock.now = OPENS + timedelta(minutes=1)
    done = await everyone()
    assert [p for d in done for p in d.published] == ["outpatient-booking/telegram"]
    assert len(fake.calls_to("sendPoll")) == 1
    async with platform.sessionmaker() as session:
        kinds = (await session.scalars(select(Publication.kind))).all()
    assert "unpublished" not in kinds and "poll" in kinds
    await everyone()
    assert len(fake.calls_to("sendPoll")) == 1  # once

    # Closing time, Telegram away again and the adapter of a restarted worker waiting.
    fake.inject_error(502, "Bad Gateway", count=1000)
    waiting.add("telegram")
    clock.now = OPENS + timedelta(days=7)
    done = await everyone()
    assert sum(len(d.closed) for d in done) == 1
    assert await _state(platform, "outpatient-booking") == "closed"
    assert fake.calls_to("stopPoll") == []

    fake.clear_errors()
    waiting.discard("telegram")
    clock.now += timedelta(minutes=1)
    await everyone()
    await everyone()
    assert len(fake.calls_to("stopPoll")) == 1  # the poll closed once, once it could be
    async with platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction))).all()
    assert sorted((a.action, a.done_at is not None, a.outcome) for a in actions) == [
        ("close", True, "closed; telegram once its adapter starts"),
        ("close:telegram", True, "closed"),
        ("open", True, "opened; telegram once its adapter starts"),
        ("open:telegram", True, "published"),
    ]
    await adapters["telegram"].stop()


async def test_a_dashboard_launch_and_close_wait_for_an_adapter_not_started_yet(
    platform: Platform,
) -> None:
    """Telegram unreachable when the server started, its adapter tried again in the
    background: a launch from the dashboard opens the consultation on the web at once and
    posts the group poll once the adapter starts, and a close from the dashboard of a
    server restarted while Telegram is away again stops the poll once it starts; the
    page says which channel follows, and neither is counted a failure."""
    away = unused_port()  # nothing listens here until the fake starts on it
    fake = FakeTelegram(token=TOKEN, port=away)
    await _store_in_the_group(fake, platform)

    async def kinds() -> list[str]:
        async with platform.sessionmaker() as session:
            return sorted(await session.scalars(select(Publication.kind)))

    async with _serving(platform, away) as (app, client):
        await as_role(platform, client, "lead")
        page = await _press(client, "launch")
        assert "The consultation is open." in page
        assert "Could not reach" not in page
        assert (
            "Its adapter has not started yet (its platform could not be reached), so it is "
            "published there once the adapter starts: telegram." in page
        )
        assert await _state(platform, "outpatient-booking") == service.OPEN
        assert await kinds() == ["unpublished"]  # not offered there before it is posted
        launched = [row for row in await audit_trail(platform) if row[1] == "consultation.launch"]
        assert [row[3] for row in launched] == [
            {"published": ["web"], "failed": [], "undone": False, "later": ["telegram"]}
        ]

        await fake.start()

        async def published() -> bool:
            posted = await kinds()
            return "poll" in posted and "unpublished" not in posted

        await wait_until(published, what="the poll posted once the adapter started")
        assert len(fake.calls_to("sendPoll")) == 1
    await fake.close()

    # A restart while Telegram is away again: closed from the dashboard meanwhile.
    async with _serving(platform, away) as (app, client):
        assert (await log_in(client, "lead@health.example")).status == 303
        page = await _press(client, "close")
        assert "The consultation is closed." in page
        assert "Could not reach" not in page
        assert (
            "Its adapter has not started yet (its platform could not be reached), so its polls "
            "there are closed once the adapter starts: telegram." in page
        )
        assert await _state(platform, "outpatient-booking") == service.CLOSED
        assert fake.calls_to("stopPoll") == []

        await fake.start()
        await fake.wait_for_call("stopPoll")
        (poll,) = fake.polls.values()
        assert poll.is_closed

        async def finished() -> bool:
            async with platform.sessionmaker() as session:
                actions = (await session.scalars(select(ScheduledAction))).all()
            return sorted((a.action, a.outcome) for a in actions) == [
                ("close:telegram", "closed"),
                ("open:telegram", "published"),
            ]

        await wait_until(finished, what="both left actions done")
    await fake.close()
    assert len(fake.calls_to("sendPoll")) == 1 and len(fake.calls_to("stopPoll")) == 1


async def test_what_waits_for_an_adapter_is_done_as_soon_as_it_starts(platform: Platform) -> None:
    """The scheduler is woken when an adapter starts late: a launch's poll left for
    Telegram is posted then, not at the scheduler's next pass (an hour away here)."""
    away = unused_port()
    fake = FakeTelegram(token=TOKEN, port=away)
    await _store_in_the_group(fake, platform)
    async with _serving(platform, away, schedule_interval=3600.0) as (_, client):
        await as_role(platform, client, "lead")
        await _press(client, "launch")

        await fake.start()

        async def published() -> bool:
            async with platform.sessionmaker() as session:
                kinds = set(await session.scalars(select(Publication.kind)))
            return "poll" in kinds and "unpublished" not in kinds

        await wait_until(published, what="the poll posted once the adapter started")
        assert len(fake.calls_to("sendPoll")) == 1
    await fake.close()


async def test_a_launch_while_telegram_refuses_the_token_says_so_not_that_it_is_away(
    platform: Platform,
) -> None:
    """Telegram away at start, then back and refusing the bot token: the adapter stays
    off, and a launch from the dashboard says the credentials were refused (and what to
    put right), as /readyz does, not that the platform could not be reached."""
    away = unused_port()
    fake = FakeTelegram(token="999999:ANOTHER-bot", port=away)  # refuses TOKEN: 401
    await _store_in_the_group(fake, platform)
    async with _serving(platform, away) as (app, client):
        await fake.start()

        async def off() -> bool:
            return "telegram" in app[operations.READY].off

        await wait_until(off, what="the token refused once Telegram is back")
        await as_role(platform, client, "lead")
        page = await _press(client, "launch")
        assert "The consultation is open." in page
        assert "could not be reached" not in page and "Could not reach" not in page
        assert (
            "telegram: its platform refused the adapter&#39;s credentials (TELEGRAM_BOT_TOKEN: "
            "Telegram rejected the bot token), so it is published there once that is put right "
            "and engage restarted." in page
        )
        assert fake.calls_to("sendPoll") == []
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["problems"] == [
            "telegram adapter off: TELEGRAM_BOT_TOKEN: Telegram rejected the bot token; "
            "set it right and restart"
        ]
        async with platform.sessionmaker() as session:
            actions = (await session.scalars(select(ScheduledAction.action))).all()
        assert actions == ["open:telegram"]  # published after the restart
    await fake.close()


async def test_a_follow_up_due_to_open_waits_for_the_consultation_it_follows(
    platform: Platform, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A follow-up whose opening falls while a consultation it follows up is still a
    draft is not opened (it would invite no one): `consultation show` says why, and it
    opens at a later pass once that one is launched."""
    await _store(platform, spec_data(channels=["web"], segments=[]))
    follow_up = {"of": ["outpatient-booking"], "invite": "recontact"}
    await _store(
        platform,
        spec_data(
            id="booking-loop",
            channels=["web"],
            segments=[],
            opens_at=OPENS.isoformat(),
            follow_up=follow_up,
        ),
    )
    clock = Clock(OPENS)
    scheduler = Scheduler(platform.sessionmaker, platform.keyring, {}, clock=clock)
    assert (await scheduler.run_once()).opened == []
    assert await _state(platform, "booking-loop") == "draft"
    code = await commands.show(argparse.Namespace(id="booking-loop", json=False), settings)
    assert code == commands.OK
    assert (
        "  opening:      not opened: follow_up.of[0]: 'outpatient-booking' is still a draft"
        in capsys.readouterr().out
    )
    async with platform.sessionmaker.begin() as session:
        await service.open_(session, "outpatient-booking")
    clock.now = OPENS + timedelta(minutes=11)  # past the ten-minute lease
    assert (await scheduler.run_once()).opened == ["booking-loop"]
    assert await _state(platform, "booking-loop") == "open"


async def test_a_launch_that_first_meets_the_token_revoked_turns_the_adapter_off(
    platform: Platform,
) -> None:
    """Telegram running, then refusing the bot token (401) when a launch from the
    dashboard is the first to ask: the adapter is turned off, the page says the
    credentials were refused, and the publishing is left for the restart."""
    port = unused_port()
    fake = FakeTelegram(token=TOKEN, port=port)
    await fake.start()
    await _store_in_the_group(fake, platform)
    async with _serving(platform, port, away=False) as (app, client):
        fake.inject_error(401, "Unauthorized", count=1000, methods=["sendMessage", "sendPoll"])
        await as_role(platform, client, "lead")
        page = await _press(client, "launch")
        assert "The consultation is open." in page
        assert "could not be reached" not in page and "Could not reach" not in page
        assert (
            "telegram: its platform refused the adapter&#39;s credentials (TELEGRAM_BOT_TOKEN: "
            "Telegram rejected the bot token), so it is published there once that is put right "
            "and engage restarted." in page
        )
        assert "telegram" in app[operations.READY].off
        async with platform.sessionmaker() as session:
            actions = (await session.scalars(select(ScheduledAction.action))).all()
        assert actions == ["open:telegram"]  # published after the restart
    await fake.close()


async def test_an_opening_on_time_that_meets_the_token_refused_leaves_it_for_the_restart(
    fake: FakeTelegram, platform: Platform
) -> None:
    await _store_a_week_in_the_group(fake, platform)
    fake.inject_error(401, "Unauthorized", count=1000)  # the token revoked while running
    told: list[tuple[str, str]] = []
    adapters = {"web": WebAdapter(), "telegram": make_adapter(fake, platform)}
    worker = Scheduler(
        platform.sessionmaker,
        platform.keyring,
        adapters,
        clock=Clock(OPENS),
        refused=lambda name, error: told.append((name, error.setting)),
    )
    done = await worker.run_once()
    assert done.opened == ["outpatient-booking"]
    assert await _state(platform, "outpatient-booking") == "open"  # the web page is open
    assert told == [("telegram", "TELEGRAM_BOT_TOKEN")]  # the adapter is turned off
    async with platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction.action))).all()
    assert "open:telegram" in actions  # published after the restart


async def test_a_command_line_launch_whose_token_is_refused_exits_naming_the_variable(
    fake: FakeTelegram, platform: Platform, settings: Settings
) -> None:
    from dataclasses import replace

    from bot.console import UsageError

    await _store_in_the_group(fake, platform)
    revoked = replace(
        settings, telegram_bot_token="999999:REVOKED-bot", telegram_api_base_url=fake.base_url
    )
    with pytest.raises(UsageError) as raised:
        await commands.launch(argparse.Namespace(id="outpatient-booking", channels=None), revoked)
    assert str(raised.value).startswith("TELEGRAM_BOT_TOKEN: Telegram rejected the bot token; ")
    assert "REVOKED" not in str(raised.value)
    assert await _state(platform, "outpatient-booking") == "open"  # on the web
    async with platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction.action))).all()
    assert actions == ["open:telegram"]  # published after the restart
