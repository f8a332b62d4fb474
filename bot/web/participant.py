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
from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import followups
from bot.inbox import GroupCommit
from bot.runtime import Outcome, Runtime
from bot.web import pages, templating
from bot.web.guards import ClientAddress, FormNonces, RateWindows
from bot.web.middleware import CsrfTokens, FormGuard, posted_texts
from channels.events import CONSENT, RECONTACT, EventKind, InboundEvent
from consultations import moderation, rounds, screening, service
from consultations import statements as voting
from consultations.dialogue import RECONTACT_OPTIONS, choices
from consultations.keys import Keyring
from consultations.screening import SAFETY, safety_message
from consultations.spec import ConsultationSpec
from consultations.texts import ENGLISH, Texts
from storage import queries
from storage.db import statements_on_loop
from storage.lists import one_of
from storage.tables import Consent, Consultation, Dialogue, Participant, Response

COOKIE = "engage_p"
COOKIE_AGE = 60 * 60 * 24 * 180
# The shape of the tokens this page hands out (secrets.token_urlsafe); any other cookie
# value, non-ASCII text included, is treated as no cookie at all.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
NEEDS_COOKIES = ENGLISH("web_needs_cookies")
FORM_EXPIRED = ENGLISH("web_form_expired")
#: Posts one person may add to discussion threads in a minute.
THREAD_POSTS_PER_MINUTE = 5
#: Top-level posts of a thread shown on one page (``?page=N`` for the others).
THREAD_PAGE_SIZE = 50
# Far beyond any real thread; a bigger number is a made-up address, not a page.
MAX_PAGE = 100_000
# Replies nested deeper than this are not shown (each level is one query).
MAX_REPLY_DEPTH = 20
# Participants remembered per process before the set starts again (a cache only).
KNOWN_PARTICIPANTS = 100_000
_PARENT = re.compile(r"response:[0-9]{1,18}")
# What a form's nonce may look like: printable ASCII, no space (those this page issues are
# digits, letters, dots, hyphens and underscores). Anything else, non-ASCII text among it,
# is a broken form (400), not a resubmitted one (which is shown the page again).
_NONCE = re.compile(r"[\x21-\x7e]{8,64}")
# Whether a consultation still takes answers and whether a cookie is a participant
# already, in one query (see WebChannel._posted): built once, not for every request.
_STATE_AND_KNOWN = select(
    Consultation.state,
    select(Participant.id)
    .where(Participant.channel == "web", Participant.pseudonym == bindparam("pseudonym"))
    .exists(),
).where(Consultation.id == bindparam("cid"))

