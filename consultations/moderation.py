"""The moderation queue: safety disclosures a person must look at, and what was done.

Every flagged text opens a case, whatever the channel. A case is open until a moderator
acknowledges it (they are on it) and then resolves it with a note saying what was done.
Each consultation has a response-time target (``safety.response_hours``, default 24); a
case that waits past it, or arrives in one of the most serious categories, raises an
alert. Every view and action is recorded in the audit log (who, when, what).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consultations import service
from consultations import statements as voting
from consultations.dialogue import RESUME
from consultations.screening import BY_MODEL, BY_PHRASE, REVIEW, SAFETY
from storage import queries
from storage import statements as statement_store
from storage.tables import (
    AuditEvent,
    Consultation,
    Dialogue,
    ModerationCase,
    Response,
    Statement,
    utcnow,
)

DEFAULT_RESPONSE_HOURS = 24.0
#: The reason of a case that is a person's statement waiting for approval
#: (``moderation: pre``): approved, it is shown; rejected, it never is.
STATEMENT = "statement"
OPEN_STATES = ("open", "acknowledged")
#: The flag of a reply whose case a moderator resolved as not a disclosure: it counts in
#: reports, but is still kept off public pages (a moderator judged it no disclosure, not
#: fit to show to everyone).
RELEASED = "released"
#: The flags that keep a reply off every public page (a thread on the web page): a
#: disclosure, a text the screen could not read and a person has yet to look at, and one
#: released as no disclosure.
OFF_PUBLIC_PAGES = frozenset({SAFETY, REVIEW, RELEASED})
#: How the screen flagged a safety case (``ModerationCase.flagged_by``), as a moderator
#: reads it: a listed phrase is strong evidence; a flag by the model alone is more often
#: ordinary feedback.
FLAGGED_BY_WORDS = {
    BY_PHRASE: "Flagged by a listed phrase",
    BY_MODEL: "Flagged by the screen's model only (more often a false alarm)",
}


#: What the person who wrote a disclosure was sent (``ModerationCase.person_sent``):
#: the safety reply, and no more questions until someone follows up (the case is how);
SENT_HELD = "held"
#: the helplines as a check-in, and their questions went on (a tentative flag);
SENT_CHECK_IN = "check-in"
#: the safety reply, where no questions were under way (a post addressed to the platform);
SENT_SAFETY_REPLY = "safety-reply"
#: nothing: the text came without a way back to its writer (an import; a public post
#: gathered by listening and not addressed to the platform).
SENT_NOTHING = "nothing"
#: only the general note, posted where they wrote and naming no one: the safety reply
#: could not reach them privately (a Telegram group member who never started a chat
#: with the bot). Set by the outbox once the note is posted.
SENT_GENERAL_NOTE = "general-note"
#: The same, as a moderator reads it on the queue.
PERSON_SENT_WORDS = {
    SENT_HELD: "The person was sent the safety reply and asked nothing more: they wait "
    "for someone to follow up",
    SENT_CHECK_IN: "The person was sent the helplines as a check-in and could carry on answering",
    SENT_SAFETY_REPLY: "The person was sent the safety reply",
    SENT_NOTHING: "Nothing was sent to the person: there is no way back to them "
    "(an import, or a public post not addressed to us)",
    SENT_GENERAL_NOTE: "The person could not be written to privately: only a general note "
    "with the helplines was posted where they wrote, naming no one",
}


class CaseError(LookupError):
    """The case does not exist, or is not in a state that allows the action."""


class AlreadyResolved(CaseError):
    """The case was resolved before this request could: by whom, when, and how.

    Whoever asked second (a double click, another moderator, the command line) is told
    this, and nothing of theirs is stored: not their note, nor an audit row.
    """

    def __init__(self, case: ModerationCase, outcome: str) -> None:
        self.case_id = case.id
        self.resolved_by = case.resolved_by or "someone"
        self.resolved_at = case.resolved_at
        #: ``resolved`` for a safety or review case; ``approved`` or ``rejected`` for a
        #: statement (``resolved`` if the statement is gone, with its person's data).
        self.outcome = outcome
        super().__init__(f"moderation case {case.id} {self.describe()}: nothing was changed")

    def describe(self) -> str:
        """``was already resolved by WHO at WHEN UTC`` (and how, for a statement)."""
        when = f" at {self.resolved_at:%Y-%m-%d %H:%M} UTC" if self.resolved_at else ""
        how = f" (the statement was {self.outcome})" if self.outcome != "resolved" else ""
        return f"was already resolved by {self.resolved_by}{when}{how}"


@dataclass(frozen=True)
class CaseView:
    """One case as a moderator sees it (the text is already redacted)."""

    id: int
    consultation: str
    title: str
    item: str | None
    reason: str
    categories: tuple[str, ...]
    urgent: bool
    status: str
    text: str | None
    created_at: datetime
    due_at: datetime | None
    acknowledged_by: str | None
    # When the person had their data erased (the case kept, their words gone).
    erased_at: datetime | None = None
    #: How the screen flagged a safety case: ``phrase`` (a listed phrase matched) or
    #: ``model`` (its model alone); None for other cases and those opened before it was
    #: recorded.
    flagged_by: str | None = None
    #: What the person was sent (``held``, ``check-in``, ``safety-reply``, ``nothing``);
    #: None for other cases and those opened before it was recorded.
    person_sent: str | None = None
    #: A statement waiting for a moderator to approve or reject it: one under
    #: ``moderation: pre``, or one the screen could not read or only tentatively flagged.
    awaiting_approval: bool = False

    @property
    def flagged_by_words(self) -> str | None:
        """How the screen flagged it, in plain words for a moderator; None if unknown."""
        return FLAGGED_BY_WORDS.get(self.flagged_by or "")

    @property
    def person_sent_words(self) -> str | None:
        """What the person was sent, in plain words for a moderator; None if unknown."""
        return PERSON_SENT_WORDS.get(self.person_sent or "")

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or utcnow()) - self.created_at

    def overdue(self, now: datetime | None = None) -> bool:
        """Still not acknowledged past its response-time target (docs/moderation.md): an
        acknowledged case has been seen, whatever its age."""
        return self.status == "open" and self.due_at is not None and (now or utcnow()) > self.due_at

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        return {
            "id": self.id,
            "consultation": self.consultation,
            "title": self.title,
            "item": self.item,
            "reason": self.reason,
            "categories": list(self.categories),
            "urgent": self.urgent,
            "status": self.status,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "age_seconds": int(self.age(now).total_seconds()),
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "overdue": self.overdue(now),
            "acknowledged_by": self.acknowledged_by,
            "erased_at": self.erased_at.isoformat() if self.erased_at else None,
            "flagged_by": self.flagged_by,
            "person_sent": self.person_sent,
            "awaiting_approval": self.awaiting_approval,
        }


def format_age(age: timedelta) -> str:
    """How long a case has waited, as people say it: ``3 min``, ``2 h 5 min``, ``1 d 4 h``."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def due_at(created_at: datetime, response_hours: float | None) -> datetime:
    """When a case must have been looked at, from the consultation's target."""
    return created_at + timedelta(hours=response_hours or DEFAULT_RESPONSE_HOURS)


