"""Mastodon failing on purpose (mastodon-mock's fault injection): 422, 500 and 429."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from mastodon import MastodonRatelimitError
from sqlalchemy import select

from adapters.mastodon.api import MastodonAPI, make_client
from adapters.web import WebAdapter
from bot.web import operations
from channels.adapter import RetryLater, Undeliverable
from channels.events import OutboundMessage
from consultations import service
from consultations.spec import parse_spec
from storage.tables import (
    AuditEvent,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Response,
    ScheduledAction,
)
from tests.adapters.mastodon.conftest import World, budget_pacer, make_adapter
from tests.bot.test_dashboard import as_role
from tests.fakes.mastodon_server import MastodonServer
from tests.helpers import form_fields, spec_data
from tests.waiting import wait_until

ADDRESS = {"acct": "carol", "reply_to": None, "visibility": "direct"}


@pytest.fixture(autouse=True)
async def carol(world: World) -> None:
    """Carol has an account before the bot writes to her (else no one is notified)."""
    await world.act(world.server.account_id, "carol")


async def test_a_422_is_undeliverable_with_mastodons_reason(world: World) -> None:
    world.server.fail_next(422, path="/api/v1/statuses", error="Validation failed: no")
    with pytest.raises(Undeliverable, match="Validation failed: no"):
        await world.adapter.send(ADDRESS, OutboundMessage(text="Hello"), key="row-1")


async def test_a_500_is_retried_later(world: World) -> None:
    world.server.fail_next(500, path="/api/v1/statuses")
    with pytest.raises(RetryLater) as raised:
        await world.adapter.send(ADDRESS, OutboundMessage(text="Hello"), key="row-2")
    assert raised.value.after is None
    delivery = await world.adapter.send(ADDRESS, OutboundMessage(text="Hello"), key="row-2")
    [status] = await world.received("carol", 1)
    assert str(status["id"]) == delivery.platform_ref


async def test_a_429_says_when_to_retry_and_pauses_requests(world: World) -> None:
    world.server.fail_next(429, path="/api/v1/statuses", reset_in=30)
    with pytest.raises(RetryLater) as raised:
        await world.adapter.send(ADDRESS, OutboundMessage(text="Hello"), key="row-3")
    # about 30 s: the reset time, plus the second the Date header rounds away and however
    # slow this machine is (a loaded run has taken 34 s)
    assert raised.value.after is not None and 25 < raised.value.after <= 40
    # The pacer holds every request until the reset; a send now is put back at once.
    with pytest.raises(RetryLater, match="budget"):
        await world.adapter.send(ADDRESS, OutboundMessage(text="Hello"), key="row-4")


async def test_a_long_message_resumes_where_it_stopped(world: World) -> None:
    text = "\n\n".join(f"Paragraph {n}: " + "words " * 60 for n in range(3))
    # The first status goes out; the second fails with a server error.
    original = world.adapter.sender._post_reply
    calls = 0

    async def fail_second(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            world.server.fail_next(500, path="/api/v1/statuses")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    world.adapter.sender._post_reply = fail_second  # type: ignore[method-assign,assignment]
    with pytest.raises(RetryLater):
        await world.adapter.send(ADDRESS, OutboundMessage(text=text), key="row-5")
    await world.adapter.send(ADDRESS, OutboundMessage(text=text), key="row-5")
    statuses = await world.received("carol", 3)
    assert len(statuses) == 3
    assert [s["content"].count("Paragraph") for s in statuses] == [1, 1, 1]
    assert str(statuses[1]["in_reply_to_id"]) == str(statuses[0]["id"])


async def test_the_outbox_delivers_through_500_and_429(world: World) -> None:
    await world.launch()
    server = world.server
    # Carol writes first: the faults below are for the bot's own posts.
    await world.act(server.dm, "carol", "start outpatient-booking")
    server.fail_next(500, path="/api/v1/statuses", methods=["POST"])
    server.fail_next(429, path="/api/v1/statuses", methods=["POST"], reset_in=1)
    await world.start()
    [consent] = await world.received("carol", 1)
    assert "Do you agree to take part?" in consent["content"]

    # The status can arrive a moment before the row is marked sent.
    async def sent() -> list[OutboxEntry] | None:
        rows = await world.rows(OutboxEntry)
        return rows if rows and rows[0].status == "sent" else None

    [row] = await wait_until(sent, what="the row marked sent")
    assert (row.status, row.attempts) == ("sent", 3)


async def test_the_outbox_gives_up_on_a_422(world: World) -> None:
    await world.launch()
    await world.act(world.server.dm, "carol", "start outpatient-booking")
    world.server.fail_next(422, path="/api/v1/statuses", methods=["POST"], error="Nope")
    await world.start()

    async def failed() -> list[OutboxEntry]:
        return await world.rows(OutboxEntry, OutboxEntry.status == "failed")

    [row] = await wait_until(failed, what="the refused message")
    assert row.last_error == "Nope"
    assert await world.act(world.server.received, "carol") == []


async def test_intake_carries_on_after_server_errors(world: World) -> None:
    world.server.fail_next(502, path="/api/v1/streaming/user", times=None)
    world.server.fail_next(500, path="/api/v1/notifications", times=2)
    world.server.fail_next(429, path="/api/v1/notifications", reset_in=1)
    await world.launch()
    world.adapter.intake.sweep_interval = 3600
    await world.start()
    prompt = await world.post_of("one-thing")
    status = await world.act(world.server.reply, "alice", prompt, "Fewer phone queues")

    async def stored() -> list[Response]:
        ref = world.platform.keyring.reference("mastodon", str(status["id"]))
        return await world.rows(Response, Response.platform_ref == ref)

    await wait_until(stored, what="the reply after the failures")
    assert world.server.faults()[0]["match"]["path"] == "/api/v1/streaming/user"


async def test_the_wait_after_a_429_is_its_own_whatever_answers_after_it(
    server: MastodonServer,
) -> None:
    """The client keeps one reset time, which each answer rewrites: a status posted as the
    intake met a 429 once made the intake wait out the status's window (297 s) instead of
    the 429's (1 s)."""
    api = MastodonAPI(make_client(server.base_url, server.token("engage")), budget_pacer())
    server.fail_next(429, path="/api/v1/notifications", reset_in=2)
    with pytest.raises(MastodonRatelimitError):
        await api.call(api.client.notifications)
    # Another request of the same client, answered at once with its window's end.
    await asyncio.to_thread(api.client.account_verify_credentials)
    assert api.client.ratelimit_reset is not None
    assert api.pacer.seconds_until_reset(api.client.ratelimit_reset) > 60
    # The 429 said 2 s; Mastodon.py reads its reset against the whole-second Date header.
    assert 0 < api.retry_after() < 10


