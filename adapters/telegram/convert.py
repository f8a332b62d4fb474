"""Telegram updates in, core events out: the only place PTB objects meet the core's records.

Every function here is pure: it reads a PTB object and returns frozen
:class:`channels.events.InboundEvent` values (or ``None`` when the update means nothing to a
consultation). References to Telegram posts are plain strings so the store can match a
reply to what it answers:

* ``chat:<chat id>:msg:<message id>`` for a message (an item post, a person's reply);
* ``poll:<poll id>`` for a native poll (votes name the poll, not the message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import telegram
from telegram.constants import ChatMemberStatus, ChatType

from channels.events import CONSENT, ERASE, RECONTACT, EventKind, InboundEvent
from consultations.dialogue import CONSENT_OPTIONS, ERASE_OPTIONS, RECONTACT_OPTIONS
from consultations.texts import negotiate

CHANNEL = "telegram"

# https://core.telegram.org/bots/api#inlinekeyboardbutton: callback_data is 1-64 bytes.
CALLBACK_DATA_LIMIT = 64

# Options of the reserved questions, for presses on messages whose keyboard Telegram no
# longer shows us (an InaccessibleMessage, older than 48 hours).
_RESERVED_OPTIONS: dict[str, tuple[str, ...]] = {
    CONSENT: CONSENT_OPTIONS,
    RECONTACT: RECONTACT_OPTIONS,
    ERASE: ERASE_OPTIONS,
}


def event_id(bot_id: int, update_id: int) -> str:
    """The inbox key of an update: Telegram numbers updates per bot.

    https://core.telegram.org/bots/api#update: ``update_id`` is unique per bot, so a
    repeated delivery (webhook retry, re-fetched offset) gets the same key.
    """
    return f"{bot_id}:{update_id}"


def message_ref(chat_id: int | str, message_id: int) -> str:
    """The reference of one message in one chat."""
    return f"chat:{chat_id}:msg:{message_id}"


def poll_ref(poll_id: str) -> str:
    """The reference of a native poll."""
    return f"poll:{poll_id}"


def answers_ref(chat_id: int | str) -> str:
    """The reference of a chat as a place where "A<n>" messages answer timed questions."""
    return f"chat:{chat_id}:answers"


# A timed chat's answer tag: "A2", "a2:", "A2 -" at the start of a message.
_ANSWER_TAG = re.compile(r"^\s*[Aa]\d{1,2}\b")
# A message that is a command and nothing else: "/word" or "/word@bot_name".
_LONE_COMMAND = re.compile(r"\s*/\w+(?:@\w+)?\s*")


def parse_message_ref(ref: str) -> tuple[int | str, int] | None:
    """``(chat id, message id)`` from :func:`message_ref`, or ``None``."""
    parts = ref.split(":")
    if len(parts) != 4 or parts[0] != "chat" or parts[2] != "msg" or not parts[3].isdigit():
        return None
    chat: int | str = parts[1]  # a public @username, unless it is a number
    if parts[1].lstrip("-").isdigit():
        chat = int(parts[1])
    return chat, int(parts[3])


# -- buttons ---------------------------------------------------------------------------


def answer_data(consultation_id: str | None, question: str | None, index: int) -> str:
    """``callback_data`` for one option button: ``a|<consultation>|<question>|<index>``.

    Ids can be long (up to 64 characters each) but the data must fit in 64 bytes, so the
    consultation and then the question are left out when they don't fit; the core then
    takes the answer as one to the person's current consultation and pending question.
    """
    for consultation, asked in (
        (consultation_id or "", question or ""),
        ("", question or ""),
        ("", ""),
    ):
        data = f"a|{consultation}|{asked}|{index}"
        if len(data.encode()) <= CALLBACK_DATA_LIMIT:
            return data
    raise ValueError(f"option index {index} does not fit in callback data")


def choose_data(consultation_id: str) -> str:
    """``callback_data`` for a button that opens a consultation: ``s|<consultation>``."""
    return f"s|{consultation_id}"


@dataclass(frozen=True)
class Press:
    """What a button press means: an event for the core, and a note shown to the person."""

    event: InboundEvent | None
    notice: str | None = None


def from_callback(query: telegram.CallbackQuery, key: str) -> Press:
    """A press on one of our inline buttons."""
    message = query.message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return Press(None)
    data = query.data or ""
    sender = str(query.from_user.id)
    address = {"chat": message.chat.id}
    kind, _, rest = data.partition("|")
    if kind == "s" and rest:
        return Press(
            InboundEvent(
                CHANNEL, key, sender, EventKind.START, address=address, consultation_id=rest
            )
        )
    parts = rest.split("|")
    if kind != "a" or len(parts) != 3 or not parts[2].isdigit():
        return Press(None, _notice(query, "button_expired"))
    consultation, question, index_text = parts
    index = int(index_text)
    if question == ERASE:
        if index != 0:
            return Press(None, _notice(query, "nothing_erased"))
        return Press(InboundEvent(CHANNEL, key, sender, EventKind.ERASE, address=address))
    label = _button_label(message, data)
    choices: tuple[str, ...] = ()
    indexes: tuple[int, ...] = ()
    if label is not None:
        choices = (label,)
    elif question in _RESERVED_OPTIONS and index < len(_RESERVED_OPTIONS[question]):
        choices = (_RESERVED_OPTIONS[question][index],)
    else:
        indexes = (index,)
    return Press(
        InboundEvent(
            CHANNEL,
            key,
            sender,
            EventKind.ANSWER,
            address=address,
            consultation_id=consultation or None,
            item_id=question or None,
            choices=choices,
            option_indexes=indexes,
            platform_ref=message_ref(message.chat.id, message.message_id),
        )
    )


def _notice(query: telegram.CallbackQuery, key: str) -> str:
    """A short note on a button press, in the language the person's Telegram is set to
    when a catalogue has it, else English: no consultation is at hand to say otherwise."""
    return negotiate([query.from_user.language_code or "en"])(key)


def _button_label(message: telegram.MaybeInaccessibleMessage, data: str) -> str | None:
    """The text of the pressed button: the option exactly as the person saw it."""
    if not isinstance(message, telegram.Message) or message.reply_markup is None:
        return None
    for row in message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


# -- messages --------------------------------------------------------------------------

COMMANDS = {
    "start": EventKind.START,
    "stop": EventKind.STOP,
    "help": EventKind.HELP,
    "delete": EventKind.ERASE_REQUEST,
}


def from_command(message: telegram.Message, key: str, args: list[str]) -> InboundEvent | None:
    """A command in a private chat: ``/start [ID]``, ``/stop``, ``/help``, ``/delete``.

    ``/start ID`` is also what the deep link ``t.me/BOT?start=ID`` sends
    (https://core.telegram.org/bots/features#deep-linking). A word of no one's alone
    ("/menu") gets the help; one that begins a sentence ("/Fantastic/ service, not.",
    which Telegram marks as a command too) is what the person wrote: text, as any other.
    """
    if message.from_user is None or message.chat.type != ChatType.PRIVATE:
        return None
    text = message.text or ""
    word = text.split(maxsplit=1)[0].lstrip("/").split("@")[0].lower()
    if word not in COMMANDS and not _LONE_COMMAND.fullmatch(text):
        return from_text(message, key)
    kind = COMMANDS.get(word, EventKind.HELP)
    return InboundEvent(
        CHANNEL,
        key,
        str(message.from_user.id),
        kind,
        address={"chat": message.chat.id},
        consultation_id=args[0] if kind is EventKind.START and args else None,
        platform_ref=message_ref(message.chat.id, message.message_id),
    )


def from_text(
    message: telegram.Message, key: str, me: telegram.User | None = None
) -> InboundEvent | None:
    """Free text: an answer in a private chat, or a reply to a post in a group.

    In groups only replies count (to an item, to its forum topic, or to another reply),
    and messages addressed to the bot (``me``): a mention of it, or a command. Those come
    with ``addressed`` set and without the mention, so that "@bot stop" is STOP as "stop"
    is in a private chat; other chatter in the group is none of the consultation's
    business and is dropped here.
    """
    if message.from_user is None or message.from_user.is_bot or message.text is None:
        return None
    chat = message.chat
    replied = _replied_ref(message)
    if chat.type == ChatType.PRIVATE:
        return InboundEvent(
            CHANNEL,
            key,
            str(message.from_user.id),
            EventKind.TEXT,
            address={"chat": chat.id},
            text=message.text,
            in_reply_to=replied,
            platform_ref=message_ref(chat.id, message.message_id),
        )
    if replied is None and _ANSWER_TAG.match(message.text):
        # "A2 ..." in a group where a timed chat runs answers its question 2: the place
        # names the chat, and the core finds the consultation posted there.
        replied = answers_ref(chat.id)
    addressed = _addressed_to(message, me)
    if replied is None and not addressed:
        return None
    # The writer's user id goes into the (sealed) address so that a safety reply can go to
    # their private chat, whose id is their user id
    # (https://core.telegram.org/bots/api#chat), rather than into the group.
    address: dict[str, Any] = {"chat": chat.id, "user": message.from_user.id}
    if message.is_topic_message and message.message_thread_id is not None:
        address["thread"] = message.message_thread_id
    return InboundEvent(
        CHANNEL,
        key,
        str(message.from_user.id),
        EventKind.TEXT,
        address=address,
        text=_without_mentions(message, me) if addressed else message.text,
        in_reply_to=replied,
        platform_ref=message_ref(chat.id, message.message_id),
        public=True,
        addressed=addressed,
    )


def _mentions_of(message: telegram.Message, me: telegram.User | None) -> list[str]:
    """The mentions of the bot ``me`` in a message, as written ("@engage_bot")."""
    if me is None:
        return []
    name = f"@{me.username}".casefold() if me.username else None
    return [
        written
        for entity, written in message.parse_entities(
            [telegram.MessageEntity.MENTION, telegram.MessageEntity.TEXT_MENTION]
        ).items()
        if (entity.type == telegram.MessageEntity.MENTION and written.casefold() == name)
        or (entity.user is not None and entity.user.id == me.id)
    ]


def _addressed_to(message: telegram.Message, me: telegram.User | None) -> bool:
    """Whether a group message is written to the bot: it mentions the bot, or begins
    with a command ("/stop", or "/stop@engage_bot" when that is the bot's name)."""
    if _mentions_of(message, me):
        return True
    for entity, written in message.parse_entities([telegram.MessageEntity.BOT_COMMAND]).items():
        if entity.offset != 0:
            continue
        _, at, name = written.partition("@")
        if not at or (me is not None and me.username and name.casefold() == me.username.casefold()):
            return True
    return False


def _without_mentions(message: telegram.Message, me: telegram.User | None) -> str:
    """The words of a message to the bot without the mentions of the bot ("@engage_bot
    stop please" reads "stop please"); the whole text if nothing else is left."""
    text = message.text or ""
    for written in _mentions_of(message, me):
        text = text.replace(written, " ", 1)
    return " ".join(text.split()) or (message.text or "")


def from_unreadable(message: telegram.Message, key: str) -> InboundEvent | None:
    """A photo, voice message, sticker or file in a private chat: nothing to store, but
    the person is told that only typed words are read, rather than left waiting."""
    if (
        message.from_user is None
        or message.from_user.is_bot
        or message.chat.type != ChatType.PRIVATE
    ):
        return None
    return InboundEvent(
        CHANNEL,
        key,
        str(message.from_user.id),
        EventKind.UNREADABLE,
        address={"chat": message.chat.id},
        platform_ref=message_ref(message.chat.id, message.message_id),
    )


def from_edit(
    message: telegram.Message, key: str, me: telegram.User | None = None
) -> InboundEvent | None:
    """A message the person changed after sending it: the new text, for the answer stored
    from it (``platform_ref`` names the message; a text never stored is left alone)."""
    event = from_text(message, key, me)
    return None if event is None else replace(event, kind=EventKind.EDIT)


class MalformedUpdate(ValueError):
    """An update that cannot be read: a field every update or message has is missing or
    of the wrong type. The message names the field, never what it held."""


#: The updates whose value is a message (https://core.telegram.org/bots/api#update).
_MESSAGE_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
#: Text fields of a message: a string when present (https://core.telegram.org/bots/api#message).
_MESSAGE_TEXTS = ("text", "caption")


def check_update(data: Any) -> None:
    """Raise :class:`MalformedUpdate` unless ``data`` has the shape of a Bot API update.

    Only what the converters rely on is checked: the update's id, and a message's chat,
    id, date, sender and texts. Telegram always sends these; an update without them was
    made by something else, and storing it would only fail later in the inbox.
    """
    if not isinstance(data, dict):
        raise MalformedUpdate("the update is not a JSON object")
    if type(data.get("update_id")) is not int:
        raise MalformedUpdate("update_id is not a whole number")
    for kind in _MESSAGE_UPDATES:
        if kind in data:
            _check_message(data[kind], kind)
    query = data.get("callback_query")
    if query is not None:
        if not isinstance(query, dict) or not isinstance(query.get("from"), dict):
            raise MalformedUpdate("callback_query has no sender")
        if "message" in query:
            _check_message(query["message"], "callback_query.message", inaccessible_ok=True)


def _check_message(message: Any, where: str, *, inaccessible_ok: bool = False) -> None:
    if not isinstance(message, dict):
        raise MalformedUpdate(f"{where} is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or type(chat.get("id")) is not int:
        raise MalformedUpdate(f"{where} has no chat")
    if not isinstance(chat.get("type"), str):
        raise MalformedUpdate(f"{where}.chat has no type")
    if type(message.get("message_id")) is not int:
        raise MalformedUpdate(f"{where}.message_id is not a whole number")
    if type(message.get("date")) is not int:
        raise MalformedUpdate(f"{where}.date is not a whole number")
    if inaccessible_ok and message["date"] == 0:
        return  # an inaccessible message: chat, id and date only
    sender = message.get("from")
    if sender is not None and (not isinstance(sender, dict) or type(sender.get("id")) is not int):
        raise MalformedUpdate(f"{where}.from has no id")
    for field_name in _MESSAGE_TEXTS:
        if field_name in message and not isinstance(message[field_name], str):
            raise MalformedUpdate(f"{where}.{field_name} is not a string")
    entities = message.get("entities")
    if entities is not None and not isinstance(entities, list):
        raise MalformedUpdate(f"{where}.entities is not a list")


def from_plain_update(data: dict[str, Any], bot_id: int) -> InboundEvent | None:
    """The event of the commonest updates, read from the webhook's JSON as it came.

    A person writing to the bot in their private chat (an answer, or one of
    :data:`COMMANDS` without an ``@botname``) makes up most of the traffic, and needs no
    PTB objects to read: this gives exactly what :func:`from_text` and
    :func:`from_command` give for it through PTB's handlers. Anything else (groups,
    buttons, polls, forum topics, replies to channel posts, commands with a bot's name
    or unknown ones) gives ``None`` and goes through PTB as ever.
    """
    update_id = data.get("update_id")
    message = data.get("message")
    if type(update_id) is not int or not isinstance(message, dict) or len(data) != 2:
        return None
    chat = message.get("chat")
    sender = message.get("from")
    text = message.get("text")
    message_id = message.get("message_id")
    if (
        not isinstance(chat, dict)
        or chat.get("type") != ChatType.PRIVATE
        or type(chat.get("id")) is not int
        or not isinstance(sender, dict)
        or sender.get("is_bot") is not False
        or type(sender.get("id")) is not int
        or not isinstance(text, str)
        or not text
        or type(message_id) is not int
        or type(message.get("date")) is not int
        or message.get("is_topic_message")
        or "message_thread_id" in message
    ):
        return None
    chat_id: int = chat["id"]
    key = event_id(bot_id, update_id)
    ref = message_ref(chat_id, message_id)
    entities = message.get("entities")
    if entities is not None and not isinstance(entities, list):
        return None
    if entities or text.startswith("/"):
        # Only "/word args" whose one entity is a bot_command over exactly "/word", a
        # word of ours in lower case: what PTB's CommandHandler takes with its arguments.
        # Text with other entities (links, formatting) goes through PTB.
        words = text.split()
        word = words[0] if words else ""
        if (
            not entities
            or len(entities) != 1
            or not isinstance(entities[0], dict)
            or entities[0].get("type") != "bot_command"
            or entities[0].get("offset") != 0
            or entities[0].get("length") != len(word)
            or not text.startswith(word)
            or word[1:] not in COMMANDS
        ):
            return None
        kind = COMMANDS[word[1:]]
        return InboundEvent(
            CHANNEL,
            key,
            str(sender["id"]),
            kind,
            address={"chat": chat_id},
            consultation_id=words[1] if kind is EventKind.START and len(words) > 1 else None,
            platform_ref=ref,
        )
    replied: str | None = None
    reply = message.get("reply_to_message")
    if reply is not None:
        if (
            not isinstance(reply, dict)
            or type(reply.get("message_id")) is not int
            or reply.get("is_automatic_forward")
        ):
            return None
        replied = message_ref(chat_id, reply["message_id"])
    return InboundEvent(
        CHANNEL,
        key,
        str(sender["id"]),
        EventKind.TEXT,
        address={"chat": chat_id},
        text=text,
        in_reply_to=replied,
        platform_ref=ref,
    )


def _replied_ref(message: telegram.Message) -> str | None:
    """What a message answers: the message it replies to, else its forum topic.

    A reply in a channel's discussion group answers an automatic copy of the channel post;
    the copy's origin names the post we published
    (https://core.telegram.org/bots/api#messageoriginchannel).
    """
    replied = message.reply_to_message
    if replied is not None:
        origin = replied.forward_origin
        if replied.is_automatic_forward and isinstance(origin, telegram.MessageOriginChannel):
            return message_ref(origin.chat.id, origin.message_id)
        return message_ref(message.chat.id, replied.message_id)
    if message.is_topic_message and message.message_thread_id is not None:
        # The thread id of a forum topic is the id of the message that opened it.
        return message_ref(message.chat.id, message.message_thread_id)
    return None


# -- polls and membership -------------------------------------------------------------


def from_poll_answer(answer: telegram.PollAnswer, key: str) -> InboundEvent | None:
    """A vote in one of our non-anonymous polls; no options chosen means it was taken back.

    Only private-chat polls are non-anonymous, so the voter's chat is their user id
    (https://core.telegram.org/bots/api#chat: a private chat's id is the user's id).
    """
    if answer.user is None:
        return None  # voted as a chat (an anonymous group admin): no person to record
    chosen = tuple(answer.option_ids)
    return InboundEvent(
        CHANNEL,
        key,
        str(answer.user.id),
        EventKind.ANSWER if chosen else EventKind.RETRACT,
        address={"chat": answer.user.id},
        option_indexes=chosen,
        in_reply_to=poll_ref(answer.poll_id),
    )


def from_my_chat_member(change: telegram.ChatMemberUpdated, key: str) -> InboundEvent | None:
    """The person blocked the bot in their private chat: their participation ends."""
    if change.chat.type != ChatType.PRIVATE:
        return None
    if change.new_chat_member.status not in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        return None
    return InboundEvent(CHANNEL, key, str(change.from_user.id), EventKind.BLOCKED)


def poll_counts(poll: telegram.Poll) -> dict[str, int]:
    """Voters per option label, as stored in a poll tally."""
    counts: dict[str, int] = {}
    for option in poll.options:
        counts[option.text] = counts.get(option.text, 0) + option.voter_count
    if poll.allows_multiple_answers:
        # Several choices each: the options' votes add up to more than the people who
        # voted, whom the report counts (consultations.reporting.load_totals).
        counts["_voters"] = poll.total_voter_count
    return counts