def open_case(
    session: AsyncSession,
    *,
    consultation_id: str,
    response_id: int | None,
    reason: str,
    categories: tuple[str, ...] = (),
    urgent: bool = False,
    response_hours: float | None = None,
    text: str | None = None,
    participant_id: int | None = None,
    alert: bool = True,
    flagged_by: str | None = None,
    person_sent: str | None = None,
) -> ModerationCase:
    """Add a case to the session (the caller's transaction stores it with the response).

    ``alert=False`` (a statement waiting for approval) sets no due time, so the case
    never raises a safety alert. ``flagged_by``: for a disclosure, how the screen flagged
    it (:attr:`consultations.screening.Screened.flagged_by`), never the phrase itself;
    ``person_sent``: what its writer was sent (``SENT_*``; the dialogue sets it as it
    answers, :func:`record_sent`).
    """
    now = utcnow()
    case = ModerationCase(
        response_id=response_id,
        consultation_id=consultation_id,
        reason=reason,
        text=text,
        participant_id=participant_id,
        status="open",
        categories=list(categories),
        urgent=urgent,
        created_at=now,
        due_at=due_at(now, response_hours) if alert else None,
        flagged_by=flagged_by,
        person_sent=person_sent,
    )
    session.add(case)
    return case


def record_sent(case: ModerationCase, sent: str) -> None:
    """Note on ``case`` what its writer was sent (``SENT_*``). Holding the dialogue says
    more than the reply it sends, so a held case stays held."""
    if case.person_sent != SENT_HELD:
        case.person_sent = sent


