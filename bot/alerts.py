"""Moderation alerts: tell the moderators when a safety case needs them.

A case alerts when it arrives if it is ``urgent``, and otherwise when it is still
``open`` (nobody acknowledged it) past its ``due_at``. Each case alerts once, whatever
the number of workers: a checker claims cases with one conditional UPDATE that sets
``alerted_at`` only where it is still NULL (as :mod:`bot.outbox` claims rows), so two
checkers never both get a case. Acknowledging or resolving a case first means it is no
longer ``open`` and is never claimed.

The claim is released (``alerted_at`` back to NULL) when no destination accepted the
alert, so the next check tries again; once one destination has accepted, the case
counts as alerted. A process that dies between the claim and the sending loses that
alert rather than risk sending it twice; the case still waits, marked overdue, in the
dashboard queue.

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
from dataclasses import dataclass
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
        async with http.post(self.url, json=alert.to_json()) as response:
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
    ) -> None:
        self.sessionmaker = sessionmaker
        self.destinations = list(destinations)
        self.link = link
        self.clock = clock
        self.interval = interval
        self.batch = batch
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

    async def _claim(self, now: datetime) -> list[tuple[ModerationCase, str]]:
        """Stamp ``alerted_at`` on cases that must alert now; each goes to one claimer only.

        One UPDATE rechecks ``status = 'open' AND alerted_at IS NULL``, so whatever the
        isolation two checkers never both get a case (SQLite serialises the writes;
        PostgreSQL also skips rows another checker has locked).
        """
        async with self.sessionmaker.begin() as session:
            due = (
                select(ModerationCase.id)
                .where(
                    ModerationCase.status == "open",
                    ModerationCase.alerted_at.is_(None),
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
                    )
                    .values(alerted_at=now)
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
        return [(c, titles.get(c.consultation_id, c.consultation_id)) for c in cases]

    async def _release(self, case_id: int, stamp: datetime) -> None:
        """Give a claim back (no destination accepted) so the next check retries it."""
        async with self.sessionmaker.begin() as session:
            await session.execute(
                update(ModerationCase)
                .where(ModerationCase.id == case_id, ModerationCase.alerted_at == stamp)
                .values(alerted_at=None)
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

    async def _deliver(self, alert: Alert) -> bool:
        """Send to every destination; whether at least one accepted."""
        assert self._http is not None, "use AlertChecker as an async context manager"
        accepted = False
        for destination in self.destinations:
            try:
                await destination.send(alert, self._http)
            except (aiohttp.ClientError, aiosmtplib.SMTPException, OSError) as exc:
                # The exception's text can hold a URL with the bot token: log its kind only.
                log.warning(
                    "moderation case %s: the %s alert failed (%s)",
                    alert.case_id,
                    destination.name,
                    type(exc).__name__,
                )
            except (DestinationError, TimeoutError, ValueError) as exc:
                log.warning(
                    "moderation case %s: the %s alert failed (%s)",
                    alert.case_id,
                    destination.name,
                    exc if isinstance(exc, DestinationError) else type(exc).__name__,
                )
            else:
                accepted = True
                log.info("moderation case %s: alert sent by %s", alert.case_id, destination.name)
        return accepted

    async def run_once(self) -> int:
        """Alert every case that must alert now; returns how many were alerted."""
        if not self.destinations:
            return 0
        now = self.clock()
        sent = 0
        for case, title in await self._claim(now):
            if await self._deliver(self._alert(case, title, now)):
                sent += 1
            else:
                await self._release(case.id, now)
        return sent

    async def run(self, stopping: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                # A database hiccup must not end the alerts for the life of the process.
                log.exception("checking for moderation alerts failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)
