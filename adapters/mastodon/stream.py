"""The bot account's user stream, read in a worker thread and handed to the event loop.

Mastodon's streaming API sends notifications as server-sent events and a keep-alive
comment every few seconds (https://docs.joinmastodon.org/methods/streaming/). The
stream is read with Mastodon.py's *blocking* ``stream_user`` in a worker thread:

* it raises at once when the instance has no streaming server (404) or the connection
  is refused (502), so the adapter knows to poll instead; ``run_async=True`` would retry
  a failed first connection forever without saying so;
* its read timeout is the stall detector: a stream with no keep-alive for
  ``stall_timeout`` seconds ends with an error, and the adapter polls until it is back;
* it is live from its first keep-alive (Mastodon's server sends one as soon as the
  stream opens), which :meth:`UserStream.open` waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from mastodon import Mastodon, StreamListener

log = logging.getLogger(__name__)


#: The ``type`` of what the stream hands on for a deleted status (no notification type).
DELETED = "engage:deleted"
#: The ``type`` of what the stream hands on for an edited status, with the status as it
#: now is (no notification type: Mastodon notifies no edit to the accounts mentioned).
EDITED = "engage:edited"


class _Closed(Exception):
    """Raised inside the reading thread to leave the stream."""


class _Listener(StreamListener):
    """Hands notifications to the loop; marks the stream live on its first keep-alive."""

    def __init__(self, stream: UserStream) -> None:
        super().__init__()
        self.stream = stream

    def handle_stream(self, response: Any) -> None:
        self.stream._response = response
        if self.stream._closing.is_set():
            raise _Closed
        super().handle_stream(response)  # type: ignore[no-untyped-call]

    def handle_heartbeat(self) -> None:
        if self.stream._closing.is_set():
            raise _Closed
        self.stream._beat()

    def on_notification(self, notification: Any) -> None:
        if self.stream._closing.is_set():
            raise _Closed
        self.stream._beat()
        self.stream._deliver(notification)

    def on_delete(self, status_id: Any) -> None:
        # A status the account was shown was deleted: a reply or direct message to the
        # bot among them (Mastodon tells the accounts a status mentions).
        if self.stream._closing.is_set():
            raise _Closed
        self.stream._beat()
        self.stream._deliver({"type": DELETED, "status_id": str(status_id)})

    def on_status_update(self, status: Any) -> None:
        # A status the account was shown was edited: Mastodon streams an edit to the
        # local accounts the status mentions (a reply or direct message to the bot among
        # them) as ``status.update``, and sends no notification of it.
        if self.stream._closing.is_set():
            raise _Closed
        self.stream._beat()
        self.stream._deliver({"type": EDITED, "status": status})

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        # Newer servers add event kinds; they are not ours to fail on.
        return None


class _StreamSession(requests.Session):
    """Remembers the streaming response, so it is closed even when Mastodon.py raises.

    Mastodon.py raises on a refused stream (404, 502) without closing the response,
    which would leave its socket to the garbage collector.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stream_response: requests.Response | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        if kwargs.get("stream"):
            self.stream_response = response
        return response


class UserStream:
    """One connection to ``/api/v1/streaming/user``, with a client of its own.

    Args:
        make_client: builds the bot account's Mastodon.py client on a given
            ``requests`` session (the stream's own, closed with it).
        on_notification: called on the event loop with each notification dict.
        stall_timeout: seconds without any data (keep-alives included) after which the
            stream counts as stalled and ends.
    """

    def __init__(
        self,
        make_client: Callable[[requests.Session], Mastodon],
        on_notification: Callable[[Any], None],
        *,
        stall_timeout: float = 45.0,
    ) -> None:
        self._session = _StreamSession()
        self.client = make_client(self._session)
        self.on_notification = on_notification
        self.stall_timeout = stall_timeout
        self.error: BaseException | None = None
        self.last_beat: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live = asyncio.Event()
        self._ended = asyncio.Event()
        self._closing = threading.Event()
        self._response: Any = None
        self._task: asyncio.Task[None] | None = None

    # -- from the reading thread ---------------------------------------------------------

    def _beat(self) -> None:
        self.last_beat = time.monotonic()
        if self._loop is not None and not self._live.is_set():
            self._loop.call_soon_threadsafe(self._live.set)

    def _deliver(self, notification: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_notification, notification)

    def _read(self) -> None:
        try:
            self.client.stream_user(_Listener(self), run_async=False, timeout=self.stall_timeout)
        except _Closed:
            pass
        except Exception as exc:
            if not self._closing.is_set():
                self.error = exc
        finally:
            if self._session.stream_response is not None:
                self._session.stream_response.close()
            self._session.close()

    # -- from the loop -----------------------------------------------------------------

    async def open(self, *, probe_timeout: float = 10.0) -> bool:
        """Connect; ``True`` once the first keep-alive arrives, ``False`` if it never does."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="mastodon-stream")
        live = asyncio.ensure_future(self._live.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({live, ended}, timeout=probe_timeout, return_when="FIRST_COMPLETED")
        finally:
            live.cancel()
            ended.cancel()
        if self._live.is_set() and not self._ended.is_set():
            return True
        if self.error is None and not self._ended.is_set():
            self.error = TimeoutError(f"no keep-alive within {probe_timeout:g} s")
        await self.close()
        return False

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self._read)
        finally:
            self._ended.set()

    @property
    def alive(self) -> bool:
        """Still connected (not ended by an error, a stall or :meth:`close`)."""
        return self._task is not None and not self._ended.is_set()

    async def wait_ended(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the stream to end; ``True`` if it has."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), within)
        return self._ended.is_set()

    async def close(self, *, within: float = 5.0) -> None:
        """End the stream and wait (up to ``within`` seconds) for its thread to finish."""
        self._closing.set()
        response = self._response
        if response is not None:
            # Unblocks a read that is waiting for the next keep-alive.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(response.close)
        if self._task is not None and not await self.wait_ended(within):
            log.warning("mastodon: the stream thread did not end within %g s", within)
