"""The built-in web channel's adapter: the page answers each request, so nothing is sent later.

The pages themselves are part of the web front end (:mod:`bot.web.participant`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.adapter import Capabilities, Delivery, EventSink, PublishedPost, Undeliverable
from channels.events import OutboundMessage
from consultations.spec import ConsultationSpec


class WebAdapter:
    """The web channel as a :class:`channels.adapter.ChannelAdapter`.

    The page shows replies in answer to each request, so nothing is sent later.
    """

    name = "web"
    capabilities = Capabilities(
        buttons=True, threads=True, per_person_polls=True, inline_replies=True
    )

    async def start(self, sink: EventSink) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        raise Undeliverable("the web channel shows replies on its page")

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        return []

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        return None
