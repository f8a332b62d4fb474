"""Security for the whole web app: headers on every response, CSRF on every form post.

One middleware serves the participant pages, the dashboard and the webhooks. It puts
the security headers on every answer (errors and redirects too), and it checks the
CSRF token of every request with an unsafe method before the handler runs.

Each route that takes a form is declared with the :class:`FormGuard` of its surface,
which says what the token is tied to: the participant cookie on the consultation pages,
the sign-in session on the dashboard. Routes that authenticate in another way (platform
webhooks, which check a secret of their own) are declared exempt by path prefix. A route
declared neither way is refused, so forgetting the declaration fails closed.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from aiohttp.web_urldispatcher import AbstractRoute
from multidict import MultiDict, MultiDictProxy

from consultations.keys import KeyedSha256
from consultations.screening import drop_controls

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf"

# Scripts are never allowed: default-src 'none' and no script-src. Each page's one style
# element is allowed by its hash, and no other inline style (an injected <style> or style
# attribute does nothing). Forms post only to this site, and no other site may frame a
# page (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src {styles}; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# One year; sent only when the public address is https, or a browser that once saw it
# could not reach a plain-http development server on the same name.
HSTS = "max-age=31536000"
#: Seconds a form's body may take to arrive once its headers have: a client trickling
#: one byte at a time would otherwise hold its connection and handler for ever. Far
#: beyond what a form of at most 256 KiB needs on a slow mobile line.
BODY_TIMEOUT = 60.0
# What the Server header says: no program's name or version.
SERVER_NAME = "engage"


def not_text(charset: str) -> str:
    """The answer to a form whose text is not in its encoding (400; nothing is stored)."""
    return (
        f"The form could not be read: its text is not valid {charset.upper()}. Nothing was "
        "stored. Send it again from the page, or have the program that sent it encode "
        f"its text as {charset.upper()}."
    )


def _undecodable(body: bytes, charset: str) -> bool:
    """Whether a url-encoded form's names or values, once their %XX escapes are undone,
    are not text in ``charset``: aiohttp would store each broken byte as U+FFFD."""
    try:
        query = body.decode(charset)
        if codecs.lookup(charset).name == "utf-8":
            # No byte of a UTF-8 character is ASCII, so the separators ('&', '=') never
            # join or split one: the whole body, its escapes undone, is text exactly when
            # each name and value is. One pass instead of one per part.
            unquote_to_bytes(body.replace(b"+", b" ")).decode(charset)
            return False
        for pair in query.split("&"):
            for part in pair.split("="):
                unquote_to_bytes(part.replace("+", " ")).decode(charset)
    except UnicodeDecodeError:
        return True
    except LookupError:
        return False  # a charset Python does not know: reading the form says so
    return False


_FORM: web.RequestKey[MultiDictProxy[str | bytes]] = web.RequestKey("engage_form", MultiDictProxy)


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes]:
    """The request's form, as ``request.post()`` reads it, but with file parts of a
    multipart body read and dropped, never kept.

    No form here takes files. aiohttp spools each file part to a temporary file left
    open for the handler to close; when a later part cannot be read (text not in its
    encoding, a body over the size limit) the form is lost with those files still open.
    Read once per request (the CSRF guard first), then given again.
    """
    if request.content_type != "multipart/form-data":
        # A url-encoded body (or none): text fields only.
        return cast(MultiDictProxy[str | bytes], await request.post())
    if _FORM in request:
        return request[_FORM]
    form: MultiDict[str | bytes] = MultiDict()
    reader = await request.multipart()
    max_size = request.client_max_size
    max_fields = getattr(request, "client_max_fields", 0)
    size = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart parts are not read")
        if part.name is None:
            raise ValueError("Multipart field missing name.")
        if 0 < max_fields <= len(form):
            raise web.HTTPRequestEntityTooLarge(max_fields, len(form) + 1)
        data = bytearray()
        while chunk := await part.read_chunk():
            size += len(chunk)
            if 0 < max_size < size:
                raise web.HTTPRequestEntityTooLarge(max_size, size)
            if part.filename is None:
                data.extend(chunk)
        if part.filename is not None:
            continue  # a file: read to its end and dropped
        try:
            value = bytes(part.decode(data))
        except RuntimeError as exc:
            # A Content-Transfer-Encoding aiohttp does not decode (it raises RuntimeError
            # for those): the client's fault, refused as a broken form (ValueError).
            raise ValueError(str(exc)) from None
        kind = part.headers.get(hdrs.CONTENT_TYPE)
        if kind is None or kind.startswith("text/"):
            form.add(part.name, value.decode(part.get_charset(default="utf-8")))
        else:
            form.add(part.name, value)
    request[_FORM] = MultiDictProxy(form)
    return request[_FORM]


async def posted_texts(request: web.Request) -> list[tuple[str, str]]:
    """A form's text fields, in order, without control characters (tab and line breaks
    kept), as docs/security.md says of everything people send: a NUL, which PostgreSQL
    will not store, is dropped rather than refused (the middleware already refused a form
    that is not text in its encoding)."""
    form = await read_form(request)
    return [
        (drop_controls(key), drop_controls(value))
        for key, value in form.items()
        if isinstance(value, str)
    ]


def style_hash(style: str) -> str:
    """The CSP source that allows one ``<style>`` element whose text is ``style``."""
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def security_headers(*, https: bool, styles: Iterable[str] = ()) -> Mapping[str, str]:
    """The headers every response carries (HSTS only when served over https); ``styles``
    are the texts of the style elements the pages may have."""
    allowed = " ".join(dict.fromkeys(style_hash(style) for style in styles)) or "'none'"
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(styles=allowed),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        # frame-ancestors does this for current browsers; X-Frame-Options for older ones.
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=(), usb=()",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class CsrfTokens:
    """Derives and checks the CSRF tokens of one surface from the secret key.

    A token is an HMAC of what it is tied to (its subject), under a key derived for the
    surface's purpose, so it needs no storage and one surface's token is useless on
    another.
    """

    def __init__(self, secret_key: str, purpose: str) -> None:
        key = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
        self._keyed = KeyedSha256(key)

    def token(self, subject: str) -> str:
        """The token of every form shown to ``subject``."""
        return self._keyed.hexdigest(subject.encode("utf-8", "surrogatepass"))[:32]

    def matches(self, subject: str, given: str) -> bool:
        """Whether ``given`` is ``subject``'s token (constant time, any input).

        Bytes are compared: ``hmac.compare_digest`` raises on text with non-ASCII
        characters, and a posted field can hold anything.
        """
        expected = self.token(subject).encode("ascii")
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


Subject = Callable[[web.Request], Awaitable[str | None]]
Refusal = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class FormGuard:
    """How one surface ties the CSRF tokens of its forms to the person posting them.

    Attributes:
        tokens: the surface's token maker.
        subject: what a request's token must be tied to, or None when there is nothing
            to tie it to (then the post is refused). It may instead raise the surface's
            own answer, such as asking for cookies or sending to the sign-in page.
        refuse: the surface's answer (a 4xx) to a missing or wrong token.
    """

    tokens: CsrfTokens
    subject: Subject
    refuse: Refusal


class WebSecurity:
    """Which routes take forms under which guard, which are exempt, and the middleware."""

    def __init__(
        self, *, https: bool, body_timeout: float = BODY_TIMEOUT, styles: Iterable[str] = ()
    ) -> None:
        self.headers = security_headers(https=https, styles=styles)
        self.body_timeout = body_timeout
        self._guards: dict[AbstractRoute, FormGuard] = {}
        self._exempt: dict[str, str] = {}

    def protect(self, routes: Iterable[AbstractRoute], guard: FormGuard) -> None:
        """Check ``guard``'s token on unsafe requests to ``routes``."""
        for route in routes:
            self._guards[route] = guard

    def exempt(self, prefix: str, *, because: str) -> None:
        """Let unsafe requests under path ``prefix`` through without a CSRF token.

        Only for routes that authenticate every request in another way; ``because``
        says how, for the reader.
        """
        self._exempt[prefix] = because

    def install(self, app: web.Application) -> None:
        """Add the middleware to ``app``, and the headers to every response it sends.

        The headers go on as each response is prepared, so an answer made outside the
        middleware gets them too: aiohttp's own 500 for an error no handler caught.
        """
        app.middlewares.append(self.middleware())
        app.on_response_prepare.append(self._prepared)

    async def _prepared(self, request: web.Request, response: web.StreamResponse) -> None:
        """Put the headers on a response about to be sent (its headers are not yet out)."""
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        # Pages show people's answers and the dashboard's data: no copy is kept anywhere.
        response.headers.setdefault("Cache-Control", "no-store")
        # aiohttp names itself and Python with their versions: a list of what to attack.
        response.headers[hdrs.SERVER] = SERVER_NAME

    def middleware(self) -> Middleware:
        """The middleware: CSRF check, then the handler (the headers go on as the answer
        is prepared, :meth:`install`)."""

        @web.middleware
        async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                if request.method not in SAFE_METHODS:
                    refusal = await self._check(request)
                    if isinstance(refusal, web.HTTPException):
                        raise refusal  # aiohttp wants these raised, not returned
                    if refusal is not None:
                        return refusal
                return await handler(request)
            except RequestPayloadError:
                # A body that cannot be read, wherever it is read (compression that does
                # not decompress, a body cut short): the client's fault, never a 5xx.
                raise web.HTTPBadRequest(text="The request's body could not be read.") from None

        return security

    async def _check(self, request: web.Request) -> web.StreamResponse | None:
        """None when the request may go on; else the answer it gets instead."""
        if request.match_info.http_exception is not None:
            return None  # no such route or method: the router answers 404 or 405
        route = request.match_info.route
        # The route's pattern, not the request's path, decides: no URL trick reaches it.
        pattern = route.resource.canonical if route.resource is not None else ""
        if any(pattern.startswith(prefix) for prefix in self._exempt):
            return None
        guard = self._guards.get(route)
        if guard is None:
            log.error(
                "refused %s %s: the route declares no CSRF guard", request.method, request.path
            )
            return web.Response(status=403, text="This address does not take forms.")
        subject = await guard.subject(request)
        charset = request.charset or "utf-8"
        try:
            async with asyncio.timeout(self.body_timeout):
                if request.content_type == "application/x-www-form-urlencoded" and _undecodable(
                    await request.read(), charset
                ):
                    raise web.HTTPBadRequest(text=not_text(charset))
                form = await read_form(request)
        except TimeoutError:
            # The body is read here, once, for the handler too (aiohttp keeps it).
            raise web.HTTPRequestTimeout(
                text="The form took too long to arrive. Nothing was stored: send it again."
            ) from None
        except UnicodeDecodeError:
            # Bytes that are not text in the form's encoding, in a part of a multipart body
            # or in a url-encoded one: named, since a browser never sends them.
            raise web.HTTPBadRequest(text=not_text(charset)) from None
        except (ValueError, LookupError, HttpProcessingError):
            # Undecodable text (UnicodeDecodeError is a ValueError), a charset Python does
            # not know (LookupError) or a broken multipart body (bad boundary, bad part
            # headers): the client's fault, never a 5xx.
            raise web.HTTPBadRequest(text="The form could not be read.") from None
        given = form.get(CSRF_FIELD)
        if (
            subject is None
            or not isinstance(given, str)
            or not guard.tokens.matches(subject, given)
        ):
            return await guard.refuse(request)
        return None


