"""Self-tests of the Mastodon test server, driven through the real Mastodon.py client."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from mastodon import (
    MastodonAPIError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonUnauthorizedError,
    StreamListener,
)
from mastodon.return_types import Notification

from tests.fakes.mastodon_server import BOT_USERNAME, InstanceLimits, MastodonServer
from tests.waiting import PATIENCE


@pytest.fixture
def server() -> Iterator[MastodonServer]:
    with MastodonServer() as running:
        yield running


class _Inbox(StreamListener):
    """Collects notifications from a user stream; notes when the stream is live."""

    def __init__(self) -> None:
        super().__init__()
        self.live = threading.Event()
        self.notifications: queue.Queue[Notification] = queue.Queue()

    def handle_heartbeat(self) -> None:
        # The mock opens every stream with a ":connected" comment line.
        self.live.set()

    def on_notification(self, notification: Notification) -> None:
        self.notifications.put(notification)


def test_people_vote_and_the_bot_sees_the_tallies(server: MastodonServer) -> None:
    bot = server.bot()
    poll = bot.make_poll(["Very easy", "Easy", "Hard"], expires_in=3600)
    status = bot.status_post("How easy was booking?", poll=poll, visibility="public")

    server.vote("alice", status["poll"]["id"], 0)
    server.vote("bob", status["poll"]["id"], [2])

    tallies = bot.poll(status["poll"]["id"])
    assert [o["votes_count"] for o in tallies["options"]] == [1, 0, 1]
    assert (tallies["votes_count"], tallies["voters_count"]) == (2, 2)
    assert bot.status(status["id"])["poll"]["votes_count"] == 2


def test_expire_poll_ends_it(server: MastodonServer) -> None:
    bot = server.bot()
    status = bot.status_post("Q", poll=bot.make_poll(["A", "B"], expires_in=3600))

    server.expire_poll(status["poll"]["id"])

    assert bot.poll(status["poll"]["id"])["expired"] is True


def test_reply_and_reply_to_reply(server: MastodonServer) -> None:
    bot = server.bot()
    post = bot.status_post("What should the reminder say?")

    first = server.reply("alice", post["id"], "Include the clinic address")
    second = server.reply("bob", first["id"], "And parking")

    assert str(first["in_reply_to_id"]) == str(post["id"])
    assert str(second["in_reply_to_id"]) == str(first["id"])
    assert first["content"] == f"<p>@{BOT_USERNAME} Include the clinic address</p>"
    descendants = bot.status_context(post["id"])["descendants"]
    assert [str(s["id"]) for s in descendants] == [str(first["id"]), str(second["id"])]


def test_mentions_page_through_notifications(server: MastodonServer) -> None:
    bot = server.bot()
    first = server.mention("alice", "hello")
    [seen] = bot.notifications(types=["mention"])
    assert str(seen["status"]["id"]) == str(first["id"])

    second = server.mention("bob", "me too")

    newer = bot.notifications(types=["mention"], since_id=seen["id"])
    assert [str(n["status"]["id"]) for n in newer] == [str(second["id"])]
    assert bot.notifications(types=["mention"], min_id=newer[0]["id"]) == []


def test_mention_arrives_on_the_user_stream(server: MastodonServer) -> None:
    inbox = _Inbox()
    handle = server.bot().stream_user(inbox, run_async=True)
    try:
        assert inbox.live.wait(PATIENCE)
        status = server.mention("alice", "is this thing on?")
        notification = inbox.notifications.get(timeout=PATIENCE)
    finally:
        handle.close()
        handle.join(PATIENCE)

    assert not handle.is_alive()
    assert notification["type"] == "mention"
    assert str(notification["status"]["id"]) == str(status["id"])


def test_direct_message_dialogue_with_stop(server: MastodonServer) -> None:
    bot = server.bot()
    opening = server.dm("carol", "hi")
    assert opening["visibility"] == "direct"
    [incoming] = bot.notifications(types=["mention"])
    assert incoming["status"]["visibility"] == "direct"

    question = bot.status_post(
        "@carol Do you agree to take part?", in_reply_to_id=opening["id"], visibility="direct"
    )
    [received] = server.received("carol")
    assert str(received["id"]) == str(question["id"])
    assert received["visibility"] == "direct"

    stop = server.dm("carol", "STOP", in_reply_to_id=question["id"])
    latest = bot.notifications(types=["mention"], since_id=incoming["id"])
    assert [str(n["status"]["id"]) for n in latest] == [str(stop["id"])]
    assert latest[0]["status"]["in_reply_to_id"] == question["id"]
    assert latest[0]["status"]["content"] == f"<p>@{BOT_USERNAME} STOP</p>"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, MastodonRatelimitError),
        (500, MastodonInternalServerError),
        (422, MastodonAPIError),
    ],
)
def test_injected_failures_raise(
    server: MastodonServer, status: int, error: type[Exception]
) -> None:
    bot = server.bot()
    server.fail_next(status, path="/api/v1/statuses", methods=["POST"])

    with pytest.raises(error) as raised:
        bot.status_post("first try")

    assert server.faults() == []
    assert bot.status_post("second try")["content"] == "<p>second try</p>"
    if status != 429:
        assert raised.value.args[1] == status


def test_unprocessable_entity_is_a_client_error(server: MastodonServer) -> None:
    server.fail_next(422, path="/api/v1/statuses", error="Validation failed: nope")

    with pytest.raises(MastodonAPIError) as raised:
        server.bot().status_post("x")

    assert not isinstance(raised.value, MastodonInternalServerError)
    assert raised.value.args[1:] == (422, "Unprocessable Entity", "Validation failed: nope")


def test_rate_limit_headers_reach_mastodon_py(server: MastodonServer) -> None:
    bot = server.bot()
    bot.me()
    bot.me()

    assert bot.ratelimit_limit == 300
    assert bot.ratelimit_remaining == 298
    assert bot.ratelimit_reset is not None
    assert time.time() < bot.ratelimit_reset <= time.time() + 302


def test_a_low_limit_gives_real_429s() -> None:
    with MastodonServer(ratelimit=2) as server:
        bot = server.bot()
        bot.me()
        bot.me()
        with pytest.raises(MastodonRatelimitError):
            bot.me()
        assert bot.ratelimit_remaining == 0


class RecordingSession(requests.Session):
    """A requests session noting when each request set off and how it was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_at: list[float] = []
        self.answers: list[requests.Response] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent_at.append(time.time())
        response = super().request(*args, **kwargs)
        self.answers.append(response)
        return response


