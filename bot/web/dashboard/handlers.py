"""Request handlers for the dashboard at ``/dashboard``.

Every page needs a login session (else a redirect to the login form); every POST
checks the session's CSRF token before anything else; every action checks the role
(a 403 page) and then the object (a 404 page for an unknown id).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy import func, select

from bot import publishing
from bot.web import auth
from bot.web.dashboard import views
from consultations import reporting, service
from consultations.spec import STAGES, ConsultationSpec
from storage import queries
from storage.tables import Consultation, ModerationCase, Response, User, utcnow

if TYPE_CHECKING:
    from bot.platform import Platform

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
MAX_PASSWORD = 1024
GENERIC_LOGIN_ERROR = "That email and password do not match an account."
THROTTLED = "Too many attempts for this email. Please wait 15 minutes and try again."

SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

NOTICES = {
    "launched": "The consultation is open.",
    "closed": "The consultation is closed.",
    "resolved": "The case is marked resolved.",
    "never-launched": "This consultation was never launched, so it cannot be closed.",
    "cannot-reopen": "A closed consultation cannot open again; use a new id for a new cycle.",
}


@dataclass(frozen=True)
class Account:
    """The logged-in person behind a request."""

    user_id: int
    email: str
    role: str
    session: auth.LoginSession
    csrf: str

    def can(self, permission: str) -> bool:
        """Whether this account's role carries ``permission``."""
        return auth.allowed(self.role, permission)

    @property
    def viewer(self) -> views.Viewer:
        """What the page bar shows."""
        return views.Viewer(
            email=self.email, role=self.role, csrf=self.csrf, can_moderate=self.can(auth.MODERATE)
        )


def html(body: str, *, status: int = 200) -> web.Response:
    """An HTML response with the dashboard's security headers."""
    return web.Response(
        text=body, content_type="text/html", status=status, headers=SECURITY_HEADERS
    )


# A path (and query) inside the dashboard: no scheme, host, backslash or control character.
_NEXT = re.compile(r"/dashboard(?:/[\w.~%/-]*)?(?:\?[\w.~%&=+,-]*)?", re.ASCII)


def _safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    if not value or "//" in value or ".." in value or not _NEXT.fullmatch(value):
        return PREFIX
    return value


