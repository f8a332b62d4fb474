"""Consultation lifecycle: store a spec, open it, close it, list what exists.

States move draft -> open -> closed, and only that way, except that a launch which
published on none of its channels is undone (:func:`unlaunch`): a draft again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from consultations.spec import ConsultationSpec, parse_spec
from storage import queries
from storage.tables import (
    Consultation,
    Dialogue,
    Item,
    Response,
    ScheduledAction,
    Statement,
    utcnow,
)

DRAFT, OPEN, CLOSED = "draft", "open", "closed"


class LifecycleError(ValueError):
    """A consultation cannot make the change asked of it; the message says why."""


class NotFound(LookupError):
    """No consultation has this id."""

    def __init__(self, consultation_id: str) -> None:
        super().__init__(f"no consultation with id {consultation_id!r}")
        self.consultation_id = consultation_id


# Each stored spec parsed, with the JSON it was parsed from as decoded (see fill_spec).
_spec_cache: dict[tuple[str, datetime], tuple[ConsultationSpec, dict[str, Any]]] = {}


def cached_spec(consultation_id: str, created_at: datetime) -> ConsultationSpec | None:
    """The parsed spec of a stored consultation if :func:`spec_of` has parsed it already."""
    cached = _spec_cache.get((consultation_id, created_at))
    return cached[0] if cached is not None else None


def spec_of(row: Consultation) -> ConsultationSpec:
    """The parsed spec of a stored consultation (cached: parsing is not free).

    A stored spec never changes: storing a draft again replaces the row, with a new
    ``created_at``, so (id, created_at) names one spec.
    """
    key = (row.id, row.created_at)
    cached = _spec_cache.get(key)
    if cached is None:
        stored = row.spec
        cached = _spec_cache[key] = (parse_spec(stored), stored)
    return cached[0]


def fill_spec(row: Consultation) -> bool:
    """Give a row read without its spec column the spec this process parsed already.

    For rows whose query left the column out (a group commit's, which reads them all
    the time): False when this version was not parsed yet, and the column is to be read.
    The decoded document is shared by the rows given it, as the parsed spec is: a stored
    spec never changes, and nothing changes it in place.
    """
    cached = _spec_cache.get((row.id, row.created_at))
    if cached is None:
        return False
    stored = cached[1]
    set_committed_value(row, "spec", stored)
    return True


async def create(session: AsyncSession, spec: ConsultationSpec, source: str) -> Consultation:
    """Store a new consultation as a draft, with its items and segment questions.

    Storing the same id again replaces a draft; an open or closed consultation is kept
    as it is (its answers refer to its items) and :class:`LifecycleError` is raised, as
    it is for a draft that already holds responses (imported ones): replacing it would
    delete them, and leave their safety cases without the words they were opened on.
    """
    existing = await session.get(Consultation, spec.id)
    if existing is not None:
        if existing.state != DRAFT:
            raise LifecycleError(
                f"consultation {spec.id!r} is {existing.state}; "
                "its spec can no longer change (use a new id for a new cycle)"
            )
        held = await session.scalar(
            select(func.count(Response.id)).where(Response.consultation_id == spec.id)
        )
        if held:
            raise LifecycleError(
                f"the draft {spec.id!r} holds {held} responses (imported); storing it "
                "again would delete them (use a new id)"
            )
        await session.delete(existing)
        await session.flush()
    row = Consultation(
        id=spec.id,
        title=spec.title,
        organisation=spec.organisation,
        model=spec.model,
        qi_project=spec.qi.project,
        stage=spec.qi.stage,
        cycle=spec.qi.cycle,
        state=DRAFT,
        spec=spec.to_dict(),
        source=source,
        created_at=utcnow(),
    )
    session.add(row)
    position = 0
    for segment in spec.segments:
        session.add(
            Item(
                consultation_id=spec.id,
                id=segment.id,
                position=position,
                type="segment",
                text=segment.text,
                options=list(segment.options),
                multiple=False,
            )
        )
        position += 1
    for item in spec.items:
        session.add(
            Item(
                consultation_id=spec.id,
                id=item.id,
                position=position,
                type=item.type,
                text=item.text,
                options=list(item.options),
                multiple=item.multiple,
            )
        )
        position += 1
    await session.flush()
    for item in spec.items:
        # Seed statements are shown from the start: the service wrote them.
        session.add_all(
            Statement(
                consultation_id=spec.id,
                item_id=item.id,
                text=text,
                status="shown",
                seed=True,
                created_at=utcnow(),
            )
            for text in item.seed
        )
    await session.flush()
    return row


async def require(session: AsyncSession, consultation_id: str) -> Consultation:
    row = await session.get(Consultation, consultation_id)
    if row is None:
        raise NotFound(consultation_id)
    return row


async def open_(session: AsyncSession, consultation_id: str) -> Consultation:
    """Move a draft to open (opening an open consultation again is harmless)."""
    row = await require(session, consultation_id)
    if row.state == CLOSED:
        raise LifecycleError(f"consultation {consultation_id!r} is closed and cannot reopen")
    if row.state == DRAFT:
        row.state = OPEN
        row.opened_at = utcnow()
    return row


async def unlaunch(session: AsyncSession, consultation_id: str) -> Consultation:
    """Undo an opening whose launch published nowhere: the consultation is a draft again."""
    row = await require(session, consultation_id)
    if row.state == OPEN:
        row.state = DRAFT
        row.opened_at = None
    return row


async def close(session: AsyncSession, consultation_id: str) -> Consultation:
    """Stop accepting responses.

    Invitations to it and reminders of it still waiting in the outbox (held for quiet
    hours or for its opening) are cancelled: they would ask people into a consultation
    that no longer takes answers.
    """
    row = await require(session, consultation_id)
    if row.state == DRAFT:
        raise LifecycleError(f"consultation {consultation_id!r} was never launched")
    if row.state == OPEN:
        row.state = CLOSED
        row.closed_at = utcnow()
        await queries.cancel_bulk_messages(session, consultation_id)
    return row


class Stated(Protocol):
    """Anything with a consultation's state: its row, or a query's row that has it."""

    @property
    def state(self) -> str: ...


def accepting(row: Stated, spec: ConsultationSpec, now: datetime) -> bool:
    """Whether answers are accepted now: open, and inside opens_at..closes_at if given."""
    if row.state != OPEN:
        return False
    if spec.opens_at is not None and now < spec.opens_at:
        return False
    return not (spec.closes_at is not None and now >= spec.closes_at)


async def taking_answers(session: AsyncSession, now: datetime) -> list[Consultation]:
    """The open consultations that accept answers at ``now``: what is offered to people
    (the web index, "/start" in a chat, listening). One whose ``opens_at`` is still to
    come is open but not offered until then."""
    rows = await queries.open_consultations(session, now)
    return [row for row in rows if accepting(row, spec_of(row), now)]


@dataclass(frozen=True)
class Summary:
    """What `engage consultation list` and `show` print."""

    id: str
    title: str
    state: str
    model: str
    stage: str
    cycle: int
    channels: tuple[str, ...]
    responses: int
    participants: int
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    by_item: dict[str, int]
    # A draft due to open on time that was not: why (the scheduled opening's note).
    not_opened: str | None = None
    # The language of its own words (the dashboard marks its title with it).
    language: str = "en"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "model": self.model,
            "stage": self.stage,
            "cycle": self.cycle,
            "channels": list(self.channels),
            "responses": self.responses,
            "participants": self.participants,
            "created_at": self.created_at.isoformat(),
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "by_item": self.by_item,
            "not_opened": self.not_opened,
        }


async def summaries(session: AsyncSession) -> Sequence[Summary]:
    rows = (await session.scalars(select(Consultation).order_by(Consultation.created_at))).all()
    counts = await queries.response_counts(session)
    return [_summary(row, counts.get(row.id, (0, 0)), {}) for row in rows]


async def summary(session: AsyncSession, consultation_id: str) -> Summary:
    row = await require(session, consultation_id)
    counts = await queries.response_counts(session)
    by_item_rows = await session.execute(
        select(Response.item_id, func.count(Response.id))
        .where(Response.consultation_id == consultation_id)
        .group_by(Response.item_id)
    )
    by_item = {item_id: int(n) for item_id, n in by_item_rows}
    found = _summary(row, counts.get(row.id, (0, 0)), by_item)
    if row.state != DRAFT:
        return found
    not_opened = await session.scalar(
        select(ScheduledAction.outcome).where(
            ScheduledAction.consultation_id == consultation_id,
            ScheduledAction.action == "open",
            ScheduledAction.done_at.is_(None),
        )
    )
    return replace(found, not_opened=not_opened)


def _summary(row: Consultation, counts: tuple[int, int], by_item: dict[str, int]) -> Summary:
    spec = spec_of(row)
    return Summary(
        id=row.id,
        title=row.title,
        state=row.state,
        model=row.model,
        stage=row.stage,
        cycle=row.cycle,
        channels=spec.channels,
        responses=counts[0],
        participants=counts[1],
        created_at=row.created_at,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        by_item=by_item,
        language=spec.language,
    )


async def funnel(session: AsyncSession, consultation_id: str) -> dict[str, int]:
    """Dialogue states of a consultation's participants (active, finished, stopped, held)."""
    result = await session.execute(
        select(Dialogue.state, func.count(Dialogue.id))
        .where(Dialogue.consultation_id == consultation_id)
        .group_by(Dialogue.state)
    )
    return {state: int(n) for state, n in result}
