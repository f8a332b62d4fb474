"""Sending through the outbox: each message as direct statuses to the person.

A message longer than one status goes as a thread of them; if sending stops part way, a
retry of the same outbox row posts only the rest (:mod:`adapters.plumbing.sending`). A
status the server refuses as too long is split smaller and tried again, and a safety
message is never given up on quietly (:meth:`StatusSender._send_safety`).
Every request runs through :class:`adapters.mastodon.api.MastodonAPI`: off the event
loop, with a timeout, paced under the account's budget.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from mastodon import MastodonAPIError, MastodonNotFoundError

from adapters.mastodon import render
from adapters.mastodon.account import Account
from adapters.mastodon.api import as_delivery_error, status_code
from adapters.plumbing.sending import Part, PartialSends, part_key
from channels.adapter import Delivery, RetryLater, Undeliverable
from channels.events import CHOOSE, OutboundMessage

log = logging.getLogger(__name__)

SHORTER_ATTEMPTS = 3
"""Times a status refused as too long is split smaller and tried again."""


def measure_floor(prefix: str) -> int:
    """The smallest limit worth splitting to after ``prefix`` (room for a few words)."""
    return render.status_length(prefix, url_length=None) + 40


class StatusSender:
    """Posts the outbox's messages as statuses.

    Args:
        account: the bot account.
        send_max_wait: longest wait for a request slot; beyond it the outbox row is put
            back to retry later.
    """

    def __init__(
        self,
        account: Account,
        *,
        send_max_wait: float,
        titles: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None,
    ) -> None:
        self.account = account
        self.send_max_wait = send_max_wait
        # The list of open consultations shows their titles, as Telegram's buttons do (the
        # numbers still map to the ids the outbox recorded).
        self.titles = titles
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
        if message.kind == "safety" or message.private:
            visibility = "direct"
        reply_to = message.reply_to or reply_to
        try:
            await self.account.connect()
        except Exception as exc:
            raise as_delivery_error(exc, self.account.api) from exc
        labels = None
        if message.question == CHOOSE and self.titles is not None:
            labels = await self.titles(message.options)
        text = render.message_text(message, labels)
        if message.kind != "safety":
            return await self._send_text(acct, text, reply_to, visibility, key, bulk=message.bulk)
        return await self._send_safety(acct, text, reply_to, visibility, key, message.language)

    async def _send_safety(
        self,
        acct: str,
        text: str,
        reply_to: str | None,
        visibility: str,
        key: str,
        language: str = "en",
    ) -> Delivery:
        """A safety message, which must not fail quietly: shorter and plainer until it goes.

        The whole text (already split smaller on a length refusal), then the text without
        links in smaller parts, then the helpline lines alone. When even those are refused
        the error says so loudly: logged as an error, and the outbox row's error names it
        as a safety message for a moderator to follow up (the disclosure's moderation case
        is open already).
        """
        forms = [
            (text, key, None),
            (render.plain(text), f"{key}:plain", 0.6),
            (render.safety_shortest(text, language), f"{key}:shortest", None),
        ]
        reasons: list[str] = []
        for form, form_key, scale in forms:
            try:
                return await self._send_text(
                    acct, form, reply_to, visibility, form_key, scale=scale
                )
            except Undeliverable as exc:
                reasons.append(str(exc))
                log.warning(
                    "mastodon: a safety message was refused (%s); trying a shorter form", exc
                )
        reason = reasons[-1] if reasons else "refused"
        log.error(
            "mastodon: SAFETY MESSAGE NOT DELIVERED (%s); a moderator must contact the person "
            "another way (engage moderation list)",
            reason,
        )
        raise Undeliverable(f"safety message not delivered, a moderator must follow up: {reason}")

    async def _send_text(
        self,
        acct: str,
        text: str,
        reply_to: str | None,
        visibility: str,
        key: str,
        *,
        scale: float | None = None,
        bulk: bool = False,
    ) -> Delivery:
        """``text`` as direct statuses to ``acct``: a thread when it needs several.

        ``scale`` shrinks the limit parts are cut to (and counts links at their real
        length), for a retry that must fit whatever the server counts. ``bulk`` requests
        (invitations, reminders) leave room in the request budget for replies.
        """
        account = self.account
        prefix = f"@{acct} "
        limit = account.config.max_characters
        url_length = account.url_length()
        if scale is not None:
            limit, url_length = max(int(limit * scale), measure_floor(prefix)), None
        try:
            chunks = render.split_status(text, prefix=prefix, limit=limit, url_length=url_length)
        except ValueError as exc:
            raise Undeliverable(str(exc)) from exc

        def part(index: int, chunk: str) -> Part[str]:
            async def post(parent: str | None) -> str:
                idempotency = part_key(key, index)
                try:
                    status = await self._post_reply(
                        chunk, parent, visibility, idempotency, bulk=bulk
                    )
                except RetryLater:
                    raise
                except Exception as exc:
                    error = as_delivery_error(exc, account.api)
                    if isinstance(error, Undeliverable) and render.is_length_refusal(str(error)):
                        return await self._post_shorter(
                            chunk, prefix, parent, visibility, idempotency, str(error), bulk=bulk
                        )
                    raise error from exc
                return str(status["id"])

            return post

        last = await self._partial.send(
            key, [part(index, chunk) for index, chunk in enumerate(chunks)], first=reply_to
        )
        return Delivery(platform_ref=last)

    async def _post_shorter(
        self,
        chunk: str,
        prefix: str,
        parent: str | None,
        visibility: str,
        idempotency: str,
        reason: str,
        *,
        bulk: bool = False,
    ) -> str:
        """Post a status the server refused as too long as a thread of smaller ones.

        Mastodon counts every link as 23 characters
        (https://docs.joinmastodon.org/user/posting/#text), but some servers count a link
        at its real length: after a length refusal links are counted that way from then on,
        and the refused status is cut to the limit the refusal names (else a smaller one),
        smaller again each time it is refused.
        """
        account = self.account
        if not account.links_at_real_length:
            account.links_at_real_length = True
            log.warning(
                "mastodon: a status was refused as too long (%s); counting links at their "
                "real length from now on",
                reason,
            )
        body = chunk.removeprefix(prefix)
        limit = max(
            measure_floor(prefix),
            min(account.config.max_characters, render.limit_named(reason) or 10**6),
        )
        floor = measure_floor(prefix)
        for attempt in range(SHORTER_ATTEMPTS):
            pieces = render.split_status(body, prefix=prefix, limit=limit, url_length=None)
            if attempt or pieces == [chunk]:  # as refused: smaller still
                limit = int(limit * 0.75)
                if limit < floor:
                    break
                pieces = render.split_status(body, prefix=prefix, limit=limit, url_length=None)
            try:
                for number, piece in enumerate(pieces):
                    status = await self._post_reply(
                        piece, parent, visibility, f"{idempotency}-s{attempt}-{number}", bulk=bulk
                    )
                    parent = str(status["id"])
            except RetryLater:
                raise
            except Exception as exc:
                error = as_delivery_error(exc, account.api)
                if isinstance(error, Undeliverable) and render.is_length_refusal(str(error)):
                    reason = str(error)
                    continue
                raise error from exc
            assert parent is not None
            return parent
        raise Undeliverable(f"{reason} (still too long after splitting smaller)")

    async def _post_reply(
        self,
        text: str,
        reply_to: str | None,
        visibility: str,
        idempotency: str,
        *,
        bulk: bool = False,
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
                announce=True,
                bulk=bulk,
            )
        except MastodonAPIError as exc:
            if reply_to is None or not (
                isinstance(exc, MastodonNotFoundError) or status_code(exc) == 403
            ):
                raise
            # The status being answered was deleted (404), or the instance will not let
            # the account answer it (403: a status it may no longer see): said outside
            # the thread. A 403 then too is about the account (as_delivery_error).
            status = await api.call(
                client.status_post,
                text,
                visibility=visibility,
                idempotency_key=idempotency + "-u",
                max_wait=self.send_max_wait,
                announce=True,
                bulk=bulk,
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
