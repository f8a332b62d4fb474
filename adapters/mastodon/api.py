"""Mastodon.py, called off the event loop, paced, with a timeout on every call.

Mastodon.py is blocking, so each call runs in a worker thread (``asyncio.to_thread``).
The client is built with ``ratelimit_method="throw"`` (never the default ``"wait"``,
which would sleep for minutes inside a worker thread) and ``version_check_mode="none"``,
so a server whose version string Mastodon.py cannot parse (forks, development builds)
still works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from adapters.mastodon.pacing import RequestPacer
from channels.adapter import CredentialsRejected, RetryLater, Undeliverable, request_starting

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
"""Seconds allowed for one request (connect and read)."""


def make_client(
    base_url: str,
    access_token: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> Mastodon:
    """A Mastodon.py client that throws on rate limits and skips version checks."""
    return Mastodon(
        api_base_url=base_url,
        access_token=access_token,
        ratelimit_method="throw",
        version_check_mode="none",
        request_timeout=timeout,
        user_agent="engage (health service consultations)",
        session=session,
    )


class MastodonAPI:
    """Runs Mastodon.py calls in worker threads, within the pacer's budget.

    Args:
        client: the bot account's client (see :func:`make_client`).
        pacer: the account's request budget, shared by everything using ``client``.
        timeout: seconds allowed for one call; the client's own request timeout ends the
            worker thread too, so no thread outlives a call for long.
    """

    def __init__(
        self,
        client: Mastodon,
        pacer: RequestPacer,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        concurrency: int = 3,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.timeout = timeout
        # A slot must be used when it is granted: were more calls granted than worker
        # threads can start, the queued ones would run late and bunched together, more of
        # them in one window than the pacer allowed. Few calls in flight keeps grant and
        # start together (asyncio's default executor has at least five threads, and the
        # stream holds one).
        self._in_flight = asyncio.Semaphore(concurrency)
        # When the last 429 said requests may start again (the pacer's clock), read as it
        # came: see :meth:`retry_after`.
        self._limited_until: float | None = None

    async def call(
        self,
        function: Callable[..., T],
        *args: Any,
        max_wait: float | None = None,
        announce: bool = False,
        bulk: bool = False,
        **kwargs: Any,
    ) -> T:
        """``function(*args, **kwargs)`` in a worker thread, paced and bounded in time.

        Raises what Mastodon.py raises (a 429 has already paused the pacer until the
        server's reset), or :class:`TimeoutError`, or :class:`RetryLater` when the next
        slot is more than ``max_wait`` seconds away. A ``bulk`` call (an invitation or a
        reminder) leaves the pacer's reserve to replies.
        """
        client = self.client
        async with self._in_flight:
            await self.pacer.acquire(max_wait=max_wait, bulk=bulk)
            if announce:
                # A request that delivers an outbox message starts now (after pacing).
                await request_starting()
            try:
                # A little longer than the client's own timeout, which ends the thread.
                return await asyncio.wait_for(
                    asyncio.to_thread(function, *args, **kwargs), self.timeout + 5.0
                )
            except MastodonRatelimitError:
                wait = self.pacer.seconds_until_reset(client.ratelimit_reset)
                self._limited_until = self.pacer.clock() + wait
                self.pacer.pause(wait)
                raise
            finally:
                self.pacer.observe(
                    client.ratelimit_limit, client.ratelimit_remaining, client.ratelimit_reset
                )

    def retry_after(self) -> float:
        """Seconds until the server's rate-limit window restarts, after a 429.

        The wait the last 429 gave, as it was read when the 429 came: the client keeps one
        reset time, which each later response rewrites, so a status posted at the same
        moment (its window's end minutes away, or another bucket's) made the intake wait
        297 s after a 429 that asked for 1 s. Without a 429 seen here, the client's own.
        """
        if self._limited_until is not None:
            return max(0.0, self._limited_until - self.pacer.clock())
        return self.pacer.seconds_until_reset(self.client.ratelimit_reset)


def status_code(error: BaseException) -> int | None:
    """The HTTP status of a Mastodon.py API error (``args[1]``), when it has one."""
    if isinstance(error, MastodonAPIError) and len(error.args) > 1:
        code = error.args[1]
        if isinstance(code, int):
            return code
    return None


def error_text(error: BaseException) -> str:
    """Mastodon's own words for an API error (``args[3]``), else the exception's text."""
    if isinstance(error, MastodonAPIError) and len(error.args) > 3 and error.args[3]:
        return str(error.args[3])
    return f"{type(error).__name__}: {error}"


def is_transient(error: BaseException) -> bool:
    """Worth trying again: a rate limit, a server error, a timeout or a network failure."""
    if isinstance(error, MastodonRatelimitError | MastodonServerError | MastodonNetworkError):
        return True
    if isinstance(error, TimeoutError):
        return True
    code = status_code(error)
    return code is not None and (code >= 500 or code in (408, 429))


def token_refused() -> CredentialsRejected:
    """What to raise when the instance refuses the access token (never quoting it)."""
    return CredentialsRejected(
        "MASTODON_ACCESS_TOKEN", "the Mastodon instance rejected the access token"
    )


def account_refused(error: BaseException) -> CredentialsRejected:
    """What to raise when the instance answers 403 to one of the bot account's own calls
    (who it is, its notifications, a status it posts on its own).

    Mastodon answers so for the account, not for one request: its login disabled or
    suspended, not yet approved or confirmed (``require_user!``), or a token without
    the scope the call needs ("This action is outside the authorized scopes"); asking
    again gets the same answer (https://docs.joinmastodon.org/entities/Error/,
    https://docs.joinmastodon.org/api/oauth-scopes/). Mastodon's own words say which.
    """
    # Mastodon.py keeps the words only where it reads the answer as an error (not for
    # calls that return a list, such as notifications): then the status's name says it.
    said = error.args[3] if isinstance(error, MastodonAPIError) and len(error.args) > 3 else None
    words = str(said or "").strip().splitlines()
    why = words[0][:200] if words else "Forbidden"
    return CredentialsRejected(
        "MASTODON_ACCESS_TOKEN", f"the Mastodon instance refused the bot account (403: {why})"
    )


def as_delivery_error(error: BaseException, api: MastodonAPI) -> Exception:
    """The outbox's terms for a failed send: :class:`RetryLater` or :class:`Undeliverable`,
    or :class:`CredentialsRejected` for a token revoked while running, or a 403 (the
    message waits in the outbox for a restart with a good one).

    Every request a send makes is the account's own, so a 403 is about the account: a
    reply the instance refuses for the status it answers is posted outside the thread
    before it comes here (:meth:`adapters.mastodon.sending.StatusSender._post_reply`).
    """
    if isinstance(error, MastodonUnauthorizedError):
        return token_refused()
    if status_code(error) == 403:
        return account_refused(error)
    if isinstance(error, MastodonRatelimitError):
        return RetryLater("Mastodon rate limit reached", after=api.retry_after(), throttled=True)
    if is_transient(error):
        return RetryLater(error_text(error))
    return Undeliverable(error_text(error))
