"""Fuzzing the Telegram edge: schema-shaped updates convert to an event or ``None``.

Updates are generated in the shape of the Bot API (https://core.telegram.org/bots/api#update:
messages, commands, button presses, poll answers, membership changes) with odd values:
any chat type, missing senders, bots, empty or strange text, callback data of any form,
replies to anything. PTB reads each into its objects, and each converter in
:mod:`adapters.telegram.convert` returns an event or ``None`` (a press always returns a
:class:`~adapters.telegram.convert.Press`); none raises. A converter raising would fail
the update and Telegram would deliver it again and again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import telegram
from hypothesis import given
from hypothesis import strategies as st

from adapters.telegram import convert
from channels.events import EventKind, InboundEvent

KEY = "1:1"
ids = st.integers(min_value=-(2**52), max_value=2**52)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["/start", "/start outpatient-booking", "/stop", "/help@engage_bot", "/", "/ x"]
    ),
    st.text(max_size=10).map(lambda t: "/" + t),
)
users = st.fixed_dictionaries(
    {"id": ids, "is_bot": st.booleans(), "first_name": st.text(max_size=8)},
    optional={"username": st.text(max_size=8)},
)
chats = st.fixed_dictionaries(
    {"id": ids, "type": st.sampled_from(["private", "group", "supergroup", "channel", "sender"])},
    optional={"username": st.text(max_size=8), "is_forum": st.booleans()},
)


def _message(inner: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "from": users,
        "text": texts,
        "message_thread_id": st.integers(min_value=0, max_value=2**31),
        "is_topic_message": st.booleans(),
        "is_automatic_forward": st.booleans(),
        "reply_markup": st.fixed_dictionaries(
            {
                "inline_keyboard": st.lists(
                    st.lists(
                        st.fixed_dictionaries(
                            {"text": st.text(max_size=8), "callback_data": st.text(max_size=64)}
                        ),
                        max_size=3,
                    ),
                    max_size=3,
                )
            }
        ),
        "forward_origin": st.fixed_dictionaries(
            {
                "type": st.just("channel"),
                "date": st.integers(min_value=0, max_value=2**31),
                "chat": chats,
                "message_id": st.integers(min_value=0, max_value=2**31),
            }
        ),
    }
    if inner is not None:
        optional["reply_to_message"] = inner
    return st.fixed_dictionaries(
        {
            "message_id": st.integers(min_value=0, max_value=2**31),
            "date": st.integers(min_value=0, max_value=2**31),
            "chat": chats,
        },
        optional=optional,
    )


messages = _message(_message())
callback_data = st.one_of(
    st.text(max_size=64),
    st.builds(
        lambda c, q, i: f"a|{c}|{q}|{i}",
        st.text(max_size=8),
        st.sampled_from(["", "consent", "recontact", "erase", "ease"]) | st.text(max_size=5),
        st.integers(min_value=0, max_value=10**30).map(str) | st.text(max_size=3),
    ),
    st.text(max_size=10).map(lambda t: "s|" + t),
)
queries = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "from": users, "chat_instance": st.just("1")},
    optional={
        "message": messages,
        "data": callback_data,
    },
)
poll_answers = st.fixed_dictionaries(
    {
        "poll_id": st.text(max_size=8),
        "option_ids": st.lists(st.integers(0, 20), max_size=4),
        "option_persistent_ids": st.lists(st.text(max_size=4), max_size=4),
    },
    optional={"user": users, "voter_chat": chats},
)
members = st.fixed_dictionaries(
    {
        "chat": chats,
        "from": users,
        "date": st.integers(min_value=0, max_value=2**31),
        "old_chat_member": st.fixed_dictionaries({"status": st.just("member"), "user": users}),
        "new_chat_member": st.fixed_dictionaries(
            {
                "status": st.sampled_from(["member", "left", "kicked"]),
                "user": users,
                "until_date": st.integers(min_value=0, max_value=2**31),
            }
        ),
    }
)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=0, max_value=2**31)},
    optional={
        "message": messages,
        "callback_query": queries,
        "poll_answer": poll_answers,
        "my_chat_member": members,
    },
)


@given(updates, st.lists(st.text(max_size=8), max_size=3))
def test_any_update_converts_to_an_event_or_none(data: dict[str, Any], args: list[str]) -> None:
    update = telegram.Update.de_json(data, None)
    assert update is not None
    key = convert.event_id(1, update.update_id)
    results: list[InboundEvent | None] = []
    if update.message is not None:
        results.append(convert.from_text(update.message, key))
        if (update.message.text or "").startswith("/"):  # what filters.COMMAND lets through
            results.append(convert.from_command(update.message, key, args))
    if update.callback_query is not None:
        press = convert.from_callback(update.callback_query, key)
        assert isinstance(press, convert.Press)
        results.append(press.event)
    if update.poll_answer is not None:
        results.append(convert.from_poll_answer(update.poll_answer, key))
    if update.my_chat_member is not None:
        results.append(convert.from_my_chat_member(update.my_chat_member, key))
    for event in results:
        assert event is None or (isinstance(event, InboundEvent) and event.event_id == key)


def _with_command_entity(data: dict[str, Any], length: int) -> dict[str, Any]:
    """The update with a bot_command entity at the start of its message's text, as
    Telegram marks a command (``length`` may be wrong on purpose)."""
    message = data.get("message")
    if not isinstance(message, dict) or not str(message.get("text", "")).startswith("/"):
        return data
    entity = {"type": "bot_command", "offset": 0, "length": length}
    return {**data, "message": {**message, "entities": [entity]}}


def _first_word(data: dict[str, Any]) -> str:
    words = str(data.get("message", {}).get("text", "")).split()
    return words[0] if words else ""


commands_marked = st.builds(
    lambda data, exact, length: _with_command_entity(
        data, len(_first_word(data)) if exact else length
    ),
    updates,
    st.booleans(),
    st.integers(min_value=0, max_value=12),
)


@given(st.one_of(updates, commands_marked))
def test_an_update_read_from_its_json_is_what_ptb_reads(data: dict[str, Any]) -> None:
    """The webhook's JSON reading never raises, and gives what the converters give for
    PTB's objects (which handler takes which update is checked against PTB itself in
    tests/adapters/telegram/test_intake.py)."""
    plain = convert.from_plain_update(data, 1)
    if plain is None:
        return
    update = telegram.Update.de_json(data, None)
    assert update is not None and update.message is not None
    key = convert.event_id(1, update.update_id)
    text = update.message.text or ""
    if plain.kind is EventKind.TEXT:
        assert not text.startswith("/")
        expected = convert.from_text(update.message, key)
    else:
        expected = convert.from_command(update.message, key, text.split()[1:])
    assert expected is not None
    assert replace(plain, received_at=expected.received_at) == expected


@given(st.text(max_size=40))
def test_any_reference_parses_or_is_none(ref: str) -> None:
    parsed = convert.parse_message_ref(ref)
    assert parsed is None or convert.message_ref(*parsed) == ref or isinstance(parsed[0], int)
