"""Launching and closing a consultation on Mastodon.

Launch posts an introduction carrying the consent text and how to leave, then each item
as a reply in that thread: polls as native Mastodon polls, prompts and threads as posts
inviting replies. The instance's own limits (``/api/v2/instance``) are checked first, so
nothing is posted when something won't fit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mastodon import MastodonNotFoundError, MastodonRatelimitError, MastodonUnauthorizedError

from adapters.mastodon import limits
from adapters.mastodon.account import Account
from adapters.mastodon.api import (
    account_refused,
    error_text,
    is_transient,
    status_code,
    token_refused,
)
from adapters.mastodon.convert import CHANNEL
from adapters.plumbing import launch
from adapters.plumbing.sending import part_key
from adapters.plumbing.timing import Sleep
from channels.adapter import CredentialsRejected, PublishedPost
from channels.store import ChannelStore, Tally
from consultations.spec import ConsultationSpec, SpecError

log = logging.getLogger(__name__)

LAUNCH_ATTEMPTS = 4


class PublishError(Exception):
    """Launch posts could not be made; the message names the item."""


class Launcher:
    """Posts a consultation's thread at launch and closes it.

    Args:
        account: the bot account.
        store: where final poll tallies go.
        sleep: how to wait between attempts.
    """

    def __init__(self, account: Account, store: ChannelStore, *, sleep: Sleep) -> None:
        self.account = account
        self.store = store
        self.sleep = sleep

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the introduction, then each item as a reply under the one before.

        The spec is checked against the instance's limits first; if a post is refused
        part way, the posts already made are deleted, so a launch either happens whole or
        can simply be run again.

        Raises:
            SpecError: the spec does not fit this instance; each problem names its item.
            PublishError: Mastodon refused a post; the message names the item.
            CredentialsRejected: the instance refused the token (401) or the account (403).
        """
        try:
            await self.account.connect(refresh=True)
        except Exception as exc:
            if (refused := _refusal(exc)) is not None:
                raise refused from exc
            raise
        config = self.account.config
        now = datetime.now(UTC)
        problems = limits.check_spec(spec, config, now=now)
        if problems:
            raise SpecError(problems)
        visibility = spec.mastodon.visibility
        duration = limits.poll_duration(spec, config, now)
        nonce = secrets.token_hex(8)
        posted: list[PublishedPost] = []
        where = "the introduction"
        # A follow-up ("you said, we did") is posted in the thread of the consultation it
        # follows, under that thread's last post, where the people who took part in public
        # will see it.
        earlier = await self._thread_end(spec)
        try:
            try:
                intro = await self._post(
                    launch.intro_text(spec), earlier, visibility, f"{spec.id}:{nonce}:intro"
                )
            except MastodonNotFoundError:
                if earlier is None:
                    raise
                # The earlier thread is gone: the follow-up starts a thread of its own.
                intro = await self._post(
                    launch.intro_text(spec), None, visibility, f"{spec.id}:{nonce}:intro-new"
                )
            posted.append(PublishedPost(None, str(intro["id"]), "intro"))
            parent = str(intro["id"])
            for index, item in enumerate(spec.items):
                if item.at is not None:
                    continue  # a timed chat's question: posted at its time (post_question)
                where = f"items[{index}] ({item.id})"
                poll = None
                if item.type == "poll":
                    poll = self.account.client.make_poll(
                        list(item.options), expires_in=duration, multiple=item.multiple
                    )
                status = await self._post(
                    launch.item_text(item, spec.wording()),
                    parent,
                    visibility,
                    # "item:" keeps an item whose id is "intro" apart from the intro.
                    f"{spec.id}:{nonce}:item:{item.id}",
                    poll,
                )
                parent = str(status["id"])
                posted.append(PublishedPost(item.id, parent, "item"))
                if status.get("poll"):
                    poll_id = str(status["poll"]["id"])
                    posted.append(PublishedPost(item.id, f"poll:{poll_id}", "poll"))
        except Exception as exc:
            await self._withdraw(posted)
            # The token revoked, or the account refused (403 to its own post): not this
            # consultation's fault, and no other launch gets further.
            if (refused := _refusal(exc)) is not None:
                raise refused from exc
            raise PublishError(f"{where}: Mastodon refused the post: {error_text(exc)}") from exc
        return posted

    async def _thread_end(self, spec: ConsultationSpec) -> str | None:
        """The last post of the thread of the first consultation ``spec`` follows, if any."""
        if spec.follow_up is None:
            return None
        for earlier in spec.follow_up.of:
            posts = await self.store.posts_of("mastodon", earlier)
            thread = [p.platform_ref for p in posts if p.kind in ("intro", "item")]
            if thread:
                return thread[-1]
        return None

    async def post_question(
        self, spec: ConsultationSpec, item_id: str, text: str, posts: Sequence[PublishedPost]
    ) -> list[PublishedPost]:
        """Post a timed question as a reply in the consultation's thread.

        It goes under the thread's latest post (the introduction, or the question before),
        so Q1..Qn read in order as one thread.
        """
        await self.account.connect()
        parent = next(
            (p.platform_ref for p in reversed(posts) if p.kind in ("item", "intro")), None
        )
        status = await self._post(
            text, parent, spec.mastodon.visibility, f"{spec.id}:{item_id}:timed"
        )
        return [PublishedPost(item_id, str(status["id"]), "item")]

    async def _post(
        self, text: str, reply_to: str | None, visibility: str, key: str, poll: Any = None
    ) -> Mapping[str, Any]:
        """One launch post, retried through rate limits and server errors (same key)."""
        api, client = self.account.api, self.account.client
        idempotency = part_key(key, 0)

        async def post() -> Mapping[str, Any]:
            status: Mapping[str, Any] = await api.call(
                client.status_post,
                text,
                in_reply_to_id=reply_to,
                visibility=visibility,
                poll=poll,
                idempotency_key=idempotency,
            )
            return status

        def retry_in(exc: Exception, attempt: int) -> float | None:
            if not is_transient(exc):
                return None
            if isinstance(exc, MastodonRatelimitError):
                return api.retry_after()
            return 2.0 ** (attempt - 1)

        return await launch.with_retries(
            post,
            retry_in=retry_in,
            sleep=self.sleep,
            attempts=LAUNCH_ATTEMPTS,
            log=log,
            what="mastodon: posting",
        )

    async def _withdraw(self, posted: Sequence[PublishedPost]) -> None:
        for post in reversed(posted):
            if post.kind == "poll":
                continue
            try:
                await self.account.api.call(self.account.client.status_delete, post.platform_ref)
            except Exception as exc:
                log.warning("mastodon: could not delete launch post %s: %s", post.platform_ref, exc)

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Store each poll's final tally and post in the thread that the consultation closed.

        Mastodon has no way to end a poll early; it ends at the expiry set at launch (the
        consultation's ``closes_at``). The final tally stored here is what counts; votes
        after it are not read.
        """
        await self.account.connect()
        tallies: list[Tally] = []
        for post in posts:
            if post.kind != "poll" or post.item_id is None:
                continue
            poll_id = post.platform_ref.removeprefix("poll:")
            poll: Mapping[str, Any] = await self.account.api.call(self.account.client.poll, poll_id)
            tallies.append(
                Tally(
                    consultation_id=spec.id,
                    item_id=post.item_id,
                    poll_id=poll_id,
                    counts={
                        str(o["title"]): int(o.get("votes_count") or 0) for o in poll["options"]
                    },
                    final=True,
                )
            )
        if tallies:
            await self.store.record_tallies(CHANNEL, tallies)
        intro = next((p for p in posts if p.kind == "intro"), None)
        if intro is not None:
            await self._post(
                launch.closing_text(spec),
                intro.platform_ref,
                spec.mastodon.visibility,
                f"{spec.id}:closed",
            )


def _refusal(error: BaseException) -> CredentialsRejected | None:
    """The token refused (401) or the bot account refused (403 to one of its own calls)."""
    if isinstance(error, MastodonUnauthorizedError):
        return token_refused()
    if status_code(error) == 403:
        return account_refused(error)
    return None