def test_wait_mode_sleeps_until_the_reset(server: MastodonServer) -> None:
    session = RecordingSession()
    waiting = server.client(server.bot_token, ratelimit_method="wait", session=session)
    server.fail_next(429, path="/api/v1/accounts/verify_credentials", reset_in=1.0)

    me = waiting.me()

    # Mastodon.py slept until the advertised reset, then retried once.
    refused, answered = session.answers
    assert (refused.status_code, answered.status_code) == (429, 200)
    reset = datetime.fromisoformat(refused.headers["X-RateLimit-Reset"]).timestamp()
    first, retry = session.sent_at
    assert first < reset <= retry
    assert me["username"] == BOT_USERNAME
    assert server.faults() == []


def test_a_429_set_up_ahead_counts_its_window_from_the_refusal() -> None:
    """A 429 arranged before the request it refuses: its reset is ``reset_in`` seconds
    after the refusal (a reset already past says nothing of when to try again: the
    client then falls back on a guess), and its limit is the server's."""
    with MastodonServer(ratelimit=3000) as server:
        session = RecordingSession()
        client = server.client(server.bot_token, session=session)
        server.fail_next(429, path="/api/v1/accounts/verify_credentials", reset_in=3.0)
        time.sleep(1.0)  # the request comes a while after the fault was arranged
        with pytest.raises(MastodonRatelimitError):
            client.me()
    [refused] = session.answers
    reset = datetime.fromisoformat(refused.headers["X-RateLimit-Reset"]).timestamp()
    [sent] = session.sent_at
    assert reset >= sent + 2.5
    assert refused.headers["X-RateLimit-Limit"] == "3000"
    assert client.ratelimit_reset is not None and client.ratelimit_limit == 3000


def test_instance_v2_advertises_the_configured_limits() -> None:
    limits = InstanceLimits(
        max_characters=400,
        max_options=5,
        max_characters_per_option=30,
        min_expiration=600,
        max_expiration=86_400,
    )
    with MastodonServer(limits=limits) as server:
        configuration = server.bot().instance_v2()["configuration"]

    assert configuration["statuses"]["max_characters"] == 400
    assert dict(configuration["polls"]) == {
        "max_options": 5,
        "max_characters_per_option": 30,
        "min_expiration": 600,
        "max_expiration": 86_400,
    }
    assert configuration["urls"]["streaming"].startswith("ws://127.0.0.1:")


def test_default_limits_are_mastodons(server: MastodonServer) -> None:
    configuration = server.bot().instance_v2()["configuration"]

    assert configuration["statuses"]["max_characters"] == 500
    assert configuration["polls"]["max_options"] == 4


