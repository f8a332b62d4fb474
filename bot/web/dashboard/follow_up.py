"""The dashboard's part in closing the loop: draft, preview per channel, and reach.

A lead drafts a ``closing-the-loop`` follow-up from a consultation's act summary (the
same draft as ``engage consultation draft-loop``), sees each text as it would go on each
channel with that channel's length limit beside it, launches it (the usual launch
button, which invites everyone who agreed to be contacted again), and then follows its
reach: invited, delivered and answered, by channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from adapters.mastodon.limits import MASTODON_DEFAULT_LIMITS, instance_limits
from adapters.telegram.limits import TELEGRAM_LIMITS
from bot.config import Settings
from consultations import followups
from consultations.spec import ChannelLimits, ConsultationSpec

#: The longest "what we changed" the dashboard drafts a follow-up with: with what people
#: said, it makes one poll question, which Telegram takes up to 300 characters.
MAX_CHANGE = 160


@dataclass(frozen=True)
class PreviewText:
    """One text as a channel would carry it, and how long it may be there."""

    label: str
    text: str
    length: int
    limit: int | None

    @property
    def over(self) -> bool:
        """Longer than the channel takes (it would be split, or refused for a poll)."""
        return self.limit is not None and self.length > self.limit


@dataclass(frozen=True)
class ChannelPreview:
    """Every text of a follow-up on one channel."""

    channel: str
    texts: tuple[PreviewText, ...]


async def channel_limits(settings: Settings) -> dict[str, ChannelLimits]:
    """Each platform channel's limits as the adapters know them (the web page has none)."""
    limits = {"telegram": TELEGRAM_LIMITS, "mastodon": MASTODON_DEFAULT_LIMITS}
    if settings.mastodon_enabled:
        # The instance's own limits: looked up once an hour at most, off the event loop.
        limits["mastodon"] = await asyncio.to_thread(
            instance_limits, settings.mastodon_api_base_url, settings.mastodon_access_token
        )
    return limits


def previews(spec: ConsultationSpec, limits: Mapping[str, ChannelLimits]) -> list[ChannelPreview]:
    """The invitation, consent and items of ``spec`` on each of its channels."""
    out = []
    for channel in spec.channels:
        limit = limits.get(channel)
        text_max = limit.text_max if limit is not None else None
        question_max = limit.poll_question_max if limit is not None else None
        texts: list[PreviewText] = []
        if spec.follow_up is not None:
            if channel == "web":
                invitation = followups.web_invitation_text(spec)
            else:
                earlier = spec.follow_up.of[0]
                invitation = followups.invitation(spec, earlier, earlier).text
            texts.append(_text("Invitation", invitation, text_max))
        texts.append(_text("Consent", spec.consent.text, text_max))
        for item in spec.items:
            if item.type == "poll":
                texts.append(_text(f"Poll {item.id}", item.text, question_max))
                for option in item.options:
                    option_max = limit.poll_option_max if limit is not None else None
                    texts.append(_text("  option", option, option_max))
            else:
                texts.append(_text(f"{item.type.capitalize()} {item.id}", item.text, text_max))
        if spec.closing_message:
            texts.append(_text("Closing message", spec.closing_message, text_max))
        out.append(ChannelPreview(channel, tuple(texts)))
    return out


def _text(label: str, text: str, limit: int | None) -> PreviewText:
    return PreviewText(label, text, len(text), limit)
