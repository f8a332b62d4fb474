"""The core's messages in Telegram's shapes: text pieces, inline keyboards, native polls.

Telegram measures lengths in UTF-16 code units (https://core.telegram.org/api/entities
#entity-length), so every limit here is checked that way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import telegram

from adapters.plumbing import text as text_plumbing
from adapters.telegram.convert import answer_data, choose_data
from adapters.telegram.limits import TELEGRAM_LIMITS
from channels.events import OutboundMessage
from consultations.texts import ENGLISH, texts_for

TEXT_LIMIT = TELEGRAM_LIMITS.text_max
POLL_QUESTION_LIMIT = TELEGRAM_LIMITS.poll_question_max
POLL_OPTION_LIMIT = TELEGRAM_LIMITS.poll_option_max
POLL_OPTIONS_MIN = TELEGRAM_LIMITS.poll_options_min
POLL_OPTIONS_MAX = TELEGRAM_LIMITS.poll_options_max
# https://core.telegram.org/bots/api#createforumtopic: a topic name is 1-128 characters.
TOPIC_NAME_LIMIT = 128
# https://core.telegram.org/bots/api#forcereply: the placeholder is 1-64 characters.
PLACEHOLDER_LIMIT = 64
PLACEHOLDER = ENGLISH("answer_placeholder")

BUTTON_TYPES = frozenset({"consent", "segment", "confirm"})


def utf16_len(text: str) -> int:
    """The length of ``text`` as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` units, broken at a paragraph, line or word if possible."""
    return text_plumbing.split_text(text, limit, measure=utf16_len)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` units with an ellipsis when it is longer."""
    return text_plumbing.shorten(text, limit, measure=utf16_len)


def fits_native_poll(message: OutboundMessage) -> bool:
    """Whether the options can be a native poll (else they become buttons)."""
    return POLL_OPTIONS_MIN <= len(message.options) <= POLL_OPTIONS_MAX and all(
        1 <= utf16_len(option) <= POLL_OPTION_LIMIT for option in message.options
    )


def poll_question(text: str) -> tuple[str | None, str]:
    """A poll's lead-in message (if any) and its question, within the question limit.

    The core may put a note before the question ("Please choose from the options."); a
    question too long for a poll keeps its last paragraph as the question and goes first
    as a message in full.
    """
    if utf16_len(text) <= POLL_QUESTION_LIMIT:
        return None, text
    last = text.rsplit("\n\n", 1)[-1]
    return text, shorten(last, POLL_QUESTION_LIMIT)


def vote_text(message: OutboundMessage) -> str:
    """The message's text; a statement to vote on also says what the buttons are for."""
    if message.question_type == "vote":
        return f"{message.text}\n\n{texts_for(message.language)('statements_vote_buttons')}"
    return message.text


def option_keyboard(message: OutboundMessage) -> telegram.InlineKeyboardMarkup:
    """One button per option, a row each, carrying the option's position."""
    return telegram.InlineKeyboardMarkup(
        [
            [
                telegram.InlineKeyboardButton(
                    option,
                    callback_data=answer_data(message.consultation_id, message.question, index),
                )
            ]
            for index, option in enumerate(message.options)
        ]
    )


def choose_keyboard(
    consultation_ids: Sequence[str], titles: Mapping[str, str]
) -> telegram.InlineKeyboardMarkup:
    """A button per open consultation, labelled with its title."""
    return telegram.InlineKeyboardMarkup(
        [
            [
                telegram.InlineKeyboardButton(
                    shorten(titles.get(cid, cid), 64), callback_data=choose_data(cid)
                )
            ]
            for cid in consultation_ids
        ]
    )


def force_reply(language: str = "en") -> telegram.ForceReply:
    """Open the reply box on the question, so the answer is tied to it."""
    placeholder = shorten(texts_for(language)("answer_placeholder"), PLACEHOLDER_LIMIT)
    return telegram.ForceReply(input_field_placeholder=placeholder)
