"""The built-in web channel: a page per open consultation at ``/c/ID``.

No account is needed: a random token in a cookie is the person's platform id (it is
pseudonymised like any other). Every form carries a CSRF token tied to that cookie
(checked by :mod:`bot.web.middleware`) and a single-use nonce the server issued
(:mod:`bot.web.guards`), so a double click, a resubmitted form or a made-up nonce is
stored once or not at all. New participants per client address and thread posts per
person are limited per minute (429 beyond), and thread lists come a page at a time.
A person's later answer to a poll or prompt replaces the earlier one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.inbox import GroupCommit
from bot.runtime import Outcome, Runtime
from bot.web import pages, templating
from bot.web.guards import ClientAddress, FormNonces, RateWindows
from bot.web.middleware import CsrfTokens, FormGuard
from channels.events import CONSENT, EventKind, InboundEvent
from consultations import service
from consultations.keys import Keyring
from consultations.spec import ConsultationSpec
from storage import queries
from storage.tables import Consultation, Dialogue, Participant, Response

COOKIE = "engage_p"
COOKIE_AGE = 60 * 60 * 24 * 180
MAX_TEXT = 5000
# The shape of the tokens this page hands out (secrets.token_urlsafe); any other cookie
# value, non-ASCII text included, is treated as no cookie at all.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
NEEDS_COOKIES = (
    "This page needs cookies to keep your answers together. "
    "Please allow cookies for this site and try again."
)
FORM_EXPIRED = "This form has expired. Please go back and reload the page."
#: Posts one person may add to discussion threads in a minute.
THREAD_POSTS_PER_MINUTE = 5
#: Top-level posts of a thread shown on one page (``?page=N`` for the others).
THREAD_PAGE_SIZE = 50
# Far beyond any real thread; a bigger number is a made-up address, not a page.
MAX_PAGE = 100_000
# Replies nested deeper than this are not shown (each level is one query).
MAX_REPLY_DEPTH = 20
_PARENT = re.compile(r"response:[0-9]{1,18}")


class WebChannel:
    """Request handlers for the consultation pages."""

    def __init__(
        self,
        runtime: Runtime,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        secret_key: str,
        *,
        secure_cookies: bool = False,
        new_participants_per_minute: int = 30,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.runtime = runtime
        self._specs: dict[str, ConsultationSpec] = {}
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.csrf = CsrfTokens(secret_key, "engage web csrf")
        self.secure_cookies = secure_cookies
        self.nonces = FormNonces(sessionmaker, secret_key)
        # Answers from concurrent requests share a transaction (see GroupCommit), which
        # also claims each form's nonce: used exactly when the answers commit.
        self.intake = GroupCommit(runtime, admit=self.nonces.admit)
        self.rates = RateWindows(sessionmaker, secret_key)
        self.client = ClientAddress(trusted_proxies)
        self.new_participants_per_minute = new_participants_per_minute

    def routes(self) -> list[web.RouteDef]:
        """Every route of the consultation pages (the posts take the :meth:`form_guard`)."""
        return [
            web.get("/", self.index),
            web.get("/c/{cid}", self.show),
            web.post("/c/{cid}/consent", self.consent),
            web.post("/c/{cid}/answers", self.answers),
            web.post("/c/{cid}/threads/{item}", self.thread_reply),
            web.post("/c/{cid}/stop", self.stop),
            web.post("/c/{cid}/erase", self.erase),
        ]

    # -- helpers ------------------------------------------------------------------

    def form_guard(self) -> FormGuard:
        """The CSRF rule of these pages: a form's token is tied to the participant cookie."""
        return FormGuard(tokens=self.csrf, subject=self._csrf_subject, refuse=_form_expired)

    async def _csrf_subject(self, request: web.Request) -> str:
        token = _participant_token(request)
        if token is None:
            raise web.HTTPBadRequest(text=NEEDS_COOKIES)
        return token

    async def _form(self, token: str) -> pages.FormContext:
        """The hidden fields of a page's forms: one issued nonce serves all of them."""
        return pages.FormContext(csrf=self.csrf.token(token), nonce=await self.nonces.issue())

    def _too_many(self, request: web.Request, retry_after: int, text: str) -> web.HTTPException:
        """A 429 answer: a plain page, and when to try again."""
        page = pages.NoticePage("Please wait", "Please wait a moment", text)
        return web.HTTPTooManyRequests(
            text=templating.render_string(request, page),
            content_type="text/html",
            headers={"Retry-After": str(retry_after)},
        )

    def _html(
        self,
        request: web.Request,
        page: templating.Page,
        token: str | None = None,
        status: int = 200,
    ) -> web.Response:
        """The page, setting the participant cookie when ``token`` is new."""
        response = templating.render(request, page, status=status)
        if token is not None:
            response.set_cookie(
                COOKIE,
                token,
                max_age=COOKIE_AGE,
                httponly=True,
                samesite="Lax",
                secure=self.secure_cookies,
            )
        return response

    async def _consultation(
        self, session: AsyncSession, cid: str
    ) -> tuple[Consultation, ConsultationSpec] | None:
        row = await session.get(Consultation, cid)
        if row is None or row.state == service.DRAFT:
            return None
        spec = service.spec_of(row)
        if "web" not in spec.channels:
            return None
        return row, spec

    async def _posted(
        self, request: web.Request, cid: str
    ) -> tuple[str, dict[str, list[str]], str, ConsultationSpec]:
        """The cookie token, form fields, nonce and consultation of a POST.

        The middleware checked its CSRF token. Here: a consultation that is not there
        gets 404; a cookie that is not yet a participant counts against its address's
        limit on new participants. The nonce is claimed when the events are handled (the
        ``ticket`` of :meth:`_submit`): one that was not issued, or was used already,
        shows the current page and stores nothing.
        """
        token = await self._csrf_subject(request)
        form = await request.post()
        fields: dict[str, list[str]] = {}
        for key, value in form.items():
            if isinstance(value, str):
                if "\x00" in key or "\x00" in value:
                    # No store keeps a NUL in text (PostgreSQL refuses it): the client's
                    # fault, so a 400 rather than a failed transaction.
                    raise web.HTTPBadRequest(text="The form holds characters it cannot.")
                fields.setdefault(key, []).append(value)
        nonce = (fields.get("nonce") or [""])[0]
        if not 8 <= len(nonce) <= 64:
            raise web.HTTPBadRequest(text="The form is missing its submission id.")
        spec = await self._launched_spec(cid)
        if spec is None:
            raise web.HTTPNotFound(text="There is no open consultation at this address.")
        # One query for both: whether the consultation still takes answers, and whether
        # the cookie is a participant already (new ones count against a limit).
        pseudonym = self.keyring.pseudonym("web", token)
        known = select(Participant.id).where(
            Participant.channel == "web", Participant.pseudonym == pseudonym
        )
        async with self.sessionmaker() as session:
            found = (
                await session.execute(
                    select(Consultation.state, known.exists()).where(Consultation.id == cid)
                )
            ).one_or_none()
        state, participant = found if found is not None else (None, False)
        if state == service.CLOSED:
            # CONTRACT.md: a form posted to a closed consultation gets 410, nothing stored.
            raise web.HTTPGone(text="This consultation has closed and no longer takes answers.")
        if not participant:
            await self._limit_new_participant(request)
        return token, fields, nonce, spec

    async def _submit(self, cid: str, nonce: str, *events: InboundEvent) -> Outcome:
        """Handle a form's events if its nonce is claimed, in the same transaction."""
        outcome = await self.intake.submit(*events, ticket=nonce)
        if outcome.refused:
            # A resubmitted form, a second click, or a nonce the client made up: show
            # where the person stands now, as a plain reload would.
            raise web.HTTPSeeOther(f"/c/{cid}")
        return outcome

    async def _limit_new_participant(self, request: web.Request) -> None:
        """Refuse a new participant (a cookie not yet one) beyond its address's limit."""
        if self.new_participants_per_minute <= 0:
            return
        wait = await self.rates.hit(
            "new", self.client.of(request), self.new_participants_per_minute
        )
        if wait is not None:
            raise self._too_many(
                request,
                wait,
                "Many people have just started from your network. Please wait a minute, "
                "then reload the page.",
            )

    def _event(
        self, token: str, event_id: str, cid: str, kind: EventKind, **values: Any
    ) -> InboundEvent:
        return InboundEvent(
            channel="web",
            event_id=event_id,
            sender=token,
            kind=kind,
            consultation_id=cid,
            **values,
        )

    def _after(
        self, request: web.Request, cid: str, outcome: Outcome, spec_title: str
    ) -> web.StreamResponse:
        safety = [m for m in outcome.messages if m.kind == "safety"]
        if safety:
            return self._html(
                request,
                pages.NoticePage(
                    spec_title, "Thank you for telling us", safety[0].text, kind="safety"
                ),
            )
        raise web.HTTPSeeOther(f"/c/{cid}")

    # -- pages ---------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        """The open consultations that take answers on the web."""
        async with self.sessionmaker() as session:
            rows = await queries.open_consultations(session, datetime.now(UTC))
            listing = [
                pages.Listing(r.id, r.title, r.organisation)
                for r in rows
                if "web" in service.spec_of(r).channels
            ]
        return self._html(request, pages.IndexPage(listing))

    async def show(self, request: web.Request) -> web.Response:
        """The page of a consultation: whatever the person is to answer next."""
        cid = request.match_info["cid"]
        token = _participant_token(request)
        new_token = None
        if not token:
            token = new_token = secrets.token_urlsafe(24)
        page = _page_number(request)
        # The forms' nonce is issued (a write of its own) before the page's reading
        # session opens: a connection held while waiting for another could exhaust the
        # pool under load, every request holding one and waiting for a second.
        form = await self._form(token) if await self._launched_spec(cid) else None
        async with self.sessionmaker() as session:
            found = await self._consultation(session, cid)
            if found is None:
                return self._html(
                    request,
                    pages.NoticePage(
                        "Not found",
                        "Consultation not found",
                        "There is no open consultation at this address. Please check the link.",
                    ),
                    new_token,
                    status=404,
                )
            row, spec = found
            if not service.accepting(row, spec, datetime.now(UTC)):
                return self._html(
                    request,
                    pages.NoticePage(
                        spec.title,
                        spec.title,
                        _closed_text(row, spec),
                        lang=spec.language,
                    ),
                    new_token,
                )
            participant = await queries.find_participant(
                session, "web", self.keyring.pseudonym("web", token)
            )
            if participant is None or participant.opted_out_at is not None:
                return self._html(
                    request, pages.ConsentPage(spec, form or await self._form(token)), new_token
                )
            consents = await queries.consents(session, participant.id, cid)
            given = consents.get("consultation")
            if given is None or not given.given or given.withdrawn_at is not None:
                return self._html(
                    request, pages.ConsentPage(spec, form or await self._form(token)), new_token
                )
            dialogue = await session.scalar(
                select(Dialogue).where(
                    Dialogue.participant_id == participant.id, Dialogue.consultation_id == cid
                )
            )
            if dialogue is not None and dialogue.state == "held":
                from consultations.screening import safety_message

                return self._html(
                    request,
                    pages.NoticePage(
                        spec.title,
                        "Thank you for telling us",
                        safety_message(spec.safety, spec.organisation),
                        kind="safety",
                        lang=spec.language,
                    ),
                    new_token,
                )
            seen_segments = set(dialogue.segments) if dialogue is not None else set()
            mine = (
                await session.scalars(
                    select(Response)
                    .where(
                        Response.participant_id == participant.id,
                        Response.consultation_id == cid,
                    )
                    .order_by(Response.id)
                )
            ).all()
            answered = {r.item_id for r in mine} | seen_segments
            segments = [s for s in spec.segments if s.id not in answered]
            if segments:
                return self._html(
                    request,
                    pages.SegmentsPage(spec, segments, form or await self._form(token)),
                    new_token,
                )
            unanswered = [i for i in spec.items if i.id not in answered]
            # What the person answered so far, to show in the form they may change it in
            # (the latest answer wins: it replaces the earlier ones).
            answers: dict[str, list[str]] = {}
            for r in mine:
                if r.item_type == "poll":
                    answers[r.item_id] = list(r.choices)
                elif r.item_type == "prompt":
                    answers[r.item_id] = [r.text or ""]
            threads, more = await self._threads(session, spec, participant.id, page)
        return self._html(
            request,
            pages.ItemsPage(
                spec,
                form or await self._form(token),
                unanswered=unanswered,
                answers=answers,
                threads=threads,
                finished=not [i for i in unanswered if i.type != "thread"],
                page=page,
                more=more,
            ),
            new_token,
        )

    async def _threads(
        self, session: AsyncSession, spec: ConsultationSpec, participant_id: int, page: int
    ) -> tuple[dict[str, list[pages.ThreadReply]], bool]:
        """Each thread's top-level posts on ``page`` (oldest first) with their replies.

        Returns the threads and whether any thread has posts on a later page.
        """
        roots: dict[str, list[pages.ThreadReply]] = {}
        more = False
        for item in spec.items:
            if item.type != "thread":
                continue
            shown = (
                Response.consultation_id == spec.id,
                Response.item_id == item.id,
                Response.item_type == "thread",
                # Only what was said in public: a thread answer given in a private
                # chat or a direct message is never shown to others (CONTRACT.md).
                Response.public.is_(True),
            )
            top: ColumnElement[bool] = or_(
                Response.in_reply_to.is_(None), ~Response.in_reply_to.startswith("response:")
            )
            rows = (
                await session.scalars(
                    select(Response)
                    .where(*shown, top)
                    .order_by(Response.id)
                    .offset((page - 1) * THREAD_PAGE_SIZE)
                    .limit(THREAD_PAGE_SIZE + 1)
                )
            ).all()
            if len(rows) > THREAD_PAGE_SIZE:
                more = True
                rows = rows[:THREAD_PAGE_SIZE]
            nodes: dict[str, pages.ThreadReply] = {}
            for row in rows:
                node = self._reply(row, participant_id)
                if node is not None:
                    nodes[node.ref] = node
                    roots.setdefault(item.id, []).append(node)
            # The replies under this page's posts, a level at a time: a reply to a post
            # on another page, or to one not shown, is not shown either.
            level = list(nodes)
            for _ in range(MAX_REPLY_DEPTH):
                if not level:
                    break
                replies = (
                    await session.scalars(
                        select(Response)
                        .where(*shown, Response.in_reply_to.in_(level))
                        .order_by(Response.id)
                    )
                ).all()
                level = []
                for row in replies:
                    node = self._reply(row, participant_id)
                    parent = nodes.get(row.in_reply_to or "")
                    if node is not None and parent is not None:
                        parent.children.append(node)
                        nodes[node.ref] = node
                        level.append(node.ref)
        return roots, more

    @staticmethod
    def _reply(row: Response, participant_id: int) -> pages.ThreadReply | None:
        if "safety" in row.flags:
            return None  # a disclosure goes to a moderator, never on the page
        return pages.ThreadReply(
            ref=f"response:{row.id}",
            text=row.text or "",
            created=f"{row.created_at:%d %b %H:%M}",
            mine=row.participant_id == participant_id,
        )

    # -- form posts ----------------------------------------------------------------

    async def consent(self, request: web.Request) -> web.StreamResponse:
        """Yes or no to the consent question."""
        cid = request.match_info["cid"]
        token, fields, nonce, _ = await self._posted(request, cid)
        answer = (fields.get("answer") or [""])[0]
        if answer not in ("yes", "no"):
            raise web.HTTPBadRequest(text="Please choose “Yes, I agree” or “No thanks”.")
        outcome = await self._submit(
            cid,
            nonce,
            self._event(token, f"{nonce}:start", cid, EventKind.START),
            self._event(
                token,
                f"{nonce}:consent",
                cid,
                EventKind.ANSWER,
                item_id=CONSENT,
                choices=("yes" if answer == "yes" else "no",),
            ),
        )
        if answer == "no" and not outcome.duplicate:
            return self._html(
                request,
                pages.NoticePage(
                    "Thank you",
                    "Thank you",
                    "No problem: we won't ask you anything. You can close this page.",
                ),
            )
        raise web.HTTPSeeOther(f"/c/{cid}")

    async def _launched_spec(self, cid: str) -> ConsultationSpec | None:
        """The spec of a launched consultation (it can no longer change, so it is kept)."""
        spec = self._specs.get(cid)
        if spec is None:
            async with self.sessionmaker() as session:
                found = await self._consultation(session, cid)
            if found is None:
                return None
            spec = self._specs[cid] = found[1]
        return spec

    async def answers(self, request: web.Request) -> web.StreamResponse:
        """Answers to segment questions, polls and prompts, from one form."""
        cid = request.match_info["cid"]
        token, fields, nonce, spec = await self._posted(request, cid)
        events: list[InboundEvent] = []
        segment_ids = {s.id for s in spec.segments}
        items = {i.id: i for i in spec.items if i.type != "thread"}
        for key, values in fields.items():
            kind, _, qid = key.partition(":")
            if (kind == "segment" and qid not in segment_ids) or (
                kind == "item" and qid not in items
            ):
                raise web.HTTPBadRequest(text="The form asks about a question that is not here.")
            if kind == "segment" and qid in segment_ids:
                events.append(
                    self._event(
                        token,
                        f"{nonce}:{key}",
                        cid,
                        EventKind.ANSWER,
                        item_id=qid,
                        choices=tuple(values[:1]),
                    )
                )
            elif kind == "item" and qid in items:
                item = items[qid]
                if item.type == "poll":
                    events.append(
                        self._event(
                            token,
                            f"{nonce}:{key}",
                            cid,
                            EventKind.ANSWER,
                            item_id=qid,
                            choices=tuple(values),
                        )
                    )
                elif values[0].strip():
                    events.append(
                        self._event(
                            token,
                            f"{nonce}:{key}",
                            cid,
                            EventKind.ANSWER,
                            item_id=qid,
                            text=values[0][:MAX_TEXT],
                        )
                    )
        if any(key.startswith("segment:") for key in fields) or not events:
            # Segment questions left blank were seen and skipped.
            for segment in spec.segments:
                if f"segment:{segment.id}" not in fields:
                    events.append(
                        self._event(
                            token,
                            f"{nonce}:skip:{segment.id}",
                            cid,
                            EventKind.SKIP,
                            item_id=segment.id,
                        )
                    )
        if not events:
            raise web.HTTPSeeOther(f"/c/{cid}")
        outcome = await self._submit(cid, nonce, *events)
        return self._after(request, cid, outcome, spec.title)

    async def thread_reply(self, request: web.Request) -> web.StreamResponse:
        """A post in a discussion thread, or a reply to one."""
        cid = request.match_info["cid"]
        item_id = request.match_info["item"]
        token, fields, nonce, spec = await self._posted(request, cid)
        if not any(i.id == item_id and i.type == "thread" for i in spec.items):
            raise web.HTTPNotFound(text="There is no such discussion in this consultation.")
        text = (fields.get("text") or [""])[0].strip()
        if not text:
            raise web.HTTPSeeOther(f"/c/{cid}")
        parent = next(iter(fields.get("parent", [])), None)
        if parent is not None and not _PARENT.fullmatch(parent):
            raise web.HTTPBadRequest(text="The reply does not say what it answers.")
        wait = await self.rates.hit("post", token, THREAD_POSTS_PER_MINUTE)
        if wait is not None:
            raise self._too_many(
                request,
                wait,
                "You have posted a lot in the last minute. Please wait a moment before "
                "posting again.",
            )
        outcome = await self._submit(
            cid,
            nonce,
            self._event(
                token,
                f"{nonce}:thread",
                cid,
                EventKind.ANSWER,
                item_id=item_id,
                text=text[:MAX_TEXT],
                in_reply_to=parent,
            ),
        )
        return self._after(request, cid, outcome, spec.title)

    async def stop(self, request: web.Request) -> web.Response:
        """Leave the consultation (STOP): nothing more is asked or stored."""
        cid = request.match_info["cid"]
        token, _, nonce, _ = await self._posted(request, cid)
        await self._submit(cid, nonce, self._event(token, f"{nonce}:stop", cid, EventKind.STOP))
        return self._html(
            request,
            pages.NoticePage(
                "You have left",
                "You have left this consultation",
                "We won't ask you anything more. Answers you gave before are kept and used "
                "without your name; choose “Delete my answers” on the consultation page if "
                "you want them erased.",
            ),
        )

    async def erase(self, request: web.Request) -> web.Response:
        """Erase the person's answers and forget the cookie."""
        cid = request.match_info["cid"]
        token, _, nonce, _ = await self._posted(request, cid)
        await self._submit(cid, nonce, self._event(token, f"{nonce}:erase", cid, EventKind.ERASE))
        response = self._html(
            request,
            pages.NoticePage(
                "Answers deleted",
                "Your answers have been deleted",
                "Everything you told us in this consultation has been erased.",
            ),
        )
        response.del_cookie(COOKIE)
        return response


def _closed_text(row: Consultation, spec: ConsultationSpec) -> str:
    now = datetime.now(UTC)
    if row.state == service.OPEN and spec.opens_at is not None and now < spec.opens_at:
        return f"This consultation opens on {spec.opens_at:%d %B %Y}. Please come back then."
    return (
        "This consultation has closed and is no longer taking answers. Thank you for your "
        "interest: the service will share what it learned and what it will change."
    )


def _page_number(request: web.Request) -> int:
    """The ``?page=N`` of a consultation page (1 when absent); anything else is a 400."""
    text = request.query.get("page")
    if text is None:
        return 1
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= MAX_PAGE:
        raise web.HTTPBadRequest(text="There is no such page.")
    return int(text)


def _participant_token(request: web.Request) -> str | None:
    """The participant cookie, if it is one this page could have handed out."""
    token = request.cookies.get(COOKIE)
    return token if token is not None and _TOKEN.fullmatch(token) else None


async def _form_expired(request: web.Request) -> web.StreamResponse:
    return web.Response(status=403, text=FORM_EXPIRED)