# What a page needs first, in one query: the consultation's state and spec version; the
# cookie's participant (if it is one) with whether they left; their consent to this
# consultation; their dialogue's state and the segment questions it has seen. Each join
# finds at most one row (unique keys). The spec itself is parsed once per version
# (service.spec_of), so its column is read only when that is new.
_PAGE_START = (
    select(
        Consultation.state,
        Consultation.created_at,
        Participant.id.label("participant_id"),
        Participant.opted_out_at,
        Consent.given.label("consent_given"),
        Consent.withdrawn_at.label("consent_withdrawn_at"),
        Dialogue.state.label("dialogue_state"),
        Dialogue.segments.label("dialogue_segments"),
        # Whether any follow-up invites this person: those this page may show are read
        # (and marked shown) only then, not by a query of their own on every page.
        exists().where(followups.invited_on_web(Participant.id)).label("invited"),
    )
    .select_from(Consultation)
    .outerjoin(
        Participant,
        and_(Participant.channel == "web", Participant.pseudonym == bindparam("pseudonym")),
    )
    .outerjoin(
        Consent,
        and_(
            Consent.participant_id == Participant.id,
            Consent.consultation_id == Consultation.id,
            Consent.purpose == "consultation",
        ),
    )
    .outerjoin(
        Dialogue,
        and_(
            Dialogue.participant_id == Participant.id,
            Dialogue.consultation_id == Consultation.id,
        ),
    )
    .where(Consultation.id == bindparam("cid"))
)


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
        parallel_commits: int = 1,
    ) -> None:
        self.runtime = runtime
        self._specs: dict[str, ConsultationSpec] = {}
        # Pseudonyms of cookies seen to be participants already (see _posted).
        self._participants: set[str] = set()
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.csrf = CsrfTokens(secret_key, "engage web csrf")
        self.secure_cookies = secure_cookies
        self.nonces = FormNonces(sessionmaker, secret_key)
        # Answers from concurrent requests share a transaction (see GroupCommit), which
        # also claims each form's nonce: used exactly when the answers commit.
        self.intake = GroupCommit(runtime, admit=self.nonces.admit, parallel=parallel_commits)
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
            web.post("/c/{cid}/statements/{item}", self.statement),
            web.post("/c/{cid}/stop", self.stop),
            web.post("/c/{cid}/erase", self.erase),
        ]

    # -- helpers ------------------------------------------------------------------

    def form_guard(self) -> FormGuard:
        """The CSRF rule of these pages: a form's token is tied to the participant cookie."""
        return FormGuard(tokens=self.csrf, subject=self._csrf_subject, refuse=self._form_expired)

    async def _csrf_subject(self, request: web.Request) -> str:
        token = _participant_token(request)
        if token is None:
            await self._refuse_unknown_or_closed(request)
            texts = await self._texts_of(request)
            raise self._problem(request, web.HTTPBadRequest, "web_needs_cookies", texts)
        return token

    async def _refuse_unknown_or_closed(self, request: web.Request) -> None:
        """CONTRACT.md: a form posted to an unknown consultation or a draft gets 404, to a
        closed one 410, whatever its cookie and token (a post without them is refused as
        such only where it could have been taken)."""
        cid = request.match_info.get("cid")
        if cid is None:
            return
        spec = await self._launched_spec(cid)
        if spec is None:
            raise self._problem(request, web.HTTPNotFound, "web_not_found", _texts(request))
        async with self.sessionmaker() as session:
            state = await session.scalar(select(Consultation.state).where(Consultation.id == cid))
        if state == service.CLOSED:
            raise self._problem(request, web.HTTPGone, "web_gone", spec.wording())

    async def _texts_of(self, request: web.Request) -> Texts:
        """The words of the consultation a form posts to (its spec's language), else the
        browser's: an error on a Welsh consultation's form is in Welsh, whatever the
        browser asks for. (While the store is down the outage answer, a 503, is given.)"""
        cid = request.match_info.get("cid")
        spec = await self._launched_spec(cid) if cid is not None else None
        return spec.wording() if spec is not None else _texts(request)

    async def _form_expired(self, request: web.Request) -> web.StreamResponse:
        await self._refuse_unknown_or_closed(request)
        texts = await self._texts_of(request)
        page = pages.NoticePage(
            texts("web_error_title"),
            texts("web_error_heading"),
            texts("web_form_expired"),
            "error",
            texts,
        )
        return web.Response(
            status=403, text=templating.render_string(request, page), content_type="text/html"
        )

    def _form(self, token: str) -> pages.FormContext:
        """The hidden fields of a page's forms: one signed nonce serves all of them."""
        return pages.FormContext(csrf=self.csrf.token(token), nonce=self.nonces.issue())

    def _too_many(
        self, request: web.Request, retry_after: int, key: str, texts: Texts
    ) -> web.HTTPException:
        """A 429 answer: a plain page in the consultation's words, and when to try again
        (the page says how long, as ``Retry-After`` does)."""
        wait = texts("web_try_again_in", wait=texts.seconds(retry_after))
        page = pages.NoticePage(
            texts("web_wait_title"), texts("web_wait_heading"), f"{texts(key)} {wait}", texts=texts
        )
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

    async def _page_spec(
        self, session: AsyncSession, cid: str, start: Any
    ) -> ConsultationSpec | None:
        """The spec of the consultation a page's first query found (``start``), if shown.

        None for a consultation that is not there, a draft, or not on the web.
        """
        if start is None or start.state == service.DRAFT:
            return None
        spec = service.cached_spec(cid, start.created_at)
        if spec is None:
            found = await self._consultation(session, cid)
            if found is None:
                return None
            spec = found[1]
        return spec if "web" in spec.channels else None

    async def _posted(
        self,
        request: web.Request,
        cid: str,
        *,
        writes_first: bool = False,
        after_close: bool = False,
    ) -> tuple[str, dict[str, list[str]], str, ConsultationSpec]:
        """The cookie token, form fields, nonce and consultation of a POST.

        The middleware checked its CSRF token. Here: a consultation that is not there
        gets 404; a cookie that is not yet a participant counts against its address's
        limit on new participants. The nonce is claimed when the events are handled (the
        ``ticket`` of :meth:`_submit`): one that was not issued, or was used already,
        shows the current page and stores nothing. A route that ``writes_first`` (counts
        a post against a limit before submitting) has a closed consultation refused
        here, before anything is written. A route that works ``after_close`` (erasure,
        which stores nothing) takes a closed consultation as an open one.
        """
        token = await self._csrf_subject(request)
        fields: dict[str, list[str]] = {}
        # Control characters dropped (a NUL, which PostgreSQL refuses, among them).
        for key, value in await posted_texts(request):
            fields.setdefault(key, []).append(value)
        nonce = (fields.get("nonce") or [""])[0]
        spec = await self._launched_spec(cid)
        if spec is None:
            raise self._problem(request, web.HTTPNotFound, "web_not_found", _texts(request))
        texts = spec.wording()
        if not _NONCE.fullmatch(nonce):
            raise self._problem(request, web.HTTPBadRequest, "web_form_broken", texts)
        pseudonym = self.keyring.pseudonym("web", token)
        if pseudonym in self._participants and not writes_first:
            # A participant already: no limit applies, and whether the consultation has
            # closed is decided in the transaction that would store the answers (a
            # ``gone`` outcome from :meth:`_submit`), so no query is spent here.
            return token, fields, nonce, spec
        # One query for both: whether the consultation still takes answers, and whether
        # the cookie is a participant already (new ones count against a limit).
        async with self.sessionmaker() as session:
            found = (
                await session.execute(_STATE_AND_KNOWN, {"cid": cid, "pseudonym": pseudonym})
            ).one_or_none()
        state, participant = found if found is not None else (None, False)
        if state == service.CLOSED and not after_close:
            # CONTRACT.md: a form posted to a closed consultation gets 410, nothing stored.
            raise self._problem(request, web.HTTPGone, "web_gone", texts)
        if participant:
            self._remember(pseudonym)
        else:
            await self._limit_new_participant(request, texts)
        return token, fields, nonce, spec

    def _check_length(self, request: web.Request, text: str, spec: ConsultationSpec) -> None:
        """Refuse a free text longer than the page takes (400, the whole form unstored),
        before anything is screened: the page's boxes stop at the same length."""
        if len(text) > templating.TEXT_MAX:
            texts = spec.wording()
            message = texts("web_text_too_long", limit=templating.TEXT_MAX, length=len(text))
            page = pages.NoticePage(
                texts("web_error_title"), texts("web_error_heading"), message, "error", texts
            )
            raise web.HTTPBadRequest(
                text=templating.render_string(request, page), content_type="text/html"
            )

    def _remember(self, pseudonym: str) -> None:
        """Note a cookie as a participant's (the set is a cache: cleared when it is full)."""
        if len(self._participants) >= KNOWN_PARTICIPANTS:
            self._participants.clear()
        self._participants.add(pseudonym)

    async def _submit(
        self, request: web.Request, cid: str, nonce: str, *events: InboundEvent
    ) -> Outcome:
        """Handle a form's events if its nonce is claimed, in the same transaction."""
        # Launched specs are kept: no query. Without one, the batch finds it gone.
        spec = await self._launched_spec(cid)
        hints = screening.hints_for(spec) if spec is not None else screening.NO_HINTS
        outcome = await self.intake.submit(*events, ticket=nonce, hints=hints)
        if outcome.gone:
            # CONTRACT.md: a form posted to a closed consultation gets 410, nothing stored.
            spec = await self._launched_spec(cid)
            texts = spec.wording() if spec is not None else ENGLISH
            raise self._problem(request, web.HTTPGone, "web_gone", texts)
        if outcome.refused:
            # A resubmitted form, a second click, or a nonce the client made up: show
            # where the person stands now, as a plain reload would.
            raise web.HTTPSeeOther(f"/c/{cid}")
        return outcome

    async def _limit_new_participant(self, request: web.Request, texts: Texts) -> None:
        """Refuse a new participant (a cookie not yet one) beyond its address's limit."""
        if self.new_participants_per_minute <= 0:
            return
        wait = await self.rates.hit(
            "new", self.client.of(request), self.new_participants_per_minute
        )
        if wait is not None:
            raise self._too_many(request, wait, "web_busy_network", texts)

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

    def _problem(
        self,
        request: web.Request,
        answer: type[web.HTTPException],
        key: str,
        texts: Texts,
    ) -> web.HTTPException:
        """An error answer as a page in the person's words: what went wrong, as an alert."""
        page = pages.NoticePage(
            texts("web_error_title"), texts("web_error_heading"), texts(key), "error", texts
        )
        return answer(text=templating.render_string(request, page), content_type="text/html")

    async def _after(
        self,
        request: web.Request,
        cid: str,
        outcome: Outcome,
        spec: ConsultationSpec,
        token: str,
    ) -> web.StreamResponse:
        if outcome.left:
            # STOP typed as an answer or a post: the page says so, as "Leave" does.
            return await self._left_page(request, spec, token)
        safety = [m for m in outcome.messages if m.kind == "safety"]
        if safety:
            texts = spec.wording()
            held = outcome.held_by
            if held is not None:
                # Held: the reply that held it, whatever else the same form said; leaving
                # and deleting stay a button away, as on every page.
                page = pages.NoticePage(
                    spec.title,
                    texts("web_safety_heading"),
                    held.text,
                    "safety",
                    texts,
                    erase=pages.EraseForm(cid, self._form(token)),
                    leave=True,
                )
            else:
                # Only tentative flags: a check-in, and the way on.
                page = pages.NoticePage(
                    spec.title,
                    texts("web_check_in_heading"),
                    safety[0].text,
                    "safety",
                    texts,
                    carry_on=f"/c/{cid}",
                )
            return self._html(request, page)
        return _see_page(cid)

    # -- pages ---------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        """The open consultations that take answers on the web."""
        async with self.sessionmaker() as session:
            now = datetime.now(UTC)
            rows = await service.taking_answers(session, now)
            specs = [service.spec_of(r) for r in rows]
            listing = [
                pages.Listing(spec.id, spec.title, spec.organisation, spec.language)
                for spec in specs
                if "web" in spec.channels
            ]
        return self._html(request, pages.IndexPage(listing, _texts(request)))

    async def show(self, request: web.Request) -> web.Response:
        """The page of a consultation: whatever the person is to answer next."""
        return await self._show(request)

    async def _show(
        self,
        request: web.Request,
        messages: Sequence[pages.Message] = (),
        *,
        prefer_statement: int | None = None,
        thanks: bool = True,
    ) -> web.Response:
        """The consultation page, with ``messages`` (what a form post said) above it, and
        ``prefer_statement`` (the one a refused near-repeat repeats) offered for a vote
        where the person may vote on it. ``thanks=False`` leaves out the closing thanks
        (a post whose answer was not stored is not thanked for)."""
        # Its reads are short and indexed, and readers of a SQLite store in WAL mode never
        # wait for a lock: each costs less than the hand-over to aiosqlite's thread and
        # back (the page is a web participant's most frequent request).
        statements_on_loop()
        cid = request.match_info["cid"]
        token = _participant_token(request)
        new_token = None
        if not token:
            token = new_token = secrets.token_urlsafe(24)
        page = _page_number(request)
        if page is None:
            texts = await self._texts_of(request)
            raise self._problem(request, web.HTTPBadRequest, "web_no_page", texts)
        # The forms' hidden fields: the nonce is signed, so showing a page writes nothing
        # (a client fetching it in a loop adds no row).
        form = self._form(token)
        async with self.sessionmaker() as session:
            start = (
                await session.execute(
                    _PAGE_START, {"cid": cid, "pseudonym": self.keyring.pseudonym("web", token)}
                )
            ).one_or_none()
            found = await self._page_spec(session, cid, start)
            if start is None or found is None:
                texts = _texts(request)
                return self._html(
                    request,
                    pages.NoticePage(
                        texts("web_not_found_title"),
                        texts("web_not_found_heading"),
                        texts("web_not_found"),
                        texts=texts,
                    ),
                    new_token,
                    status=404,
                )
            spec = found
            texts = spec.wording()
            participant_id: int | None = start.participant_id
            # A person the page knows (their cookie) may always delete what they gave:
            # after leaving, after saying no, after the close.
            known = participant_id is not None
            if start.opted_out_at is not None:
                participant_id = None  # they left (STOP): asked to consent again
            invited = await self._invitations(session, participant_id, cid) if start.invited else []
            if not service.accepting(start, spec, datetime.now(UTC)):
                erase = None
                if known:
                    erase = pages.EraseForm(cid, form)
                return self._html(
                    request,
                    pages.NoticePage(
                        spec.title,
                        spec.title,
                        _closed_text(start, spec),
                        texts=texts,
                        invitations=invited,
                        erase=erase,
                        loops=(
                            await followups.published_loops(session, cid)
                            if start.state == service.CLOSED
                            else ()
                        ),
                    ),
                    new_token,
                )
            if participant_id is None:
                return self._html(
                    request,
                    pages.ConsentPage(spec, form, erase=known),
                    new_token,
                )
            if not start.consent_given or start.consent_withdrawn_at is not None:
                return self._html(
                    request,
                    pages.ConsentPage(spec, form, invitations=invited, erase=known),
                    new_token,
                )
            if start.dialogue_state == "held":
                # In the words the person was first answered in (about themselves or
                # someone else): the categories of their latest safety case here.
                categories = await queries.latest_case_categories(
                    session, participant_id, cid, SAFETY
                )
                return self._html(
                    request,
                    pages.NoticePage(
                        spec.title,
                        texts("web_safety_heading"),
                        safety_message(spec.safety, spec.organisation, texts, categories),
                        "safety",
                        texts,
                        erase=pages.EraseForm(cid, form),
                        leave=True,
                    ),
                    new_token,
                )
            seen_segments = set(start.dialogue_segments or ())
            mine = (
                await session.execute(
                    select(Response.item_id, Response.item_type, Response.choices, Response.text)
                    .where(
                        Response.participant_id == participant_id,
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
                    pages.SegmentsPage(
                        spec, segments, form, messages=messages, invitations=invited
                    ),
                    new_token,
                )
            # A Delphi round open to this person asks again, with the group's answers.
            standing = await rounds.persons_rounds(session, spec, participant_id, answered)
            round_texts = standing.due
            answered = (answered | {i.id for i in spec.items if i.rounds > 1}) - set(round_texts)
            # A round this person is not part of: their earlier answer is shown, not
            # offered to change, as a change would not be stored.
            closed = {
                item_id: texts(
                    "web_round_not_yours", number=number, rounds=spec.item(item_id).rounds
                )
                for item_id, number in standing.closed.items()
            }
            now = datetime.now(UTC)
            unanswered = [
                i for i in spec.items if i.id not in answered and (i.at is None or i.at <= now)
            ]
            # What the person answered so far, to show in the form they may change it in
            # (the latest answer wins: it replaces the earlier ones).
            answers: dict[str, list[str]] = {}
            for r in mine:
                if r.item_type == "poll" and r.item_id in round_texts:
                    continue  # a new round: the earlier answer is shown in its words
                if r.item_type == "poll":
                    answers[r.item_id] = list(r.choices)
                elif r.item_type == "prompt":
                    answers[r.item_id] = [r.text or ""]
            threads, more = await self._threads(session, spec, participant_id, page)
            cards, more_cards = await self._cards(session, spec, participant_id, prefer_statement)
        missing = _missing(request, spec)
        # A timed chat's question still to come: the person has not answered everything.
        to_come = [i for i in spec.timed_items if i.at and i.at > now]
        # When the next of them comes, in the consultation's own time zone: a person who
        # answered all there is so far is told the page is not done with them.
        soonest = min((i.at for i in to_come if i.at is not None), default=None)
        next_at = (
            f"{spec.local(soonest):%Y-%m-%d %H:%M} ({spec.timezone})"
            if soonest is not None
            else None
        )
        return self._html(
            request,
            pages.ItemsPage(
                spec,
                form,
                unanswered=unanswered,
                answers=answers,
                threads=threads,
                finished=not [i for i in unanswered if i.type in ("poll", "prompt")]
                and not any(cards.values())
                and not [i for i in to_come if i.type in ("poll", "prompt")],
                messages=messages,
                rounds=round_texts,
                closed=closed,
                thanks=thanks,
                waiting=frozenset(i.id for i in to_come),
                next_at=next_at,
                page=page,
                more=more,
                cards=cards,
                more_cards=more_cards,
                statement_max=voting.STATEMENT_MAX,
                missing=missing,
                missing_reply=_missing_reply(request) if missing is not None else None,
                invitations=invited,
            ),
            new_token,
        )

    @staticmethod
    async def _cards(
        session: AsyncSession,
        spec: ConsultationSpec,
        participant_id: int,
        prefer: int | None = None,
    ) -> tuple[dict[str, pages.StatementCard | None], dict[str, list[pages.StatementCard]]]:
        """For each statements item, the statement that tells most for this person to vote
        on, and the others they may vote on, in the order they would come.

        Chosen as in every channel (:func:`consultations.statements.ranked_to_vote`): never
        their own, never one they voted on; pending, rejected and flagged ones never shown.
        """
        cards: dict[str, pages.StatementCard | None] = {}
        more: dict[str, list[pages.StatementCard]] = {}
        for item in spec.items:
            if item.type != "statements":
                continue
            ranked = await voting.all_to_vote(
                session, participant_id, spec.id, item.id, prefer=prefer
            )
            shown = [pages.StatementCard(t.id, t.text) for t in ranked[: 1 + pages.MORE_STATEMENTS]]
            cards[item.id] = shown[0] if shown else None
            more[item.id] = shown[1:]
        return cards, more

    async def _invitations(
        self, session: AsyncSession, participant_id: int | None, cid: str
    ) -> list[followups.WebInvitation]:
        """Follow-ups this person agreed to hear about, shown on the page of ``cid``.

        Someone who left (STOP: ``participant_id`` is None then) or was erased is shown
        none; each shown invitation is marked delivered (the follow-up's reach counts it).
        Read and marked in the page's own session: a second connection taken while the
        page holds one would let concurrent pages exhaust the pool, each holding one and
        waiting for another.
        """
        if participant_id is None:
            return []
        found = await followups.web_invitations(
            session, participant_id, datetime.now(UTC), earlier_id=cid
        )
        if session.dirty:
            await session.commit()
        return found

    async def _threads(
        self, session: AsyncSession, spec: ConsultationSpec, participant_id: int, page: int
    ) -> tuple[dict[str, list[pages.ThreadReply]], bool]:
        """Each thread's top-level posts on ``page`` (oldest first) with their replies.

        Returns the threads and whether any thread has posts on a later page.
        """
        roots: dict[str, list[pages.ThreadReply]] = {}
        more = False
        texts = spec.wording()
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
                node = self._reply(row, participant_id, texts)
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
                        .where(*shown, one_of(Response.in_reply_to, level))
                        .order_by(Response.id)
                    )
                ).all()
                level = []
                for row in replies:
                    node = self._reply(row, participant_id, texts)
                    parent = nodes.get(row.in_reply_to or "")
                    if node is not None and parent is not None:
                        parent.children.append(node)
                        nodes[node.ref] = node
                        level.append(node.ref)
        return roots, more

    @staticmethod
    def _reply(row: Response, participant_id: int, texts: Texts) -> pages.ThreadReply | None:
        if moderation.OFF_PUBLIC_PAGES.intersection(row.flags):
            # A disclosure goes to a moderator, never on the page; so does a text the
            # screen could not read (moderation.REVIEW: it may be one); nor does one a
            # moderator judged a false alarm (moderation.RELEASED).
            return None
        return pages.ThreadReply(
            ref=f"response:{row.id}",
            text=row.text or "",
            created=texts.moment(row.created_at),
            mine=row.participant_id == participant_id,
        )

    # -- form posts ----------------------------------------------------------------

    async def consent(self, request: web.Request) -> web.StreamResponse:
        """Yes or no to the consent question."""
        cid = request.match_info["cid"]
        token, fields, nonce, spec = await self._posted(request, cid)
        answer = (fields.get("answer") or [""])[0]
        if answer not in ("yes", "no"):
            raise self._problem(request, web.HTTPBadRequest, "web_choose_consent", spec.wording())
        recontact = (fields.get("recontact") or [""])[0]
        if recontact not in ("", "yes", "no"):
            raise self._problem(request, web.HTTPBadRequest, "web_choose_recontact", spec.wording())
        events = [
            self._event(token, f"{nonce}:start", cid, EventKind.START),
            self._event(
                token,
                f"{nonce}:consent",
                cid,
                EventKind.ANSWER,
                item_id=CONSENT,
                choices=("yes" if answer == "yes" else "no",),
            ),
        ]
        if answer == "yes" and recontact and spec.consent.recontact:
            # Asked beside consent on the page (the page is where an invitation would
            # be shown), so a person who skips it is simply not contacted again.
            events.append(
                self._event(
                    token,
                    f"{nonce}:recontact",
                    cid,
                    EventKind.ANSWER,
                    item_id=RECONTACT,
                    choices=(RECONTACT_OPTIONS[0 if recontact == "yes" else 1],),
                )
            )
        outcome = await self._submit(request, cid, nonce, *events)
        if answer == "no" and not outcome.duplicate:
            texts = spec.wording()
            return self._html(
                request,
                pages.NoticePage(
                    texts("web_thank_you"),
                    texts("web_thank_you"),
                    texts("web_declined"),
                    texts=texts,
                ),
            )
        return _see_page(cid)

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
        """Answers to segment questions, polls and prompts, from one form.

        A choice that is not one of its question's options (a form edited by hand, or an
        option gone since the page was loaded) is not taken: the page names the question,
        and the form's other answers are stored as usual.
        """
        cid = request.match_info["cid"]
        token, fields, nonce, spec = await self._posted(request, cid)
        events: list[InboundEvent] = []
        segments = {s.id: s for s in spec.segments}
        items = {i.id: i for i in spec.items if i.type != "thread"}
        # The questions whose choice was not one of their options, by their text.
        not_taken: list[str] = []
        for key, values in fields.items():
            kind, _, qid = key.partition(":")
            if (kind == "segment" and qid not in segments) or (kind == "item" and qid not in items):
                raise self._problem(request, web.HTTPBadRequest, "web_form_broken", spec.wording())
            if kind == "item" and items[qid].type != "poll":
                self._check_length(request, values[0], spec)
            if kind == "segment" and qid in segments:
                if not choices(segments[qid].options, multiple=False, labels=values[:1]):
                    not_taken.append(segments[qid].text)
                    continue
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
            elif kind == "had-item" and qid in items and f"item:{qid}" not in fields:
                # Every box of a multiple-choice poll unticked: the earlier answer is
                # taken back, as a changed answer replaces it.
                if items[qid].type == "poll":
                    events.append(
                        self._event(token, f"{nonce}:{key}", cid, EventKind.RETRACT, item_id=qid)
                    )
            elif kind == "item" and qid in items:
                item = items[qid]
                if item.type == "poll":
                    if not choices(item.options, multiple=item.multiple, labels=values):
                        not_taken.append(item.text)
                        continue
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
                            # Whole, up to TEXT_MAX (checked above), never cut: a
                            # disclosure at the end of a long complaint is screened too.
                            text=values[0],
                        )
                    )
        if any(key.startswith("segment:") for key in fields) or not (events or not_taken):
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
        texts = spec.wording()
        refused: list[pages.Message] = [
            ("notice", texts("web_choice_not_taken", question=question)) for question in not_taken
        ]
        if not events:
            if refused:
                return await self._show(request, refused, thanks=False)
            raise web.HTTPSeeOther(f"/c/{cid}")
        outcome = await self._submit(request, cid, nonce, *events)
        if (
            (refused or outcome.round_refused)
            and not outcome.left
            and not any(m.kind == "safety" for m in outcome.messages)
        ):
            # The rest is stored; the page says which answers were not rather than thank
            # them: a choice not among its options (asked again), or a poll in a round
            # this person is not part of (a page opened before the round did).
            notes: list[pages.Message] = refused + [
                (
                    "notice",
                    texts("web_round_not_yours", number=number, rounds=spec.item(item_id).rounds),
                )
                for item_id, number in outcome.round_refused.items()
            ]
            return await self._show(request, notes, thanks=False)
        return await self._after(request, cid, outcome, spec, token)

    async def thread_reply(self, request: web.Request) -> web.StreamResponse:
        """A post in a discussion thread, or a reply to one."""
        cid = request.match_info["cid"]
        item_id = request.match_info["item"]
        token, fields, nonce, spec = await self._posted(request, cid, writes_first=True)
        texts = spec.wording()
        if not any(i.id == item_id and i.type == "thread" for i in spec.items):
            raise self._problem(request, web.HTTPNotFound, "web_not_found", texts)
        text = (fields.get("text") or [""])[0].strip()
        self._check_length(request, text, spec)
        parent = next(iter(fields.get("parent", [])), None)
        if not text:
            # The page shows the box again (a reply's opened), marked, with the error tied
            # to it and named at the top of the page.
            where = f"?missing={item_id}"
            if parent is not None and _PARENT.fullmatch(parent):
                where += f"&reply={parent}"
            raise web.HTTPSeeOther(f"/c/{cid}{where}")
        if parent is not None and not _PARENT.fullmatch(parent):
            raise self._problem(request, web.HTTPBadRequest, "web_form_broken", texts)
        wait = await self.rates.hit("post", token, THREAD_POSTS_PER_MINUTE)
        if wait is not None:
            raise self._too_many(request, wait, "web_busy_posting", texts)
        outcome = await self._submit(
            request,
            cid,
            nonce,
            self._event(
                token,
                f"{nonce}:thread",
                cid,
                EventKind.ANSWER,
                item_id=item_id,
                text=text,
                in_reply_to=parent,
            ),
        )
        return await self._after(request, cid, outcome, spec, token)

    async def statement(self, request: web.Request) -> web.StreamResponse:
        """A vote on a statement (``vote`` and ``statement``), or a statement of one's own."""
        cid = request.match_info["cid"]
        item_id = request.match_info["item"]
        token, fields, nonce, spec = await self._posted(request, cid, writes_first=True)
        if not any(i.id == item_id and i.type == "statements" for i in spec.items):
            raise self._problem(request, web.HTTPNotFound, "statements_web_no_item", spec.wording())
        votes = fields.get("vote") or []
        vote = votes[0] if votes else None
        if vote is not None:
            # The page's own number, or the record id the export gives it (statement:N).
            statement = (fields.get("statement") or [""])[0].removeprefix("statement:")
            if vote not in voting.VOTES:
                raise self._problem(
                    request, web.HTTPBadRequest, "statements_web_bad_vote", spec.wording()
                )
            if not (statement.isascii() and statement.isdigit() and len(statement) <= 18):
                raise self._problem(
                    request, web.HTTPBadRequest, "statements_web_no_statement", spec.wording()
                )
            event = self._event(
                token,
                f"{nonce}:vote",
                cid,
                EventKind.ANSWER,
                item_id=voting.question_id(item_id, int(statement)),
                choices=(vote,),
            )
        else:
            text = (fields.get("text") or [""])[0].strip()
            self._check_length(request, text, spec)
            if not voting.has_words(text):
                raise web.HTTPSeeOther(f"/c/{cid}")
            wait = await self.rates.hit("post", token, THREAD_POSTS_PER_MINUTE)
            if wait is not None:
                raise self._too_many(request, wait, "web_busy_posting", spec.wording())
            event = self._event(
                token, f"{nonce}:statement", cid, EventKind.ANSWER, item_id=item_id, text=text
            )
        outcome = await self._submit(request, cid, nonce, event)
        if outcome.left or any(m.kind == "safety" for m in outcome.messages):
            return await self._after(request, cid, outcome, spec, token)
        # What the runtime said (counted, queued for a moderator, a repeat of an existing
        # statement) is shown above the next statement, in place of a redirect.
        # (The closing words said once everything is answered are the page's own notice.)
        closing = {spec.closing_message, spec.wording()("thanks")}
        notes = [
            ("notice", m.text)
            for m in outcome.messages
            if m.kind == "message" and m.text not in closing
        ]
        if vote is not None and not notes and not outcome.duplicate:
            # Counted only if stored: a statement not shown (unknown, waiting for a
            # moderator, withheld, of another consultation) takes no votes.
            voted = any(s.item_type == "vote" for s in outcome.stored)
            key = (
                "statements_web_voted"
                if voted
                else outcome.vote_refused or "statements_not_votable"
            )
            notes = [("notice", spec.wording()(key))]
        return await self._show(request, notes, prefer_statement=outcome.prefer_statement)

    async def stop(self, request: web.Request) -> web.Response:
        """Leave this consultation (STOP): nothing more of it is asked or stored; the
        person's part in any other consultation stays as it was.

        The page says the answers given are kept, and offers to delete them (as the
        consultation's page does from then on).
        """
        cid = request.match_info["cid"]
        token, _, nonce, spec = await self._posted(request, cid)
        await self._submit(
            request, cid, nonce, self._event(token, f"{nonce}:stop", cid, EventKind.STOP)
        )
        return await self._left_page(request, spec, token)

    async def _left_page(
        self, request: web.Request, spec: ConsultationSpec, token: str
    ) -> web.Response:
        """The page after STOP, which left this consultation: answers given to it are
        kept, and may be deleted here (someone who gave none is not told of answers kept)."""
        texts = spec.wording()
        async with self.sessionmaker() as db:
            held = await db.scalar(
                select(Response.id)
                .join(Participant, Participant.id == Response.participant_id)
                .where(
                    Participant.channel == "web",
                    Participant.pseudonym == self.keyring.pseudonym("web", token),
                    Response.consultation_id == spec.id,
                )
                .limit(1)
            )
        return self._html(
            request,
            pages.NoticePage(
                texts("web_left_title"),
                texts("web_left_heading"),
                texts("web_left" if held is not None else "web_left_none"),
                texts=texts,
                erase=pages.EraseForm(spec.id, self._form(token)),
            ),
        )

    async def erase(self, request: web.Request) -> web.Response:
        """Erase the person's answers and forget the cookie (after the close too: a person
        may always delete what they gave)."""
        cid = request.match_info["cid"]
        token, _, nonce, spec = await self._posted(request, cid, after_close=True)
        try:
            await self._submit(
                request, cid, nonce, self._event(token, f"{nonce}:erase", cid, EventKind.ERASE)
            )
        except web.HTTPSeeOther:
            # A nonce used already or never issued: nothing done. After the close the
            # answer is 410, as for any form to a closed consultation (CONTRACT.md),
            # not the way back to a page that takes no answers.
            await self._refuse_unknown_or_closed(request)
            raise
        # No longer a participant: a new answer from this cookie counts as a new one.
        self._participants.discard(self.keyring.pseudonym("web", token))
        texts = spec.wording()
        response = self._html(
            request,
            pages.NoticePage(
                texts("web_deleted_title"),
                texts("web_deleted_heading"),
                texts("web_deleted"),
                texts=texts,
            ),
        )
        async with self.sessionmaker() as session:
            state = await session.scalar(select(Consultation.state).where(Consultation.id == cid))
        if state == service.CLOSED:
            # CONTRACT.md: a form posted to a closed consultation gets 410 and nothing is
            # stored; erasure stores nothing, so it is done, and the answer says so.
            response.set_status(410)
        response.del_cookie(COOKIE)
        return response