def _off(world: World) -> dict[str, str]:
    assert world.app is not None
    return world.app.app[operations.READY].off


def _left_off(world: World) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return "mastodon" in _off(world)

    return check


async def test_a_403_to_the_account_s_own_statuses_leaves_the_adapter_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Mastodon refusing the bot account while running (its login disabled) is treated as
    a revoked token: the adapter off with one ERROR line, /readyz naming the variable, and
    the message waiting in the outbox, its attempt uncounted."""
    await world.launch()
    await world.act(world.server.dm, "carol", "start outpatient-booking")
    world.server.fail_next(
        403,
        path="/api/v1/statuses",
        methods=["POST"],
        times=None,
        error="Your login is currently disabled",
    )
    await world.start()
    await wait_until(_left_off(world), what="the adapter left off")
    why = "the Mastodon instance refused the bot account (403: Your login is currently disabled)"
    assert _off(world) == {"mastodon": f"MASTODON_ACCESS_TOKEN: {why}"}
    assert [(row.status, row.attempts) for row in await world.rows(OutboxEntry)] == [("pending", 0)]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"MASTODON_ACCESS_TOKEN: {why}; the mastodon adapter stays off"]
    assert await world.act(world.server.received, "carol") == []


async def test_a_403_to_the_account_s_notifications_leaves_the_adapter_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    scopes = "This action is outside the authorized scopes"
    await world.start()

    async def reading() -> bool:
        return world.adapter.mode != "stopped"

    await wait_until(reading, what="the intake reading")
    world.server.fail_next(403, path="/api/v1/notifications", times=None, error=scopes)
    world.server.fail_next(403, path="/api/v1/streaming/*", times=None, error=scopes)
    await wait_until(_left_off(world), what="the adapter left off")
    # Mastodon.py keeps no words of an error answering a call that returns a list.
    why = "the Mastodon instance refused the bot account (403: Forbidden)"
    assert _off(world) == {"mastodon": f"MASTODON_ACCESS_TOKEN: {why}"}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"MASTODON_ACCESS_TOKEN: {why}; the mastodon adapter stays off"]


async def test_a_403_about_the_status_answered_is_said_outside_the_thread(world: World) -> None:
    """A 403 to a reply (the instance will not let the bot answer that status) is about
    that status, not the account: the reply goes outside the thread, the adapter stays on."""
    await world.launch()
    await world.act(world.server.dm, "carol", "start outpatient-booking")
    world.server.fail_next(
        403, path="/api/v1/statuses", methods=["POST"], error="This action is not allowed"
    )
    await world.start()
    [consent] = await world.received("carol", 1)
    assert "Do you agree to take part?" in consent["content"]
    assert consent["in_reply_to_id"] is None

    async def sent() -> list[OutboxEntry] | None:
        rows = await world.rows(OutboxEntry)
        return rows if rows and rows[0].status == "sent" else None

    await wait_until(sent, what="the row marked sent")
    assert _off(world) == {}


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_token_revoked_while_streaming_is_said_once_and_only_that(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream ends as the token is revoked: the operator reads the one ERROR line, not
    first a warning that notifications will be polled (they cannot be)."""
    await world.start()

    async def streaming() -> bool:
        return world.adapter.mode == "streaming"

    await wait_until(streaming, what="the stream open")
    caplog.clear()
    world.server.revoke(world.server.bot_token)
    await wait_until(_left_off(world), what="the adapter left off")
    assert _said(caplog) == [
        (
            "ERROR",
            "MASTODON_ACCESS_TOKEN: the Mastodon instance rejected the access token; "
            "the mastodon adapter stays off",
        )
    ]


