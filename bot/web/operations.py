"""What operators and orchestrators ask the running process, and what an outage shows.

- ``/healthz``: the process is alive (answers without touching the database).
- ``/readyz``: the database takes a write and the background work (adapters' intake, inbox,
  outbox) has started; 503 otherwise, so a load balancer sends no traffic yet. An
  adapter whose platform could not be reached at start is named until it starts; one
  whose platform, once reached, refused its credentials is named with the variable to
  check until a restart.
- ``/metrics``: Prometheus text format. Inbox depth and lag, outbox rows by channel and
  status, failed sends and 429s by channel, open safety cases and the age of the oldest,
  and request latency by route (docs/operations.md lists them). Not public: answered to
  a request carrying ``Authorization: Bearer`` with ``ENGAGE_METRICS_TOKEN``, or without
  a token to clients on the loopback address (behind a trusted proxy, the client it
  forwards for: a proxy on the same machine does not make every request local).

While the store cannot be reached (a database outage) every request that needs it gets
503 with ``Retry-After``: people see a page saying to try again in a moment, and
platform webhooks get an error, so the platform delivers the update again later. Nothing
was stored, so nothing is lost; the process keeps running and carries on by itself once
the store answers (connections are checked before use).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select, text

from bot.outbox import SendCounts
from bot.platform import Platform
from bot.web import templating
from bot.web.guards import ClientAddress
from bot.web.pages import NoticePage, accepted_texts
from storage.db import check_writable, is_unavailable, outage_reason
from storage.tables import InboxEntry, ModerationCase, OutboxEntry, utcnow


@dataclass
class Readiness:
    """Set by the application's background work once adapters, inbox and outbox run."""

    background: bool = False
    #: Adapters whose platform could not be reached at start, tried again meanwhile.
    waiting: set[str] = field(default_factory=set)
    #: Adapters left off for good, and why: their platform, once reached, refused their
    #: credentials or a setting, at start or while running (a token revoked); no retry
    #: mends that, a corrected setting and a restart do.
    off: dict[str, str] = field(default_factory=dict)


READY = web.AppKey("ready", Readiness)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class _SendCollector:
    """Reads the outbox sender's counts at scrape time, as Prometheus counters."""

    def __init__(self, counts: SendCounts, channels: Callable[[], list[str]]) -> None:
        self.counts = counts
        self.channels = channels

    def collect(self) -> Iterator[CounterMetricFamily]:
        errors = CounterMetricFamily(
            "engage_send_errors",
            "Send attempts that did not deliver (retried or given up), by channel.",
            labels=["channel"],
        )
        throttled = CounterMetricFamily(
            "engage_send_rate_limited",
            "Send attempts the platform refused with its rate limit (429), by channel.",
            labels=["channel"],
        )
        # Every sending channel appears, at 0 before its first error, so a rate is defined.
        for channel in sorted(set(self.channels()) | set(self.counts.errors)):
            errors.add_metric([channel], self.counts.errors[channel])
            throttled.add_metric([channel], self.counts.throttled[channel])
        yield errors
        yield throttled