class Dashboard:
    """The dashboard's routes and the state they share (login throttle, logouts)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.signer = auth.Signer(platform.settings.secret_key)
        self.secure_cookies = platform.settings.public_url.startswith("https://")
        self.throttle = auth.LoginThrottle()
        # Nonces of sessions logged out before they expired (in memory: a signed
        # cookie cannot be recalled, so this process refuses it until it expires).
        self._ended: dict[str, int] = {}

    def routes(self) -> list[web.RouteDef]:
        """Every dashboard route."""
        return [
            web.get(PREFIX, self.consultations),
            web.get(PREFIX + "/", self.consultations),
            web.get(PREFIX + "/login", self.login_form),
            web.post(PREFIX + "/login", self.login),
            web.post(PREFIX + "/logout", self.logout),
            web.get(PREFIX + "/c/{cid}", self.consultation),
            web.post(PREFIX + "/c/{cid}/launch", self.launch),
            web.post(PREFIX + "/c/{cid}/close", self.close),
            web.get(PREFIX + "/c/{cid}/report", self.report),
            web.get(PREFIX + "/moderation", self.moderation),
            web.post(PREFIX + "/moderation/{case}/resolve", self.resolve),
        ]

    # -- sessions ------------------------------------------------------------------

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str, age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookies,
        )

    async def _current(self, request: web.Request) -> Account | None:
        """The logged-in account, if the request carries a valid, current session.

        The account is read on every request, so a deleted account, a changed role or
        a new password ends its sessions at once.
        """
        session = self.signer.read(request.cookies.get(auth.SESSION_COOKIE))
        if session is None or session.nonce in self._ended:
            return None
        async with self.platform.sessionmaker() as db:
            user = await db.get(User, session.user_id)
        if (
            user is None
            or user.role != session.role
            or auth.password_fingerprint(user.password_hash) != session.fingerprint
        ):
            return None
        return Account(
            user_id=user.id,
            email=user.email,
            role=user.role,
            session=session,
            csrf=self.signer.csrf(session.nonce),
        )

    async def _account(self, request: web.Request) -> Account:
        """The logged-in account, or a redirect to the login form."""
        account = await self._current(request)
        if account is None:
            target = request.path_qs if request.method == "GET" else PREFIX
            raise web.HTTPSeeOther(
                f"{PREFIX}/login?{urlencode({'next': target})}", headers=SECURITY_HEADERS
            )
        return account

    async def _posted(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """The account and form fields of a POST, after the CSRF check."""
        account = await self._account(request)
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not self.signer.csrf_ok(account.session.nonce, fields.get("csrf", "")):
            raise self._refuse(
                403,
                "Form expired",
                "This form has expired. Please go back, reload the page and try again.",
                account,
            )
        return account, fields

    def _refuse(
        self, status: int, title: str, text: str, account: Account | None = None
    ) -> web.HTTPException:
        page = views.message_page(title, text, account.viewer if account else None)
        return _STATUS_ERRORS[status](text=page, content_type="text/html", headers=SECURITY_HEADERS)

    def _require(self, account: Account, permission: str) -> None:
        if not account.can(permission):
            raise self._refuse(
                403,
                "Not allowed",
                f"Your role ({account.role}) does not allow this. Ask an administrator "
                "if you need it.",
                account,
            )

    def _not_found(self, account: Account, what: str = "consultation") -> web.HTTPException:
        return self._refuse(404, "Not found", f"There is no {what} at this address.", account)

    # -- login -----------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        """The login form, with a CSRF token tied to a short-lived login cookie."""
        next_path = _safe_next(request.query.get("next"))
        if await self._current(request) is not None:
            raise web.HTTPSeeOther(next_path, headers=SECURITY_HEADERS)
        return self._login_page(request, next_path=next_path)

    def _login_page(
        self,
        request: web.Request,
        *,
        next_path: str,
        email: str = "",
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        nonce = request.cookies.get(auth.LOGIN_COOKIE) or ""
        if not 16 <= len(nonce) <= 64:
            nonce = secrets.token_urlsafe(24)
        response = html(
            views.login_page(
                self.signer.csrf("login:" + nonce), next_path=next_path, email=email, error=error
            ),
            status=status,
        )
        self._set_cookie(response, auth.LOGIN_COOKIE, nonce, 60 * 60)
        return response

    async def login(self, request: web.Request) -> web.Response:
        """Check the password (scrypt, constant time) and start a login session."""
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        next_path = _safe_next(fields.get("next"))
        nonce = request.cookies.get(auth.LOGIN_COOKIE) or ""
        if not nonce or not self.signer.csrf_ok("login:" + nonce, fields.get("csrf", "")):
            return self._login_page(
                request,
                next_path=next_path,
                error="The form expired. Please log in again.",
                status=403,
            )
        email = fields.get("email", "").strip().lower()[:254]
        password = fields.get("password", "")[:MAX_PASSWORD]
        if self.throttle.blocked(email):
            return self._login_page(
                request, next_path=next_path, email=email, error=THROTTLED, status=429
            )
        async with self.platform.sessionmaker() as db:
            user = await db.scalar(select(User).where(User.email == email))
        stored = user.password_hash if user is not None else None
        # scrypt takes tens of milliseconds of CPU: keep it off the event loop.
        matched = await asyncio.to_thread(_check_password, password, stored)
        if user is None or not matched:
            self.throttle.failed(email)
            return self._login_page(
                request, next_path=next_path, email=email, error=GENERIC_LOGIN_ERROR
            )
        self.throttle.succeeded(email)
        cookie, _ = self.signer.issue(user.id, user.role, user.password_hash)
        log.info("dashboard login: user %s (%s)", user.id, user.role)
        response = web.HTTPSeeOther(next_path, headers=SECURITY_HEADERS)
        self._set_cookie(response, auth.SESSION_COOKIE, cookie, auth.SESSION_SECONDS)
        response.del_cookie(auth.LOGIN_COOKIE, path=PREFIX)
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        """End the login session (POST with CSRF)."""
        account, _ = await self._posted(request)
        now = int(time.time())
        self._ended = {n: e for n, e in self._ended.items() if e > now}
        self._ended[account.session.nonce] = account.session.expires
        response = html(
            views.message_page(
                "Logged out",
                "You have logged out of the dashboard.",
                link=(f"{PREFIX}/login", "Log in again"),
            )
        )
        response.del_cookie(auth.SESSION_COOKIE, path=PREFIX)
        return response

    # -- consultations -----------------------------------------------------------------

    async def consultations(self, request: web.Request) -> web.Response:
        """Every consultation, with state, stage and counts."""
        account = await self._account(request)
        self._require(account, auth.READ)
        async with self.platform.sessionmaker() as db:
            rows = await service.summaries(db)
        return html(views.consultations_page(account.viewer, rows))

    async def consultation(self, request: web.Request) -> web.Response:
        """One consultation: counts by question, participants by state, actions."""
        account = await self._account(request)
        self._require(account, auth.READ)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            try:
                summary = await service.summary(db, cid)
            except service.NotFound:
                raise self._not_found(account) from None
            row = await service.require(db, cid)
            items = await queries.items_of(db, cid)
            funnel = await service.funnel(db, cid)
            open_cases = await db.scalar(
                select(func.count(ModerationCase.id)).where(
                    ModerationCase.consultation_id == cid, ModerationCase.status == "open"
                )
            )
        spec = service.spec_of(row)
        counts = [
            views.ItemCount(i.id, i.type, i.text, summary.by_item.get(i.id, 0)) for i in items
        ]
        public = (
            f"{self.platform.settings.public_url.rstrip('/')}/c/{quote(cid)}"
            if "web" in spec.channels
            else None
        )
        return html(
            views.consultation_page(
                account.viewer,
                summary,
                organisation=spec.organisation,
                items=counts,
                funnel=funnel,
                open_cases=int(open_cases or 0),
                public_url=public,
                can_manage=account.can(auth.MANAGE),
                notices=self._notices(request, spec),
            )
        )

    def _notices(self, request: web.Request, spec: ConsultationSpec) -> list[tuple[str, str]]:
        """Messages after a redirect, from a fixed list (nothing from the URL is echoed)."""
        out: list[tuple[str, str]] = []
        done = request.query.get("done", "")
        if done in NOTICES:
            kind = "notice" if done in ("launched", "closed", "resolved") else "error"
            out.append((kind, NOTICES[done]))
        failed = [c for c in request.query.get("failed", "").split(",") if c in spec.channels]
        if failed:
            out.append(("error", f"Could not reach: {', '.join(failed)}. See the server log."))
        skipped = [c for c in request.query.get("skipped", "").split(",") if c in spec.channels]
        if skipped:
            out.append(("notice", f"Not configured here, so not published: {', '.join(skipped)}."))
        return out

    async def launch(self, request: web.Request) -> web.Response:
        """Open a draft and publish its items on each configured channel it names."""
        account, _ = await self._posted(request)
        self._require(account, auth.MANAGE)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker.begin() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(account)
            try:
                await service.open_(db, cid)
            except service.LifecycleError:
                raise web.HTTPSeeOther(
                    f"{PREFIX}/c/{quote(cid)}?done=cannot-reopen", headers=SECURITY_HEADERS
                ) from None
            spec = service.spec_of(row)
        results = await publishing.publish(
            self.platform.sessionmaker, self.platform.adapters, spec, list(spec.channels)
        )
        failed, skipped = list(results.failed), results.skipped
        log.info("dashboard: user %s launched %s", account.user_id, cid)
        query = {"done": "launched", "failed": ",".join(failed), "skipped": ",".join(skipped)}
        raise web.HTTPSeeOther(
            f"{PREFIX}/c/{quote(cid)}?{urlencode({k: v for k, v in query.items() if v})}",
            headers=SECURITY_HEADERS,
        )

    async def close(self, request: web.Request) -> web.Response:
        """Stop accepting responses and close the native polls that were published."""
        account, _ = await self._posted(request)
        self._require(account, auth.MANAGE)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker.begin() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(account)
            try:
                await service.close(db, cid)
            except service.LifecycleError:
                raise web.HTTPSeeOther(
                    f"{PREFIX}/c/{quote(cid)}?done=never-launched", headers=SECURITY_HEADERS
                ) from None
            spec = service.spec_of(row)
        results = await publishing.close(self.platform.sessionmaker, self.platform.adapters, spec)
        failed = list(results.failed)
        log.info("dashboard: user %s closed %s", account.user_id, cid)
        query = {"done": "closed", "failed": ",".join(failed)}
        raise web.HTTPSeeOther(
            f"{PREFIX}/c/{quote(cid)}?{urlencode({k: v for k, v in query.items() if v})}",
            headers=SECURITY_HEADERS,
        )

    async def report(self, request: web.Request) -> web.Response:
        """The HTML report of a consultation for a QI stage (default: its current one)."""
        account = await self._account(request)
        self._require(account, auth.READ)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(account)
            stage = request.query.get("stage") or row.stage
            if stage not in STAGES:
                raise self._refuse(
                    400,
                    "Unknown stage",
                    f"A report is for one of the QI stages: {', '.join(STAGES)}.",
                    account,
                )
            page = await reporting.render(db, cid, fmt="html", stage=stage)
        return html(page)

    # -- moderation ----------------------------------------------------------------------

    async def moderation(self, request: web.Request) -> web.Response:
        """Open safety cases with the flagged text (moderators and admins only)."""
        account = await self._account(request)
        self._require(account, auth.MODERATE)
        async with self.platform.sessionmaker() as db:
            result = await db.execute(
                select(ModerationCase, Response.item_id, Response.text, Consultation.title)
                .join(Response, Response.id == ModerationCase.response_id)
                .join(Consultation, Consultation.id == ModerationCase.consultation_id)
                .where(ModerationCase.status == "open")
                .order_by(ModerationCase.created_at, ModerationCase.id)
            )
            cases = [
                views.CaseView(
                    id=case.id,
                    consultation_id=case.consultation_id,
                    consultation_title=title,
                    item_id=item_id,
                    reason=case.reason,
                    text=text or "",
                    created_at=case.created_at,
                )
                for case, item_id, text, title in result
            ]
        done = request.query.get("done", "")
        notices = [("notice", NOTICES["resolved"])] if done == "resolved" else []
        return html(views.moderation_page(account.viewer, cases, notices))

    async def resolve(self, request: web.Request) -> web.Response:
        """Mark a moderation case resolved (harmless if it already is)."""
        account, _ = await self._posted(request)
        self._require(account, auth.MODERATE)
        raw = request.match_info["case"]
        async with self.platform.sessionmaker.begin() as db:
            case = await db.get(ModerationCase, int(raw)) if raw.isdigit() else None
            if case is None:
                raise self._not_found(account, "moderation case")
            if case.status != "resolved":
                case.status = "resolved"
                case.resolved_at = utcnow()
        log.info("dashboard: user %s resolved moderation case %s", account.user_id, raw)
        raise web.HTTPSeeOther(f"{PREFIX}/moderation?done=resolved", headers=SECURITY_HEADERS)


def _check_password(password: str, stored: str | None) -> bool:
    """Verify against the stored hash, or against a dummy one to take the same time."""
    if stored is None:
        auth.verify_password(password, auth.dummy_hash())
        return False
    return auth.verify_password(password, stored)


_STATUS_ERRORS: Mapping[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    503: web.HTTPServiceUnavailable,
}
