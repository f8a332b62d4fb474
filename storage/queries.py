"""Plain async queries over the store; the caller owns the transaction."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import BindParameter

from storage import statements as statement_store
from storage.db import json_text
from storage.lists import one_of
from storage.tables import (
    AuditEvent,
    Consent,
    Consultation,
    Dialogue,
    InboxEntry,
    Item,
    ModerationCase,
    OutboxEntry,
    Participant,
    PollTally,
    Publication,
    RateWindow,
    Response,
    Statement,
    UTCDateTime,
    utcnow,
)


def claimable(ids: Select[Any], dialect: str) -> Select[Any]:
    """The rows ``ids`` picks (ordered and limited), for ``column.in_(...)`` in an UPDATE
    that claims them: evaluated once, and on PostgreSQL locked, skipping rows another
    worker holds.

    As a plain ``IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` PostgreSQL may plan a
    semi-join that runs the subquery again for every row it updates, and then claims far
    more than ``n`` rows; a CTE is computed once per statement.
    """
    if dialect == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    due = ids.cte("due")
    return select(*due.c)


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT supporting ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


async def insert_inbox(
    session: AsyncSession,
    channel: str,
    event_id: str,
    payload: str | None,
    *,
    processed: bool = False,
) -> int | None:
    """Insert an inbox row; ``None`` when (channel, event_id) was already there.

    ``processed`` records an event handled in the same transaction as its arrival.
    """
    now = utcnow()
    statement = (
        dialect_insert(session, InboxEntry)
        .values(
            channel=channel,
            event_id=event_id,
            payload=payload,
            received_at=now,
            processed_at=now if processed else None,
        )
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(InboxEntry.id)
    )
    result = await session.execute(statement)
    row = result.first()
    return None if row is None else int(row[0])


async def mark_inbox_processed(
    session: AsyncSession, entry_ids: Collection[int], error: str | None = None
) -> None:
    """Mark inbox rows handled and drop what names their sender (the sealed payload and
    the sender's keyed hash), in one UPDATE.

    Core on the session's connection: no ORM object is read or changed here, and the
    ORM's handling of an UPDATE (its compile state, synchronising the session) cost more
    than the statement itself.
    """
    connection = await session.connection()
    await connection.execute(
        _MARK_PROCESSED,
        {"ids": list(entry_ids), "now": utcnow(), "error": error},
    )


_INBOX = cast(Table, InboxEntry.__table__)
_MARK_PROCESSED = (
    update(_INBOX)
    .where(one_of(_INBOX.c.id, name="ids"))
    .values(processed_at=bindparam("now"), payload=None, sender=None, error=bindparam("error"))
)


async def find_participant(
    session: AsyncSession, channel: str, pseudonym: str
) -> Participant | None:
    return await session.scalar(
        select(Participant).where(
            Participant.channel == channel, Participant.pseudonym == pseudonym
        )
    )


async def consents(
    session: AsyncSession, participant_id: int, consultation_id: str
) -> dict[str, Consent]:
    """This participant's consent records for one consultation, by purpose."""
    result = await session.scalars(
        select(Consent).where(
            Consent.participant_id == participant_id,
            Consent.consultation_id == consultation_id,
        )
    )
    return {row.purpose: row for row in result}


async def withdraw_consents(
    session: AsyncSession, participant_id: int, consultation_id: str | None = None
) -> int:
    """Withdraw every consent this participant has given (to ``consultation_id`` only,
    if given); returns how many."""
    where = [
        Consent.participant_id == participant_id,
        Consent.given.is_(True),
        Consent.withdrawn_at.is_(None),
    ]
    if consultation_id is not None:
        where.append(Consent.consultation_id == consultation_id)
    result = await session.execute(update(Consent).where(*where).values(withdrawn_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def answered_items(
    session: AsyncSession, participant_id: int, consultation_id: str
) -> set[str]:
    """Ids of the items and segments this participant has answered in a consultation."""
    # Made distinct here, not by the database: with DISTINCT, SQLite's planner prefers
    # reading the consultation's item index in order (every response of everyone in
    # the consultation) to the participant's index (their few responses).
    result = await session.scalars(
        select(Response.item_id).where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
        )
    )
    return set(result)


async def delete_answers(
    session: AsyncSession, participant_id: int, consultation_id: str, item_id: str
) -> None:
    """Remove a participant's earlier answer to a poll or prompt (a changed answer)."""
    await session.execute(
        delete(Response).where(
            Response.participant_id == participant_id,
            Response.consultation_id == consultation_id,
            Response.item_id == item_id,
        )
    )


class ReferenceKeys(Protocol):
    """How platform references are kept at rest (``consultations.keys.Keyring`` is one)."""

    def reference(self, channel: str, platform_ref: str) -> str: ...
    def seal(self, value: Any) -> str: ...
    def unseal(self, token: str) -> Any: ...


def new_publication(
    keys: ReferenceKeys,
    *,
    consultation_id: str,
    item_id: str | None,
    channel: str,
    platform_ref: str,
    kind: str,
    round_number: int | None = None,
) -> Publication:
    """A publication row: the reference hashed for lookups and sealed for the adapter."""
    return Publication(
        consultation_id=consultation_id,
        item_id=item_id,
        channel=channel,
        platform_ref=keys.reference(channel, platform_ref),
        sealed_ref=keys.seal(platform_ref),
        kind=kind,
        round=round_number,
    )


def publication_ref(keys: ReferenceKeys, row: Publication) -> str:
    """The platform's own reference of a publication (rows from before sealing hold it plain)."""
    return str(keys.unseal(row.sealed_ref)) if row.sealed_ref is not None else row.platform_ref


async def prompt_answers_of(
    session: AsyncSession, participant_ids: Collection[int], consultation_ids: Collection[str]
) -> dict[tuple[int, str, str], list[tuple[int, str | None]]]:
    """Each participant's stored answers per (participant, consultation, item): id and text.

    One query for a whole batch, so replacing answers costs no query per answer.
    """
    found: dict[tuple[int, str, str], list[tuple[int, str | None]]] = {}
    if not participant_ids or not consultation_ids:
        return found
    rows = await session.execute(
        select(
            Response.id,
            Response.participant_id,
            Response.consultation_id,
            Response.item_id,
            Response.text,
        ).where(
            one_of(Response.participant_id, participant_ids),
            one_of(Response.consultation_id, consultation_ids),
            Response.item_type == "prompt",
        )
    )
    for response_id, participant_id, consultation_id, item_id, said in rows:
        found.setdefault((participant_id, consultation_id, item_id), []).append((response_id, said))
    return found


async def delete_replaced(
    executor: AsyncSession | AsyncConnection, response_ids: Collection[int]
) -> None:
    """Delete answers replaced by later ones.

    A moderator must still see what was said: a case about a replaced answer keeps its
    words and whose they were, and is no longer tied to the answer, which goes like any
    other. Only the later answer then counts in the item's answers, reports and export,
    while the disclosure is still counted as one (``reporting.unrecorded_disclosures``).
    """
    if not response_ids:
        return
    ids = {"ids": list(response_ids)}
    await executor.execute(_RELEASE_CASES, ids)
    await executor.execute(_DELETE_REPLACED, ids)


# Built once, the ids one list parameter: nearly every web answer replaces an earlier one,
# and building the two statements cost more than SQLite takes to run them.
_SAID = select(Response.text).where(Response.id == ModerationCase.response_id)
_WHOSE = select(Response.participant_id).where(Response.id == ModerationCase.response_id)
# Every SET expression reads the row as it was: the answer's words are copied before the
# case lets go of it.
_RELEASE_CASES = (
    update(ModerationCase)
    .where(one_of(ModerationCase.response_id, name="ids"))
    .values(
        text=func.coalesce(ModerationCase.text, _SAID.scalar_subquery()),
        participant_id=func.coalesce(ModerationCase.participant_id, _WHOSE.scalar_subquery()),
        response_id=None,
    )
    .execution_options(synchronize_session=False)
)
_DELETE_REPLACED = (
    delete(Response)
    .where(one_of(Response.id, name="ids"))
    .execution_options(synchronize_session=False)
)


async def publication_by_ref(
    session: AsyncSession, keys: ReferenceKeys, channel: str, platform_ref: str
) -> Publication | None:
    """The bot's post on ``channel`` with this platform reference, if there is one."""
    return await session.scalar(
        select(Publication)
        .where(
            Publication.channel == channel,
            Publication.platform_ref.in_([keys.reference(channel, platform_ref), platform_ref]),
        )
        .limit(1)
    )


async def publication_kinds(
    session: AsyncSession, channel: str, consultation_ids: Sequence[str]
) -> dict[str, set[tuple[str | None, str]]]:
    """For each consultation, the ``(item_id, kind)`` of its publications on ``channel``."""
    found: dict[str, set[tuple[str | None, str]]] = {cid: set() for cid in consultation_ids}
    if not consultation_ids:
        return found
    rows = await session.execute(
        select(Publication.consultation_id, Publication.item_id, Publication.kind).where(
            Publication.channel == channel,
            one_of(Publication.consultation_id, consultation_ids),
        )
    )
    for consultation_id, item_id, kind in rows:
        found[consultation_id].add((item_id, kind))
    return found


async def response_by_ref(
    session: AsyncSession, channel: str, platform_ref: str
) -> Response | None:
    return await session.scalar(
        select(Response).where(Response.channel == channel, Response.platform_ref == platform_ref)
    )


def outbox_row(
    *,
    channel: str,
    key: str,
    payload: dict[str, Any],
    address: str | None,
    participant_id: int | None = None,
    consultation_id: str | None = None,
    due: datetime | None = None,
    quiet_hours: dict[str, Any] | None = None,
    bulk: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One pending outbox row, as :func:`add_outbox_rows` takes them (due ``now`` unless
    ``due`` says later; ``now`` defaults to the clock). ``bulk`` rows (invitations,
    reminders) are sent after every due reply on their channel."""
    now = now or utcnow()
    return {
        "channel": channel,
        "idempotency_key": key,
        "payload": payload,
        "address": address,
        "participant_id": participant_id,
        "consultation_id": consultation_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
        "quiet_hours": quiet_hours,
        "bulk": bulk,
    }


async def add_outbox_rows(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Queue messages; rows whose idempotency key is already queued are ignored.

    Returns how many were new.
    """
    if not rows:
        return 0
    inserted = await session.execute(
        dialect_insert(session, OutboxEntry)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxEntry.id),
        list(rows),
    )
    return len(inserted.all())


async def add_outbox(
    session: AsyncSession,
    *,
    channel: str,
    key: str,
    payload: dict[str, Any],
    address: str | None,
    participant_id: int | None = None,
    consultation_id: str | None = None,
) -> None:
    """Queue a message; a second row with the same idempotency key is ignored."""
    await add_outbox_rows(
        session,
        [
            outbox_row(
                channel=channel,
                key=key,
                payload=payload,
                address=address,
                participant_id=participant_id,
                consultation_id=consultation_id,
            )
        ],
    )


def cases_of(participant_id: int | QueryableAttribute[int]) -> ColumnElement[bool]:
    """A participant's moderation cases: opened for one of their responses, or for them.

    ``participant_id`` is an id, or a column of an enclosing query (``Participant.id``).
    """
    # An enclosing query's column (Participant.id) is that query's, however deep.
    theirs = select(Response.id).where(Response.participant_id == participant_id)
    return ModerationCase.response_id.in_(theirs.correlate_except(Response)) | (
        ModerationCase.participant_id == participant_id
    )


async def latest_case_categories(
    session: AsyncSession, participant_id: int, consultation_id: str, reason: str
) -> tuple[str, ...]:
    """The categories of the participant's latest case of ``reason`` here; none if none."""
    categories = await session.scalar(
        select(ModerationCase.categories)
        .where(
            ModerationCase.consultation_id == consultation_id,
            ModerationCase.reason == reason,
            cases_of(participant_id),
        )
        .order_by(ModerationCase.id.desc())
        .limit(1)
    )
    return tuple(categories or ())


#: Cases of the safety screen (a disclosure, or a text it could not read) that outlive
#: the person's erasure while a moderator has not resolved them.
KEPT_ON_ERASURE = ("safety", "review")


def inbox_sender(keys: ReferenceKeys, channel: str, sender: str) -> str:
    """How the inbox keeps an event's sender: a keyed hash, never the platform id."""
    return keys.reference(channel, f"sender:{sender}")


async def forget_waiting_events(
    session: AsyncSession,
    keys: ReferenceKeys,
    channel: str,
    sender: str,
    *,
    but: str | None = None,
) -> int:
    """Delete the events of one sender still waiting in the inbox (or held aside after
    failing), but the one whose reference is ``but`` and any received after it; returns
    how many. For an erasure: handled after it, they would bring the person back (a new
    participant, their words in a case, messages sent to them).
    """
    waiting = [
        InboxEntry.channel == channel,
        InboxEntry.sender == inbox_sender(keys, channel, sender),
        InboxEntry.processed_at.is_(None),
    ]
    if but is not None:
        current = await session.scalar(
            select(InboxEntry.id).where(InboxEntry.channel == channel, InboxEntry.event_id == but)
        )
        waiting.append(InboxEntry.event_id != but)
        if current is not None:
            waiting.append(InboxEntry.id < current)
    result = await session.execute(
        delete(InboxEntry).where(*waiting).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


#: Shortest statement (as JSON text) searched for in other people's messages on erasure.
MIN_QUOTED = 8


async def erase_participant(
    session: AsyncSession,
    participant_id: int,
    *,
    actor: str = "engage",
    channel: str | None = None,
) -> dict[str, int]:
    """Delete everything held about a participant; returns the rows removed per table.

    Their votes leave the statements' running counts too, so what is shown next no longer
    leans on them; the statements they added go, and everyone's votes on those with them
    (``votes_on_their_statements``). Their unresolved safety cases are kept
    (``kept_cases``), cut loose from the person, their response and words, and marked
    ``erased_at``: a safeguarding case is
    not closed by the person's erasure, and an urgent one not yet alerted still alerts. The
    erasure is written to the audit log as done by ``actor`` (the command line's operator,
    ``participant`` for the person's own request), never naming the person.
    """
    now = utcnow()
    # Their statements were put to others to vote on: those messages in other people's
    # outbox rows (sent or waiting) go with them.
    said = (
        await session.scalars(
            select(Statement.text).where(Statement.participant_id == participant_id)
        )
    ).all()
    shown_to_others = 0
    for words in said:
        fragment = json_text(words)[1:-1]  # as the payload's JSON holds it
        if len(fragment) < MIN_QUOTED:
            continue  # too short to tell apart from other messages' words
        removed = await session.execute(
            delete(OutboxEntry)
            .where(
                sql_cast(OutboxEntry.payload, Text).contains(fragment, autoescape=True),
                OutboxEntry.status != "sending",
            )
            .execution_options(synchronize_session=False)
        )
        shown_to_others += int(removed.rowcount or 0)  # type: ignore[attr-defined]
    await statement_store.forget_votes(session, participant_id)
    votes_on_theirs = await statement_store.forget_votes_on_statements_of(session, participant_id)
    kept = await session.execute(
        update(ModerationCase)
        .where(
            cases_of(participant_id),
            ModerationCase.status.in_(("open", "acknowledged")),
            ModerationCase.reason.in_(KEPT_ON_ERASURE),
        )
        .values(response_id=None, participant_id=None, text=None, erased_at=now)
        .execution_options(synchronize_session=False)
    )
    counts: dict[str, int] = {
        "kept_cases": int(kept.rowcount or 0),  # type: ignore[attr-defined]
        "votes_on_their_statements": votes_on_theirs,
        "statement_messages": shown_to_others,
    }
    for name, statement in (
        ("moderation_case", delete(ModerationCase).where(cases_of(participant_id))),
        ("response", delete(Response).where(Response.participant_id == participant_id)),
        ("consent", delete(Consent).where(Consent.participant_id == participant_id)),
        ("dialogue", delete(Dialogue).where(Dialogue.participant_id == participant_id)),
        ("outbox", delete(OutboxEntry).where(OutboxEntry.participant_id == participant_id)),
        # Polls sent in their private chat: only the poll's id, but of their conversation.
        (
            "publication",
            delete(Publication).where(Publication.participant_id == participant_id),
        ),
        ("participant", delete(Participant).where(Participant.id == participant_id)),
    ):
        result = await session.execute(statement)
        counts[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action="participant.erase",
            detail={
                "channel": channel,
                "responses": counts["response"],
                "cases_kept": counts["kept_cases"],
                "cases_deleted": counts["moderation_case"],
            },
        )
    )
    return counts


async def cancel_bulk_messages(session: AsyncSession, consultation_id: str) -> int:
    """Cancel a consultation's invitations and reminders not yet claimed for sending;
    returns how many. Replies to people are left to go."""
    result = await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.consultation_id == consultation_id,
            OutboxEntry.status == "pending",
            OutboxEntry.bulk.is_(True),
        )
        .values(status="cancelled", address=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def response_counts(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Per consultation: (responses, participants), as the report counts them: answers
    to its items, not the self-descriptions (segment answers) beside them, and the
    people who gave at least one."""
    result = await session.execute(
        select(
            Response.consultation_id,
            func.count(Response.id),
            func.count(func.distinct(Response.participant_id)),
        )
        .where(Response.item_type != "segment")
        .group_by(Response.consultation_id)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in result}


async def latest_tallies(session: AsyncSession, consultation_id: str) -> Sequence[PollTally]:
    """The most recent tally per (item, channel, platform post)."""
    newest = (
        select(
            PollTally.item_id,
            PollTally.channel,
            PollTally.platform_ref,
            func.max(PollTally.id).label("id"),
        )
        .where(PollTally.consultation_id == consultation_id)
        .group_by(PollTally.item_id, PollTally.channel, PollTally.platform_ref)
        .subquery()
    )
    result = await session.scalars(select(PollTally).join(newest, PollTally.id == newest.c.id))
    return result.all()


async def items_of(session: AsyncSession, consultation_id: str) -> Sequence[Item]:
    result = await session.scalars(
        select(Item).where(Item.consultation_id == consultation_id).order_by(Item.position)
    )
    return result.all()


async def open_consultations(session: AsyncSession, now: datetime) -> Sequence[Consultation]:
    result = await session.scalars(
        select(Consultation).where(Consultation.state == "open").order_by(Consultation.created_at)
    )
    return [row for row in result if row.closed_at is None or row.closed_at > now]


async def opt_out(session: AsyncSession, participant_id: int) -> bool:
    """End someone's participation everywhere: consent withdrawn, nothing more sent.

    Returns whether they had already opted out.
    """
    participant = await session.get(Participant, participant_id)
    if participant is None:
        return True
    already = participant.opted_out_at is not None
    participant.opted_out_at = participant.opted_out_at or utcnow()
    participant.current_consultation_id = None
    await withdraw_consents(session, participant_id)
    await session.execute(
        update(Dialogue)
        .where(Dialogue.participant_id == participant_id, Dialogue.state == "active")
        .values(state="stopped", pending=None, updated_at=utcnow())
    )
    await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.participant_id == participant_id,
            # claimed rows have not reached the platform yet: the sender skips them
            OutboxEntry.status.in_(["pending", "claimed"]),
        )
        .values(status="cancelled")
    )
    return already


async def leave_consultation(
    session: AsyncSession, participant_id: int, consultation_id: str
) -> bool:
    """End someone's part in one consultation (the web page's "Leave this consultation"):
    their consents to it withdrawn, their conversation in it stopped, nothing more of it
    sent; every other consultation stays as it was (:func:`opt_out` leaves them all).

    Returns whether they had already left it (no consent of theirs stood).
    """
    participant = await session.get(Participant, participant_id)
    if participant is None:
        return True
    if participant.current_consultation_id == consultation_id:
        participant.current_consultation_id = None
    withdrawn = await withdraw_consents(session, participant_id, consultation_id)
    await session.execute(
        update(Dialogue)
        .where(
            Dialogue.participant_id == participant_id,
            Dialogue.consultation_id == consultation_id,
            Dialogue.state == "active",
        )
        .values(state="stopped", pending=None, updated_at=utcnow())
    )
    await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.participant_id == participant_id,
            OutboxEntry.consultation_id == consultation_id,
            OutboxEntry.status.in_(["pending", "claimed"]),
        )
        .values(status="cancelled")
    )
    return withdrawn == 0


@functools.cache
def _inbox_insert(postgresql: bool) -> Any:
    """The inbox rows' INSERT ... ON CONFLICT DO NOTHING, built once per dialect.

    The rows travel as one parameter per column (arrays on PostgreSQL, a JSON list of
    rows on SQLite): one statement text however many rows, where a multi-row VALUES is a
    text (and on PostgreSQL a prepared statement on every connection) per row count.
    Rows go in in the order given: their ids are the order they are handled in.
    """
    columns = "channel, event_id, payload, sender, received_at, processed_at, attempts"
    if postgresql:
        rows = (
            "SELECT r.channel, r.event_id, r.payload, r.sender, :now, :processed, 0 "
            "FROM unnest(:channels, :event_ids, :payloads, :senders) "
            "WITH ORDINALITY AS r(channel, event_id, payload, sender, n) ORDER BY r.n"
        )
        lists = [
            bindparam("channels", type_=ARRAY(String())),
            bindparam("event_ids", type_=ARRAY(String())),
            bindparam("payloads", type_=ARRAY(Text())),
            bindparam("senders", type_=ARRAY(String())),
        ]
    else:
        # WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
        rows = (
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
            "json_extract(value, '$[2]'), json_extract(value, '$[3]'), :now, :processed, 0 "
            "FROM json_each(:rows) WHERE true ORDER BY key"
        )
        lists = [bindparam("rows", type_=String())]
    return (
        text(
            f"INSERT INTO inbox ({columns}) {rows} "
            "ON CONFLICT (channel, event_id) DO NOTHING RETURNING channel, event_id"
        )
        .bindparams(
            bindparam("now", type_=UTCDateTime()),
            bindparam("processed", type_=UTCDateTime()),
            *lists,
        )
        .columns(channel=String(), event_id=String())
    )


async def insert_inbox_many(
    session: AsyncSession, rows: Sequence[dict[str, Any]], *, processed: bool = False
) -> set[tuple[str, str]]:
    """Insert inbox rows in one statement; returns the (channel, event_id) keys that were new.

    Each row has ``channel``, ``event_id`` and optionally ``payload`` and ``sender`` (see
    :attr:`InboxEntry.sender`). ``processed`` records events handled in the same
    transaction as their arrival.
    """
    if not rows:
        return set()
    now = utcnow()
    values: dict[str, Any] = {"now": now, "processed": now if processed else None}
    connection = await session.connection()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        values["channels"] = [row["channel"] for row in rows]
        values["event_ids"] = [row["event_id"] for row in rows]
        values["payloads"] = [row.get("payload") for row in rows]
        values["senders"] = [row.get("sender") for row in rows]
    else:
        values["rows"] = json_text(
            [
                [row["channel"], row["event_id"], row.get("payload"), row.get("sender")]
                for row in rows
            ]
        )
    # On the session's connection, as Core: nothing here is an ORM object.
    result = await connection.execute(_inbox_insert(postgresql), values)
    return {(channel, event_id) for channel, event_id in result.all()}


async def participants_for(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> tuple[dict[tuple[str, str], Participant], set[int]]:
    """Participants by (channel, pseudonym), created where missing (race-safe), and the
    ids of those created here (:func:`forget_passers_by` takes them back if nothing
    comes to name them)."""
    found: dict[tuple[str, str], Participant] = {}

    async def load(wanted: set[tuple[str, str]]) -> None:
        by_channel: dict[str, list[str]] = {}
        for channel, pseudonym in wanted:
            by_channel.setdefault(channel, []).append(pseudonym)
        for channel, pseudonyms in by_channel.items():
            rows = await session.scalars(
                select(Participant).where(
                    Participant.channel == channel, one_of(Participant.pseudonym, pseudonyms)
                )
            )
            for row in rows:
                found[(row.channel, row.pseudonym)] = row

    await load(keys)
    missing = keys - found.keys()
    if missing:
        now = utcnow()
        await session.execute(
            dialect_insert(session, Participant).on_conflict_do_nothing(
                index_elements=["channel", "pseudonym"]
            ),
            [{"channel": c, "pseudonym": p, "created_at": now} for c, p in sorted(missing)],
        )
        await load(missing)
    return found, {found[key].id for key in missing if key in found}


@functools.cache
def _named_elsewhere() -> list[Any]:
    """For each table that names a participant, whether a row of it names this one."""
    conditions: list[Any] = []
    for table in Participant.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column is Participant.__table__.c.id:
                conditions.append(exists().where(key.parent == Participant.id))
    return conditions


async def forget_passers_by(session: AsyncSession, participant_ids: Collection[int]) -> set[int]:
    """Delete those of these participants that no row of any table names and who did not
    leave: someone who only passed by (a public mention no consultation took, a reply to
    no post of ours) never took part, and no pseudonym of theirs is kept. Someone who
    said STOP keeps their row, so that nothing of theirs is taken later.

    Returns the ids deleted (their objects are left to the caller to let go of).
    """
    if not participant_ids:
        return set()
    await session.flush()
    result = await session.scalars(
        delete(Participant)
        .where(
            one_of(Participant.id, sorted(participant_ids)),
            Participant.opted_out_at.is_(None),
            *(~named for named in _named_elsewhere()),
        )
        .returning(Participant.id)
        .execution_options(synchronize_session=False)
    )
    return set(result)


async def dialogues_for(
    session: AsyncSession, participant_ids: Sequence[int]
) -> dict[tuple[int, str], Dialogue]:
    """Every dialogue of these participants, by (participant id, consultation id)."""
    rows = await session.scalars(
        select(Dialogue).where(one_of(Dialogue.participant_id, participant_ids))
    )
    return {(row.participant_id, row.consultation_id): row for row in rows}


async def consents_for(
    session: AsyncSession, participant_ids: Sequence[int]
) -> dict[tuple[int, str], dict[str, Consent]]:
    """Every consent record of these participants, by (participant, consultation), purpose."""
    rows = await session.scalars(
        select(Consent).where(one_of(Consent.participant_id, participant_ids))
    )
    grouped: dict[tuple[int, str], dict[str, Consent]] = {}
    for row in rows:
        grouped.setdefault((row.participant_id, row.consultation_id), {})[row.purpose] = row
    return grouped


async def upsert_participants(
    session: AsyncSession, channel: str, pseudonyms: Sequence[str]
) -> dict[str, int]:
    """Ids of the participants with these pseudonyms, creating the missing.

    On PostgreSQL one statement over an array: the no-op update makes existing rows come
    back in RETURNING too, so no second query (whose plan on a freshly filled table can
    be poor) is needed, and an array costs far less to parse and plan than a VALUES list
    of thousands of parameters. On SQLite see :func:`_sqlite_participants`.
    """
    if not pseudonyms:
        return {}
    now = utcnow()
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        return await _sqlite_participants(connection, channel, pseudonyms, now)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    found = await driver.fetch(
        "INSERT INTO participant (channel, pseudonym, created_at) "
        "SELECT $1, pseudonym, $3 FROM unnest($2::text[]) AS pseudonym "
        "ON CONFLICT (channel, pseudonym) DO UPDATE SET channel = excluded.channel "
        "RETURNING pseudonym, id",
        channel,
        list(pseudonyms),
        now,
    )
    return {str(row[0]): int(row[1]) for row in found}


async def _sqlite_participants(
    connection: AsyncConnection, channel: str, pseudonyms: Sequence[str], now: datetime
) -> dict[str, int]:
    """:func:`upsert_participants` on SQLite: one INSERT of the missing rows that returns
    their ids (SQLite 3.35 and later; before, an executemany, which returns no rows),
    then the ids of those already there by pseudonym, a few hundred per query (the
    unique index answers the lookups)."""
    column = cast(Table, Participant.__table__).c.created_at
    encode = column.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    moment = encode(now) if encode is not None else now
    found: dict[str, int] = {}
    if sqlite3.sqlite_version_info >= (3, 35, 0):
        # One statement over the pseudonyms as a JSON array, its new rows' ids returned:
        # a third of the time of a row-by-row executemany and then looking every id up
        # (a 100,000-row import). Only those already there are looked up below. (The
        # WHERE lets SQLite's parser tell ON CONFLICT from a join constraint.)
        inserted: Any = await connection.exec_driver_sql(
            "INSERT INTO participant (channel, pseudonym, created_at) "
            "SELECT ?, value, ? FROM json_each(?) WHERE true "
            "ON CONFLICT (channel, pseudonym) DO NOTHING RETURNING pseudonym, id",
            (channel, moment, json_text(list(pseudonyms))),
        )
        found.update((str(row[0]), int(row[1])) for row in inserted)
        missing = [p for p in pseudonyms if p not in found]
    else:
        await connection.exec_driver_sql(
            "INSERT INTO participant (channel, pseudonym, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (channel, pseudonym) DO NOTHING",
            [(channel, pseudonym, moment) for pseudonym in pseudonyms],
        )
        missing = list(pseudonyms)
    for start in range(0, len(missing), _LOOKUP):
        part = tuple(missing[start : start + _LOOKUP])
        marks = ", ".join("?" for _ in part)
        result: Any = await connection.exec_driver_sql(
            f"SELECT pseudonym, id FROM participant WHERE channel = ? AND pseudonym IN ({marks})",
            (channel, *part),
        )
        found.update((str(row[0]), int(row[1])) for row in result)
    return found


_LOOKUP = 500  # pseudonyms per lookup: under SQLite's oldest limit of 999 parameters

#: Columns of a ``response`` row written by :class:`ResponseRows`, in COPY order.
RESPONSE_COPY_COLUMNS = (
    "consultation_id",
    "item_id",
    "item_type",
    "participant_id",
    "channel",
    "choices",
    "text",
    "in_reply_to",
    "platform_ref",
    "flags",
    "public",
    "sentiment",
    "analysis",
    "created_at",
)


class ResponseRows:
    """Many ``response`` rows written at once: COPY on PostgreSQL, one executemany on SQLite.

    Rows are tuples in :data:`RESPONSE_COPY_COLUMNS` order holding the values as the store
    keeps them: JSON columns through :meth:`json` (given JSON text from
    :func:`storage.db.json_text`), ``created_at`` through :meth:`moment`. A value that many
    rows share (an imported reply repeated a thousand times, its analysis) is then encoded
    once, not once per row. Both ways run on the session's own connection, inside its
    transaction: a failed import stores nothing.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"
        column = cast(Table, Response.__table__).c.created_at
        self._moment = column.type.dialect_impl(connection.dialect).bind_processor(
            connection.dialect
        )
        names = ", ".join(RESPONSE_COPY_COLUMNS)
        marks = ", ".join("?" for _ in RESPONSE_COPY_COLUMNS)
        self._insert = f"INSERT INTO {Response.__tablename__} ({names}) VALUES ({marks})"

    def json(self, text: str | None) -> str | None:
        """A JSON column's stored value for this JSON text (``None``: no value).

        On SQLite the JSON type stores Python ``None`` as the JSON text ``null``; COPY
        on PostgreSQL has always stored SQL NULL.
        """
        if text is None and not self.postgres:
            return "null"
        return text

    def moment(self, moment: datetime) -> Any:
        """A ``created_at`` value as the driver takes it."""
        return self._moment(moment) if self._moment is not None else moment

    async def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store the rows (see the class for their form)."""
        if not rows:
            return
        if not self.postgres:
            await self.connection.exec_driver_sql(self._insert, list(rows))
            return
        raw = await self.connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            Response.__tablename__, columns=list(RESPONSE_COPY_COLUMNS), records=rows
        )


async def response_rows(session: AsyncSession) -> ResponseRows:
    """A :class:`ResponseRows` on the session's connection."""
    return ResponseRows(await session.connection())


@functools.cache
def _count_in_windows(postgresql: bool) -> Any:
    """Add to several keys' counts in ``rate_window`` at once, per dialect.

    Each key's window starts again when the one it has is ``ended`` (started at or before
    that time); both databases compute every SET expression from the row as it was, so
    the two CASEs agree. The keys and counts travel as one parameter each (arrays on
    PostgreSQL, a JSON list on SQLite): one statement text however many keys.
    """
    lists: list[BindParameter[Any]]
    if postgresql:
        rows = "SELECT k, :now, n FROM unnest(:keys, :counts) AS r(k, n)"
        lists = [
            bindparam("keys", type_=ARRAY(String())),
            bindparam("counts", type_=ARRAY(Integer())),
        ]
    else:
        # WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
        rows = (
            "SELECT json_extract(value, '$[0]'), :now, json_extract(value, '$[1]') "
            "FROM json_each(:rows) WHERE true"
        )
        lists = [bindparam("rows", type_=String())]
    ended = "rate_window.window_start <= :ended"
    return (
        text(
            f"INSERT INTO rate_window (key, window_start, count) {rows} "
            "ON CONFLICT (key) DO UPDATE SET "
            f"count = CASE WHEN {ended} THEN excluded.count "
            "ELSE rate_window.count + excluded.count END, "
            f"window_start = CASE WHEN {ended} THEN excluded.window_start "
            "ELSE rate_window.window_start END "
            "RETURNING key, count"
        )
        .bindparams(
            bindparam("now", type_=UTCDateTime()),
            bindparam("ended", type_=UTCDateTime()),
            *lists,
        )
        .columns(key=String(), count=Integer())
    )


async def count_in_windows(
    session: AsyncSession, counts: Mapping[str, int], now: datetime, window: timedelta
) -> dict[str, int]:
    """Add ``counts`` to their keys' fixed windows of length ``window``, in one statement;
    each key's count in its current window, these included."""
    if not counts:
        return {}
    connection = await session.connection()
    postgresql = connection.dialect.name == "postgresql"
    values: dict[str, Any] = {"now": now, "ended": now - window}
    keys = sorted(counts)
    if postgresql:
        values["keys"] = keys
        values["counts"] = [counts[key] for key in keys]
    else:
        values["rows"] = json_text([[key, counts[key]] for key in keys])
    result = await connection.execute(_count_in_windows(postgresql), values)
    return {key: int(count) for key, count in result}


async def forget_windows(session: AsyncSession, prefix: str, before: datetime) -> None:
    """Delete the ``rate_window`` rows under ``prefix`` whose window started ``before``."""
    await session.execute(
        delete(RateWindow).where(
            RateWindow.key.startswith(prefix, autoescape=True), RateWindow.window_start < before
        )
    )