class Metrics:
    """One registry per application, so tests and several apps in a process stay apart."""

    def __init__(self, counts: SendCounts, channels: Callable[[], list[str]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_SendCollector(counts, channels))
        self.latency = Histogram(
            "engage_request_seconds",
            "Time to answer an HTTP request, by route and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "engage_inbox_depth", "Inbound events not yet handled.", registry=self.registry
        )
        self.inbox_lag = Gauge(
            "engage_inbox_lag_seconds",
            "Age of the oldest inbound event not yet handled.",
            registry=self.registry,
        )
        self.inbox_held = Gauge(
            "engage_inbox_held_aside",
            "Inbound events held aside after repeated failures (engage inbox failed).",
            registry=self.registry,
        )
        self.outbox = Gauge(
            "engage_outbox_rows",
            "Outbox rows by channel and status.",
            ["channel", "status"],
            registry=self.registry,
        )
        self.open_cases = Gauge(
            "engage_safety_cases_open", "Safety cases not yet resolved.", registry=self.registry
        )
        self.oldest_case = Gauge(
            "engage_safety_case_oldest_seconds",
            "Age of the oldest safety case not yet resolved.",
            registry=self.registry,
        )

    async def refresh(self, platform: Platform) -> None:
        """Read the store's queues into the gauges (a few aggregate queries)."""
        now = utcnow()
        async with platform.sessionmaker() as session:
            pending = InboxEntry.processed_at.is_(None) & InboxEntry.failed_at.is_(None)
            depth, oldest = (
                await session.execute(
                    select(func.count(InboxEntry.id), func.min(InboxEntry.received_at)).where(
                        pending
                    )
                )
            ).one()
            held = await session.scalar(
                select(func.count(InboxEntry.id)).where(InboxEntry.failed_at.is_not(None))
            )
            rows = await session.execute(
                select(
                    OutboxEntry.channel, OutboxEntry.status, func.count(OutboxEntry.id)
                ).group_by(OutboxEntry.channel, OutboxEntry.status)
            )
            cases, first = (
                await session.execute(
                    select(
                        func.count(ModerationCase.id), func.min(ModerationCase.created_at)
                    ).where(ModerationCase.status != "resolved")
                )
            ).one()
        self.inbox_depth.set(depth or 0)
        self.inbox_lag.set(_age(now, oldest))
        self.inbox_held.set(held or 0)
        self.outbox.clear()
        for channel, status, count in rows:
            self.outbox.labels(channel, status).set(count)
        self.open_cases.set(cases or 0)
        self.oldest_case.set(_age(now, first))


def _age(now: datetime, then: object) -> float:
    """Seconds since ``then`` (0 when there is nothing waiting)."""
    if isinstance(then, str):  # SQLite returns aggregates of timestamps as text
        then = datetime.fromisoformat(then)
    if not isinstance(then, datetime):
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


def install(
    app: web.Application,
    platform: Platform,
    metrics_token: str | None,
    counts: SendCounts,
    trusted_proxies: Sequence[str] = (),
) -> None:
    """Add the three routes and the latency middleware.

    ``counts`` is what the outbox sender of this process counts (failed sends, 429s);
    ``trusted_proxies`` are believed on who the client is (``ENGAGE_TRUSTED_PROXIES``).
    """

    def sending_channels() -> list[str]:
        return [n for n, a in platform.adapters.items() if not a.capabilities.inline_replies]

    metrics = Metrics(counts, sending_channels)
    client = ClientAddress(trusted_proxies)
    app[READY] = Readiness()

    # Each route's histogram, found once: looking a label set up costs several times
    # what recording a time in it does.
    histograms: dict[tuple[str, str], Histogram] = {}

    @web.middleware
    async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else "unmatched"
            key = (name, request.method)
            histogram = histograms.get(key)
            if histogram is None:
                histogram = histograms[key] = metrics.latency.labels(*key)
            histogram.observe(time.perf_counter() - started)

    app.middlewares.append(timed)
    app.middlewares.append(_store_outage)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        problems = []
        try:
            async with platform.engine.connect() as connection:
                await connection.execute(text("select 1"))
            # Answering reads is not enough: pages that store answers need the write lock.
            await check_writable(platform.engine)
        except Exception as exc:  # any failure to reach the store means not ready
            problems.append(f"database: {outage_reason(exc)}")
        if not request.app[READY].background:
            problems.append("background work not started")
        for name in sorted(request.app[READY].waiting):
            problems.append(f"{name} adapter not started yet (its platform could not be reached)")
        for name, why in sorted(request.app[READY].off.items()):
            problems.append(f"{name} adapter off: {why}; set it right and restart")
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics_page(request: web.Request) -> web.Response:
        if not _may_read_metrics(request, metrics_token, client):
            raise web.HTTPForbidden(text="metrics are for operators")
        await metrics.refresh(platform)
        body = generate_latest(metrics.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics_page),
        ]
    )


@web.middleware
async def _store_outage(request: web.Request, handler: Handler) -> web.StreamResponse:
    """503 and a page saying to try again, instead of a 500, while the store is down."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning(
            "the database is unavailable (%s): %s %s answered 503",
            outage_reason(exc),
            request.method,
            request.match_info.route.resource.canonical
            if request.match_info.route.resource is not None
            else "unmatched",
        )
        return unavailable(request)


def unavailable(request: web.Request) -> web.Response:
    """The answer while the store is down: a page for people, plain text for machines."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith(("/hooks/", "/metrics", "/readyz")):
        return web.Response(status=503, text="store unavailable, try again", headers=headers)
    texts = accepted_texts(request)
    page = NoticePage(
        texts("web_unavailable_title"),
        texts("web_unavailable_heading"),
        f"{texts('web_unavailable')} "
        f"{texts('web_try_again_in', wait=texts.seconds(RETRY_AFTER_SECONDS))}",
        texts=texts,
    )
    response = templating.render(request, page, status=503)
    response.headers.update(headers)
    return response


def _may_read_metrics(request: web.Request, token: str | None, client: ClientAddress) -> bool:
    """With a token, only a request bearing it; without, only a client on the loopback.

    The client is the one the trusted proxies forwarded for: a reverse proxy on this
    machine connects from the loopback, and the request it forwards is not local.
    """
    if token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
    return client.is_loopback(request)