def _release_flags(response: Response) -> None:
    """A person judged the flag wrong: the reply counts like any other (``RELEASED``
    takes the place of ``safety`` or ``review``)."""
    kept = [f for f in response.flags or () if f not in (SAFETY, REVIEW, RELEASED)]
    response.flags = [*kept, RELEASED]


def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    subject: str | None = None,
    **detail: Any,
) -> None:
    """Record who did what to which thing (never a participant's words)."""
    session.add(
        AuditEvent(at=utcnow(), actor=actor, action=action, subject=subject, detail=detail or None)
    )


async def open_cases(session: AsyncSession, consultation_id: str | None = None) -> list[CaseView]:
    """Cases not yet resolved, oldest first."""
    statement = (
        select(
            ModerationCase, Response.item_id, Response.text, Consultation.title, Statement.status
        )
        .outerjoin(Response, Response.id == ModerationCase.response_id)
        .outerjoin(Statement, Statement.response_id == ModerationCase.response_id)
        .join(Consultation, Consultation.id == ModerationCase.consultation_id)
        .where(ModerationCase.status.in_(OPEN_STATES))
        .order_by(ModerationCase.created_at, ModerationCase.id)
    )
    if consultation_id is not None:
        statement = statement.where(ModerationCase.consultation_id == consultation_id)
    rows = await session.execute(statement)
    return [
        CaseView(
            id=case.id,
            consultation=case.consultation_id,
            title=title,
            item=item,
            reason=case.reason,
            categories=tuple(case.categories or ()),
            urgent=case.urgent,
            status=case.status,
            text=text if text is not None else case.text,
            created_at=case.created_at,
            due_at=case.due_at,
            acknowledged_by=case.acknowledged_by,
            erased_at=case.erased_at,
            flagged_by=case.flagged_by,
            person_sent=case.person_sent,
            awaiting_approval=statement == statement_store.PENDING,
        )
        for case, item, text, title, statement in rows
    ]


async def acknowledge(session: AsyncSession, case_id: int, actor: str) -> bool:
    """A moderator takes the case: it stays open until resolved, but stops waiting.

    Taken once, whoever asks and however often: one conditional ``UPDATE ... WHERE
    status = 'open'`` moves it, so of two requests at once (a double click, two
    moderators) the second finds it taken, once the first has committed, and changes
    and records nothing. True when this call took it, False when it was taken already.
    """
    taken = await session.scalar(
        update(ModerationCase)
        .where(ModerationCase.id == case_id, ModerationCase.status == "open")
        .values(status="acknowledged", acknowledged_at=utcnow(), acknowledged_by=actor)
        .returning(ModerationCase.id)
        .execution_options(synchronize_session=False)
    )
    case = await session.get(ModerationCase, case_id, populate_existing=True)
    if case is None:
        raise CaseError(f"there is no moderation case {case_id}")
    if taken is not None:
        audit(session, actor, "case.acknowledge", f"case:{case_id}")
        return True
    if case.status == "resolved":
        raise await already_resolved(session, case)
    return False


async def resolve(session: AsyncSession, case_id: int, actor: str, note: str) -> ModerationCase:
    """Close a case with what was done; the note is required.

    Closed once: one conditional ``UPDATE ... WHERE status IN ('open', 'acknowledged')``
    closes it, so of two requests at once the second finds it resolved (once the first
    has committed) and gets :class:`AlreadyResolved`: its note is not stored and nothing
    is audited, and the first note stands.
    """
    note = note.strip()
    if not note:
        raise CaseError("a note saying what was done is required")
    case = await _close(session, case_id, actor, note)
    waiting = await _waiting_statement(session, case.response_id)
    if waiting is not None:
        # Closed without a decision: nothing unapproved is ever shown, so it stays hidden.
        waiting.status = statement_store.REJECTED
    audit(session, actor, "case.resolve", f"case:{case_id}")
    return case


