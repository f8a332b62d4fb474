"""Request handlers for the dashboard at ``/dashboard``.

Every page needs a live sign-in session (else a redirect to the login form); every
POST has its CSRF token checked against the session before anything else (by
:mod:`bot.web.middleware`, under :meth:`Dashboard.add_routes`' guards); every action
checks the role (a 403 page) and then the object (a 404 page for an unknown id). An
account whose password someone else set is sent to the page to choose its own, and
reaches nothing else (but signing out) until it has.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import followups, publishing, schedule
from bot.outbox import in_doubt
from bot.web import accounts, auth, templating
from bot.web.dashboard import follow_up, shown_once, views
from bot.web.guards import ClientAddress
from bot.web.middleware import FormGuard, WebSecurity, posted_texts, read_form
from consultations import loop, moderation, reporting, service
from consultations.insights import ChangeMarker
from consultations.spec import STAGES, ConsultationSpec, parse_spec, unfinished
from storage import queries
from storage.tables import (
    Consultation,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    User,
    utcnow,
)

if TYPE_CHECKING:
    from bot.platform import Platform

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
MAX_PASSWORD = 1024
GENERIC_LOGIN_ERROR = "That email and password do not match an account."
THROTTLED = "Too many attempts from your network. Please wait 15 minutes and try again."

FORM_EXPIRED = "This form has expired. Please go back, reload the page and try again."
NOTICES = {
    "launched": "The consultation is open.",
    "not-launched": "It was published on none of its channels, so it is still a draft.",
    "closed": "The consultation is closed.",
    "never-launched": "This consultation was never launched, so it cannot be closed.",
    "cannot-reopen": "A closed consultation cannot open again; use a new id for a new cycle.",
    "drafted": "A closing-the-loop follow-up was drafted: check each channel's preview, then "
    "launch it.",
    "loop-exists": "Its follow-up is already launched; it is shown here.",
    "unfinished": "Not launched: a text still holds a placeholder (listed below). Store the "
    "spec again with what was changed written in, then launch it.",
    "follows-draft": "Not launched: a consultation it follows up is still a draft (below), "
    "so nobody could be invited. Launch that one first.",
    "ended": "Not launched: its closing time has passed (below). Store the spec again with a "
    "later closes_at, then launch it.",
    "loop-never-launched": "This consultation was never launched, so there is no one to close "
    "the loop with. Nothing was drafted.",
    "loop-no-responses": "This consultation has no responses yet, so there is nothing to say "
    "back to anyone. Nothing was drafted.",
    "loop-unchanged": "Say what was changed before drafting the follow-up: the draft would "
    "otherwise say “[what we changed]”. Nothing was drafted.",
    "loop-too-long": f"Say what was changed in at most {follow_up.MAX_CHANGE} characters: it "
    "goes into a poll question, and polls take short texts. Nothing was drafted.",
}

MAX_NOTE = 4000
# Messages on the queue after an action, from a fixed list (nothing from the URL is echoed).
MODERATION_NOTICES: Mapping[str, tuple[str, str]] = {
    "acknowledged": ("notice", "The case is acknowledged: it is yours to follow up."),
    "resolved": ("notice", "The case is marked resolved."),
    "released": (
        "notice",
        "The case is resolved as not a disclosure: the reply counts in reports, and the "
        "person can carry on.",
    ),
    "note-required": ("error", "Say what was done in the note before resolving the case."),
    "already-resolved": ("notice", "That case was already resolved."),
    "repeat": (
        "error",
        "That statement is too like one already shown, so it was not approved (it would be "
        "offered twice, with its votes split). Reject it instead.",
    ),
    "wrong-kind": (
        "error",
        "That action is not for this kind of case: a statement is approved or rejected, a "
        "safety case is resolved with a note. Nothing was changed.",
    ),
    "already-acknowledged": (
        "notice",
        "That case was already acknowledged: the queue shows by whom.",
    ),
    "approved": ("notice", "The statement is approved: participants can now vote on it."),
    "rejected": ("notice", "The statement is rejected: it will never be shown."),
}

ACCOUNT_NOTICES: Mapping[str, tuple[str, str]] = {
    "role": ("notice", "The role is changed. It applies from the account's next page."),
    "same-role": ("notice", "The account already had that role: nothing changed."),
    "removed": (
        "notice",
        "The account is removed: it can no longer sign in, and its sessions have ended. "
        "Its row is kept, so the audit log still names it.",
    ),
    "already-removed": ("notice", "That account was removed already."),
    "confirm": ("error", "Tick the box to confirm the removal: nothing was removed."),
    "last-admin": (
        "error",
        "That is the last admin, so it keeps its role and access: nobody could manage "
        "accounts otherwise. Make another account admin first.",
    ),
    "was-removed": (
        "error",
        "That account was removed, so it cannot be changed. Adding an account with its email "
        "(Add an account, or `engage user add`) gives it back.",
    ),
}

#: Longest piece of a refused form field said back on the page (it is escaped, and cut).
MAX_ECHO = 80


PASSWORD_ERRORS: Mapping[str, str] = {
    "wrong": "That is not your current password. Nothing was changed.",
    "differ": "The two new passwords are not the same. Nothing was changed.",
    "short": f"Use at least {accounts.MIN_PASSWORD} characters for the new password. "
    "Nothing was changed.",
    "long": f"Use at most {accounts.MAX_PASSWORD} characters for the new password. "
    "Nothing was changed.",
    "same": "Choose a password other than the one you have now. Nothing was changed.",
    "meanwhile": "Your password was changed by another request at the same moment, so this "
    "one was not stored. Sign in again if you are asked to.",
}


@dataclass(frozen=True)
class Account:
    """The logged-in person behind a request."""

    user_id: int
    email: str
    role: str
    session_id: str
    csrf: str
    # Signed in with a password someone else set: they choose their own before anything.
    must_change_password: bool = False

    def can(self, permission: str) -> bool:
        """Whether this account's role carries ``permission``."""
        return auth.allowed(self.role, permission)

    @property
    def viewer(self) -> views.Viewer:
        """What the page bar shows."""
        return views.Viewer(
            email=self.email,
            role=self.role,
            csrf=self.csrf,
            can_moderate=self.can(auth.MODERATE),
            can_manage=self.can(auth.MANAGE),
            can_manage_accounts=self.can(auth.ACCOUNTS),
            must_change_password=self.must_change_password,
        )


