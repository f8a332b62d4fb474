"""The bot account as every part of the Mastodon adapter sees it.

One client and one request budget per account, shared by intake, sending and
publishing; who the bot is is learnt once, on first use, and the instance's limits once
per process while fresh (:func:`adapters.mastodon.limits.remembered`), a failed lookup
included, so that no message spends the request budget asking again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests
from mastodon import Mastodon

from adapters.mastodon import limits
from adapters.mastodon.api import DEFAULT_TIMEOUT, MastodonAPI, make_client
from adapters.mastodon.pacing import RequestPacer

log = logging.getLogger(__name__)


class NotMastodon(Exception):
    """The instance address answered, but not as a Mastodon API does."""


class Account:
    """The bot account: its client, its paced API, who it is and what its instance allows.

    Args:
        base_url: the instance (``MASTODON_API_BASE_URL``).
        access_token: the bot account's token.
        pacer: the account's request budget.
        timeout: seconds allowed for one request.
        on_config: told the instance's limits whenever they are read.
    """

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        pacer: RequestPacer,
        timeout: float = DEFAULT_TIMEOUT,
        on_config: Callable[[limits.InstanceConfig], None] = lambda config: None,
    ) -> None:
        self.base_url = base_url
        self._token = access_token
        self.client: Mastodon = make_client(base_url, access_token, timeout=timeout)
        self.api = MastodonAPI(self.client, pacer, timeout=timeout)
        self.config = limits.DEFAULT_CONFIG
        self.limits_known = False
        # Set after the server refused a status as too long although it fitted as counted
        # with links at 23 characters: from then on links count at their real length.
        self.links_at_real_length = False
        self._config_at: float | None = None
        self.me_id: str | None = None
        self._on_config = on_config
        self._lock = asyncio.Lock()

    async def connect(self, *, refresh: bool = False) -> None:
        """Learn who the bot is and the instance's limits.

        The limits come from this process's earlier lookup while it is fresh, failed or
        not; ``refresh`` only re-reads what that lookup holds, never spends a request.
        """
        async with self._lock:
            if self.me_id is None:
                me: Mapping[str, Any] = await self.api.call(self.client.me)
                if not isinstance(me, Mapping) or "id" not in me:
                    raise NotMastodon("its answer for the bot account holds no account")
                self.me_id = str(me["id"])
            lookup = limits.remembered(self.base_url)
            if lookup is None:
                try:
                    config = await self.api.call(limits.fetch_config, self.client)
                except Exception as exc:
                    lookup = limits.remember(self.base_url, None, str(exc))
                else:
                    lookup = limits.remember(self.base_url, config)
            elif not refresh and lookup.at == self._config_at:
                return
            self.config, self.limits_known, self._config_at = lookup.config, lookup.known, lookup.at
            self._on_config(self.config)

    def url_length(self) -> int | None:
        """How a link counts in a status here: 23 (Mastodon), or ``None`` for its real length."""
        if self.links_at_real_length:
            return None
        return self.config.characters_reserved_per_url

    def stream_client(self, session: requests.Session) -> Mastodon:
        """A client of the same account on its own ``requests`` session, for the stream."""
        return make_client(self.base_url, self._token, timeout=self.api.timeout, session=session)

    async def close(self) -> None:
        """Release the client's connections."""
        await asyncio.to_thread(self.client.session.close)