async def release(session: AsyncSession, case_id: int, actor: str, note: str) -> ModerationCase:
    """Close a case a moderator judged not to be a disclosure (the screen was wrong).

    Besides what :func:`resolve` does: the reply's safety (or review) flag gives way to
    :data:`RELEASED`, so it counts in reports like any other (it is still never quoted:
    quotes are screened again; nor shown on a public thread page); and the person's
    dialogue, held since the reply, carries on when they next write (on the web page, at
    once), unless another of their cases here is still open. The note is required, as
    for resolving.
    """
    case = await session.get(ModerationCase, case_id)
    if case is None:
        raise CaseError(f"there is no moderation case {case_id}")
    if case.reason not in (SAFETY, REVIEW):
        raise CaseError(
            f"moderation case {case_id} is a {case.reason} case: approve or reject it instead"
        )
    if case.status in OPEN_STATES and await _waiting_statement(session, case.response_id):
        # No disclosure is not yet fit to show to everyone: whether it is, is the
        # decision the statement waits for.
        raise CaseError(
            f"moderation case {case_id} is a statement waiting for approval: approve it "
            "(it is shown) or reject it instead"
        )
    # Resolved once, as resolve says: a second request stops here, changing nothing.
    case = await resolve(session, case_id, actor, note)
    participant_id = case.participant_id
    if case.response_id is not None:
        response = await session.get(Response, case.response_id)
        if response is not None:
            _release_flags(response)
            participant_id = response.participant_id
    audit(session, actor, "case.release", f"case:{case_id}")
    if participant_id is not None:
        await _resume(session, participant_id, case.consultation_id)
    return case


async def _resume(session: AsyncSession, participant_id: int, consultation_id: str) -> None:
    """Let a held dialogue go on, once none of the person's safety cases here is open."""
    await session.flush()
    still_open = await session.scalar(
        select(ModerationCase.id)
        .where(
            ModerationCase.consultation_id == consultation_id,
            ModerationCase.status.in_(OPEN_STATES),
            ModerationCase.reason.in_((SAFETY, REVIEW)),
            queries.cases_of(participant_id),
        )
        .limit(1)
    )
    if still_open is not None:
        return
    dialogue = await session.scalar(
        select(Dialogue).where(
            Dialogue.participant_id == participant_id,
            Dialogue.consultation_id == consultation_id,
        )
    )
    if dialogue is not None and dialogue.state == "held":
        dialogue.state = "active"
        dialogue.pending = RESUME


async def _close(
    session: AsyncSession,
    case_id: int,
    actor: str,
    note: str,
    *,
    statement_waiting: bool = False,
) -> ModerationCase:
    """Resolve the case in one conditional UPDATE from an unresolved state; the case.

    The check and the change are one statement, not a read and a later write: on
    PostgreSQL a second transaction waits on the row and then finds it resolved; on
    SQLite it waits for the first to commit before it can write at all. Either way it
    matches no row and gets :class:`AlreadyResolved`. ``statement_waiting`` closes only
    a case whose statement waits for approval (a decision is for those only); any other
    case is then a :class:`CaseError` and changes nothing. Who acknowledged it is kept;
    if nobody had, the one who resolves it did.
    """
    now = utcnow()
    where = [ModerationCase.id == case_id, ModerationCase.status.in_(OPEN_STATES)]
    if statement_waiting:
        where.append(
            ModerationCase.response_id.in_(
                select(Statement.response_id).where(Statement.status == statement_store.PENDING)
            )
        )
    closed = await session.scalar(
        update(ModerationCase)
        .where(*where)
        .values(
            status="resolved",
            resolved_at=now,
            resolved_by=actor,
            note=note,
            acknowledged_at=func.coalesce(ModerationCase.acknowledged_at, now),
            acknowledged_by=func.coalesce(ModerationCase.acknowledged_by, actor),
        )
        .returning(ModerationCase.id)
        .execution_options(synchronize_session=False)
    )
    case = await session.get(ModerationCase, case_id, populate_existing=True)
    if case is None:
        raise CaseError(f"there is no moderation case {case_id}")
    if closed is not None:
        return case
    if statement_waiting and (
        case.status in OPEN_STATES
        or case.response_id is None
        or (case.reason != STATEMENT and await _statement_of(session, case.response_id) is None)
    ):
        raise CaseError(
            f"moderation case {case_id} is not a statement waiting for approval "
            f"(it is a {case.reason} case: resolve it with a note)"
        )
    raise await already_resolved(session, case)


