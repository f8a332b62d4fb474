"""Moderation alerts: tell the moderators when a safety case needs them.

A case alerts when it arrives if it is ``urgent``, and otherwise when it is still
``open`` (nobody acknowledged it) past its ``due_at``. Each case alerts once, whatever
the number of workers: a checker claims cases with one conditional UPDATE that sets
``alert_claimed_until`` only where no live claim holds the case and ``alerted_at`` is
still NULL (as :mod:`bot.outbox` claims rows), so two checkers never both get a case.
Acknowledging or resolving a case before its alert starts means it is never sent.

Each destination sends the claimed alerts one at a time, and the destinations run side
by side: a slow one holds up no other, and a stop leaves at most one alert in doubt on
each. ``alerted_at`` is set as a case's first send starts; it is given back with the
claim when no destination accepted the alert, so the next check tries again. A claim
whose sending never started is given back as the checker stops, or runs out after
``CLAIM_TIME`` when the process died; an alert whose send was cut short is not sent
again rather than risk sending it twice (the case still waits, marked, in the queue).

An alert names the case, its consultation, categories, whether it is urgent or
overdue, how long it has waited, and the dashboard link. It never carries the person's
words or any platform id, and failures are logged without the alert's content or the
destination's address (a Telegram URL holds the bot token, an SMTP URL a password).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from consultations import moderation
from storage import queries
from storage.lists import one_of
from storage.tables import Consultation, ModerationCase, utcnow

log = logging.getLogger(__name__)

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
SMTP_TIMEOUT = 30.0
#: Seconds one destination has for one alert, whatever the protocol's own timeouts.
SEND_TIMEOUT = 30.0
#: How long a claim holds a case before its sending starts. Past it, the case may be
#: claimed again: what a process that died had claimed but not started alerts again.
CLAIM_TIME = timedelta(minutes=2)


@dataclass(frozen=True)
class Alert:
    """What an alert says: facts about a case, never what the person wrote."""

    case_id: int
    consultation: str
    title: str
    categories: tuple[str, ...]
    urgent: bool
    overdue: bool
    age: timedelta
    link: str

    @property
    def subject(self) -> str:
        """One line: the case and why it alerts."""
        why = "urgent" if self.urgent else "overdue"
        return f"Moderation case {self.case_id} is {why} ({self.consultation})"

    def text(self) -> str:
        """The plain-text body shared by every destination."""
        marks = [m for m, on in (("urgent", self.urgent), ("overdue", self.overdue)) if on]
        return "\n".join(
            [
                f"Moderation case {self.case_id} needs a moderator: {', '.join(marks)}.",
                f"Consultation: {self.title} ({self.consultation})",
                f"Categories: {', '.join(self.categories) or 'none recorded'}",
                f"Waiting: {moderation.format_age(self.age)}",
                f"Open the queue: {self.link}",
            ]
        )

    def to_json(self) -> dict[str, Any]:
        """The webhook's body."""
        return {
            "event": "moderation.alert",
            "case": self.case_id,
            "consultation": self.consultation,
            "title": self.title,
            "categories": list(self.categories),
            "urgent": self.urgent,
            "overdue": self.overdue,
            "age_seconds": int(self.age.total_seconds()),
            "link": self.link,
        }


@dataclass(eq=False)
class _Claimed:
    """A case this checker has claimed, and how its alert is going."""

    alert: Alert
    until: datetime
    # claimed -> sending (marked alerted, a send started) | gone (no longer to be sent)
    state: str = "claimed"
    accepted: bool = False
    # Destinations whose send was in flight when the check was cancelled.
    cut_short: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Destination(Protocol):
    """Somewhere an alert can go; ``send`` raises when it was not accepted."""

    @property
    def name(self) -> str: ...

    async def send(self, alert: Alert, http: aiohttp.ClientSession) -> None: ...


class DestinationError(RuntimeError):
    """A destination answered, but did not accept the alert."""


@dataclass(frozen=True)
class TelegramDestination:
    """A moderators' chat, written to by the configured bot with ``sendMessage``.

    https://core.telegram.org/bots/api#sendmessage: the answer is ``{"ok": true, ...}``.
    """

    base_url: str
    token: str
    chat: str
    name: str = "telegram"

    async def send(self, alert: Alert, http: aiohttp.ClientSession) -> None:
        chat: int | str = int(self.chat) if self.chat.lstrip("-").isdigit() else self.chat
        # No parse_mode: the text goes as it is, so nothing in it can be read as markup.
        async with http.post(
            f"{self.base_url}{self.token}/sendMessage",
            json={"chat_id": chat, "text": alert.text()},
        ) as response:
            body = await response.json(content_type=None)
        if not (isinstance(body, dict) and body.get("ok") is True):
            raise DestinationError(f"the Bot API answered {response.status}")


