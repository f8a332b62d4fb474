"""Moderation alerts over real HTTP and SMTP servers on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from bot import alerts, commands
from bot.config import ConfigError, Settings, load_settings
from bot.platform import Platform, configured_adapters, create_platform
from bot.web.app import create_app
from bot.web.participant import COOKIE
from channels.events import CONSENT, RECONTACT, EventKind, InboundEvent
from consultations import moderation
from storage.tables import AuditEvent, ModerationCase, Response, utcnow
from tests.fakes.channel import Person
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import form_fields, launch, spec_data
from tests.storage.test_schema import dump_all
from tests.waiting import wait_until

CID = "outpatient-booking"
MODERATORS_CHAT = -1009876543210
# Words a person might write: none of them may reach an alert.
PERSON_WORDS = "I keep thinking about ending my life, call me on 0412 345 678"


@dataclass
class Inbox:
    """What the local SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(message_from_bytes(content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class Hook:
    """What the webhook receiver got; ``fail`` answers 500 instead.

    ``arrived`` lists the case of every request as it comes in; while ``hold`` is an unset
    event, each request then waits for it before being accepted (a receiver that hangs).
    """

    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    fail: bool = False
    arrived: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.Response(status=500)
        text = await request.text()
        self.arrived.append(json.loads(text)["case"])
        if self.hold is not None:
            await self.hold.wait()
        self.raw.append(text)
        self.bodies.append(json.loads(text))
        return web.Response(status=204)


@dataclass
class Servers:
    telegram: FakeTelegram
    smtp: Inbox
    hook: Hook
    settings: Settings


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[Servers]:
    """A fake Bot API, a local SMTP server and a webhook receiver, all on 127.0.0.1."""
    inbox, hook = Inbox(), Hook()
    loop = asyncio.get_running_loop()
    smtp_server = await loop.create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
    smtp_port = smtp_server.sockets[0].getsockname()[1]
    app = web.Application()
    app.add_routes([web.post("/alerts", hook.handle)])
    async with FakeTelegram() as telegram, TestServer(app, host="127.0.0.1") as hook_server:
        telegram.group(MODERATORS_CHAT, "Moderators")
        configured = replace(
            settings,
            telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url,
            alert_telegram_chat=str(MODERATORS_CHAT),
            alert_emails=("duty@health.example", "lead@health.example"),
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            alert_from="engage@health.example",
            alert_webhook_url=str(hook_server.make_url("/alerts")),
        )
        yield Servers(telegram, inbox, hook, configured)
    smtp_server.close()
    await smtp_server.wait_closed()


def checker(platform: Platform, settings: Settings) -> alerts.AlertChecker:
    return alerts.AlertChecker(
        platform.sessionmaker, alerts.destinations(settings), alerts.dashboard_link(settings)
    )


async def add_case(
    platform: Platform, *, urgent: bool = False, due_in: timedelta = timedelta(hours=24)
) -> int:
    """A case as the runtime opens it; ``due_in`` negative makes it already overdue."""
    async with platform.sessionmaker.begin() as session:
        case = moderation.open_case(
            session,
            consultation_id=CID,
            response_id=None,
            reason="safety",
            categories=("suicide",),
            urgent=urgent,
        )
        await session.flush()
        case.due_at = utcnow() + due_in
        if due_in < timedelta(0):
            case.created_at = case.due_at - timedelta(hours=24)
        return case.id


async def alerted_at(platform: Platform, case_id: int) -> Any:
    async with platform.sessionmaker() as session:
        return await session.scalar(
            select(ModerationCase.alerted_at).where(ModerationCase.id == case_id)
        )


async def disclose_on_the_web(web_client: Any, words: str) -> None:
    """Consent on the consultation's page, then answer its prompt with ``words``."""
    page = await (await web_client.get(f"/c/{CID}")).text()
    fields = form_fields(page, f"/c/{CID}/consent")
    page = await (
        await web_client.post(f"/c/{CID}/consent", data={**fields, "answer": "yes"})
    ).text()
    fields = form_fields(page, f"/c/{CID}/answers")
    await web_client.post(f"/c/{CID}/answers", data={**fields, "item:one-thing": words})


def telegram_texts(servers: Servers) -> list[str]:
    return [m.text or "" for m in servers.telegram.messages_to(MODERATORS_CHAT)]


def everything_sent(servers: Servers) -> Sequence[str]:
    return [
        *telegram_texts(servers),
        *(m.as_string() for m in servers.smtp.messages),
        *servers.hook.raw,
    ]


async def test_urgent_case_alerts_once_on_every_destination(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    case_id = await add_case(platform, urgent=True)

    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 1
        assert await check.run_once() == 0

    (text,) = telegram_texts(servers)
    assert f"Moderation case {case_id}" in text and "urgent" in text
    assert "suicide" in text and CID in text
    assert "http://127.0.0.1:8080/dashboard/moderation" in text
    (mail,) = servers.smtp.messages
    assert servers.smtp.recipients == [["duty@health.example", "lead@health.example"]]
    assert mail["Subject"] == f"Moderation case {case_id} is urgent ({CID})"
    assert mail["From"] == "engage@health.example"
    assert "http://127.0.0.1:8080/dashboard/moderation" in mail.get_payload()
    (body,) = servers.hook.bodies
    assert body == {
        "event": "moderation.alert",
        "case": case_id,
        "consultation": CID,
        "title": body["title"],
        "categories": ["suicide"],
        "urgent": True,
        "overdue": False,
        "age_seconds": body["age_seconds"],
        "link": "http://127.0.0.1:8080/dashboard/moderation",
    }
    assert 0 <= body["age_seconds"] < 60
    assert await alerted_at(platform, case_id) is not None


async def test_a_non_urgent_case_alerts_only_once_overdue(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    waiting = await add_case(platform)
    overdue = await add_case(platform, due_in=-timedelta(minutes=5))

    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 1

    (text,) = telegram_texts(servers)
    assert f"Moderation case {overdue} needs a moderator: overdue." in text
    assert "Waiting: 1 d 0 h" in text
    assert [b["case"] for b in servers.hook.bodies] == [overdue]
    assert servers.hook.bodies[0]["overdue"] is True
    assert await alerted_at(platform, waiting) is None


async def test_two_checkers_at_once_send_once(platform: Platform, servers: Servers) -> None:
    await launch(platform)
    urgent = await add_case(platform, urgent=True)
    overdue = await add_case(platform, due_in=-timedelta(hours=1))

    async with (
        checker(platform, servers.settings) as one,
        checker(platform, servers.settings) as two,
    ):
        counts = await asyncio.gather(one.run_once(), two.run_once(), one.run_once())

    assert sum(counts) == 2
    assert len(telegram_texts(servers)) == 2
    assert len(servers.smtp.messages) == 2
    assert sorted(b["case"] for b in servers.hook.bodies) == sorted([urgent, overdue])


async def test_acknowledged_or_resolved_cases_never_alert(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    acknowledged = await add_case(platform, urgent=True)
    resolved = await add_case(platform, due_in=-timedelta(hours=1))
    async with platform.sessionmaker.begin() as session:
        await moderation.acknowledge(session, acknowledged, "mod@health.example")
        await moderation.resolve(session, resolved, "mod@health.example", "Called back.")

    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 0

    assert everything_sent(servers) == []


async def test_acknowledging_before_it_falls_due_means_no_alert(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    case_id = await add_case(platform)
    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 0
        async with platform.sessionmaker.begin() as session:
            await moderation.acknowledge(session, case_id, "mod@health.example")
            row = await session.get(ModerationCase, case_id)
            assert row is not None
            row.due_at = utcnow() - timedelta(minutes=1)  # the target has now passed
        assert await check.run_once() == 0
    assert everything_sent(servers) == []


async def test_alerts_never_carry_the_persons_words(
    platform: Platform, servers: Servers, web_client: Any
) -> None:
    await launch(platform)
    # A real disclosure through the web channel: the case points at the stored response.
    await disclose_on_the_web(web_client, PERSON_WORDS)
    async with platform.sessionmaker.begin() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
        case.urgent = True

    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 1

    sent = everything_sent(servers)
    assert len(sent) == 3
    for words in ("ending my life", "0412", "345 678", "thinking"):
        assert all(words not in body for body in sent), words


async def test_the_specs_response_target_sets_when_a_case_is_due_and_alerts(
    platform: Platform, servers: Servers, web_client: Any
) -> None:
    await launch(platform, spec_data(safety={"response_hours": 2}))
    await disclose_on_the_web(web_client, "I have been cutting myself again, most nights")
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None and case.due_at is not None
    assert (case.categories, case.urgent) == (["self-harm"], False)
    assert case.due_at - case.created_at == timedelta(hours=2)
    only_webhook = replace(
        servers.settings, alert_telegram_chat=None, alert_emails=(), smtp_url=None
    )

    def at(hours: float) -> alerts.AlertChecker:
        return alerts.AlertChecker(
            platform.sessionmaker,
            alerts.destinations(only_webhook),
            alerts.dashboard_link(only_webhook),
            clock=lambda: case.created_at + timedelta(hours=hours),
        )

    async with at(1.9) as check:
        assert await check.run_once() == 0
    async with at(2.1) as check:
        assert await check.run_once() == 1
    (body,) = servers.hook.bodies
    assert (body["case"], body["urgent"], body["overdue"]) == (case.id, False, True)
    assert body["age_seconds"] == int(2.1 * 3600)


async def test_a_failing_destination_is_retried_later(
    platform: Platform, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    await launch(platform)
    case_id = await add_case(platform, urgent=True)
    only_webhook = replace(
        servers.settings, alert_telegram_chat=None, alert_emails=(), smtp_url=None
    )
    servers.hook.fail = True

    async with checker(platform, only_webhook) as check:
        assert await check.run_once() == 0
        assert await alerted_at(platform, case_id) is None
        servers.hook.fail = False
        assert await check.run_once() == 1
        assert await check.run_once() == 0

    assert [b["case"] for b in servers.hook.bodies] == [case_id]
    assert "the webhook alert failed (the webhook answered 500)" in caplog.text
    assert "/alerts" not in caplog.text


async def test_a_webhook_that_answers_with_a_redirect_has_not_accepted_the_alert(
    platform: Platform, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    # Followed, the redirect became a GET without the alert, and its 200 counted as
    # delivered: an http -> https move lost every alert. Not followed, it is a failure,
    # tried again at the next check.
    await launch(platform)
    case_id = await add_case(platform, urgent=True)
    moved = web.Application()
    seen: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.method)
        if request.method == "POST":
            raise web.HTTPMovedPermanently("/landed")
        return web.Response(text="fine")

    moved.add_routes([web.route("*", "/hook", elsewhere), web.route("*", "/landed", elsewhere)])
    async with TestServer(moved, host="127.0.0.1") as server:
        only_webhook = replace(
            servers.settings,
            alert_telegram_chat=None,
            alert_emails=(),
            smtp_url=None,
            alert_webhook_url=str(server.make_url("/hook")),
        )
        async with checker(platform, only_webhook) as check:
            assert await check.run_once() == 0
    assert seen == ["POST"]
    assert await alerted_at(platform, case_id) is None
    assert "the webhook alert failed (the webhook answered 301)" in caplog.text


async def test_one_destination_accepting_is_enough(platform: Platform, servers: Servers) -> None:
    await launch(platform)
    await add_case(platform, urgent=True)
    servers.hook.fail = True
    broken_telegram = replace(servers.settings, alert_telegram_chat="-1001")  # no such chat

    async with checker(platform, broken_telegram) as check:
        assert await check.run_once() == 1
        servers.hook.fail = False
        assert await check.run_once() == 0

    assert len(servers.smtp.messages) == 1
    assert servers.hook.bodies == []


async def test_run_stops_when_asked(platform: Platform, servers: Servers) -> None:
    await launch(platform)
    await add_case(platform, urgent=True)
    stopping = asyncio.Event()
    async with checker(platform, servers.settings) as check:
        task = asyncio.create_task(check.run(stopping))
        await servers.telegram.wait_for_call("sendMessage")
        stopping.set()
        await asyncio.wait_for(task, 5)
    assert len(telegram_texts(servers)) == 1


def test_format_age() -> None:
    assert moderation.format_age(timedelta(seconds=59)) == "0 min"
    assert moderation.format_age(timedelta(minutes=125)) == "2 h 5 min"
    assert moderation.format_age(timedelta(days=1, hours=4, minutes=3)) == "1 d 4 h"


# -- settings ------------------------------------------------------------------------------

KEYS = {"ENGAGE_SECRET_KEY": "s" * 40, "ENGAGE_PSEUDONYM_KEY": "p" * 40, "ENGAGE_ENV": "production"}


def test_alert_settings_are_read() -> None:
    settings = load_settings(
        {
            **KEYS,
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "ENGAGE_ALERT_TELEGRAM_CHAT": "-100123",
            "ENGAGE_ALERT_EMAIL": "a@health.example, b@health.example",
            "ENGAGE_SMTP_URL": "smtp://user:pa%40ss@mail.example:587",
            "ENGAGE_ALERT_FROM": "engage@health.example",
            "ENGAGE_ALERT_WEBHOOK_URL": "https://hooks.example/engage/",
        }
    )
    assert settings.alert_telegram_chat == "-100123"
    assert settings.alert_emails == ("a@health.example", "b@health.example")
    assert settings.alert_webhook_url == "https://hooks.example/engage/"
    assert [d.name for d in alerts.destinations(settings)] == ["telegram", "email", "webhook"]
    assert not load_settings(KEYS).alerts_enabled


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENGAGE_ALERT_TELEGRAM_CHAT": "moderators"}, "ENGAGE_ALERT_TELEGRAM_CHAT: 'moderators'"),
        ({"ENGAGE_ALERT_TELEGRAM_CHAT": "-100123"}, "needs TELEGRAM_BOT_TOKEN"),
        ({"ENGAGE_ALERT_EMAIL": "duty"}, "ENGAGE_ALERT_EMAIL: 'duty' is not an email address"),
        ({"ENGAGE_ALERT_EMAIL": "a@b.example"}, "ENGAGE_SMTP_URL: required"),
        (
            {"ENGAGE_ALERT_EMAIL": "a@b.example", "ENGAGE_SMTP_URL": "smtp://h"},
            "ENGAGE_ALERT_FROM: required",
        ),
        ({"ENGAGE_SMTP_URL": "http://user:secret@h"}, "ENGAGE_SMTP_URL: must be smtp://"),
        ({"ENGAGE_SMTP_URL": "smtp://h:port"}, "ENGAGE_SMTP_URL: cannot be read as a URL"),
        ({"ENGAGE_SMTP_URL": "smtp://u:secret@[::1:25"}, "ENGAGE_SMTP_URL: cannot be read"),
        ({"ENGAGE_ALERT_WEBHOOK_URL": "http://[::1/x"}, "ENGAGE_ALERT_WEBHOOK_URL: cannot be"),
        (
            {"ENGAGE_ALERT_WEBHOOK_URL": "http://127.0.0.1:99999/x"},
            "ENGAGE_ALERT_WEBHOOK_URL: cannot be read as a URL",
        ),
        ({"ENGAGE_ALERT_FROM": "nobody"}, "ENGAGE_ALERT_FROM: 'nobody'"),
        ({"ENGAGE_ALERT_WEBHOOK_URL": "ftp://x"}, "ENGAGE_ALERT_WEBHOOK_URL: is not an http(s)"),
    ],
)
def test_bad_alert_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**KEYS, **env})
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_engage_run_starts_the_alerts(servers: Servers) -> None:
    """The web app's background work includes the checker, with the settings' destinations."""
    only_webhook = replace(
        servers.settings,
        telegram_bot_token=None,
        alert_telegram_chat=None,
        alert_emails=(),
        smtp_url=None,
    )
    platform = create_platform(only_webhook)
    await launch(platform)
    case_id = await add_case(platform, urgent=True)
    app = create_app(only_webhook, platform=platform, adapters=configured_adapters)

    async def delivered() -> bool:
        return bool(servers.hook.bodies)

    async with TestServer(app, host="127.0.0.1"):
        await wait_until(delivered, what="the webhook alert")
    assert [b["case"] for b in servers.hook.bodies] == [case_id]


# -- stopping, crashes and slow destinations -----------------------------------------------


def webhook_only(settings: Settings) -> Settings:
    return replace(
        settings,
        telegram_bot_token=None,
        alert_telegram_chat=None,
        alert_emails=(),
        smtp_url=None,
    )


async def claims(platform: Platform) -> dict[int, tuple[bool, bool]]:
    """Each case: whether it is marked alerted, and whether a claim holds it."""
    async with platform.sessionmaker() as session:
        rows = await session.execute(
            select(ModerationCase.id, ModerationCase.alerted_at, ModerationCase.alert_claimed_until)
        )
        return {case: (alerted is not None, held is not None) for case, alerted, held in rows}


async def test_a_stop_mid_send_gives_back_every_alert_not_yet_started(
    servers: Servers,
) -> None:
    """``engage run`` stopped while a slow webhook holds the first of four urgent alerts:
    the other three are given back, and the next start sends them (the first not again)."""
    # The held send is cut short once the stop's grace is over: a short one, as an
    # operator may set (ENGAGE_STOP_GRACE), not the default 10 s.
    settings = replace(webhook_only(servers.settings), stop_grace=1.0)
    platform = create_platform(settings)
    await launch(platform)
    cases = [await add_case(platform, urgent=True) for _ in range(4)]
    servers.hook.hold = asyncio.Event()  # answers nothing until released

    async def first_arrived() -> bool:
        return bool(servers.hook.arrived)

    app = create_app(settings, platform=platform, adapters=configured_adapters)
    async with TestServer(app, host="127.0.0.1"):
        await wait_until(first_arrived, what="the first alert")
    # Stopped (the web app's cleanup, as on SIGTERM): the send in flight was cut short.
    assert servers.hook.arrived == cases[:1]

    platform = create_platform(settings)
    try:
        assert (
            await claims(platform)
            == {
                cases[0]: (True, False),  # in doubt: marked alerted, not sent again
                **{case: (False, False) for case in cases[1:]},
            }
        )
        servers.hook.hold.set()

        async def all_sent() -> bool:
            return len(servers.hook.arrived) == 4

        app = create_app(settings, platform=platform, adapters=configured_adapters)
        async with TestServer(app, host="127.0.0.1"):
            await wait_until(all_sent, what="the alerts given back")
        assert servers.hook.arrived == cases
        assert [b["case"] for b in servers.hook.bodies] == cases[1:]
    finally:
        await platform.aclose()


async def test_a_stop_between_alerts_starts_no_further_send(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    cases = [await add_case(platform, urgent=True) for _ in range(3)]
    servers.hook.hold = asyncio.Event()
    stopping = asyncio.Event()
    async with checker(platform, webhook_only(servers.settings)) as check:
        running = asyncio.create_task(check.run_once(stopping))

        async def first_arrived() -> bool:
            return bool(servers.hook.arrived)

        await wait_until(first_arrived, what="the first alert")
        stopping.set()
        servers.hook.hold.set()  # the send in hand finishes within the grace
        assert await asyncio.wait_for(running, 5) == 1

    assert servers.hook.arrived == cases[:1]
    assert await claims(platform) == {
        cases[0]: (True, False),
        **{case: (False, False) for case in cases[1:]},
    }


async def test_what_a_dead_process_claimed_alerts_once_its_claim_runs_out(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    case_id = await add_case(platform, urgent=True)
    now = utcnow()
    # As a process killed between its claim and the first send leaves the case.
    async with platform.sessionmaker.begin() as session:
        row = await session.get(ModerationCase, case_id)
        assert row is not None
        row.alert_claimed_until = now + alerts.CLAIM_TIME

    def at(moment: Any) -> alerts.AlertChecker:
        only = webhook_only(servers.settings)
        return alerts.AlertChecker(
            platform.sessionmaker,
            alerts.destinations(only),
            alerts.dashboard_link(only),
            clock=lambda: moment,
        )

    async with at(now + timedelta(seconds=1)) as check:
        assert await check.run_once() == 0  # another checker may still be sending it
    async with at(now + alerts.CLAIM_TIME) as check:
        assert await check.run_once() == 1
        assert await check.run_once() == 0
    assert [b["case"] for b in servers.hook.bodies] == [case_id]
    assert await claims(platform) == {case_id: (True, False)}


async def test_a_hanging_destination_holds_up_no_other(
    platform: Platform, servers: Servers
) -> None:
    await launch(platform)
    cases = [await add_case(platform, urgent=True) for _ in range(3)]
    servers.hook.hold = asyncio.Event()
    async with checker(platform, servers.settings) as check:
        running = asyncio.create_task(check.run_once())

        async def others_sent() -> bool:
            return len(telegram_texts(servers)) == 3 and len(servers.smtp.messages) == 3

        await wait_until(others_sent, what="Telegram and email alerts")
        # The webhook, one alert at a time, still has its first.
        assert servers.hook.arrived == cases[:1]
        servers.hook.hold.set()
        assert await asyncio.wait_for(running, 10) == 3
        assert await check.run_once() == 0

    assert [b["case"] for b in servers.hook.bodies] == cases
    assert await claims(platform) == {case: (True, False) for case in cases}


async def test_a_destination_that_does_not_answer_is_left_until_the_next_check(
    platform: Platform, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    await launch(platform)
    cases = [await add_case(platform, urgent=True) for _ in range(3)]
    servers.hook.hold = asyncio.Event()
    only = webhook_only(servers.settings)
    async with alerts.AlertChecker(
        platform.sessionmaker,
        alerts.destinations(only),
        alerts.dashboard_link(only),
        send_timeout=0.5,
    ) as check:
        assert await asyncio.wait_for(check.run_once(), 5) == 0
        # Tried once, not once a case: every case is given back for the next check.
        assert servers.hook.arrived == cases[:1]
        assert await claims(platform) == {case: (False, False) for case in cases}
        servers.hook.hold.set()
        assert await check.run_once() == 3
    assert "the webhook alert destination did not answer within 0.5 s" in caplog.text
    assert "the webhook alert failed (TimeoutError)" in caplog.text
    assert [b["case"] for b in servers.hook.bodies] == cases


# -- erasure ---------------------------------------------------------------------------------

URGENT_WORDS = "I have pills saved up and I am going to take them all tonight"


async def the_case(platform: Platform) -> ModerationCase:
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
    assert case is not None
    return case


async def erasure_audit(platform: Platform) -> list[tuple[str, str | None, Any]]:
    async with platform.sessionmaker() as session:
        rows = await session.execute(
            select(AuditEvent.actor, AuditEvent.subject, AuditEvent.detail).where(
                AuditEvent.action == "participant.erase"
            )
        )
        return [tuple(row) for row in rows]


async def assert_kept_without_the_person(
    platform: Platform, before: ModerationCase, channel: str, platform_id: str
) -> None:
    """The case is there, unresolved and not yet alerted, with nothing of the person."""
    after = await the_case(platform)
    assert (after.response_id, after.participant_id, after.text) == (None, None, None)
    assert after.erased_at is not None
    for kept in ("id", "consultation_id", "reason", "categories", "urgent", "status"):
        assert getattr(after, kept) == getattr(before, kept), kept
    for kept in ("created_at", "due_at", "alerted_at"):
        assert getattr(after, kept) == getattr(before, kept), kept
    async with platform.sessionmaker() as session:
        (view,) = await moderation.open_cases(session)
    assert view.to_json()["erased_at"] == after.erased_at.isoformat()
    dump = await dump_all(platform)
    pseudonym = platform.keyring.pseudonym(channel, platform_id)
    for trace in (platform_id, pseudonym, "pills saved up"):
        assert trace not in dump


async def test_erasing_a_person_keeps_their_open_safety_case_and_it_still_alerts(
    platform: Platform,
    servers: Servers,
    web_client: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`engage participant erase`: the answers and consent go, the urgent case stays."""
    await launch(platform)
    await disclose_on_the_web(web_client, URGENT_WORDS)
    before = await the_case(platform)
    assert before.urgent and before.alerted_at is None and before.response_id is not None
    token = next(c.value for c in web_client.session.cookie_jar if c.key == COOKIE)

    erase = argparse.Namespace(channel="web", platform_id=token)
    assert await commands.participant_erase(erase, servers.settings) == 0

    out = capsys.readouterr().out
    assert "erased: 1 responses, 1 consent records" in out
    assert "kept: 1 open safety cases" in out
    await assert_kept_without_the_person(platform, before, "web", token)
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Response)) == 0
    [(actor, subject, detail)] = await erasure_audit(platform)
    assert actor.startswith("cli") and subject is None
    assert detail == {"channel": "web", "responses": 1, "cases_kept": 1, "cases_deleted": 0}
    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 1
    assert [(b["case"], b["urgent"]) for b in servers.hook.bodies] == [(before.id, True)]


async def deliver(platform: Platform, *events: InboundEvent) -> None:
    """What an adapter and `engage run` do: inbox commit, then handling."""
    await platform.inbox.receive_many(events)
    await platform.inbox.process_pending()


async def test_a_persons_own_erasure_keeps_an_open_safety_case(
    platform: Platform, servers: Servers
) -> None:
    """Asked by the person (the web page's "Delete my answers" sends the same event)."""
    await launch(platform, spec_data(segments=[]))
    person = Person("5550123")
    await deliver(
        platform,
        person.starts(CID),
        person.answers(CONSENT, "yes"),
        person.answers(RECONTACT, "no"),
        person.answers("ease", "Easy"),
        person.says(URGENT_WORDS),
    )
    before = await the_case(platform)
    assert before.urgent and before.response_id is not None
    await deliver(platform, person.event(EventKind.ERASE))

    await assert_kept_without_the_person(platform, before, person.channel, "5550123")
    [(actor, subject, detail)] = await erasure_audit(platform)
    assert (actor, subject) == ("participant", None)
    assert detail == {
        "channel": person.channel,
        "responses": 2,
        "cases_kept": 1,
        "cases_deleted": 0,
    }
    async with checker(platform, servers.settings) as check:
        assert await check.run_once() == 1
    assert [b["case"] for b in servers.hook.bodies] == [before.id]


async def test_erasure_deletes_resolved_cases_with_the_person(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[]))
    person = Person("5550124")
    await deliver(
        platform,
        person.starts(CID),
        person.answers(CONSENT, "yes"),
        person.answers(RECONTACT, "no"),
        person.says(URGENT_WORDS),
    )
    case = await the_case(platform)
    async with platform.sessionmaker.begin() as session:
        await moderation.resolve(session, case.id, "mod@health.example", "Called back.")
    await deliver(platform, person.event(EventKind.ERASE))
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ModerationCase)) == 0
    [(_, _, detail)] = await erasure_audit(platform)
    assert detail["cases_kept"] == 0 and detail["cases_deleted"] == 1