# A path (and query) inside the dashboard: no scheme, host, backslash or control character.
_NEXT = re.compile(r"/dashboard(?:/[\w.~%/-]*)?(?:\?[\w.~%&=+,-]*)?", re.ASCII)


def _safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    if not value or "//" in value or ".." in value or not _NEXT.fullmatch(value):
        return PREFIX
    return value


PasswordCheck = Callable[[str, str | None], bool]


class Dashboard:
    """The dashboard's routes; sessions and the sign-in throttle live in the database.

    Attributes:
        clock: the current time (UTC), for session timeouts and throttle windows.
        sleep: how a slowed sign-in waits (:class:`auth.LoginThrottle`).
        check_password: verifies a password against a stored hash, or a dummy one
            for an unknown email; runs in a thread.
        waiting: the channels whose adapter has not started yet (their platform could
            not be reached when the server started; tried again in the background). A
            launch or a close does not call them: the scheduler publishes there, or
            closes the polls, once the adapter starts (bot/schedule.py).
        off: the adapters left off, and why: their platform refused their credentials
            (at a later start, or revoked while running); among ``waiting``, so not
            called either, but put right only by a corrected setting and a restart.
        refused: told when a launch finds a platform refusing its adapter's credentials
            (revoked while running, not noticed before): that adapter is turned off.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.platform = platform
        self.csrf_tokens = auth.csrf_tokens(platform.settings.secret_key)
        self.secure_cookies = platform.settings.public_url.startswith("https://")
        self.throttle = auth.LoginThrottle(platform.settings.secret_key)
        self.shown_once = shown_once.ShownOnce(platform.settings.secret_key)
        # Behind a reverse proxy the connection's address is the proxy's: believe its
        # X-Forwarded-For only from ENGAGE_TRUSTED_PROXIES, as the web channel does.
        self.client = ClientAddress(platform.settings.trusted_proxies)
        self.clock = clock
        self.sleep = sleep
        self.check_password: PasswordCheck = _check_password
        self.waiting: Container[str] = frozenset()
        self.off: Mapping[str, str] = {}
        self.refused: publishing.Refused | None = None

    def add_routes(self, app: web.Application, security: WebSecurity) -> None:
        """Every dashboard route, each form post under its CSRF guard.

        The login form's token is tied to a short-lived login cookie (there is no
        session yet); every other form's to the login session.
        """
        security.protect(
            app.add_routes([web.post(PREFIX + "/login", self.login)]),
            FormGuard(self.csrf_tokens, self._login_subject, self._login_expired),
        )
        security.protect(
            app.add_routes(self.routes()),
            FormGuard(self.csrf_tokens, self._session_subject, self._form_expired),
        )

    def routes(self) -> list[web.RouteDef]:
        """Every dashboard route but the login form's post."""
        return [
            web.get(PREFIX, self.consultations),
            web.get(PREFIX + "/", self.consultations),
            web.get(PREFIX + "/login", self.login_form),
            web.post(PREFIX + "/logout", self.logout),
            web.get(PREFIX + "/password", self.password_form),
            web.post(PREFIX + "/password", self.change_password),
            web.get(PREFIX + "/c/{cid}", self.consultation),
            web.post(PREFIX + "/c/{cid}/launch", self.launch),
            web.post(PREFIX + "/c/{cid}/close", self.close),
            web.post(PREFIX + "/c/{cid}/draft-loop", self.draft_loop),
            web.get(PREFIX + "/c/{cid}/report", self.report),
            web.get(PREFIX + "/moderation", self.moderation),
            web.get(PREFIX + "/delivery", self.delivery),
            web.post(PREFIX + "/moderation/{case}/acknowledge", self.acknowledge),
            web.post(PREFIX + "/moderation/{case}/resolve", self.resolve),
            web.post(PREFIX + "/moderation/{case}/approve", self.approve),
            web.post(PREFIX + "/moderation/{case}/reject", self.reject),
            web.get(PREFIX + "/accounts", self.accounts),
            web.post(PREFIX + "/accounts/add", self.account_add),
            web.post(PREFIX + "/accounts/{user}/role", self.account_role),
            web.post(PREFIX + "/accounts/{user}/remove", self.account_remove),
            web.post(PREFIX + "/accounts/{user}/password", self.account_password),
            web.get(PREFIX + "/accounts/{user}/new-password", self.account_new_password),
        ]

    # -- sessions ------------------------------------------------------------------

    def _set_cookie(
        self, response: web.StreamResponse, name: str, value: str, age: int, path: str = PREFIX
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path=path,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookies,
        )

    async def _current(self, request: web.Request) -> Account | None:
        """The signed-in account, if the request's cookie names a live session.

        The session and the account are read from the database on every request, so
        signing out on any worker, a removed account or a changed role applies at once.
        """
        token = request.cookies.get(auth.SESSION_COOKIE)
        if not token or len(token) > 128:
            return None
        async with self.platform.sessionmaker.begin() as db:
            found = await auth.current_session(db, token, now=self.clock())
        if found is None:
            return None
        session, user = found
        return Account(
            user_id=user.id,
            email=user.email,
            role=user.role,
            session_id=session.id,
            csrf=self.csrf_tokens.token(session.id),
            must_change_password=user.must_change_password,
        )

    async def _account(self, request: web.Request, *, change_due_ok: bool = False) -> Account:
        """The logged-in account, or a redirect to the login form.

        An account whose password is due to change is sent to the page to choose one,
        whatever it asked for, unless ``change_due_ok`` (that page, and signing out).
        """
        account = await self._current(request)
        if account is None:
            raise _to_login(request)
        if account.must_change_password and not change_due_ok:
            raise _to_password(request.path_qs if request.method == "GET" else PREFIX)
        return account

    async def _posted(
        self, request: web.Request, *, change_due_ok: bool = False
    ) -> tuple[Account, dict[str, str]]:
        """The account and form fields of a POST (the middleware checked its CSRF)."""
        account = await self._account(request, change_due_ok=change_due_ok)
        return account, dict(await posted_texts(request))

    # -- CSRF guards (bot.web.middleware) ------------------------------------------------

    async def _session_subject(self, request: web.Request) -> str:
        """A form's token is tied to the live session; without one, log in first."""
        account = await self._current(request)
        if account is None:
            raise _to_login(request)
        return account.session_id

    async def _form_expired(self, request: web.Request) -> web.StreamResponse:
        return self._refuse(
            request, 403, "Form expired", FORM_EXPIRED, await self._current(request)
        )

    async def _login_subject(self, request: web.Request) -> str | None:
        """The login form's token is tied to the login cookie set with the form."""
        nonce = request.cookies.get(auth.LOGIN_COOKIE)
        return "login:" + nonce if nonce else None

    async def _login_expired(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        next_path = form.get("next")
        return self._login_page(
            request,
            next_path=_safe_next(next_path if isinstance(next_path, str) else None),
            error="The form expired. Please log in again.",
            status=403,
        )

    def _refuse(
        self,
        request: web.Request,
        status: int,
        title: str,
        text: str,
        account: Account | None = None,
    ) -> web.HTTPException:
        page = views.MessagePage(title, text, account.viewer if account else None)
        return _STATUS_ERRORS[status](
            text=templating.render_string(request, page), content_type="text/html"
        )

    async def _audit(self, account: Account, action: str, cid: str, **detail: Any) -> None:
        """Record a change a signed-in account made to a consultation (who, what, when)."""
        async with self.platform.sessionmaker.begin() as db:
            moderation.audit(db, account.email, action, f"consultation:{cid}", **detail)

    async def _require(self, request: web.Request, account: Account, permission: str) -> None:
        """Go on if the account's role carries ``permission``; else a 403 page, recorded
        in the audit trail (``access.denied``) and the log."""
        if account.can(permission):
            return
        async with self.platform.sessionmaker.begin() as db:
            moderation.audit(
                db,
                account.email,
                "access.denied",
                request.path[:80],
                method=request.method,
                role=account.role,
                needs=permission,
            )
        log.warning(
            "dashboard: user %s (%s) refused %s %s: the role lacks %s",
            account.user_id,
            account.role,
            request.method,
            request.path,
            permission,
        )
        raise self._refuse(
            request,
            403,
            "Not allowed",
            f"Your role ({account.role}) does not allow this. Ask an administrator if you need it.",
            account,
        )

    def _not_found(
        self, request: web.Request, account: Account, what: str = "consultation"
    ) -> web.HTTPException:
        return self._refuse(
            request, 404, "Not found", f"There is no {what} at this address.", account
        )

    # -- login -----------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        """The login form, with a CSRF token tied to a short-lived login cookie."""
        next_path = _safe_next(request.query.get("next"))
        if await self._current(request) is not None:
            raise web.HTTPSeeOther(next_path)
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
        response = templating.render(
            request,
            views.LoginPage(
                self.csrf_tokens.token("login:" + nonce),
                next_path=next_path,
                email=email,
                error=error,
            ),
            status=status,
        )
        self._set_cookie(response, auth.LOGIN_COOKIE, nonce, 60 * 60)
        return response

    async def login(self, request: web.Request) -> web.Response:
        """Count the attempt, check the password (argon2id) and open a sign-in session.

        The attempt is counted in the database before the password is checked, so
        concurrent guesses cannot slip past the throttle; an old scrypt hash is replaced
        by an argon2id one once the password has matched it.
        """
        fields = dict(await posted_texts(request))
        next_path = _safe_next(fields.get("next"))
        email = fields.get("email", "").strip().lower()[:254]
        password = fields.get("password", "")[:MAX_PASSWORD]
        address = self.client.of(request) or "unknown"
        async with self.platform.sessionmaker.begin() as db:
            verdict = await self.throttle.attempt(db, email, address, now=self.clock())
        if verdict.refused:
            await self._sign_in_refused(email, "login.throttled")
            return self._login_page(
                request, next_path=next_path, email=email, error=THROTTLED, status=429
            )
        if verdict.delay:
            await self.sleep(verdict.delay)
        async with self.platform.sessionmaker() as db:
            # A removed account is answered as an unknown one, after the same dummy check.
            user = await db.scalar(
                select(User).where(User.email == email, User.removed_at.is_(None))
            )
        stored = user.password_hash if user is not None else None
        # argon2id takes tens of milliseconds of CPU: keep it off the event loop.
        matched = await asyncio.to_thread(self.check_password, password, stored)
        if user is None or stored is None or not matched:
            await self._sign_in_refused(email, "login.failed")
            return self._login_page(
                request, next_path=next_path, email=email, error=GENERIC_LOGIN_ERROR
            )
        if auth.needs_rehash(stored):
            rehashed = await asyncio.to_thread(auth.hash_password, password)
            async with self.platform.sessionmaker.begin() as db:
                if await auth.replace_hash(db, user.id, stored, rehashed):
                    log.info("dashboard: user %s password rehashed with argon2id", user.id)
        async with self.platform.sessionmaker.begin() as db:
            now = self.clock()
            await self.throttle.succeeded(db, email, address, now=now)
            cookie = await auth.start_session(db, user.id, now=now)
        log.info("dashboard login: user %s (%s)", user.id, user.role)
        # A password someone else set: straight to choosing their own.
        if user.must_change_password:
            response = _to_password(next_path)
        else:
            response = web.HTTPSeeOther(next_path)
        self._set_cookie(response, auth.SESSION_COOKIE, cookie, auth.SESSION_SECONDS)
        response.del_cookie(auth.LOGIN_COOKIE, path=PREFIX)
        raise response

    async def _sign_in_refused(self, email: str, action: str) -> None:
        """Record a refused sign-in: ``login.failed`` (wrong password or no such account)
        or ``login.throttled`` (too many attempts).

        The audit trail names the account tried when there is one (its email, as for
        every dashboard action); an email that matches no account is not kept, since it
        may be a password typed into the wrong box. The log names the account by its id.
        Never the password, nor the client's address (the throttle keeps neither).
        """
        async with self.platform.sessionmaker.begin() as db:
            user = await db.scalar(select(User).where(User.email == email)) if email else None
            actor = user.email if user is not None else "unknown account"
            subject = f"user:{user.id}" if user is not None else None
            moderation.audit(db, actor, action, subject)
        who = f"user {user.id}" if user is not None else "an unknown account"
        if action == "login.throttled":
            log.warning("dashboard: sign-in to %s refused: too many attempts", who)
        else:
            log.warning("dashboard: sign-in to %s failed", who)

    async def logout(self, request: web.Request) -> web.Response:
        """End the sign-in session everywhere (POST with CSRF)."""
        account, _ = await self._posted(request, change_due_ok=True)
        async with self.platform.sessionmaker.begin() as db:
            await auth.end_session(db, account.session_id, now=self.clock())
        response = templating.render(
            request,
            views.MessagePage(
                "Logged out",
                "You have logged out of the dashboard.",
                link_href=f"{PREFIX}/login",
                link_label="Log in again",
            ),
        )
        response.del_cookie(auth.SESSION_COOKIE, path=PREFIX)
        return response

    # -- one's own password ---------------------------------------------------------------

    async def password_form(self, request: web.Request) -> web.Response:
        """The form to change one's own password: the only page open to an account whose
        password someone else set, until it has chosen its own."""
        account = await self._account(request, change_due_ok=True)
        next_path = _safe_next(request.query.get("next"))
        changed = request.query.get("done") == "changed" and not account.must_change_password
        page = views.PasswordPage(account.viewer, next_path=next_path, changed=changed)
        return templating.render(request, page)

    async def change_password(self, request: web.Request) -> web.Response:
        """Change one's own password: the current one is checked (counted by the sign-in
        throttle, as a sign-in is), the new one follows the rules of every password, and
        the account's other sessions end; audited as ``user.password`` by the person."""
        account, fields = await self._posted(request, change_due_ok=True)
        next_path = _safe_next(fields.get("next"))
        current = fields.get("current_password", "")[:MAX_PASSWORD]
        new = fields.get("new_password", "")
        problem = _new_password_problem(current, new, fields.get("new_password_again", ""))
        if problem:
            return self._password_refused(request, account, next_path, problem)
        address = self.client.of(request) or "unknown"
        async with self.platform.sessionmaker.begin() as db:
            verdict = await self.throttle.attempt(db, account.email, address, now=self.clock())
        if verdict.refused:
            await self._sign_in_refused(account.email, "login.throttled")
            return self._password_refused(request, account, next_path, THROTTLED, status=429)
        if verdict.delay:
            await self.sleep(verdict.delay)
        async with self.platform.sessionmaker() as db:
            stored = await db.scalar(select(User.password_hash).where(User.id == account.user_id))
        if not await asyncio.to_thread(self.check_password, current, stored):
            async with self.platform.sessionmaker.begin() as db:
                moderation.audit(db, account.email, "password.failed", f"user:{account.user_id}")
            log.warning("dashboard: user %s gave a wrong current password", account.user_id)
            return self._password_refused(request, account, next_path, PASSWORD_ERRORS["wrong"])
        password_hash = await asyncio.to_thread(auth.hash_password, new)
        async with self.platform.sessionmaker.begin() as db:
            now = self.clock()
            changed = stored is not None and await accounts.change_own(
                db,
                account.user_id,
                stored,
                password_hash,
                session_id=account.session_id,
                now=now,
            )
            if changed:
                await self.throttle.succeeded(db, account.email, address, now=now)
        if not changed:
            meanwhile = PASSWORD_ERRORS["meanwhile"]
            return self._password_refused(request, account, next_path, meanwhile, status=409)
        log.info("dashboard: user %s changed their own password", account.user_id)
        raise web.HTTPSeeOther(
            f"{PREFIX}/password?{urlencode({'done': 'changed', 'next': next_path})}"
        )

    def _password_refused(
        self,
        request: web.Request,
        account: Account,
        next_path: str,
        error: str,
        *,
        status: int = 400,
    ) -> web.Response:
        page = views.PasswordPage(account.viewer, next_path=next_path, error=error)
        return templating.render(request, page, status=status)

    # -- consultations -----------------------------------------------------------------

    async def consultations(self, request: web.Request) -> web.Response:
        """Every consultation, with state, stage and counts."""
        account = await self._account(request)
        await self._require(request, account, auth.READ)
        async with self.platform.sessionmaker() as db:
            rows = await service.summaries(db)
        return templating.render(request, views.ConsultationsPage(account.viewer, rows))

    async def consultation(self, request: web.Request) -> web.Response:
        """One consultation: counts by question, participants by state, actions."""
        account = await self._account(request)
        await self._require(request, account, auth.READ)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            try:
                summary = await service.summary(db, cid)
            except service.NotFound:
                raise self._not_found(request, account) from None
            row = await service.require(db, cid)
            items = await queries.items_of(db, cid)
            funnel = await service.funnel(db, cid)
            # Safety cases still in the queue (open or acknowledged, not yet resolved); a
            # statement waiting for approval is no safety case.
            open_cases = await db.scalar(
                select(func.count(ModerationCase.id)).where(
                    ModerationCase.consultation_id == cid,
                    ModerationCase.status.in_(moderation.OPEN_STATES),
                    ModerationCase.reason != moderation.STATEMENT,
                )
            )
            spec = service.spec_of(row)
            reach = await followups.reach(db, cid) if spec.follow_up is not None else []
            followed_drafts = (
                await publishing.drafts_followed(db, spec) if row.state == service.DRAFT else []
            )
        counts = [
            views.ItemCount(i.id, i.type, i.text, summary.by_item.get(i.id, 0)) for i in items
        ]
        public = (
            f"{self.platform.settings.public_url.rstrip('/')}/c/{quote(cid)}"
            if "web" in spec.channels
            else None
        )
        return templating.render(
            request,
            views.ConsultationPage(
                account.viewer,
                summary,
                organisation=spec.organisation,
                items=counts,
                funnel=funnel,
                open_cases=int(open_cases or 0),
                public_url=public,
                can_manage=account.can(auth.MANAGE),
                notices=[
                    *self._notices(request, spec, draft=row.state == service.DRAFT),
                    *(("error", f"Not ready: {p}") for p in followed_drafts),
                ],
                follows=spec.follow_up.of if spec.follow_up is not None else (),
                previews=(
                    follow_up.previews(spec, await follow_up.channel_limits(self.platform.settings))
                    if spec.follow_up is not None
                    else ()
                ),
                reach=reach,
                can_draft_loop=account.can(auth.MANAGE)
                and row.state != service.DRAFT
                and spec.model != loop.LOOP,
            ),
        )

    def _notices(
        self, request: web.Request, spec: ConsultationSpec, *, draft: bool
    ) -> list[tuple[str, str]]:
        """Messages after a redirect, from a fixed list (nothing from the URL is echoed)."""
        out: list[tuple[str, str]] = []
        done = request.query.get("done", "")
        if done in NOTICES:
            kind = "notice" if done in ("launched", "closed", "drafted", "loop-exists") else "error"
            out.append((kind, NOTICES[done]))
        if draft:
            # What keeps it from launching, from the stored spec (never from the URL).
            out.extend(
                ("error", f"Not ready: {p}") for p in publishing.launch_problems(spec, self.clock())
            )
        failed = [c for c in request.query.get("failed", "").split(",") if c in spec.channels]
        if failed:
            out.append(("error", f"Could not reach: {', '.join(failed)}. See the server log."))
        skipped = [c for c in request.query.get("skipped", "").split(",") if c in spec.channels]
        if skipped:
            out.append(("notice", f"Not configured here, so not published: {', '.join(skipped)}."))
        later = [c for c in request.query.get("later", "").split(",") if c in spec.channels]
        then = "its polls there are closed" if done == "closed" else "it is published there"
        # Told apart as the page is shown: a platform away, or one that refused the
        # adapter's credentials (no waiting mends that; /readyz says the same).
        refused = [c for c in later if c in self.off]
        away = [c for c in later if c not in self.off]
        if away:
            out.append(
                (
                    "notice",
                    "Its adapter has not started yet (its platform could not be reached), so "
                    f"{then} once the adapter starts: {', '.join(away)}.",
                )
            )
        out.extend(
            (
                "error",
                f"{c}: its platform refused the adapter's credentials ({self.off[c]}), so "
                f"{then} once that is put right and engage restarted.",
            )
            for c in refused
        )
        for part in request.query.get("invited", "").split(","):
            channel, _, number = part.partition(":")
            if channel in spec.channels and number.isascii() and number.isdigit():
                out.append(("notice", f"Invited {int(number)} on {channel}."))
        return out

    async def launch(self, request: web.Request) -> web.Response:
        """Open a draft and publish its items on each configured channel it names."""
        account, _ = await self._posted(request)
        await self._require(request, account, auth.MANAGE)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(request, account)
            spec = service.spec_of(row)
        try:
            # The same opening as one on time: a channel whose adapter has not started
            # is published by the scheduler once it starts.
            launched = await schedule.launch(
                self.platform.sessionmaker,
                self.platform.adapters,
                spec,
                list(spec.channels),
                keys=self.platform.keyring,
                now=self.clock(),
                waiting=self.waiting,
                refused=self.refused,
            )
        except service.LifecycleError:
            raise web.HTTPSeeOther(f"{PREFIX}/c/{quote(cid)}?done=cannot-reopen") from None
        except publishing.Unfinished as exc:
            paths = [problem.path for problem in exc.problems]
            done = "unfinished"
            if "closes_at" in paths:
                done = "ended"
            elif all(path.startswith("follow_up.of") for path in paths):
                done = "follows-draft"  # the page lists which (never from the URL)
            raise _back_to(cid, done=done) from None
        failed, skipped = list(launched.results.failed), launched.results.skipped
        later = launched.results.later
        await self._audit(
            account,
            "consultation.launch",
            cid,
            published=sorted(launched.results.done),
            failed=failed,
            undone=launched.undone,
            **({"later": later} if later else {}),
            # Left for the restart because the platform refused the credentials.
            **({"refused": refused} if (refused := [c for c in later if c in self.off]) else {}),
        )
        log.info("dashboard: user %s launched %s", account.user_id, cid)
        raise _back_to(
            cid,
            done="not-launched" if launched.undone else "launched",
            failed=",".join(failed),
            skipped=",".join(skipped),
            later=",".join(later),
            invited=",".join(f"{c}:{n}" for c, n in launched.invited.items()),
        )

    async def draft_loop(self, request: web.Request) -> web.Response:
        """Draft a closing-the-loop follow-up from the act summary, stored as a draft.

        As ``engage consultation draft-loop`` (the same act summary, refused the same way
        for a consultation never launched or without responses), with what was changed
        given in the form, as ``--change`` gives it there: a stored draft is one that
        could be launched, so one that would still say "[what we changed]" is not stored.
        """
        account, fields = await self._posted(request)
        await self._require(request, account, auth.MANAGE)
        cid = request.match_info["cid"]
        changed = " ".join(fields.get("changed", "").split())
        if len(changed) > follow_up.MAX_CHANGE:
            raise _back_to(cid, done="loop-too-long")
        changes = [ChangeMarker(self.clock().date(), changed)] if changed else []
        async with self.platform.sessionmaker() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(request, account)
            spec = service.spec_of(row)
            try:
                act = await loop.act_summary(db, cid, changes)
            except loop.NothingToDraft as exc:
                raise _back_to(cid, done=f"loop-{exc.reason}") from None
            taken = await loop.launched_ids(db, loop.loop_id(spec.id))
        data = loop.draft(spec, act, taken)
        if unfinished(data):
            raise _back_to(cid, done="loop-unchanged")
        drafted = parse_spec(data, limits=await follow_up.channel_limits(self.platform.settings))
        async with self.platform.sessionmaker.begin() as db:
            try:
                await service.create(
                    db, drafted, source=loop.draft_yaml(data, str(act["you_said_we_did"]))
                )
            except service.LifecycleError:
                raise _back_to(drafted.id, done="loop-exists") from None
        await self._audit(account, "consultation.draft-loop", drafted.id, source=cid)
        log.info("dashboard: user %s drafted %s from %s", account.user_id, drafted.id, cid)
        raise _back_to(drafted.id, done="drafted")

    async def close(self, request: web.Request) -> web.Response:
        """Stop accepting responses and close the native polls that were published."""
        account, _ = await self._posted(request)
        await self._require(request, account, auth.MANAGE)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(request, account)
            spec = service.spec_of(row)
        try:
            # The same closing as one on time: the polls of a channel whose adapter has
            # not started are closed by the scheduler once it starts.
            results = await schedule.close(
                self.platform.sessionmaker,
                self.platform.adapters,
                spec,
                keys=self.platform.keyring,
                now=self.clock(),
                waiting=self.waiting,
            )
        except service.LifecycleError:
            raise web.HTTPSeeOther(f"{PREFIX}/c/{quote(cid)}?done=never-launched") from None
        failed = list(results.failed)
        await self._audit(
            account,
            "consultation.close",
            cid,
            failed=failed,
            **({"later": results.later} if results.later else {}),
        )
        log.info("dashboard: user %s closed %s", account.user_id, cid)
        raise _back_to(cid, done="closed", failed=",".join(failed), later=",".join(results.later))

    async def report(self, request: web.Request) -> web.Response:
        """The HTML report of a consultation for a QI stage (default: its current one)."""
        account = await self._account(request)
        await self._require(request, account, auth.READ)
        cid = request.match_info["cid"]
        async with self.platform.sessionmaker() as db:
            row = await db.get(Consultation, cid)
            if row is None:
                raise self._not_found(request, account)
            stage = request.query.get("stage") or row.stage
            if stage not in STAGES:
                raise self._refuse(
                    request,
                    400,
                    "Unknown stage",
                    f"A report is for one of the QI stages: {', '.join(STAGES)}.",
                    account,
                )
            page = await reporting.render(db, cid, fmt="html", stage=stage)
        # The report is rendered, and escaped, by its own templates (consultations.insights).
        return web.Response(text=page, content_type="text/html")

    # -- moderation ----------------------------------------------------------------------

    async def moderation(self, request: web.Request) -> web.Response:
        """Open and acknowledged safety cases, oldest first (moderators and admins only).

        Every view is recorded in the audit log: the page shows what people wrote.
        """
        account = await self._account(request)
        await self._require(request, account, auth.MODERATE)
        done = request.query.get("done", "")
        notices = [MODERATION_NOTICES[done]] if done in MODERATION_NOTICES else []
        async with self.platform.sessionmaker.begin() as db:
            cases = await moderation.open_cases(db)
            moderation.audit(db, account.email, "queue.view", "moderation", cases=len(cases))
            if done == "already-resolved":
                notices = await self._resolved_before(db, request.query.get("case")) or notices
        now = utcnow()
        rows = [
            views.CaseRow(
                case=case,
                age=moderation.format_age(case.age(now)),
                overdue=case.overdue(now),
            )
            for case in cases
        ]
        return templating.render(request, views.ModerationPage(account.viewer, rows, notices))

    async def _resolved_before(self, db: AsyncSession, raw: str | None) -> list[views.Notice]:
        """Who resolved the case a moderator acted on too late, and when, from the stored
        case (only its number comes from the address); empty if it is not resolved."""
        case_id = _row_id(raw)
        case = await db.get(ModerationCase, case_id) if case_id is not None else None
        if case is None or case.status != "resolved":
            return []
        resolved = await moderation.already_resolved(db, case)
        return [
            (
                "notice",
                f"Case {case.id} {resolved.describe()}. Nothing you sent was recorded, "
                "nor any note with it.",
            )
        ]

    async def delivery(self, request: web.Request) -> web.Response:
        """Messages whose delivery is in doubt after a crash, and the outbox by status.

        For those who run the service (leads and admins). Shows where and when only:
        never a message's text or its address, as ``engage outbox unknown``.
        """
        account = await self._account(request)
        await self._require(request, account, auth.MANAGE)
        async with self.platform.sessionmaker() as db:
            doubtful = await in_doubt(db)
            counts = await db.execute(
                select(OutboxEntry.channel, OutboxEntry.status, func.count(OutboxEntry.id))
                .group_by(OutboxEntry.channel, OutboxEntry.status)
                .order_by(OutboxEntry.channel, OutboxEntry.status)
            )
            by_status = [(channel, status, int(n)) for channel, status, n in counts]
            held = await db.scalar(
                select(func.count(InboxEntry.id)).where(InboxEntry.failed_at.is_not(None))
            )
        rows = [
            views.DoubtRow(
                id=row.id,
                channel=row.channel,
                kind=str(row.payload.get("kind") or "message"),
                consultation=row.consultation_id,
                created_at=row.created_at,
                attempted_at=row.next_attempt_at,
                attempts=row.attempts,
            )
            for row in doubtful
        ]
        page = views.DeliveryPage(account.viewer, rows, by_status, int(held or 0))
        return templating.render(request, page)

    async def _case_action(
        self, request: web.Request, action: Callable[[AsyncSession, int, Account], Awaitable[str]]
    ) -> web.Response:
        """Run one action on a case for a moderator, then go back to the queue."""
        account, _ = await self._posted(request)
        await self._require(request, account, auth.MODERATE)
        case_id = _row_id(request.match_info["case"])
        async with self.platform.sessionmaker.begin() as db:
            if case_id is None or await db.get(ModerationCase, case_id) is None:
                raise self._not_found(request, account, "moderation case")
            try:
                done = await action(db, case_id, account)
            except moderation.AlreadyResolved:
                # Someone else's request resolved it first: the queue says who and when.
                raise web.HTTPSeeOther(
                    f"{PREFIX}/moderation?done=already-resolved&case={case_id}"
                ) from None
            except moderation.RepeatStatement:
                done = "repeat"
            except moderation.CaseError:
                done = "wrong-kind"
        raise web.HTTPSeeOther(f"{PREFIX}/moderation?done={done}")

    async def acknowledge(self, request: web.Request) -> web.Response:
        """A moderator takes a case: it stops waiting (and will not alert). Taken once: a
        second request (a double click, another moderator) changes and records nothing."""

        async def take(db: AsyncSession, case_id: int, account: Account) -> str:
            if not await moderation.acknowledge(db, case_id, account.email):
                return "already-acknowledged"  # a second click, or another moderator
            log.info("dashboard: user %s acknowledged moderation case %s", account.user_id, case_id)
            return "acknowledged"

        return await self._case_action(request, take)

    async def resolve(self, request: web.Request) -> web.Response:
        """Close a case with a note saying what was done (the note is required)."""
        _, fields = await self._posted(request)
        note = fields.get("note", "")[:MAX_NOTE]

        released = fields.get("not_a_disclosure") == "yes"

        async def close(db: AsyncSession, case_id: int, account: Account) -> str:
            if not note.strip():
                return "note-required"
            if released:
                await moderation.release(db, case_id, account.email, note)
                log.info(
                    "dashboard: user %s resolved moderation case %s as not a disclosure",
                    account.user_id,
                    case_id,
                )
                return "released"
            await moderation.resolve(db, case_id, account.email, note)
            log.info("dashboard: user %s resolved moderation case %s", account.user_id, case_id)
            return "resolved"

        return await self._case_action(request, close)

    async def approve(self, request: web.Request) -> web.Response:
        """Show a statement held for approval (``moderation: pre``) to participants."""
        return await self._decide(request, approve=True)

    async def reject(self, request: web.Request) -> web.Response:
        """Never show a statement held for approval."""
        return await self._decide(request, approve=False)

    async def _decide(self, request: web.Request, *, approve: bool) -> web.Response:
        _, fields = await self._posted(request)
        note = fields.get("note", "")[:MAX_NOTE]

        async def decide(db: AsyncSession, case_id: int, account: Account) -> str:
            await moderation.decide_statement(
                db, case_id, account.email, approve=approve, note=note
            )
            log.info(
                "dashboard: user %s %s the statement of case %s",
                account.user_id,
                "approved" if approve else "rejected",
                case_id,
            )
            return "approved" if approve else "rejected"

        return await self._case_action(request, decide)

    # -- accounts ------------------------------------------------------------------------

    async def accounts(self, request: web.Request) -> web.Response:
        """Every dashboard account, with the form to add one, and role changes, removal and
        password resets (admins)."""
        account = await self._account(request)
        await self._require(request, account, auth.ACCOUNTS)
        done = request.query.get("done", "")
        notices = [ACCOUNT_NOTICES[done]] if done in ACCOUNT_NOTICES else []
        return await self._accounts_page(request, account, notices=notices)

    async def _accounts_page(
        self,
        request: web.Request,
        account: Account,
        *,
        notices: list[views.Notice] | None = None,
        adding: views.NewAccountForm | None = None,
        status: int = 200,
    ) -> web.Response:
        async with self.platform.sessionmaker() as db:
            rows = await accounts.listing(db)
        page = views.AccountsPage(
            account.viewer,
            rows,
            auth.ROLES,
            notices or [],
            adding=adding or views.NewAccountForm(),
        )
        return templating.render(request, page, status=status)

    async def account_add(self, request: web.Request) -> web.Response:
        """Add an account with a strong password made here, then go to the page that shows
        it once (post/redirect/get, as a reset does: only its hash is kept, and it is never
        in an address). The password is for one sign-in: the person chooses their own at
        once. A removed account with that email is given back, as ``engage user add`` does.

        A bad email or role, or an email that already has an account, is said on the page,
        naming what was wrong, with the form filled in as it was sent; nothing is stored.
        """
        account, fields = await self._posted(request)
        await self._require(request, account, auth.ACCOUNTS)
        typed = fields.get("email", "")
        role = fields.get("role", "")
        refused = _new_account_problem(typed, role)
        if refused is not None:
            return await self._accounts_page(request, account, adding=refused, status=400)
        email = accounts.new_email(typed)
        password = accounts.generate_password()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        now = self.clock()
        try:
            async with self.platform.sessionmaker.begin() as db:
                user, removed = await accounts.add_or_restore(
                    db, email, role, password_hash, actor=account.email, now=now
                )
                user_id = user.id
        except (accounts.AccountError, IntegrityError):  # IntegrityError: added meanwhile
            taken = views.NewAccountForm(
                email=email,
                role=role,
                email_error=f"Email: {email} already has an account, so no other was added. "
                "Change its role or reset its password under Change an account.",
            )
            return await self._accounts_page(request, account, adding=taken, status=409)
        kind = shown_once.ADDED if removed is None else shown_once.RESTORED
        log.info(
            "dashboard: user %s %s user %s as %s",
            account.user_id,
            "added" if removed is None else "gave back",
            user_id,
            role,
        )
        raise self._to_shown_once(password, account, user_id, now, kind)

    async def _target(self, request: web.Request, account: Account) -> User:
        """The account a form acts on, by the id in its address; else a 404 page."""
        user_id = _row_id(request.match_info["user"])
        async with self.platform.sessionmaker() as db:
            user = await db.get(User, user_id) if user_id is not None else None
        if user is None:
            raise self._not_found(request, account, "account")
        return user

    async def _account_change(
        self,
        request: web.Request,
        account: Account,
        change: Callable[[AsyncSession, User], Awaitable[str]],
    ) -> web.Response:
        """Run one change to an account for an admin (whose role the caller checked), then
        go back to the accounts page."""
        target = await self._target(request, account)
        try:
            async with self.platform.sessionmaker.begin() as db:
                done = await change(db, target)
        except accounts.LastAdmin:
            done = "last-admin"
        except accounts.AccountError:
            done = "was-removed"
        if target.id == account.user_id:
            now = await self._current(request)
            if now is None:  # removed their own account
                raise web.HTTPSeeOther(f"{PREFIX}/login")
            if not now.can(auth.ACCOUNTS):  # gave up their own admin role
                raise web.HTTPSeeOther(PREFIX)
        raise web.HTTPSeeOther(f"{PREFIX}/accounts?done={done}")

    async def account_role(self, request: web.Request) -> web.Response:
        """Give an account another role; it applies from its sessions' next page."""
        account, fields = await self._posted(request)
        await self._require(request, account, auth.ACCOUNTS)
        role = fields.get("role", "")
        if role not in auth.ROLES:
            raise self._refuse(
                request,
                400,
                "Unknown role",
                f"A role is one of: {', '.join(auth.ROLES)}.",
                account,
            )

        async def change(db: AsyncSession, user: User) -> str:
            _, former = await accounts.set_role(db, user.email, role, actor=account.email)
            if former == role:
                return "same-role"
            log.info(
                "dashboard: user %s made user %s %s (was %s)",
                account.user_id,
                user.id,
                role,
                former,
            )
            return "role"

        return await self._account_change(request, account, change)

    async def account_remove(self, request: web.Request) -> web.Response:
        """Remove an account (the box must be ticked): no more sign-ins, sessions ended."""
        account, fields = await self._posted(request)
        await self._require(request, account, auth.ACCOUNTS)
        confirmed = fields.get("confirm") == "yes"

        async def change(db: AsyncSession, user: User) -> str:
            if not confirmed:
                return "confirm"
            removed = await accounts.remove(db, user.email, actor=account.email, now=self.clock())
            if removed is None:
                return "already-removed"
            log.info("dashboard: user %s removed user %s", account.user_id, user.id)
            return "removed"

        return await self._account_change(request, account, change)

    async def account_password(self, request: web.Request) -> web.Response:
        """Reset an account's password to a generated one, then go to the page that shows
        it once (post/redirect/get: reloading that page makes no other password).

        Only its hash is stored; every session of the account ends, so whoever knew the
        old password is signed out. The password goes to its page in a sealed cookie for
        this session (:mod:`bot.web.dashboard.shown_once`), never in the address. One's
        own password is changed on the password page instead, giving the current one.
        """
        account, _ = await self._posted(request)
        await self._require(request, account, auth.ACCOUNTS)
        target = await self._target(request, account)
        if target.id == account.user_id:
            raise web.HTTPSeeOther(f"{PREFIX}/password")
        password = accounts.generate_password()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        now = self.clock()
        try:
            async with self.platform.sessionmaker.begin() as db:
                await accounts.set_password(
                    db,
                    target.email,
                    password_hash,
                    actor=account.email,
                    now=now,
                    how="generated",
                )
        except accounts.AccountError:
            raise web.HTTPSeeOther(f"{PREFIX}/accounts?done=was-removed") from None
        log.info("dashboard: user %s reset the password of user %s", account.user_id, target.id)
        raise self._to_shown_once(password, account, target.id, now, shown_once.RESET)

    def _to_shown_once(
        self, password: str, account: Account, user_id: int, now: datetime, kind: str
    ) -> web.HTTPSeeOther:
        """The redirect to the page that shows a made password once, the password sealed
        in a cookie bound to this session and that account (never in the address)."""
        sealed = self.shown_once.seal(
            password, session_id=account.session_id, user_id=user_id, now=now, kind=kind
        )
        response = web.HTTPSeeOther(f"{PREFIX}/accounts/{user_id}/new-password")
        self._set_cookie(
            response, shown_once.COOKIE, sealed, shown_once.SECONDS, path=f"{PREFIX}/accounts"
        )
        return response

    async def account_new_password(self, request: web.Request) -> web.Response:
        """Show a password just made for an account, once: the page clears what it showed,
        so a reload, a copied address or another session finds nothing to show."""
        account = await self._account(request)
        await self._require(request, account, auth.ACCOUNTS)
        target = await self._target(request, account)
        made = self.shown_once.open(
            request.cookies.get(shown_once.COOKIE, ""),
            session_id=account.session_id,
            user_id=target.id,
            now=self.clock(),
        )
        if made is None:
            return templating.render(
                request,
                views.MessagePage(
                    "Nothing to show",
                    f"A new password for {target.email} is shown once, just after it is made, "
                    "and is not kept (only its hash is), so there is none to show here. If it "
                    "was not passed on, reset the password again.",
                    account.viewer,
                    link_href=f"{PREFIX}/accounts",
                    link_label="Back to the accounts",
                ),
            )
        response = templating.render(
            request,
            views.NewPasswordPage(
                account.viewer, target.email, made.password, kind=made.kind, role=target.role
            ),
        )
        response.del_cookie(shown_once.COOKIE, path=f"{PREFIX}/accounts")
        return response


def _new_password_problem(current: str, new: str, again: str) -> str:
    """What is wrong with a new password, said for the form; empty if nothing."""
    if new != again:
        return PASSWORD_ERRORS["differ"]
    try:
        accounts.check_password(new)
    except accounts.AccountError:
        return PASSWORD_ERRORS["short" if len(new) < accounts.MIN_PASSWORD else "long"]
    if new == current:
        return PASSWORD_ERRORS["same"]
    return ""


def _said_back(text: str) -> str:
    """Part of a refused field, to name it on the page (escaped there): cut if long."""
    text = text.strip()
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def _new_account_problem(email: str, role: str) -> views.NewAccountForm | None:
    """The add-an-account form as sent, saying what is wrong with each field; None if
    nothing is."""
    email_error = role_error = ""
    if not email.strip():
        email_error = "Email: give the email address of the person the account is for."
    elif len(email.strip()) > accounts.MAX_EMAIL:
        email_error = f"Email: an email address has at most {accounts.MAX_EMAIL} characters."
    else:
        try:
            accounts.new_email(email)
        except accounts.AccountError:
            email_error = f"Email: “{_said_back(email)}” is not an email address."
    if role not in auth.ROLES:
        choose = f"choose one of {', '.join(auth.ROLES)}"
        role_error = (
            f"Role: “{_said_back(role)}” is not a role; {choose}."
            if role.strip()
            else f"Role: {choose}."
        )
    if not (email_error or role_error):
        return None
    return views.NewAccountForm(
        email=email[: accounts.MAX_EMAIL],
        role=role if role in auth.ROLES else "",
        email_error=email_error,
        role_error=role_error,
    )


def _to_password(next_path: str) -> web.HTTPSeeOther:
    """Send an account whose password someone else set to choose its own, and on to
    ``next_path`` afterwards."""
    return web.HTTPSeeOther(f"{PREFIX}/password?{urlencode({'next': _safe_next(next_path)})}")


def _row_id(raw: str | None) -> int | None:
    """A row id from an address: ASCII digits that fit in 64 bits, else None."""
    if raw is None or not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        return None
    return int(raw)


def _to_login(request: web.Request) -> web.HTTPException:
    """Send to the login form, and back to the page asked for (a GET) afterwards."""
    target = request.path_qs if request.method == "GET" else PREFIX
    return web.HTTPSeeOther(f"{PREFIX}/login?{urlencode({'next': target})}")


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


def _back_to(cid: str, **query: str) -> web.HTTPSeeOther:
    """Back to a consultation's page, saying what happened (empty parts left out)."""
    shown = urlencode({k: v for k, v in query.items() if v})
    return web.HTTPSeeOther(f"{PREFIX}/c/{quote(cid)}?{shown}")
