"""The bot account as every part of the Mastodon adapter sees it.

One client and one request budget per account, shared by intake, sending and
publishing; who the bot is and the instance's limits are learnt once, on first use.
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
        self.me_id: str | None = None
        self._on_config = on_config
        self._lock = asyncio.Lock()

    async def connect(self, *, refresh: bool = False) -> None:
        """Learn who the bot is and the instance's limits (once, or again if ``refresh``)."""
        async with self._lock:
            if self.me_id is None:
                me: Mapping[str, Any] = await self.api.call(self.client.me)
                self.me_id = str(me["id"])
            if refresh or self.config is limits.DEFAULT_CONFIG:
                try:
                    self.config = await self.api.call(limits.fetch_config, self.client)
                except Exception as exc:
                    log.warning("mastodon: instance limits unavailable (%s); using defaults", exc)
                self._on_config(self.config)

    def stream_client(self, session: requests.Session) -> Mastodon:
        """A client of the same account on its own ``requests`` session, for the stream."""
        return make_client(self.base_url, self._token, timeout=self.api.timeout, session=session)

    async def close(self) -> None:
        """Release the client's connections."""
        await asyncio.to_thread(self.client.session.close)
