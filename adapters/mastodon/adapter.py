"""The Mastodon channel adapter: launch threads, intake of replies and DMs, sending.

The adapter is the :class:`channels.adapter.ChannelAdapter` face of three parts sharing
one bot account (:mod:`adapters.mastodon.account`):

* :mod:`adapters.mastodon.intake`: mention notifications (streamed, or polled from a
  saved cursor) and the replies and poll tallies under each open consultation's thread;
* :mod:`adapters.mastodon.sending`: the outbox's messages as direct statuses;
* :mod:`adapters.mastodon.publishing`: the launch thread, timed questions, and closing it.
* :mod:`adapters.mastodon.listening`: hashtag timelines read for listening consultations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mastodon import MastodonAPIError, MastodonUnauthorizedError

from adapters.mastodon import limits
from adapters.mastodon.account import Account, NotMastodon
from adapters.mastodon.api import (
    DEFAULT_TIMEOUT,
    account_refused,
    error_text,
    is_transient,
    status_code,
    token_refused,
)
from adapters.mastodon.convert import CHANNEL
from adapters.mastodon.intake import MastodonIntake
from adapters.mastodon.listening import Listener
from adapters.mastodon.pacing import RequestPacer
from adapters.mastodon.publishing import Launcher, PublishError
from adapters.mastodon.sending import StatusSender
from adapters.plumbing.intake import FIRST_BACKOFF
from adapters.plumbing.timing import Clock, Sleep, Stopper, monotonic
from channels.adapter import (
    Capabilities,
    CredentialsRejected,
    Delivery,
    EventSink,
    PlatformUnreachable,
    PublishedPost,
)
from channels.events import OutboundMessage
from channels.store import ChannelStore
from consultations.spec import ConsultationSpec

__all__ = ["MastodonAdapter", "PublishError"]


class MastodonAdapter:
    """Mastodon as a :class:`channels.adapter.ChannelAdapter`, for one bot account.

    Args:
        base_url: the instance (``MASTODON_API_BASE_URL``).
        access_token: the bot account's token.
        store: the channel store, for the cursor, launch posts, tallies and sent questions.
        streaming: use the streaming API when the instance has it.
        poll_interval: seconds between notification polls when not streaming.
        reconcile_interval: seconds between notification polls while streaming, to catch
            anything a reconnect missed.
        sweep_interval: seconds between reads of each open consultation's thread
            (replies to replies, and poll tallies).
        stall_timeout: seconds without a keep-alive after which the stream is given up.
        probe_timeout: seconds to wait for a new stream's first keep-alive.
        stream_retry: seconds of polling before the stream is tried again.
        retry_backoff: seconds before the intake tries again after a failed round
            (a server error, the network); doubles after each failure, up to a minute.
        timeout: seconds allowed for one request.
        pacer: the account's request budget (default: 300 per 5 minutes).
        send_max_wait: longest wait for a request slot when sending; beyond it the outbox
            row is put back to retry later.
        clock: monotonic seconds.
        sleep: how to wait (pauses between polls, launch retries, the pacer's waits).
    """

    name = CHANNEL
    capabilities = Capabilities(
        native_polls=True,
        per_person_polls=False,
        buttons=False,
        threads=True,
        limits=limits.DEFAULT_CONFIG.channel_limits(),
        max_per_second=1.0,
        announces_requests=True,
    )

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        store: ChannelStore,
        streaming: bool = True,
        poll_interval: float = 30.0,
        reconcile_interval: float = 300.0,
        sweep_interval: float = 60.0,
        listen_interval: float = 60.0,
        stall_timeout: float = 45.0,
        probe_timeout: float = 10.0,
        stream_retry: float = 300.0,
        retry_backoff: float = FIRST_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        pacer: RequestPacer | None = None,
        send_max_wait: float = 5.0,
        clock: Clock = monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.account = Account(
            base_url,
            access_token,
            pacer=pacer or RequestPacer(clock=clock, sleep=sleep),
            timeout=timeout,
            on_config=self._configured,
        )
        self.stopper = Stopper(sleep)
        self.intake = MastodonIntake(
            self.account,
            store,
            self.stopper,
            clock=clock,
            streaming=streaming,
            poll_interval=poll_interval,
            reconcile_interval=reconcile_interval,
            sweep_interval=sweep_interval,
            stall_timeout=stall_timeout,
            probe_timeout=probe_timeout,
            stream_retry=stream_retry,
            retry_backoff=retry_backoff,
        )
        self.listener = Listener(self.account, store, self.stopper, interval=listen_interval)
        self._listening: asyncio.Task[None] | None = None
        self.sender = StatusSender(
            self.account, send_max_wait=send_max_wait, titles=store.consultation_titles
        )
        self.launcher = Launcher(self.account, store, sleep=sleep)

    def _configured(self, config: limits.InstanceConfig) -> None:
        self.capabilities = replace(self.capabilities, limits=config.channel_limits())

    @property
    def mode(self) -> str:
        """How notifications are read: ``stopped``, ``streaming`` or ``polling``."""
        return self.intake.mode

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Connect, then read notifications (streaming or polling) and watch open threads.

        Raises :class:`CredentialsRejected` when the instance refuses the token (401) or
        its account (403), or when what answers at the address is not a Mastodon API
        (404, or a body that is not JSON), and :class:`PlatformUnreachable` when it
        cannot be reached or fails for now.
        """
        try:
            await self.account.connect(refresh=True)
        except MastodonUnauthorizedError:
            raise token_refused() from None
        except Exception as exc:
            if is_transient(exc):
                raise PlatformUnreachable(
                    f"the Mastodon instance could not be reached ({error_text(exc)})"
                ) from None
            code = status_code(exc)
            if isinstance(exc, NotMastodon) or code in (404, 405, 410) or _not_json(exc):
                # Something answers at MASTODON_API_BASE_URL, but not Mastodon's API (a
                # web site, a path too many): the same address gets the same answer.
                if isinstance(exc, NotMastodon):
                    why = str(exc)
                elif code is not None:
                    why = f"HTTP {code} where the bot account should be"
                else:
                    why = "its answer for the bot account is not JSON"
                raise CredentialsRejected(
                    "MASTODON_API_BASE_URL",
                    f"{self.account.base_url} does not answer as a Mastodon instance ({why})",
                ) from None
            if code == 403:
                # The token is known but its account may not act (disabled, suspended, not
                # yet approved) or the token lacks a scope: asking again gets the same.
                raise account_refused(exc) from None
            raise
        self.stopper.clear()
        await self.intake.start(sink)
        self._listening = asyncio.create_task(self.listener.run(sink), name="mastodon-listen")

    async def stop(self) -> None:
        """Stop reading; what was read is already committed to the inbox."""
        self.stopper.set()
        await self.intake.stop()
        if self._listening is not None:
            await asyncio.gather(self._listening, return_exceptions=True)
            self._listening = None
        await self.account.close()

    # -- the rest of the protocol -----------------------------------------------------

    async def send(self, address: Any, message: OutboundMessage, *, key: str) -> Delivery:
        """Deliver one message; see :meth:`adapters.mastodon.sending.StatusSender.send`."""
        return await self.sender.send(address, message, key=key)

    async def publish(self, spec: ConsultationSpec) -> list[PublishedPost]:
        """Post the launch thread; see :meth:`adapters.mastodon.publishing.Launcher.publish`."""
        return await self.launcher.publish(spec)

    async def post_question(
        self, spec: ConsultationSpec, item_id: str, text: str, posts: Sequence[PublishedPost]
    ) -> list[PublishedPost]:
        """Post a timed question in the thread (``channels.adapter.QuestionPoster``)."""
        return await self.launcher.post_question(spec, item_id, text, posts)

    async def close(self, spec: ConsultationSpec, posts: Sequence[PublishedPost]) -> None:
        """Store final tallies and say the consultation closed, under its introduction."""
        await self.launcher.close(spec, posts)


def _not_json(error: BaseException) -> bool:
    """Whether Mastodon.py gave up reading a successful answer as JSON (a web page)."""
    return (
        isinstance(error, MastodonAPIError)
        and bool(error.args)
        and str(error.args[0]).startswith("Could not parse response as JSON")
    )
