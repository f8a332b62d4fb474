"""Sending through the outbox: each message as direct statuses to the person.

A message longer than one status goes as a thread of them; if sending stops part way, a
retry of the same outbox row posts only the rest (:mod:`adapters.plumbing.sending`).
Every request runs through :class:`adapters.mastodon.api.MastodonAPI`: off the event
loop, with a timeout, paced under the account's budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mastodon import MastodonNotFoundError

from adapters.mastodon import render
from adapters.mastodon.account import Account
from adapters.mastodon.api import as_delivery_error
from adapters.plumbing.sending import Part, PartialSends, part_key
from channels.adapter import Delivery, RetryLater, Undeliverable
from channels.events import OutboundMessage


class StatusSender:
    """Posts the outbox's messages as statuses.

    Args:
        account: the bot account.
        send_max_wait: longest wait for a request slot; beyond it the outbox row is put
            back to retry later.
    """

    def __init__(self, account: Account, *, send_max_wait: float) -> None:
        self.account = account
        self.send_max_wait = send_max_wait
        self._partial: PartialSends[str] = PartialSends()

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        """Deliver one message as direct status(es) to ``{"acct", "reply_to", "visibility"}``.

        Safety messages always go privately.

        Raises:
            RetryLater: rate limited, the request budget is spent for now, or the server
                or network failed.
            Undeliverable: Mastodon refused the status (422 and other client errors).
        """
        acct, reply_to, visibility = _address(address)
        if message.kind == "safety":
            visibility = "direct"
        reply_to = message.reply_to or reply_to
        try:
            await self.account.connect()
        except Exception as exc:
            raise as_delivery_error(exc, self.account.api) from exc
        config = self.account.config
        chunks = render.split_status(
            render.message_text(message),
            prefix=f"@{acct} ",
            limit=config.max_characters,
            url_length=config.characters_reserved_per_url,
        )

        def part(index: int, text: str) -> Part[str]:
            async def post(parent: str | None) -> str:
                try:
                    status = await self._post_reply(text, parent, visibility, part_key(key, index))
                except RetryLater:
                    raise
                except Exception as exc:
                    raise as_delivery_error(exc, self.account.api) from exc
                return str(status["id"])

            return post

        last = await self._partial.send(
            key, [part(index, text) for index, text in enumerate(chunks)], first=reply_to
        )
        return Delivery(platform_ref=last)

    async def _post_reply(
        self, text: str, reply_to: str | None, visibility: str, idempotency: str
    ) -> Mapping[str, Any]:
        # The idempotency key makes a retry after a lost response return the status
        # already made instead of posting it twice
        # (https://docs.joinmastodon.org/methods/statuses/#create, Idempotency-Key).
        api, client = self.account.api, self.account.client
        try:
            status: Mapping[str, Any] = await api.call(
                client.status_post,
                text,
                in_reply_to_id=reply_to,
                visibility=visibility,
                idempotency_key=idempotency,
                max_wait=self.send_max_wait,
            )
        except MastodonNotFoundError:
            if reply_to is None:
                raise
            # The status being answered was deleted: say it outside the thread.
            status = await api.call(
                client.status_post,
                text,
                visibility=visibility,
                idempotency_key=idempotency + "-u",
                max_wait=self.send_max_wait,
            )
        return status


def _address(address: Any) -> tuple[str, str | None, str]:
    if not isinstance(address, Mapping) or not address.get("acct"):
        raise Undeliverable("not a Mastodon address (no acct)")
    reply_to = address.get("reply_to")
    return (
        str(address["acct"]),
        str(reply_to) if reply_to is not None else None,
        str(address.get("visibility") or "direct"),
    )