async def already_resolved(session: AsyncSession, case: ModerationCase) -> AlreadyResolved:
    """What to tell whoever came second to a resolved case: by whom, when, and how."""
    outcome = "resolved"
    statement = await _statement_of(session, case.response_id)
    if statement is not None:
        shown = statement.status
        if shown == statement_store.SHOWN:
            outcome = "approved"
        elif shown == statement_store.REJECTED:
            outcome = "rejected"
    return AlreadyResolved(case, outcome)


async def _statement_of(session: AsyncSession, response_id: int | None) -> Statement | None:
    """The statement a person added as ``response_id``, if it is one."""
    if response_id is None:
        return None
    return await session.scalar(select(Statement).where(Statement.response_id == response_id))


async def _waiting_statement(session: AsyncSession, response_id: int | None) -> Statement | None:
    """The statement added as ``response_id`` if it waits for approval."""
    statement = await _statement_of(session, response_id)
    return statement if statement and statement.status == statement_store.PENDING else None


class RepeatStatement(CaseError):
    """The statement waiting for approval says what a statement already shown says."""


async def _refuse_a_repeat(session: AsyncSession, case_id: int) -> None:
    """Raise :class:`RepeatStatement` when the statement of ``case_id`` is a near-repeat
    of one already shown: approved, it would be offered twice with its votes split.

    The check people's own statements get on arrival compares them with the statements
    shown (never with others still waiting, whose words nobody may see before a
    moderator has); two alike that waited together meet here.
    """
    statement = await session.scalar(
        select(Statement)
        .join(ModerationCase, ModerationCase.response_id == Statement.response_id)
        .where(ModerationCase.id == case_id, Statement.status == statement_store.PENDING)
    )
    if statement is None:
        return  # not a statement waiting: _close says what it is
    shown = await statement_store.shown(session, statement.consultation_id, statement.item_id)
    consultation = await session.get(Consultation, statement.consultation_id)
    language = service.spec_of(consultation).language if consultation else "en"
    repeat = voting.near_duplicate(
        statement.text,
        [voting.Known(s.id, s.text) for s in shown if s.id != statement.id],
        language,
    )
    if repeat is not None:
        raise RepeatStatement(
            f"moderation case {case_id}: the statement is too like one already shown "
            f"(statement:{repeat.id}, “{repeat.text}”); reject it instead"
        )


async def decide_statement(
    session: AsyncSession, case_id: int, actor: str, *, approve: bool, note: str = ""
) -> ModerationCase:
    """Approve a statement waiting for a moderator (it is shown) or reject it.

    A statement waits under ``moderation: pre`` (a case of reason ``statement``), and
    whatever the setting when the screen could not read it (a ``review`` case) or only
    tentatively flagged it (a ``safety`` case whose writer was sent a check-in). Approved,
    such a flag gives way to :data:`RELEASED`, as for a reply resolved as no disclosure.
    Any other case is resolved with a note; a statement flagged as a disclosure is never
    shown, whatever is decided. Decided once: of two decisions at once (approve and
    reject, or the same twice) the second gets :class:`AlreadyResolved`, saying what the
    first decided, and changes nothing.
    """
    done = "approved: shown to participants" if approve else "rejected: not shown"
    if approve:
        await _refuse_a_repeat(session, case_id)
    case = await _close(session, case_id, actor, note.strip() or done, statement_waiting=True)
    # Decided once, as resolve says: the second of two decisions stops above, so the
    # statement shows what the first decided.
    if case.response_id is not None:  # always: _close took only a case with one
        status = statement_store.SHOWN if approve else statement_store.REJECTED
        await statement_store.set_status(session, case.response_id, status)
        response = await session.get(Response, case.response_id)
        if approve and response is not None and case.reason in (SAFETY, REVIEW):
            _release_flags(response)
    audit(session, actor, "statement.approve" if approve else "statement.reject", f"case:{case_id}")
    return case