def _see_page(cid: str) -> web.Response:
    """303 to the consultation's page, returned: the answer to nearly every form post.

    The same status and Location as raising ``web.HTTPSeeOther``, without an exception
    unwinding through every middleware and the text body nobody reads.
    """
    return web.Response(status=303, headers={"Location": f"/c/{cid}"})


def _closed_text(row: service.Stated, spec: ConsultationSpec) -> str:
    now = datetime.now(UTC)
    texts = spec.wording()
    if row.state == service.OPEN and spec.opens_at is not None and now < spec.opens_at:
        return texts("web_opens_on", date=texts.date(spec.local(spec.opens_at)))
    return texts("web_closed")


_texts = pages.accepted_texts


def _missing(request: web.Request, spec: ConsultationSpec) -> str | None:
    """The thread named by ``?missing=ID`` (an empty post sent back), if it is one."""
    wanted = request.query.get("missing")
    return next((i.id for i in spec.items if i.type == "thread" and i.id == wanted), None)


def _missing_reply(request: web.Request) -> str | None:
    """The reply named by ``&reply=REF`` beside ``?missing=ID`` (an empty reply sent back)."""
    wanted = request.query.get("reply")
    return wanted if wanted is not None and _PARENT.fullmatch(wanted) else None


def _page_number(request: web.Request) -> int | None:
    """The ``?page=N`` of a consultation page (1 when absent); ``None`` for anything else
    (answered 400, in the consultation's words)."""
    text = request.query.get("page")
    if text is None:
        return 1
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= MAX_PAGE:
        return None
    return int(text)


def _participant_token(request: web.Request) -> str | None:
    """The participant cookie, if it is one this page could have handed out."""
    token = request.cookies.get(COOKIE)
    return token if token is not None and _TOKEN.fullmatch(token) else None
