"""The web application and the background work of ``engage run``.

One aiohttp application serves the web channel, the dashboard, and platform webhooks;
its cleanup context starts and stops the channel adapters, the inbox processor, the
outbox sender and the moderation alerts (:mod:`bot.alerts`), so a graceful stop finishes
what was accepted and loses nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from bot import alerts, memory
from bot.config import DEFAULT_STOP_GRACE, Settings
from bot.erasures import ErasureWatch
from bot.outbox import OutboxSender, SendCounts
from bot.platform import (
    AdapterFactory,
    Platform,
    configured_adapters,
    create_platform,
    inline_channels,
    totals_only_channels,
)
from bot.preparation import Preparation
from bot.schedule import INTERVAL as SCHEDULE_INTERVAL
from bot.schedule import Scheduler
from bot.timeline import INTERVAL as TIMELINE_INTERVAL
from bot.timeline import Timeline
from bot.web import operations, templating
from bot.web.dashboard import Dashboard
from bot.web.middleware import BODY_TIMEOUT, WebSecurity
from bot.web.participant import WebChannel
from channels.adapter import (
    ChannelAdapter,
    CredentialsRejected,
    PlatformUnreachable,
    refusals_reported_to,
)
from consultations import statement_groups
from consultations.insights.render import report_stylesheet
from storage.db import is_sqlite

log = logging.getLogger(__name__)

#: Seconds before an adapter whose platform could not be reached at start is tried
#: again, doubling after each failure up to the longest wait.
ADAPTER_RETRY_FIRST = 1.0
ADAPTER_RETRY_MAX = 60.0

#: Seconds a connection may wait for a request's headers to be complete, its first one
#: or the next on a kept-alive connection, before it is closed. Without it aiohttp kept
#: an idle connection an hour, and one sending its headers a byte at a time for ever.
#: Longer than the reverse proxy keeps an idle connection to a worker (deploy/Caddyfile),
#: so the proxy never sends a request on one the worker is closing.
HEADER_TIMEOUT = 60.0


class Stopping:
    """The process's stop: begun once, with one deadline for everything in hand.

    Requests in flight and the background work wind down side by side within the same
    ``grace`` (``ENGAGE_STOP_GRACE``), not one grace after the other.
    """

    def __init__(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        self.grace = grace
        self.event = asyncio.Event()
        self._deadline: float | None = None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace
        self.event.set()

    def remaining(self) -> float:
        """Seconds left of the grace (all of it before the stop has begun)."""
        if self._deadline is None:
            return self.grace
        return max(0.0, self._deadline - time.monotonic())


STOPPING = web.AppKey("stopping", Stopping)
PLATFORM = web.AppKey("platform", Platform)
SEND_COUNTS = web.AppKey("send_counts", SendCounts)
DASHBOARD = web.AppKey("dashboard", Dashboard)
SCHEDULE_EVERY = web.AppKey("schedule_every", float)
TIMELINE_EVERY = web.AppKey("timeline_every", float)


def create_app(
    settings: Settings,
    *,
    platform: Platform | None = None,
    adapters: AdapterFactory = configured_adapters,
    background: bool = True,
    intake_processes: int = 0,
    parallel_commits: int = 1,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    schedule_interval: float = SCHEDULE_INTERVAL,
    timeline_interval: float = TIMELINE_INTERVAL,
) -> web.Application:
    """The aiohttp application: web channel, dashboard, webhooks, and background work.

    Args:
        settings: the configuration.
        platform: share an existing platform (tests, benchmarks); else one is built.
        adapters: which channel adapters to run.
        background: run the inbox processor, outbox sender and adapters' intake.
        intake_processes: worker processes that screen and analyse the web channel's
            free texts off the event loop (:mod:`bot.preparation`); 0 does it here.
        parallel_commits: web answers' group commits in the database at once, on
            PostgreSQL (SQLite takes one writer at a time: always 1 there). Measured on
            two cores, 2 cost 20-60% more CPU per answer than 1 (smaller batches) for
            no more answers a second; it may pay where the database is far away.
        header_timeout: seconds a connection may take to send a request's headers
            (:data:`HEADER_TIMEOUT`).
        body_timeout: seconds a form's body may take to arrive
            (:data:`bot.web.middleware.BODY_TIMEOUT`).
        schedule_interval: seconds between the scheduler's passes when nothing wakes it
            (:data:`bot.schedule.INTERVAL`).
        timeline_interval: seconds between the timeline's ticks when nothing wakes it
            (:data:`bot.timeline.INTERVAL`).
    """
    platform = platform or create_platform(settings)
    platform.adapters = dict(adapters(platform))
    platform.runtime.inline_channels = inline_channels(platform.adapters)
    platform.runtime.totals_only_channels = totals_only_channels(platform.adapters)
    app = web.Application(
        client_max_size=256 * 1024,
        # aiohttp's keep-alive timer also runs while a request's headers are awaited.
        handler_args={"keepalive_timeout": header_timeout},
    )
    app[PLATFORM] = platform
    templating.setup(app)
    https = settings.public_url.startswith("https://")
    security = WebSecurity(
        https=https,
        body_timeout=body_timeout,
        # The pages' style elements and the HTML report's (shown on the dashboard).
        styles=[*templating.stylesheets(), report_stylesheet()],
    )
    security.install(app)
    # Platform webhooks prove who is calling with a secret of their own, checked before
    # the body is read (adapters/telegram: X-Telegram-Bot-Api-Secret-Token).
    security.exempt("/hooks/", because="each webhook checks its platform's secret")
    channel = WebChannel(
        platform.runtime,
        platform.sessionmaker,
        platform.keyring,
        settings.secret_key,
        secure_cookies=https,
        new_participants_per_minute=settings.web_new_participants_per_minute,
        trusted_proxies=settings.trusted_proxies,
        parallel_commits=1 if is_sqlite(platform.engine) else parallel_commits,
    )
    security.protect(app.add_routes(channel.routes()), channel.form_guard())

    if intake_processes > 0:
        preparation = Preparation(platform.runtime.analyse, intake_processes)
        platform.runtime.preparation = preparation

        async def start_preparation(app: web.Application) -> None:
            preparation.start()

        app.on_startup.append(start_preparation)

    async def close_intake(app: web.Application) -> None:
        await channel.intake.aclose(within=app[STOPPING].remaining())
        if platform.runtime.preparation is not None:
            await platform.runtime.preparation.close()
            platform.runtime.preparation = None

    app[STOPPING] = Stopping(settings.stop_grace)

    async def begin_stopping(app: web.Application) -> None:
        # First of the shutdown hooks, and before aiohttp waits for the requests in
        # flight (AppRunner's shutdown_timeout): the web answers still committing and
        # the background work get the same grace, side by side.
        app[STOPPING].begin()

    app.on_shutdown.append(begin_stopping)
    app.on_shutdown.append(close_intake)
    app[DASHBOARD] = Dashboard(platform)
    app[DASHBOARD].add_routes(app, security)
    app[SEND_COUNTS] = SendCounts()
    operations.install(
        app, platform, settings.metrics_token, app[SEND_COUNTS], settings.trusted_proxies
    )
    for adapter in platform.adapters.values():
        add_routes = getattr(adapter, "add_routes", None)
        if add_routes is not None:
            add_routes(app)
    # Cleanup runs in reverse: the engine is disposed of after the background work stops.
    app.cleanup_ctx.append(_dispose)
    app[SCHEDULE_EVERY] = schedule_interval
    app[TIMELINE_EVERY] = timeline_interval
    if background:
        app.cleanup_ctx.append(_background)
    return app


async def _dispose(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[PLATFORM].aclose()


async def _background(app: web.Application) -> AsyncIterator[None]:
    platform = app[PLATFORM]
    stopping = app[STOPPING].event
    readiness = app[operations.READY]

    def leave_off(name: str, error: CredentialsRejected) -> None:
        """The platform, once reached, refused the adapter's credentials or a setting: no
        retry mends it. The process serves on (the web channel, the other adapters),
        the channel's outbox rows wait for a restart, and /readyz says what to check."""
        if name in readiness.off:
            return
        log.error("%s: %s; the %s adapter stays off", error.setting, error, name)
        readiness.waiting.discard(name)
        readiness.off[name] = f"{error.setting}: {error}"
        # Not called from here on, as one not started (refused at a later start, or its
        # token revoked while it ran): what falls due on it is left for the restart.
        not_started_yet.add(name)

    # Adapters not started yet: nothing is sent through them (their rows wait, their
    # attempts uncounted) until they start; the platform may be away for hours.
    not_started_yet = set(platform.adapters)
    # Nor does a launch or a close from the dashboard: it leaves their part to the
    # scheduler.
    app[DASHBOARD].waiting = not_started_yet
    # ... and says why: away, or its credentials refused (those are off).
    app[DASHBOARD].off = readiness.off
    # A launch that meets the refusal first (a token revoked while running) turns it off.
    app[DASHBOARD].refused = leave_off
    sender = OutboxSender(
        platform.sessionmaker,
        platform.keyring,
        # Channels that answer within the request have nothing to send later.
        {n: a for n, a in platform.adapters.items() if not a.capabilities.inline_replies},
        counts=app[SEND_COUNTS],
        leases=platform.leases,
        off=readiness.off,
        waiting=not_started_yet,
        refused=leave_off,
    )
    # Opening and closing on time, and reminders: once across workers (bot/schedule.py).
    # Neither calls an adapter that has not started: what falls due meanwhile is done
    # once it starts.
    scheduler = Scheduler(
        platform.sessionmaker,
        platform.keyring,
        platform.adapters,
        interval=app[SCHEDULE_EVERY],
        waiting=not_started_yet,
        refused=leave_off,
    )
    erasures = ErasureWatch(platform.sessionmaker, platform.runtime, platform.adapters.values())
    tasks = [
        asyncio.create_task(platform.inbox.run(stopping, sender.wake.set), name="inbox"),
        asyncio.create_task(sender.run(stopping), name="outbox"),
        # Statement voting asks what splits the opinion groups: keep the groups fresh.
        asyncio.create_task(
            statement_groups.run(platform.sessionmaker, stopping), name="opinion-groups"
        ),
        asyncio.create_task(scheduler.run(stopping), name="schedule"),
        asyncio.create_task(memory.release_now_and_then(stopping), name="memory"),
        # An erasure by another process (the command line, another worker): what this
        # one keeps in memory that may be the person's goes too.
        asyncio.create_task(erasures.run(stopping), name="erasures"),
    ]
    # Delphi rounds, timed questions and listening retention, once across workers.
    timeline = Timeline(
        platform.sessionmaker,
        platform.keyring,
        platform.adapters,
        wake=sender.wake.set,
        inline_channels=platform.runtime.inline_channels,
        waiting=not_started_yet,
    )
    tasks.append(
        asyncio.create_task(timeline.run(stopping, interval=app[TIMELINE_EVERY]), name="timeline")
    )
    checker: alerts.AlertChecker | None = None
    found = alerts.destinations(platform.settings)
    if found:
        checker = alerts.AlertChecker(
            platform.sessionmaker, found, alerts.dashboard_link(platform.settings)
        )
        await checker.__aenter__()
        tasks.append(asyncio.create_task(checker.run(stopping), name="alerts"))
    else:
        log.warning("no moderation alert destination is set: urgent cases wait in the queue")
    started: list[ChannelAdapter] = []
    retrying: list[asyncio.Task[None]] = []

    async def start(adapter: ChannelAdapter) -> str | None:
        """Start ``adapter``; why not when its platform cannot be reached for now.

        Rejected credentials raise :class:`CredentialsRejected`: no retry mends them.
        """
        try:
            # A token revoked later, while it runs, is reported from its intake.
            with refusals_reported_to(functools.partial(leave_off, adapter.name)):
                await adapter.start(platform.sink)
        except CredentialsRejected:
            raise
        except Exception as exc:
            log.debug("the %s adapter did not start", adapter.name, exc_info=True)
            return _why(exc)
        started.append(adapter)
        readiness.waiting.discard(adapter.name)
        not_started_yet.discard(adapter.name)
        sender.wake.set()  # what waited for it goes now
        # And what fell due for it meanwhile is done now, not at the next pass or tick.
        scheduler.wake.set()
        timeline.woken.set()
        return None

    def not_started(adapter: ChannelAdapter, why: str, delay: float) -> None:
        # One line an attempt: a platform down for an hour must not fill the log with
        # tracebacks (`engage -v` adds them).
        log.warning(
            "the %s adapter did not start: %s; trying again in %.0f s", adapter.name, why, delay
        )

    async def keep_starting(adapter: ChannelAdapter) -> None:
        delay = ADAPTER_RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            if adapter.name in readiness.off:
                return  # a send meanwhile found its credentials refused
            try:
                why = await start(adapter)
            except CredentialsRejected as exc:
                # Reached at last, and refused.
                leave_off(adapter.name, exc)
                return
            if why is None:
                log.info("the %s adapter started", adapter.name)
                return
            delay = min(delay * 2, ADAPTER_RETRY_MAX)
            not_started(adapter, why, delay)

    try:
        # A platform that cannot be reached does not take the web channel down with it:
        # its adapter is started again in the background until it starts.
        for adapter in platform.adapters.values():
            why = await start(adapter)
            if why is not None:
                not_started(adapter, why, ADAPTER_RETRY_FIRST)
                readiness.waiting.add(adapter.name)
                retrying.append(
                    asyncio.create_task(keep_starting(adapter), name=f"start-{adapter.name}")
                )
        readiness.background = True
        yield
    finally:
        readiness.background = False
        for retry in retrying:
            retry.cancel()
        await asyncio.gather(*retrying, return_exceptions=True)
        # Nothing new is claimed from here: the inbox finishes the batch in hand and the
        # outbox the sends already started; everything else stays queued, stored, for
        # the next start. Handling a backlog here instead once kept a stopping process
        # busy for minutes.
        app[STOPPING].begin()
        # Intake stops; sends in flight finish and those not started stay queued. An
        # adapter that never started is stopped too: a failed start may have opened
        # connections.
        for adapter in reversed(platform.adapters.values()):
            try:
                await adapter.stop()
            except Exception:
                if adapter in started:
                    log.exception("stopping the %s adapter failed", adapter.name)
        _, late = await asyncio.wait(tasks, timeout=app[STOPPING].remaining())
        for task in late:
            # Its transaction is rolled back: what it held is handled after the restart.
            log.warning(
                "stopping: %s did not finish within %g s", task.get_name(), app[STOPPING].grace
            )
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if checker is not None:
            await checker.__aexit__(None, None, None)


def _why(error: Exception) -> str:
    """Why an adapter did not start, on one line: the adapter's own words when it gives
    them (:class:`PlatformUnreachable` holds no secret), else the kind of error only."""
    if isinstance(error, PlatformUnreachable):
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return first[:300]
    return type(error).__name__
