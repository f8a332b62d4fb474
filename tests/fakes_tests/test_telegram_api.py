"""The fake Telegram Bot API, driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web
from telegram import error
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    PollAnswerHandler,
    PollHandler,
    filters,
)

from tests.fakes.telegram_api import FakeTelegram
from tests.waiting import PATIENCE

TOKEN = "123456:TEST-TOKEN"

AnyContext = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]
AnyApplication = Application[
    ExtBot[None], AnyContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=fake.base_url) as client:
        yield client


def build_application(fake: FakeTelegram) -> AnyApplication:
    return Application.builder().token(TOKEN).base_url(fake.base_url).build()


@asynccontextmanager
async def polling(application: AnyApplication) -> AsyncIterator[AnyApplication]:
    """Run an Application with long polling, then stop it cleanly."""
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


@asynccontextmanager
async def receiver(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A small aiohttp server on 127.0.0.1 with one POST route; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_get_me(fake: FakeTelegram, bot: telegram.Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (123456, "engage_test_bot", True)
    assert fake.calls_to("getMe")[0].status == 200


async def test_unknown_token_is_refused(fake: FakeTelegram) -> None:
    with pytest.raises(error.InvalidToken):
        async with telegram.Bot("999:WRONG", base_url=fake.base_url):
            pass
    assert fake.calls[-1].status == 404


async def test_text_update_reaches_message_handler(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice")
    seen: list[str] = []

    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        assert update.effective_message.text is not None
        seen.append(update.effective_message.text)
        await update.effective_message.reply_text(f"you said {update.effective_message.text}")

    application = build_application(fake)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with polling(application):
        fake.send_text(alice, "123")
        (reply,) = await fake.wait_for_sent(1, chat=alice)

    assert seen == ["123"]
    assert reply.text == "you said 123"
    assert reply.chat_id == alice.id
    assert fake.pending_updates == []


async def test_command_with_deep_link_argument(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice")
    args_seen: list[list[str]] = []

    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args_seen.append(list(context.args or []))

    application = build_application(fake)
    application.add_handler(CommandHandler("start", start))
    async with polling(application):
        fake.send_command(alice, "/start", "outpatient-booking")
        await fake.wait_for(lambda: bool(args_seen))

    assert args_seen == [["outpatient-booking"]]


async def test_callback_query_round_trip(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice")

    async def ask(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        keyboard = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("Yes", callback_data="consent:yes")]]
        )
        await context.bot.send_message(update.effective_chat.id, "Agree?", reply_markup=keyboard)

    async def pressed(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Thanks")
        await query.edit_message_text(f"Chosen: {query.data}")

    application = build_application(fake)
    application.add_handler(CommandHandler("start", ask))
    application.add_handler(CallbackQueryHandler(pressed))
    async with polling(application):
        fake.send_command(alice, "/start")
        (question,) = await fake.wait_for_sent(1, chat=alice)
        assert question.callback_data == ["consent:yes"]
        update = fake.press_button(alice, question, "consent:yes")
        await fake.wait_for(lambda: question.text == "Chosen: consent:yes")

    assert update.callback_query is not None
    answer = fake.callback_answers[update.callback_query.id]
    assert (answer.text, answer.show_alert) == ("Thanks", False)
    assert question.reply_markup is None
    assert question.edit_date is not None
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(alice, question, "consent:yes")


async def test_non_anonymous_poll_vote_yields_poll_answer(
    fake: FakeTelegram,
) -> None:
    alice = fake.user(1001, "Alice")
    answers: list[telegram.PollAnswer] = []
    polls: list[telegram.Poll] = []

    async def on_answer(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.poll_answer is not None
        answers.append(update.poll_answer)

    async def on_poll(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.poll is not None
        polls.append(update.poll)

    application = build_application(fake)
    application.add_handler(PollAnswerHandler(on_answer))
    application.add_handler(PollHandler(on_poll))
    async with polling(application):
        message = await application.bot.send_poll(
            alice.id,
            "How easy was booking?",
            ["Easy", "Neither", "Hard"],
            is_anonymous=False,
            allows_multiple_answers=True,
        )
        assert message.poll is not None
        fake.vote(alice, message, [0, 2])
        fake.vote(alice, message.poll.id, [])
        await fake.wait_for(lambda: len(answers) == 2 and len(polls) == 2)

    assert [(a.poll_id, a.option_ids) for a in answers] == [
        (message.poll.id, (0, 2)),
        (message.poll.id, ()),
    ]
    assert answers[0].user == alice
    assert [[o.voter_count for o in p.options] for p in polls] == [[1, 0, 1], [0, 0, 0]]


async def test_anonymous_poll_in_group_reports_totals(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    group = fake.group(-100123, "Clinic", supergroup=True)
    alice, bob = fake.user(1001, "Alice"), fake.user(1002, "Bob")
    message = await bot.send_poll(group.id, "Useful?", ["Yes", "No"])
    assert message.poll is not None
    assert message.poll.is_anonymous

    fake.vote(alice, message, [0])
    update = fake.vote(bob, message, [1])
    stopped = await bot.stop_poll(group.id, message.message_id)

    assert update.poll is not None
    assert [o.voter_count for o in update.poll.options] == [1, 1]
    assert update.poll.total_voter_count == 2
    assert stopped.is_closed
    kinds = [u.poll is not None for u in await bot.get_updates()]
    assert kinds == [True, True, True]  # two votes and the stop, no poll_answer


async def test_retry_after_injected(
    fake: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading RetryAfter.retry_after as an int is deprecated in PTB 22.2+; opt in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    alice = fake.user(1001, "Alice")
    fake.inject_429(count=2, retry_after=7)

    for _ in range(2):
        with pytest.raises(error.RetryAfter) as caught:
            await bot.send_message(alice.id, "hello")
        assert caught.value.retry_after == dt.timedelta(seconds=7)
    await bot.send_message(alice.id, "hello")

    assert fake.rate_limited_count == 2
    assert [c.status for c in fake.calls_to("sendMessage")] == [429, 429, 200]
    assert len(fake.sent) == 1


async def test_enforced_rate_limits(
    fake: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    alice, bob = fake.user(1001, "Alice"), fake.user(1002, "Bob")
    group = fake.group(-100123, "Clinic", supergroup=True)
    fake.enforce_rate_limits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=2)

    await bot.send_message(alice.id, "one")
    await bot.send_message(bob.id, "other chat is fine")
    with pytest.raises(error.RetryAfter) as caught:
        await bot.send_message(alice.id, "too soon")
    assert caught.value.retry_after == dt.timedelta(seconds=1)

    fake.enforce_rate_limits(None, None, per_group_per_minute=2)
    await bot.send_message(group.id, "a")
    await bot.send_message(group.id, "b")
    with pytest.raises(error.RetryAfter) as caught:
        await bot.send_message(group.id, "c")
    assert caught.value.retry_after == dt.timedelta(seconds=60)
    assert fake.rate_limited_count == 2


async def test_blocked_user_is_forbidden(fake: FakeTelegram, bot: telegram.Bot) -> None:
    alice = fake.user(1001, "Alice")
    update = fake.block(alice)

    with pytest.raises(error.Forbidden, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "hello")
    assert update is not None
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"

    fake.send_text(alice, "I'm back")
    await bot.send_message(alice.id, "welcome back")


async def test_user_who_never_started_the_bot(fake: FakeTelegram, bot: telegram.Bot) -> None:
    carol = fake.user(1003, "Carol", started=False)

    with pytest.raises(error.Forbidden, match="can't initiate conversation"):
        await bot.send_message(carol.id, "hello")


async def test_writing_in_a_group_does_not_open_a_private_chat(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    group = fake.group(-1001000000009, "Clinic group", supergroup=True)
    carol = fake.user(1003, "Carol", started=False)
    fake.send_text(carol, "hello all", chat=group)

    with pytest.raises(error.Forbidden, match="can't initiate conversation"):
        await bot.send_message(carol.id, "hello")
    with pytest.raises(error.BadRequest, match="(?i)chat not found"):
        await bot.send_message(1999, "someone the bot has never seen")
    assert fake.messages_to(carol) == []
    await bot.send_message(group.id, "the group is fine")

    fake.send_command(carol, "/start")  # writing to the bot opens the chat
    await bot.send_message(carol.id, "hello")
    assert [m.text for m in fake.messages_to(carol)] == ["hello"]


async def test_offset_confirmation_drops_earlier_updates(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    alice = fake.user(1001, "Alice")
    first = fake.send_text(alice, "one")
    second = fake.send_text(alice, "two")
    third = fake.send_text(alice, "three")

    assert [u.update_id for u in await bot.get_updates()] == [
        first.update_id,
        second.update_id,
        third.update_id,
    ]
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first.update_id]
    remaining = await bot.get_updates(offset=second.update_id)
    assert [u.update_id for u in remaining] == [second.update_id, third.update_id]
    assert await bot.get_updates(offset=third.update_id + 1) == ()
    assert fake.pending_updates == []


async def test_long_poll_returns_when_an_update_arrives(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    alice = fake.user(1001, "Alice")
    # A poll far longer than the test may run: only the update can end it in time.
    poll = asyncio.create_task(bot.get_updates(timeout=3600))
    await fake.wait_for_call("getUpdates")
    assert not poll.done()
    fake.send_text(alice, "hi")
    async with asyncio.timeout(PATIENCE):
        updates = await poll

    assert [u.message.text for u in updates if u.message] == ["hi"]
    assert len(fake.calls_to("getUpdates")) == 1
    assert await bot.get_updates(timeout=0) != ()


async def test_an_error_for_get_updates_ends_the_waiting_long_poll_and_meets_the_next(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    # A poll far longer than the test may run: only the injected error can end it in time.
    poll = asyncio.create_task(bot.get_updates(timeout=3600))
    await fake.wait_for_call("getUpdates")
    assert not poll.done()
    fake.inject_error(401, "Unauthorized", count=1, methods=["getUpdates"])
    async with asyncio.timeout(PATIENCE):
        assert await poll == ()
    with pytest.raises(error.InvalidToken):
        await bot.get_updates(timeout=3600)
    assert await bot.get_updates(timeout=0) == ()  # the one error is spent


async def test_webhook_delivery_with_secret_and_retry(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    alice = fake.user(1001, "Alice")
    received: list[tuple[str | None, dict[str, Any]]] = []
    answers = [500, 200]

    async def handle(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=answers.pop(0) if answers else 200)

    async with receiver(handle) as url:
        assert await bot.set_webhook(url, secret_token="s3cret-token_1")
        with pytest.raises(error.Conflict):
            await bot.get_updates()
        update = fake.send_text(alice, "hello")
        await fake.wait_until_consumed()
        info = await bot.get_webhook_info()
        assert await bot.delete_webhook()

    assert [secret for secret, _ in received] == ["s3cret-token_1", "s3cret-token_1"]
    assert [body for _, body in received] == [update.to_dict(), update.to_dict()]
    assert [d.status for d in fake.webhook.deliveries] == [500, 200]
    assert info.url == url
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500"
    assert await bot.get_updates() == ()


async def test_application_behind_custom_webhook(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice")
    application: AnyApplication = (
        Application.builder().token(TOKEN).base_url(fake.base_url).updater(None).build()
    )

    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        assert update.effective_message is not None
        await context.bot.send_message(update.effective_chat.id, "got it")

    application.add_handler(MessageHandler(filters.TEXT, echo))

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "secret":
            return web.Response(status=403)
        data = await request.json()
        await application.update_queue.put(telegram.Update.de_json(data, application.bot))
        return web.Response()

    async with receiver(handle) as url, application:
        await application.bot.set_webhook(url, secret_token="secret")
        await application.start()
        fake.send_text(alice, "hello")
        (reply,) = await fake.wait_for_sent(1, chat=alice)
        await application.stop()

    assert reply.text == "got it"


async def test_bad_requests(fake: FakeTelegram, bot: telegram.Bot) -> None:
    alice = fake.user(1001, "Alice")

    with pytest.raises(error.BadRequest, match="Message text is empty"):
        await bot.send_message(alice.id, "")
    with pytest.raises(error.BadRequest, match="Message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    await bot.send_message(alice.id, "x" * 4096)
    with pytest.raises(error.BadRequest, match="at least 2 option"):
        await bot.send_poll(alice.id, "Q?", ["only"])
    with pytest.raises(error.BadRequest, match="more than 12 options"):
        await bot.send_poll(alice.id, "Q?", [str(i) for i in range(13)])
    with pytest.raises(error.BadRequest, match="options length"):
        await bot.send_poll(alice.id, "Q?", ["a", "b" * 101])
    with pytest.raises(error.BadRequest, match="question length"):
        await bot.send_poll(alice.id, "q" * 301, ["a", "b"])
    with pytest.raises(error.BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hello")
    with pytest.raises(error.BadRequest, match="Message to be replied not found"):
        await bot.send_message(alice.id, "hello", reply_to_message_id=999)


async def test_edit_and_delete(fake: FakeTelegram, bot: telegram.Bot) -> None:
    alice = fake.user(1001, "Alice")
    sent = await bot.send_message(alice.id, "<b>Hello</b> &amp; welcome", parse_mode="HTML")
    (stored,) = fake.messages_to(alice)
    assert (stored.text, stored.raw_text) == ("Hello & welcome", "<b>Hello</b> &amp; welcome")

    with pytest.raises(error.BadRequest, match="Message is not modified: specified new"):
        await bot.edit_message_text("Hello & welcome", alice.id, sent.message_id)
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Go", url="https://x.test")]]
    )
    edited = await bot.edit_message_reply_markup(alice.id, sent.message_id, reply_markup=keyboard)
    assert isinstance(edited, telegram.Message)
    assert edited.reply_markup == keyboard

    assert await bot.delete_message(alice.id, sent.message_id)
    assert fake.messages_to(alice) == []
    with pytest.raises(error.BadRequest, match="Message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)


async def test_forum_topics_and_replies(fake: FakeTelegram, bot: telegram.Bot) -> None:
    forum = fake.group(-100555, "Design group", forum=True)
    alice = fake.user(1001, "Alice")
    with pytest.raises(error.BadRequest, match="not a forum"):
        await bot.create_forum_topic(fake.group(-100556, "Plain").id, "Topic")

    topic = await bot.create_forum_topic(forum.id, "Reminders")
    item = await bot.send_message(
        forum.id,
        "What should the reminder say?",
        message_thread_id=topic.message_thread_id,
        reply_markup=telegram.ForceReply(),
    )
    update = fake.reply(alice, item, "Include the clinic address")

    assert item.message_thread_id == topic.message_thread_id
    assert item.is_topic_message
    message = update.message
    assert message is not None
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == item.message_id
    assert message.message_thread_id == topic.message_thread_id
    assert fake.sent[0].reply_markup == {"force_reply": True}
    # A message in the topic that replies to nothing replies to the topic's first message.
    loose = fake.send_text(
        alice, "Also the time", chat=forum, message_thread_id=topic.message_thread_id
    )
    assert loose.message is not None
    assert loose.message.reply_to_message is not None
    assert loose.message.reply_to_message.forum_topic_created is not None


async def test_commands(fake: FakeTelegram, bot: telegram.Bot) -> None:
    commands = [telegram.BotCommand("start", "Join a consultation")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert fake.my_commands() == commands
    with pytest.raises(error.BadRequest):
        await bot.set_my_commands([telegram.BotCommand("Bad Command", "x")])


async def test_json_and_form_bodies(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice")
    url = f"{fake.base_url}{TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as client:
        async with client.post(
            url, json={"chat_id": alice.id, "text": "42", "reply_markup": markup}
        ) as response:
            assert response.status == 200
            body = await response.json()
        form = {"chat_id": str(alice.id), "text": "true", "reply_markup": json.dumps(markup)}
        async with client.post(url, data=form) as response:
            assert response.status == 200
        multipart = aiohttp.FormData(form)
        multipart.add_field("unused", b"bytes", filename="f.bin")
        async with client.post(url, data=multipart) as response:
            assert response.status == 200
        async with client.post(url, json={"chat_id": alice.id}) as response:
            assert response.status == 400
            assert await response.json() == {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message text is empty",
            }

    assert body["result"]["text"] == "42"
    assert [m.text for m in fake.sent] == ["42", "true", "true"]
    assert all(m.callback_data == ["a"] for m in fake.sent)


async def test_privacy_mode_hides_plain_group_chatter() -> None:
    async with (
        FakeTelegram(token=TOKEN, privacy_mode=True) as fake,
        telegram.Bot(TOKEN, base_url=fake.base_url) as bot,
    ):
        group = fake.group(-100123, "Clinic", supergroup=True)
        alice = fake.user(1001, "Alice")
        item = await bot.send_message(group.id, "What would help?")
        fake.send_text(alice, "chatting among ourselves", chat=group)
        reply = fake.reply(alice, item, "shorter queues")
        command = fake.send_command(alice, "/help", chat=group)

        updates = await bot.get_updates()

    assert [u.update_id for u in updates] == [reply.update_id, command.update_id]


async def test_allowed_updates_and_channels(fake: FakeTelegram, bot: telegram.Bot) -> None:
    channel = fake.channel(-100777, "News", username="clinic_news")
    alice = fake.user(1001, "Alice")
    with pytest.raises(error.BadRequest, match="Non-anonymous polls"):
        await bot.send_poll(channel.id, "Q?", ["a", "b"], is_anonymous=False)
    post = await bot.send_message("@clinic_news", "Launch")
    assert post.sender_chat == channel
    assert post.from_user is None

    fake.channel_post(channel, "from an admin")
    fake.send_text(alice, "hi")
    updates = await bot.get_updates(allowed_updates=["message"])

    assert [u.message.text for u in updates if u.message] == ["hi"]
    assert len(updates) == 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://engage.example.org/hooks/telegram", "An HTTPS URL must be provided for webhook"),
        ("https://engage.example.org:8080/hook", "Webhook can be set up only on ports"),
        ("https:///hook", "Failed to resolve host"),
    ],
)
async def test_set_webhook_refuses_what_telegram_refuses(
    fake: FakeTelegram, bot: telegram.Bot, url: str, why: str
) -> None:
    with pytest.raises(error.BadRequest, match=f"(?i)bad webhook: {why}"):
        await bot.set_webhook(url)
    assert (await bot.get_webhook_info()).url == ""
    # HTTPS on a port Telegram delivers to is taken, as is the loopback receiver tests use.
    assert await bot.set_webhook("https://engage.example.org:8443/hooks/telegram")
    assert await bot.set_webhook("http://127.0.0.1:9/hook")
    assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