@pytest.mark.parametrize(
    ("text", "options", "expires_in", "message"),
    [
        ("x" * 401, None, None, "Text character limit of 400 exceeded"),
        ("Q", ["a", "b", "c", "d", "e", "f"], 3600, "can't contain more than 5 items"),
        ("Q", ["a", "b" * 31], 3600, "cannot be longer than 30 characters each"),
        ("Q", ["a", "a"], 3600, "contain duplicate items"),
        ("Q", ["a", "b"], 60, "expires at is too soon"),
        ("Q", ["a", "b"], 90_000, "expires at is too far into the future"),
    ],
)
def test_new_statuses_are_held_to_the_limits(
    text: str, options: list[str] | None, expires_in: int | None, message: str
) -> None:
    limits = InstanceLimits(
        max_characters=400, max_options=5, max_characters_per_option=30, max_expiration=86_400
    )
    with MastodonServer(limits=limits) as server:
        bot = server.bot()
        poll = bot.make_poll(options, expires_in=expires_in) if options else None
        with pytest.raises(MastodonAPIError) as raised:
            bot.status_post(text, poll=poll)

    assert raised.value.args[1] == 422
    assert message in raised.value.args[3]


def test_urls_count_as_23_characters(server: MastodonServer) -> None:
    text = "x" * 470 + " https://example.org/" + "a" * 100

    with pytest.raises(MastodonAPIError):
        server.bot().status_post(text)
    assert server.bot().status_post("x" * 470 + " https://example.org/")["id"]


def test_streaming_can_be_unavailable() -> None:
    with MastodonServer(streaming=False) as server:
        bot = server.bot()
        assert bot.instance_v2()["configuration"]["urls"]["streaming"] is None
        with pytest.raises(MastodonNetworkError):
            bot.stream_user(_Inbox())
        # The polling fallback still sees mentions.
        server.mention("alice", "anyone there?")
        assert len(bot.notifications(types=["mention"])) == 1


def test_a_failing_stream_connection() -> None:
    with MastodonServer() as server:
        server.fail_next(502, path="/api/v1/streaming/user", times=None)
        with pytest.raises(MastodonNetworkError):
            server.bot().stream_user(_Inbox())


def test_a_held_response_waits_for_its_release(server: MastodonServer) -> None:
    held = server.hold_responses("/api/v1/statuses", username=BOT_USERNAME)
    server.person("alice")
    poster = server.client(server.bot_token)  # a client of its own, on its own thread
    answers: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(
        target=lambda: answers.put(poster.status_post("@alice hi", visibility="direct"))
    )
    thread.start()
    try:
        assert held.wait_held(PATIENCE)
        # The status is stored and alice told of it, while the bot has not heard back.
        [seen] = server.received("alice")
        assert "hi" in seen["content"]
        # Other people's posts and the bot's other requests are answered meanwhile.
        assert server.mention("alice", "hello")["id"]
        assert len(server.bot().notifications(types=["mention"])) == 1
        time.sleep(0.2)
        assert answers.empty()
        assert thread.is_alive()
    finally:
        held.release()
        thread.join(PATIENCE)
    assert answers.get_nowait()["id"] == seen["id"]
    assert held.count == 1
    # Only the next one was held.
    assert server.bot().status_post("@alice again", visibility="direct")["id"]
    assert held.count == 1


def test_stopping_the_server_releases_held_responses() -> None:
    answers: queue.Queue[Any] = queue.Queue()
    with MastodonServer() as server:
        held = server.hold_responses("/api/v1/statuses*", method=None, times=None)
        # A plain request, not one of the server's clients (closed as it stops).
        thread = threading.Thread(
            target=lambda: answers.put(
                requests.post(
                    f"{server.base_url}/api/v1/statuses",
                    json={"status": "held"},
                    headers={"Authorization": f"Bearer {server.bot_token}"},
                    timeout=PATIENCE,
                )
            )
        )
        thread.start()
        assert held.wait_held(PATIENCE)
    thread.join(PATIENCE)
    assert not thread.is_alive()
    answer = answers.get_nowait()
    assert answer.status_code == 200
    assert answer.json()["content"] == "<p>held</p>"


async def test_async_context_manager() -> None:
    async with MastodonServer() as server:
        me = await asyncio.to_thread(server.bot().me)
        assert me["username"] == BOT_USERNAME
        assert me["bot"] is True


def test_a_revoked_token_is_refused_with_401_until_restored(server: MastodonServer) -> None:
    bot = server.bot()
    server.revoke(server.bot_token, paths=["/api/v1/statuses"])
    with pytest.raises(MastodonUnauthorizedError):
        bot.status_post("hello")
    assert bot.me()["username"] == BOT_USERNAME  # only the paths named
    server.mention("alice", "other people's tokens still work")
    server.revoke(server.bot_token)
    with pytest.raises(MastodonUnauthorizedError):
        bot.me()
    server.restore()
    assert bot.status_post("hello again")["id"]
