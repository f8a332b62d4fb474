"""python-telegram-bot's requests to the Bot API, made with aiohttp.

PTB makes its HTTP requests through a :class:`telegram.request.BaseRequest`; its default,
``HTTPXRequest``, cost a busy worker more CPU per message sent than the rest of the send
together (httpcore scans every pooled connection on each request, and asks each socket
for its peer). This one gives PTB the same answers through aiohttp's client, which the
web server already loads: PTB still builds every call, reads every answer and maps
every status code to its errors (:meth:`telegram.request.BaseRequest.post`), so what a
caller of :class:`telegram.Bot` sees is unchanged.

As with PTB's defaults: 5 s to connect, write and read, 1 s to wait for a free pooled
connection, 20 s to write a file upload; form-encoded bodies (multipart with files);
redirects not followed; a request that failed is never sent again here; certificates
checked against certifi's authorities, as httpx does; a proxy named by the environment
(``HTTPS_PROXY``, ``NO_PROXY``), as httpx took it: a hospital's network often reaches the
internet only through one. aiohttp has no write timeout of its own: each request as a
whole is limited to the sum of its timeouts instead.

The proxy is read from the environment once, when the session opens, and the answer kept
for each origin (in practice the one Bot API host): aiohttp's own ``trust_env`` reads the
environment and ``~/.netrc`` again on every request, in two trips to a thread of the
executor, which cost a sending worker more CPU than building the request.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass

import aiohttp
import certifi
from aiohttp.helpers import ProxyInfo, proxies_from_env
from telegram import error as tg_error
from telegram.request import BaseRequest, RequestData

# PTB's defaults (telegram.request.HTTPXRequest).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

Timeouts = tuple[Any, Any, Any, Any]
# PTB's "not given" marker (BaseRequest.DEFAULT_NONE) is of this type.
_NOT_GIVEN = type(BaseRequest.DEFAULT_NONE)
# Distinct timeout combinations kept built (PTB passes a handful: defaults, long polling).
_KEPT = 32
# A request's proxy and its credentials, or None for none.
_Proxy = tuple[Any, aiohttp.BasicAuth | None]


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session and its pool of connections.

    Args:
        connections: connections kept open at most (PTB's default pool size is 256;
            polling needs one).
        read_timeout: seconds to wait for the answer (per call, PTB adds the long-polling
            timeout to it for ``getUpdates``).
        write_timeout: seconds to send the request.
        connect_timeout: seconds to open a connection.
        pool_timeout: seconds to wait for a free connection when all are busy.
        media_write_timeout: ``write_timeout`` of a request that uploads a file.
    """

    __slots__ = (
        "_connections",
        "_defaults",
        "_media_write_timeout",
        "_proxies",
        "_proxy_by_origin",
        "_read_timeout",
        "_session",
        "_timeouts",
    )

    def __init__(
        self,
        connections: int = 256,
        *,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = WRITE_TIMEOUT,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._defaults: Timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, ProxyInfo] = {}
        self._proxy_by_origin: dict[str, _Proxy] = {}

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call names none (PTB adds long polling's to it)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (again, after :meth:`shutdown`)."""
        if self._session is None or self._session.closed:
            # HTTP(S)_PROXY, with credentials from ~/.netrc where the URL has none, as
            # aiohttp's trust_env takes them.
            self._proxies = proxies_from_env()
            self._proxy_by_origin = {}
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._connections,
                    limit_per_host=0,
                    ssl=ssl.create_default_context(cafile=certifi.where()),
                ),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One request; the status and body, for PTB to read and map to its errors.

        Raises:
            telegram.error.TimedOut: no answer in time; :func:`not_sent` tells whether
                the request can have reached Telegram.
            telegram.error.NetworkError: the connection failed.
            RuntimeError: not initialised (PTB reports it as a ``NetworkError``).
        """
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        given: Timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        timeout = self._timeouts.get(given) if not files else None
        if timeout is None:
            timeout = self._timeout(given, files)
        data: Any = None
        headers = None
        if request_data is not None:
            if files:
                data = _multipart(request_data)
            else:
                data = request_data.url_encoded_parameters().encode()
                headers = _FORM
        proxy, proxy_auth = self._proxy(url)
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise tg_error.TimedOut(
                "Timed out waiting for a connection: the request was not sent"
            ) from exc
        except TimeoutError as exc:  # aiohttp's read timeout, or the whole request's
            raise tg_error.TimedOut from exc
        except aiohttp.ClientError as exc:
            raise tg_error.NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    def _proxy(self, url: str) -> _Proxy:
        """The proxy for ``url`` as the environment named it when the session opened."""
        origin = url.split("/", 3)[:3]  # scheme, "", host and port
        key = "/".join(origin)
        found = self._proxy_by_origin.get(key)
        if found is None:
            parsed = urlsplit(url)
            info = self._proxies.get(parsed.scheme)
            if info is None or (parsed.hostname is not None and proxy_bypass(parsed.hostname)):
                found = (None, None)
            else:
                found = (info.proxy, info.proxy_auth)
            self._proxy_by_origin[key] = found
        return found

    def _timeout(self, given: Timeouts, files: bool) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts for the ones PTB passed (its ``DEFAULT_NONE``: ours)."""
        read, write, connect, pool = (
            default if isinstance(value, _NOT_GIVEN) else value
            for value, default in zip(given, self._defaults, strict=True)
        )
        if files and isinstance(given[1], _NOT_GIVEN):
            write = self._media_write_timeout
        parts = (read, write, connect, pool)
        timeout = aiohttp.ClientTimeout(
            # Waiting for a pooled connection and opening one: both before anything is sent.
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
            total=None if None in parts else sum(p for p in parts if p is not None),
        )
        if not files and len(self._timeouts) < _KEPT:
            self._timeouts[given] = timeout
        return timeout


def not_sent(exc: tg_error.TimedOut) -> bool:
    """Whether a timeout came before the request left (no connection in time): safe to retry."""
    return isinstance(exc.__cause__, aiohttp.ConnectionTimeoutError)


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """A file upload: the parameters and the files as ``multipart/form-data``."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, upload in request_data.multipart_data.items():
        filename, content, *kind = upload
        form.add_field(name, content, filename=filename, content_type=kind[0] if kind else None)
    return form
