"""PTB's Bot API calls over aiohttp: the same answers and errors as PTB's own client.

The real ``telegram.Bot`` makes the calls, against the fake Bot API or, for what the fake
does not do (stall, take a file), a small aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import telegram
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, unused_port
from telegram import error as tg_error

from adapters.telegram.connection import retry_after_seconds
from adapters.telegram.request import AiohttpRequest, not_sent
from adapters.telegram.sending import send_text
from tests.adapters.telegram.conftest import TOKEN
from tests.fakes.telegram_api import FakeTelegram


def bot_at(base_url: str, request: AiohttpRequest) -> telegram.Bot:
    return telegram.Bot(TOKEN, base_url=base_url, request=request, get_updates_request=request)


@pytest.fixture
async def stalling() -> AsyncIterator[TestServer]:
    """A Bot API that answers ``getMe`` and ``sendDocument`` and never answers the rest."""
    release = asyncio.Event()

    async def get_me(request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": True, "result": {"id": 123456, "is_bot": True, "first_name": "Engage"}}
        )

    async def send_document(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["document"]
        assert isinstance(upload, web.FileField)
        result = {
            "message_id": 1,
            "date": 0,
            "chat": {"id": int(str(form["chat_id"])), "type": "private"},
            "caption": f"{upload.filename}:{upload.file.read().decode()}",
        }
        return web.json_response({"ok": True, "result": result})

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": False, "error_code": 500, "description": "late"})

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/getMe", get_me)
    app.router.add_post(f"/bot{TOKEN}/sendDocument", send_document)
    app.router.add_post(f"/bot{TOKEN}/{{method}}", stall)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        release.set()
        await server.close()


async def test_calls_reach_the_bot_api_form_encoded_and_answers_are_read(
    fake: FakeTelegram,
) -> None:
    person = fake.user(4001, "Ada")
    request = AiohttpRequest()
    async with bot_at(fake.base_url, request) as bot:
        keyboard = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("Yes", callback_data="c:yes")]]
        )
        sent = await bot.send_message(person.id, "Shall we begin? ✓", reply_markup=keyboard)
        assert (bot.id, bot.username) == (fake.bot_user.id, fake.bot_user.username)
    assert sent.text == "Shall we begin? ✓"
    assert sent.reply_markup == keyboard
    assert [m.text for m in fake.messages_to(person)] == ["Shall we begin? ✓"]


async def test_refusals_become_ptbs_errors(fake: FakeTelegram) -> None:
    person = fake.user(4002, "Bo")
    async with bot_at(fake.base_url, AiohttpRequest()) as bot:
        fake.inject_429(retry_after=3, methods=["sendMessage"])
        with pytest.raises(tg_error.RetryAfter) as flood:
            await bot.send_message(person.id, "one")
        assert retry_after_seconds(flood.value) == 3
        fake.inject_error(500, "Internal Server Error", methods=["sendMessage"])
        with pytest.raises(tg_error.NetworkError, match="Internal Server Error"):
            await bot.send_message(person.id, "two")
        fake.inject_error(403, "Forbidden: bot was blocked by the user", methods=["sendMessage"])
        with pytest.raises(tg_error.Forbidden, match="blocked"):
            await bot.send_message(person.id, "three")
        with pytest.raises(tg_error.BadRequest, match="(?i)chat not found"):
            await bot.send_message(999_999, "four")
        await bot.send_message(person.id, "five")
    assert [m.text for m in fake.messages_to(person)] == ["five"]


async def test_no_server_is_a_network_error() -> None:
    bot = bot_at(f"http://127.0.0.1:{unused_port()}/bot", AiohttpRequest())
    with pytest.raises(tg_error.NetworkError, match="aiohttp.ClientConnectorError"):
        async with bot:  # initialising asks getMe
            pass


async def test_an_unanswered_request_times_out_as_possibly_sent(stalling: TestServer) -> None:
    request = AiohttpRequest(read_timeout=0.2)
    async with bot_at(str(stalling.make_url("/bot")), request) as bot:
        with pytest.raises(tg_error.TimedOut) as timed_out:
            await bot.send_message(1, "hello")
    assert not not_sent(timed_out.value)


async def test_no_free_connection_in_time_is_a_timeout_before_sending(
    stalling: TestServer,
) -> None:
    request = AiohttpRequest(1, read_timeout=5.0, pool_timeout=0.1, connect_timeout=0.1)
    async with bot_at(str(stalling.make_url("/bot")), request) as bot:
        holding = asyncio.create_task(bot.send_message(1, "takes the only connection"))
        await asyncio.sleep(0.1)
        with pytest.raises(tg_error.TimedOut) as timed_out:
            await bot.send_message(2, "waits for it")
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding
    assert not_sent(timed_out.value)


async def test_a_call_s_own_read_timeout_replaces_the_default(stalling: TestServer) -> None:
    request = AiohttpRequest(read_timeout=30.0)
    async with bot_at(str(stalling.make_url("/bot")), request) as bot:
        with pytest.raises(tg_error.TimedOut):
            await bot.send_message(1, "hello", read_timeout=0.2)


async def test_a_file_goes_as_multipart(stalling: TestServer) -> None:
    async with bot_at(str(stalling.make_url("/bot")), AiohttpRequest()) as bot:
        sent = await bot.send_document(7, document=b"a,b\n1,2\n", filename="results.csv")
    assert sent.caption == "results.csv:a,b\n1,2\n"


async def test_usable_again_after_shutdown_and_not_before_initialising(
    fake: FakeTelegram,
) -> None:
    request = AiohttpRequest()
    bot = bot_at(fake.base_url, request)
    with pytest.raises(tg_error.NetworkError, match="not initialized"):
        await bot.get_me()
    async with bot:
        await bot.get_me()
    async with bot:
        assert (await bot.get_me()).id == fake.bot_user.id


async def test_a_proxy_named_by_the_environment_carries_the_calls(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hospital's network often reaches the internet only through a proxy, named to every
    # program by HTTP(S)_PROXY, as PTB's own client took it. This one relays plain HTTP
    # requests (their absolute URL) to the fake Bot API and counts them.
    relayed: list[str] = []

    async def relay(request: web.Request) -> web.Response:
        relayed.append(str(request.url))
        async with (
            ClientSession() as session,
            session.request(
                request.method,
                str(request.url),
                data=await request.read(),
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    try:
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        person = fake.user(4002, "Bea")
        request = AiohttpRequest()
        async with bot_at(fake.base_url, request) as bot:
            await bot.send_message(person.id, "Through the proxy")
    finally:
        await proxy.close()
    assert any(url.endswith("/sendMessage") for url in relayed)
    assert [m.text for m in fake.messages_to(person)] == ["Through the proxy"]


async def test_send_text_makes_send_message_s_request_and_keeps_where_it_went(
    fake: FakeTelegram,
) -> None:
    # The sender's text messages skip building PTB's Message from the answer; the request
    # must be the one Bot.send_message makes, and the refusals PTB's errors as ever.
    person = fake.user(4003, "Cy")
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Yes", callback_data="c:yes")]]
    )
    async with bot_at(fake.base_url, AiohttpRequest()) as bot:
        first = await bot.send_message(person.id, "Shall we begin?")
        reply = telegram.ReplyParameters(first.message_id, allow_sending_without_reply=True)
        given = await bot.send_message(
            person.id, "Shall we begin? ✓", reply_parameters=reply, reply_markup=keyboard
        )
        sent = await send_text(bot, person.id, "Shall we begin? ✓", reply=reply, markup=keyboard)
        fake.inject_error(403, "Forbidden: bot was blocked by the user", methods=["sendMessage"])
        with pytest.raises(tg_error.Forbidden, match="blocked"):
            await send_text(bot, person.id, "refused")
    by_ptb, by_us = fake.calls_to("sendMessage")[1:3]
    assert by_us.params == by_ptb.params
    assert (sent.chat_id, sent.poll_id) == (person.id, None)
    assert sent.message_id == given.message_id + 1
    assert [m.text for m in fake.messages_to(person)][1:] == ["Shall we begin? ✓"] * 2