async def test_streaming_refused_is_said_once_notifications_are_polled(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.server.fail_next(502, path="/api/v1/streaming/user", times=None)
    await world.start()

    async def polling() -> bool:
        return any("polling notifications every" in message for _, message in _said(caplog))

    await wait_until(polling, what="the warning that notifications are polled")
    [(level, message)] = [said for said in _said(caplog) if "mastodon" in said[1]]
    assert level == "WARNING" and message.startswith("mastodon: streaming unavailable (")
    assert _off(world) == {}


Status = dict[str, Any]


async def _a_thread_that_cannot_be_read(
    world: World, status: int, words: str, *, dan_mentions: bool = False
) -> tuple[Status, Status, Status]:
    """Dan replies to the thread item, Erin (naming the bot) to Dan with ``words``, and
    Alice to the prompt; reading Erin's thread, and the consultation's, fails with
    ``status`` for good, so only the notifications bring the replies. Returns Dan's,
    Erin's and Alice's statuses."""
    await world.launch()
    server = world.server
    thread = await world.post_of("reminder")
    prompt = await world.post_of("one-thing")
    first = await world.act(
        server.reply, "dan", thread, "Say which clinic", mention_author=dan_mentions
    )
    second = await world.act(server.reply, "erin", first["id"], words, mention_author=False)
    after = await world.act(server.reply, "alice", prompt, "Evening appointments")
    server.fail_next(status, path=f"/api/v1/statuses/{second['id']}/context", times=None)
    intro = await world.post_of(None, "intro")
    server.fail_next(status, path=f"/api/v1/statuses/{intro}/context", times=None)
    return first, second, after


async def _stored_reply(world: World, status: Status) -> list[Response]:
    ref = world.platform.keyring.reference("mastodon", str(status["id"]))
    return await world.rows(Response, Response.platform_ref == ref)


async def _all_three(world: World) -> dict[str, Response] | None:
    """The three replies stored, by their references; None until they are."""
    rows = {r.platform_ref: r for r in await world.rows(Response)}
    return rows if len(rows) == 3 else None


async def test_a_mention_whose_thread_cannot_be_read_holds_up_no_one(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading one mention's thread fails (a 500 for that status alone): the replies
    around it are taken in at once, and it is tried again apart, with its place in the
    thread."""
    first, second, after = await _a_thread_that_cannot_be_read(
        world, 500, "@engage and the time, twice", dan_mentions=True
    )
    caplog.set_level(logging.WARNING, logger="adapters.mastodon.intake")
    await world.start()

    def ref(status: Status) -> str:
        return world.platform.keyring.reference("mastodon", str(status["id"]))

    rows = await wait_until(lambda: _all_three(world), what="the three replies")
    assert rows[ref(after)].text == "Evening appointments"
    assert rows[ref(second)].in_reply_to == f"response:{rows[ref(first)].id}"
    assert "the thread of a mention could not be read (HTTP 500)" in caplog.text
    assert "a consultation's thread could not be read (HTTP 500)" in caplog.text
    assert str(second["id"]) not in caplog.text  # no platform id in the log


async def test_a_disclosure_whose_thread_cannot_be_read_is_screened_all_the_same(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The thread above a mention keeps failing (403): after a few tries the mention is
    taken in with what is known, and the disclosure in it gets the helplines and a case;
    the reply behind it is not held up meanwhile."""
    # Dan's reply does not name the bot: it is known only by walking up from Erin's.
    _, _, after = await _a_thread_that_cannot_be_read(world, 403, "@engage I want to kill myself")
    server = world.server
    caplog.set_level(logging.WARNING, logger="adapters.mastodon.intake")
    await world.start()

    await wait_until(lambda: _stored_reply(world, after), what="the reply behind it")

    async def helplines() -> list[Any] | None:
        got = await world.act(server.received, "erin")
        return got if "Lifeline" in " ".join(s["content"] for s in got) else None

    statuses = await wait_until(helplines, what="the safety message")
    assert {s["visibility"] for s in statuses} == {"direct"}
    [case] = await world.rows(ModerationCase)
    assert case.urgent
    assert "taken in without the replies above it" in caplog.text
    assert world.adapter.intake.mode != "stopped"  # the intake runs on


async def test_a_mention_held_aside_is_taken_in_when_the_adapter_stops(world: World) -> None:
    """The cursor has moved past it: stopping before its lookup is tried again, the
    mention is taken in with what is known, not left behind."""
    _, _, after = await _a_thread_that_cannot_be_read(world, 404, "@engage and the time")
    world.adapter.intake.poll_interval = 3600  # not tried again before the stop
    await world.start()

    await wait_until(lambda: _stored_reply(world, after), what="the reply behind it")
    assert len(world.adapter.intake._held) == 1
    assert await world.count(InboxEntry) == 1
    await world.stop()
    assert world.adapter.intake._held == {}
    assert await world.count(InboxEntry) == 2


async def test_a_mention_held_aside_is_read_again_after_a_crash(world: World) -> None:
    """A process killed while a mention is held aside loses what it held in memory: the
    saved cursor stays before that mention, so the next process reads it again and takes
    it in with its place in the thread, and what comes after it is stored once."""
    first, second, after = await _a_thread_that_cannot_be_read(world, 404, "@engage and the time")
    world.adapter.intake.poll_interval = 3600  # not tried again before the crash
    await world.start()

    await wait_until(lambda: _stored_reply(world, after), what="the reply behind it")
    assert len(world.adapter.intake._held) == 1
    # The crash: what the process held in memory is gone, with no stop to take it in.
    world.adapter.intake._held.clear()
    await world.stop()
    assert await world.count(InboxEntry) == 1

    # Its own thread can be read now; the consultation's still cannot, so only the
    # notifications can bring it (a direct message has no thread to sweep either).
    server = world.server
    server.clear_faults()
    intro = await world.post_of(None, "intro")
    server.fail_next(404, path=f"/api/v1/statuses/{intro}/context", times=None)
    world.adapter = make_adapter(server, world.platform)
    await world.start()

    rows = await wait_until(lambda: _all_three(world), what="the held mention, read again")
    ref = world.platform.keyring.reference
    assert rows[ref("mastodon", str(second["id"]))].in_reply_to == (
        f"response:{rows[ref('mastodon', str(first['id']))].id}"
    )
    assert len(await _stored_reply(world, after)) == 1


async def _serving_a_draft_on_the_web_and_mastodon(world: World) -> None:
    """A consultation on the web and Mastodon stored, not launched, and the platform
    serving both, its stream open."""
    async with world.platform.sessionmaker.begin() as session:
        await service.create(
            session, parse_spec(spec_data(channels=["web", "mastodon"], segments=[])), source="test"
        )
    await world.start({"web": WebAdapter()})

    async def streaming() -> bool:
        return world.adapter.mode == "streaming"

    await wait_until(streaming, what="the stream open")


async def test_a_launch_after_the_token_was_revoked_says_the_credentials_were_refused(
    world: World,
) -> None:
    """Revoked while running, the adapter is off: a launch from the dashboard does not
    call it, leaves its publishing for the restart, and says the platform refused the
    credentials (naming the variable), not that it could not be reached."""
    await _serving_a_draft_on_the_web_and_mastodon(world)
    world.server.revoke(world.server.bot_token)
    await wait_until(_left_off(world), what="the adapter left off")
    page = await _launch_from_the_dashboard(world)
    assert "The consultation is open." in page
    assert "could not be reached" not in page and "Could not reach" not in page
    assert (
        "mastodon: its platform refused the adapter&#39;s credentials (MASTODON_ACCESS_TOKEN: "
        "the Mastodon instance rejected the access token), so it is published there once "
        "that is put right and engage restarted." in page
    )
    async with world.platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction.action))).all()
        audit = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "consultation.launch")
            )
        ).one()
    assert actions == ["open:mastodon"]  # published after the restart
    assert audit.detail is not None and audit.detail["refused"] == ["mastodon"], audit.detail


