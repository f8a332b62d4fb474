"""What Telegram accepts in a message and a poll, for checking a spec before launch."""

from __future__ import annotations

from consultations.spec import ChannelLimits

__all__ = ["TELEGRAM_LIMITS"]

TELEGRAM_LIMITS = ChannelLimits(
    "telegram",
    # Bot API: message text 1-4096 characters; sendPoll: question 1-300 characters,
    # 2-12 options of 1-100 characters each. https://core.telegram.org/bots/api#sendpoll
    text_max=4096,
    poll_question_max=300,
    poll_options_min=2,
    poll_options_max=12,
    poll_option_max=100,
)
"""Telegram Bot API limits."""