@dataclass(frozen=True)
class WebhookDestination:
    """An HTTP endpoint that takes the alert as a small JSON object; any 2xx accepts it."""

    url: str
    name: str = "webhook"

    async def send(self, alert: Alert, http: aiohttp.ClientSession) -> None:
        # Not followed: a redirect turns the POST into a GET without the alert, whose 2xx
        # would count as delivered (an http -> https move would lose every alert).
        async with http.post(self.url, json=alert.to_json(), allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                raise DestinationError(f"the webhook answered {response.status}")


@dataclass(frozen=True)
class EmailDestination:
    """An email over SMTP: ``smtps://`` is TLS from the start; port 587 requires STARTTLS."""

    smtp_url: str
    sender: str
    recipients: tuple[str, ...]
    name: str = "email"

    async def send(self, alert: Alert, http: aiohttp.ClientSession) -> None:
        parts = urlsplit(self.smtp_url)
        implicit_tls = parts.scheme == "smtps"
        port = parts.port or (465 if implicit_tls else 25)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = alert.subject
        message.set_content(alert.text())
        await aiosmtplib.send(
            message,
            hostname=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            # Submission (587) must not fall back to plain text; elsewhere aiosmtplib
            # upgrades whenever the server offers STARTTLS.
            start_tls=True if port == 587 and not implicit_tls else None,
            tls_context=ssl.create_default_context() if parts.scheme == "smtps" else None,
            timeout=SMTP_TIMEOUT,
        )


def destinations(settings: Settings) -> list[Destination]:
    """The destinations the settings configure (possibly none)."""
    out: list[Destination] = []
    if settings.alert_telegram_chat and settings.telegram_bot_token:
        out.append(
            TelegramDestination(
                settings.telegram_api_base_url,
                settings.telegram_bot_token,
                settings.alert_telegram_chat,
            )
        )
    if settings.alert_emails and settings.smtp_url and settings.alert_from:
        out.append(EmailDestination(settings.smtp_url, settings.alert_from, settings.alert_emails))
    if settings.alert_webhook_url:
        out.append(WebhookDestination(settings.alert_webhook_url))
    return out


def dashboard_link(settings: Settings) -> str:
    """Where the alert sends a moderator: the queue on the dashboard."""
    return settings.public_url.rstrip("/") + "/dashboard/moderation"


class AlertChecker:
    """Finds cases that must alert, claims each once, and sends it to every destination.

    Use as ``async with AlertChecker(...) as checker`` (it holds an HTTP client); then
    ``await checker.run_once()`` or ``await checker.run(stopping)``.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        destinations: Sequence[Destination],
        link: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float = 30.0,
        batch: int = 20,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.destinations = list(destinations)
        self.link = link
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.send_timeout = send_timeout
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AlertChecker:
        self._http = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _claim(self, now: datetime) -> list[_Claimed]:
        """Claim cases that must alert now until ``now + CLAIM_TIME``; each goes to one claimer.

        One UPDATE rechecks ``status = 'open' AND alerted_at IS NULL`` and that no other
        claim holds the case, so whatever the isolation two checkers never both get a case
        (SQLite serialises the writes; PostgreSQL also skips rows another checker has
        locked). A claim only reserves the case: it is marked alerted when its sending
        starts (:meth:`_start`).
        """
        until = now + CLAIM_TIME
        free = or_(
            ModerationCase.alert_claimed_until.is_(None),
            ModerationCase.alert_claimed_until <= now,
        )
        async with self.sessionmaker.begin() as session:
            due = (
                select(ModerationCase.id)
                .where(
                    ModerationCase.status == "open",
                    ModerationCase.alerted_at.is_(None),
                    free,
                    or_(ModerationCase.urgent.is_(True), ModerationCase.due_at <= now),
                )
                .order_by(ModerationCase.created_at, ModerationCase.id)
                .limit(self.batch)
            )
            claim = queries.claimable(due, session.get_bind().dialect.name)
            claimed = (
                await session.scalars(
                    update(ModerationCase)
                    .where(
                        ModerationCase.id.in_(claim),
                        ModerationCase.status == "open",
                        ModerationCase.alerted_at.is_(None),
                        free,
                    )
                    .values(alert_claimed_until=until)
                    .returning(ModerationCase)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not claimed:
                return []
            rows = await session.execute(
                select(Consultation.id, Consultation.title).where(
                    one_of(Consultation.id, {c.consultation_id for c in claimed})
                )
            )
            titles = {cid: title for cid, title in rows}
        cases = sorted(claimed, key=lambda c: (c.created_at, c.id))
        return [
            _Claimed(self._alert(c, titles.get(c.consultation_id, c.consultation_id), now), until)
            for c in cases
        ]

    async def _start(self, claimed: _Claimed) -> bool:
        """Mark the case alerted as its first send starts; whether it may be sent.

        Only from here is the alert in doubt if the process stops. The case is rechecked:
        a moderator may have taken it, or (past ``CLAIM_TIME``) another checker.
        """
        async with claimed.lock:
            if claimed.state == "claimed":
                async with self.sessionmaker.begin() as session:
                    started = await session.execute(
                        update(ModerationCase)
                        .where(
                            ModerationCase.id == claimed.alert.case_id,
                            ModerationCase.alert_claimed_until == claimed.until,
                            ModerationCase.status == "open",
                            ModerationCase.alerted_at.is_(None),
                        )
                        .values(alerted_at=self.clock())
                        .execution_options(synchronize_session=False)
                    )
                claimed.state = "sending" if getattr(started, "rowcount", 0) == 1 else "gone"
        return claimed.state == "sending"

    async def _settle(self, claims: Sequence[_Claimed]) -> None:
        """Let go of every claim: kept as alerted where a destination accepted the alert
        or a send was cut short (in doubt); given back, to be tried again, everywhere else
        (never started, or every destination that tried failed)."""
        kept = [c for c in claims if c.accepted or c.cut_short]
        back = [c for c in claims if not (c.accepted or c.cut_short)]
        for claimed in claims:
            if claimed.cut_short and not claimed.accepted:
                log.warning(
                    "moderation case %s: stopped while its alert was being sent (%s); it may "
                    "not have arrived and is not sent again: the case waits in the queue",
                    claimed.alert.case_id,
                    ", ".join(claimed.cut_short),
                )
        async with self.sessionmaker.begin() as session:
            for group, values in ((kept, {}), (back, {"alerted_at": None})):
                for until in {c.until for c in group}:
                    ids = {c.alert.case_id for c in group if c.until == until}
                    await session.execute(
                        update(ModerationCase)
                        .where(
                            one_of(ModerationCase.id, ids),
                            ModerationCase.alert_claimed_until == until,
                        )
                        .values(alert_claimed_until=None, **values)
                        .execution_options(synchronize_session=False)
                    )

    def _alert(self, case: ModerationCase, title: str, now: datetime) -> Alert:
        return Alert(
            case_id=case.id,
            consultation=case.consultation_id,
            title=title,
            categories=tuple(case.categories or ()),
            urgent=case.urgent,
            overdue=case.due_at is not None and now > case.due_at,
            age=now - case.created_at,
            link=self.link,
        )

    async def _send_each(
        self,
        destination: Destination,
        claims: Sequence[_Claimed],
        stopping: asyncio.Event | None,
    ) -> None:
        """Send the claimed alerts to one destination, one after another, oldest first.

        One at a time, so a stop leaves at most one alert per destination in doubt; each
        destination has its own turn, so a slow one holds up no other. A destination that
        did not answer in time is not tried again in this check: the alerts it would have
        had are given back unless another destination accepted them.
        """
        assert self._http is not None, "use AlertChecker as an async context manager"
        for claimed in claims:
            if stopping is not None and stopping.is_set():
                return
            if not await self._start(claimed):
                continue
            try:
                async with asyncio.timeout(self.send_timeout):
                    await destination.send(claimed.alert, self._http)
            except asyncio.CancelledError:
                claimed.cut_short.append(destination.name)
                raise
            except (aiohttp.ClientError, aiosmtplib.SMTPException, OSError) as exc:
                # The exception's text can hold a URL with the bot token: log its kind only.
                log.warning(
                    "moderation case %s: the %s alert failed (%s)",
                    claimed.alert.case_id,
                    destination.name,
                    type(exc).__name__,
                )
                if isinstance(exc, TimeoutError):
                    log.warning(
                        "the %s alert destination did not answer within %g s: "
                        "it is tried again at the next check",
                        destination.name,
                        self.send_timeout,
                    )
                    return
            except (DestinationError, ValueError) as exc:
                log.warning(
                    "moderation case %s: the %s alert failed (%s)",
                    claimed.alert.case_id,
                    destination.name,
                    exc if isinstance(exc, DestinationError) else type(exc).__name__,
                )
            else:
                claimed.accepted = True
                log.info(
                    "moderation case %s: alert sent by %s", claimed.alert.case_id, destination.name
                )

    async def run_once(self, stopping: asyncio.Event | None = None) -> int:
        """Alert every case that must alert now; returns how many were alerted.

        Once ``stopping`` is set no further send starts; the claims not yet sent are given
        back, as they are when the check is cancelled.
        """
        if not self.destinations:
            return 0
        claims = await self._claim(self.clock())
        if not claims:
            return 0
        try:
            await asyncio.gather(*(self._send_each(d, claims, stopping) for d in self.destinations))
        finally:
            # Also when cancelled mid-send: the stop path gives the claims back here.
            try:
                await self._settle(claims)
            except Exception:
                # The store is gone: unstarted claims are taken again once they expire.
                log.exception("giving back moderation alert claims failed")
        return sum(c.accepted for c in claims)

    async def run(self, stopping: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.run_once(stopping)
            except Exception:
                # A database hiccup must not end the alerts for the life of the process.
                log.exception("checking for moderation alerts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)