async def _launch_from_the_dashboard(world: World) -> str:
    assert world.app is not None
    client = TestClient(world.app)
    await client.start_server()
    try:
        await as_role(world.platform, client, "lead")
        path = "/dashboard/c/outpatient-booking/launch"
        page = await (await client.get("/dashboard/c/outpatient-booking")).text()
        response = await client.post(path, data=form_fields(page, path))
        assert response.status == 200
        return await response.text()
    finally:
        await client.close()


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refusal_met_first_by_a_dashboard_launch_turns_the_adapter_off(
    world: World, status: int
) -> None:
    """The token revoked (401), or the account refused (403), while the stream still
    runs: the launch is the first to hear it. The adapter is turned off, the page says
    the credentials were refused, and the publishing is left for the restart."""
    await _serving_a_draft_on_the_web_and_mastodon(world)
    if status == 401:
        world.server.revoke(world.server.bot_token, paths=["/api/v1/statuses"])
    else:
        world.server.fail_next(403, path="/api/v1/statuses", times=None)
    page = await _launch_from_the_dashboard(world)
    assert "The consultation is open." in page
    assert "Could not reach" not in page and "could not be reached" not in page
    assert (
        "mastodon: its platform refused the adapter&#39;s credentials (MASTODON_ACCESS_TOKEN: "
        in (page)
    )
    assert "mastodon" in _off(world)
    async with world.platform.sessionmaker() as session:
        actions = (await session.scalars(select(ScheduledAction.action))).all()
    assert actions == ["open:mastodon"]  # published after the restart