#: The whole answer to a request the HTTP parser could not read: no program named, no
#: byte of the request quoted back.
UNREADABLE_REQUEST = "Bad request: it could not be read as HTTP.\n"


class _PlainErrorHandler(RequestHandler):
    """A connection whose answer to a request it cannot parse says nothing of the server.

    aiohttp answers a bad request line or header before any application code runs, with
    its parser's message (quoting the request's bytes) under ``Server: Python/... aiohttp/
    ...``; the middleware and the response-prepare hook never see it. Here that answer is
    a short plain 400 (or whatever 4xx the parser chose) with the same Server header as
    every other answer. A 500 (an error no handler caught) stays aiohttp's: its words name
    nothing, and it goes through the application's hooks.
    """

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        # Logged as aiohttp logs it; configure_logging's filter makes it one INFO line
        # naming the kind of fault, without the client or the request's bytes.
        self.log_exception("Error handling request", exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent")
        response = web.Response(
            status=status,
            text=UNREADABLE_REQUEST,
            # The headers every other answer carries (HSTS aside: whether the public
            # address is https is the application's to say, and it has not been reached).
            headers={
                **security_headers(https=False),
                hdrs.SERVER: SERVER_NAME,
                hdrs.CACHE_CONTROL: "no-store",
            },
        )
        response.force_close()
        return response


class _PlainErrorServer(web.Server):
    """The application's server, its connections made by :class:`_PlainErrorHandler`."""

    def __call__(self) -> RequestHandler:
        return _PlainErrorHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer unparseable requests plainly (a 400
    without aiohttp's name, version or parser message)."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _PlainErrorServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )
