"""The common web answer handled with plain rows: no ORM objects, few statements.

Most requests in a web group commit are a known, consented person answering a prompt or
a poll on the consultation's page. For those, :func:`handle` reads what the batch needs
in three statements (the people with their dialogues, their consent records, their
stored answers), writes the answers in one insert and deletes what they replace in one
statement each, without loading ORM objects or going through the unit of work. The
decisions are the runtime's own: the same checks, the same replacement of an earlier
prompt answer (CONTRACT.md), the same next question (``_Turn.ask_next``).

Anything else goes the usual way (:class:`bot.runtime._State`): a person not yet known,
without consent, held after a disclosure, opted out or in another consultation; a text
the screen flags (its case and the safety reply are written there); a segment, thread,
statement or round; a choice not understood. A person with any such event in the batch
has all their events handled there, so one person's answers are never split.

The lists are one parameter each (``storage.lists.one_of``), so each statement has one
text whatever the batch's size, and on PostgreSQL one prepared statement serves every
batch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import StoredAnswer
from channels.events import EventKind, InboundEvent
from consultations import screening, service
from consultations.dialogue import CHOOSE, CONSENT, RECONTACT, is_stop
from consultations.spec import ConsultationSpec, Item
from consultations.texts import Texts
from storage import queries
from storage.lists import one_of
from storage.tables import (
    Consent,
    Consultation,
    Dialogue,
    Participant,
    Publication,
    Response,
    utcnow,
)

if TYPE_CHECKING:
    from bot.runtime import Outcome, Runtime

RESPONSES = cast(Table, Response.__table__)
DIALOGUES = cast(Table, Dialogue.__table__)


@dataclass
class PlainDialogue:
    """A dialogue row as the plain path reads and changes it (``Dialogue``'s fields)."""

    id: int
    participant_id: int
    consultation_id: str
    state: str
    pending: str | None
    segments: dict[str, Any]
    finished_items: list[str] | None


@dataclass
class PlainParticipant:
    """A participant row as far as the plain path needs it."""

    id: int
    channel: str
    pseudonym: str
    current_consultation_id: str | None
    has_address: bool


@dataclass
class _Person:
    participant: PlainParticipant
    dialogues: dict[str, PlainDialogue] = field(default_factory=dict)
    unpublished: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Statements:
    """The plain path's statements, built once (the same for both databases)."""

    people: Any
    consents: Any
    answers: Any
    delete_poll_answers: Any
    insert_answers: Any
    update_dialogues: Any


@functools.cache
def _statements() -> _Statements:
    # Whether the consultation's launch failed on the channel (bot/publishing.py).
    unpublished = (
        exists()
        .where(
            Publication.channel == bindparam("channel"),
            Publication.consultation_id == Dialogue.consultation_id,
            Publication.item_id.is_(None),
            Publication.kind == "unpublished",
        )
        .correlate(Dialogue)
    )
    people = (
        select(
            Participant.id,
            Participant.pseudonym,
            Participant.current_consultation_id,
            Participant.opted_out_at.is_(None),
            Participant.address.is_not(None),
            Dialogue.id,
            Dialogue.consultation_id,
            Dialogue.state,
            Dialogue.pending,
            Dialogue.segments,
            Dialogue.finished_items,
            unpublished,
        )
        .join(Dialogue, Dialogue.participant_id == Participant.id)
        .where(
            Participant.channel == bindparam("channel"),
            one_of(Participant.pseudonym, name="pseudonyms"),
        )
    )
    consents = select(
        Consent.participant_id,
        Consent.consultation_id,
        Consent.purpose,
        Consent.given,
        Consent.method,
        Consent.withdrawn_at,
    ).where(one_of(Consent.participant_id, name="ids"))
    answers = select(
        Response.id,
        Response.participant_id,
        Response.consultation_id,
        Response.item_id,
        Response.item_type,
        Response.text,
    ).where(one_of(Response.participant_id, name="ids"))
    delete_poll_answers = delete(RESPONSES).where(
        and_(
            RESPONSES.c.participant_id == bindparam("p"),
            RESPONSES.c.consultation_id == bindparam("c"),
            RESPONSES.c.item_id == bindparam("i"),
        )
    )
    update_dialogues = (
        update(DIALOGUES)
        .where(DIALOGUES.c.id == bindparam("dialogue_id"))
        .values(
            state=bindparam("state"),
            pending=bindparam("pending"),
            updated_at=bindparam("updated_at"),
        )
    )
    return _Statements(
        people,
        consents,
        answers,
        delete_poll_answers,
        insert(RESPONSES),
        update_dialogues,
    )


@dataclass(frozen=True)
class _Asked:
    """What the plain path checks of an answer's question, the same for every answer to
    it in a batch: worked out once per (consultation, item) and batch."""

    spec: ConsultationSpec
    item: Item
    stop_words: frozenset[str]
    hints: screening.Hints


def _asked(named: dict[str, Consultation], consultation_id: str, item_id: str) -> _Asked | None:
    """The question an answer names, if the plain path may take answers to it at all."""
    row = named.get(consultation_id)
    if row is None:
        return None
    spec = service.spec_of(row)
    item = next((i for i in spec.items if i.id == item_id), None)
    if item is None or any(s.id == item_id for s in spec.segments):
        return None
    return _Asked(spec, item, spec.wording().words("stop_words"), screening.hints_for(spec))


def _shape_ok(
    runtime: Runtime,
    event: InboundEvent,
    named: dict[str, Consultation],
    known: dict[tuple[str, str], _Asked | None],
) -> bool:
    """Whether an event, by itself, is a web answer the plain path can take (``known``:
    the batch's questions worked out so far, see :func:`_asked`)."""
    if (
        event.kind is not EventKind.ANSWER
        or event.public
        or event.channel not in runtime.inline_channels
        or event.channel in runtime.totals_only_channels
        or event.in_reply_to is not None
        or event.consultation_id is None
        or event.item_id is None
        or event.item_id in (CONSENT, CHOOSE, RECONTACT)
    ):
        return False
    key = (event.consultation_id, event.item_id)
    asked = known[key] if key in known else known.setdefault(key, _asked(named, *key))
    if asked is None:
        return False
    item = asked.item
    if item.at is not None and item.at > datetime.now(UTC):
        return False  # a timed question not asked yet: the usual path refuses it
    if item.type == "prompt":
        text = (event.text or "").strip()
        if is_stop(text, asked.stop_words):
            return False  # STOP as the whole answer: the person leaves (the usual path)
        screened = runtime.peek_screened(text, asked.hints) if text else None
        # A flagged text opens a case (and maybe the safety reply): the usual path.
        return screened is not None and not screened.crisis and not screened.needs_review
    if item.type == "poll" and item.rounds <= 1:
        from bot.runtime import _chosen

        return bool(_chosen(event, item.options, multiple=item.multiple))
    return False


async def handle(
    runtime: Runtime,
    session: AsyncSession,
    groups: Sequence[Sequence[InboundEvent]],
    outcomes: Sequence[Outcome],
    named: dict[str, Consultation],
) -> set[int]:
    """Handle the groups the plain path can take; returns their indexes.

    The others are left untouched for the usual path, in the same transaction.
    """
    from bot.runtime import PUBLIC_CONSENT, _chosen, _consultations, _State, _Turn

    # The consultations the answers name (read already where the batch checked tickets;
    # ``named`` is the batch's reading, which the usual path then takes too).
    unread = {
        e.consultation_id
        for g in groups
        for e in g
        if e.consultation_id and e.kind is EventKind.ANSWER and e.channel in runtime.inline_channels
    } - named.keys()
    if unread:
        named.update(await _consultations(session, unread))
    pseudonym_of: dict[tuple[str, str], str] = {}
    known: dict[tuple[str, str], _Asked | None] = {}
    candidate: list[int] = []
    refused: set[str] = set()  # pseudonyms with an event the plain path cannot take
    for index, group in enumerate(groups):
        ok = bool(group)
        for event in group:
            pseudonym = pseudonym_of.setdefault(
                (event.channel, event.sender),
                runtime.keyring.pseudonym(event.channel, event.sender),
            )
            if not _shape_ok(runtime, event, named, known):
                ok = False
                refused.add(pseudonym)
        if ok:
            candidate.append(index)
    channels = {e.channel for i in candidate for e in groups[i]}
    candidate = [
        i
        for i in candidate
        if not any(pseudonym_of[(e.channel, e.sender)] in refused for e in groups[i])
    ]
    if not candidate or len(channels) != 1:
        return set()
    channel = next(iter(channels))
    now = datetime.now(UTC)

    # 1. The people, with their dialogues and whether the launch failed on this channel.
    pseudonyms = sorted({pseudonym_of[(e.channel, e.sender)] for i in candidate for e in groups[i]})
    built = _statements()
    # Core statements on the session's connection: the ORM's handling of a statement
    # (its compile state, its result loading) costs more than SQLite takes to run one,
    # and nothing here loads or changes ORM objects.
    connection = await session.connection()
    # Each result's rows taken at once (``all()``): iterating a result fetches a row a call.
    rows = (
        await connection.execute(built.people, {"channel": channel, "pseudonyms": pseudonyms})
    ).all()
    people: dict[str, _Person] = {}
    usable: dict[str, bool] = {}
    for (
        pid,
        pseudonym,
        current,
        in_,
        has_address,
        did,
        cid,
        dstate,
        pending,
        segments,
        finished,
        failed,
    ) in rows:
        person = people.get(pseudonym)
        if person is None:
            person = people[pseudonym] = _Person(
                PlainParticipant(pid, channel, pseudonym, current, bool(has_address))
            )
            usable[pseudonym] = bool(in_)
        person.dialogues[cid] = PlainDialogue(
            did, pid, cid, dstate, pending, dict(segments or {}), finished
        )
        if failed:
            person.unpublished.add(cid)
    ids = sorted(p.participant.id for p in people.values())
    consents: dict[tuple[int, str], dict[str, Any]] = {}
    answers: list[Any] = []
    if ids:
        # 2. Their consent records; 3. their stored answers (to replace, and to know
        # what each has answered when the next question is chosen).
        for record in (await connection.execute(built.consents, {"ids": ids})).all():
            consents.setdefault((record[0], record[1]), {})[record[2]] = record
        answers = list((await connection.execute(built.answers, {"ids": ids})).all())

    # Which people qualify: everything the usual path would check before storing.
    def qualifies(event: InboundEvent) -> bool:
        pseudonym = pseudonym_of[(event.channel, event.sender)]
        person = people.get(pseudonym)
        if person is None or not usable.get(pseudonym):
            return False
        if event.address is not None and not person.participant.has_address:
            return False  # an address to seal on the participant row: the usual path
        cid = cast(str, event.consultation_id)
        if person.participant.current_consultation_id != cid or cid in person.unpublished:
            return False
        dialogue = person.dialogues.get(cid)
        if dialogue is None or dialogue.state not in ("active", "finished"):
            return False
        row = named[cid]
        spec = cast(_Asked, known[(cid, cast(str, event.item_id))]).spec
        if not service.accepting(row, spec, now) or event.channel not in spec.channels:
            return False
        given = consents.get((person.participant.id, cid), {}).get("consultation")
        return (
            given is not None
            and bool(given.given)
            and given.withdrawn_at is None
            and given.method not in PUBLIC_CONSENT
        )

    for index in candidate:
        for event in groups[index]:
            if not qualifies(event):
                refused.add(pseudonym_of[(event.channel, event.sender)])
    taken = [
        i
        for i in candidate
        if not any(pseudonym_of[(e.channel, e.sender)] in refused for e in groups[i])
    ]
    if not taken:
        return set()
    mine = {pseudonym_of[(e.channel, e.sender)] for i in taken for e in groups[i]}
    own_ids = {people[p].participant.id for p in mine}

    prompt_answers: dict[tuple[int, str, str], list[tuple[int | dict[str, Any], str | None]]] = {}
    answered: dict[tuple[int, str], set[str]] = {}
    for rid, pid, cid, item_id, item_type, text in answers:
        if pid not in own_ids:
            continue
        answered.setdefault((pid, cid), set()).add(item_id)
        if item_type == "prompt":
            prompt_answers.setdefault((pid, cid, item_id), []).append((rid, text))

    inserts: list[dict[str, Any]] = []
    replaced: set[int] = set()
    poll_keys: list[dict[str, Any]] = []
    progress: dict[int, tuple[_Turn, ConsultationSpec, PlainDialogue]] = {}
    state = _State()
    wording: dict[str, Texts] = {}
    for index in taken:
        outcome = outcomes[index]
        for event in groups[index]:
            person = people[pseudonym_of[(event.channel, event.sender)]]
            participant = person.participant
            cid = cast(str, event.consultation_id)
            # Worked out by _shape_ok for every event taken.
            asked = cast(_Asked, known[(cid, cast(str, event.item_id))])
            spec, item = asked.spec, asked.item
            dialogue = person.dialogues[cid]
            outcome.duplicate = False
            outcome.participant = participant.pseudonym
            key = (participant.id, cid, item.id)
            row: dict[str, Any] | None
            if item.type == "prompt":
                screened = runtime.screen((event.text or "").strip(), asked.hints)
                earlier = prompt_answers.get(key, [])
                if len(earlier) == 1 and earlier[0][1] == screened.text:
                    row = None  # the same words again: nothing to store
                else:
                    for stored, _ in earlier:
                        if isinstance(stored, int):
                            replaced.add(stored)
                        else:
                            inserts[:] = [r for r in inserts if r is not stored]
                    sentiment, analysis = runtime.analysis(screened.text)
                    row = _row(runtime, event, participant.id, cid, item.id, "prompt")
                    row.update(
                        text=screened.text,
                        flags=list(screened.flags),
                        sentiment=sentiment,
                        analysis=analysis,
                    )
                    prompt_answers[key] = [(row, screened.text)]
            else:
                choice = _chosen(event, item.options, multiple=item.multiple)
                # Earlier answers to the poll go, stored before or in this batch.
                poll_keys.append({"p": participant.id, "c": cid, "i": item.id})
                inserts[:] = [
                    r
                    for r in inserts
                    if (r["participant_id"], r["consultation_id"], r["item_id"]) != key
                ]
                row = _row(runtime, event, participant.id, cid, item.id, "poll")
                row["choices"] = list(choice)
            if row is not None:
                inserts.append(row)
                outcome.stored.append(
                    StoredAnswer(cid, item.id, row["item_type"], row["text"], row["choices"])
                )
            answered.setdefault((participant.id, cid), set()).add(item.id)
            turn = _Turn(
                runtime,
                session,
                event,
                cast(Participant, participant),
                outcome,
                state,
            )
            turn.consultation_id = cid
            turn.texts = wording.get(cid) or wording.setdefault(cid, spec.wording())
            state.consents[(participant.id, cid)] = consents.get((participant.id, cid), {})
            progress[participant.id] = (turn, spec, dialogue)

    # The writes: earlier poll answers, replaced prompt answers, then the new answers.
    if poll_keys:
        await connection.execute(built.delete_poll_answers, poll_keys)
    if replaced:
        await queries.delete_replaced(connection, sorted(replaced))
    if inserts:
        await connection.execute(built.insert_answers, inserts)

    # What comes next for each person, chosen as the usual path does; changed
    # dialogues written back in one statement.
    changes: list[dict[str, Any]] = []
    for participant_id, (turn, spec, dialogue) in progress.items():
        before = (dialogue.state, dialogue.pending)
        await turn.ask_next(
            spec,
            cast(Dialogue, dialogue),
            answered=answered.get((participant_id, spec.id), set()),
        )
        if (dialogue.state, dialogue.pending) != before:
            changes.append(
                {
                    "dialogue_id": dialogue.id,
                    "state": dialogue.state,
                    "pending": dialogue.pending,
                    "updated_at": utcnow(),
                }
            )
    if changes:
        await connection.execute(built.update_dialogues, changes)
    return set(taken)


def _row(
    runtime: Runtime,
    event: InboundEvent,
    participant_id: int,
    consultation_id: str,
    item_id: str,
    item_type: str,
) -> dict[str, Any]:
    """A response row with the fields every answer has (``_Turn._store``'s)."""
    ref = event.platform_ref
    return {
        "consultation_id": consultation_id,
        "item_id": item_id,
        "item_type": item_type,
        "participant_id": participant_id,
        "channel": event.channel,
        "choices": [],
        "text": None,
        "in_reply_to": None,
        "platform_ref": None if ref is None else runtime.keyring.reference(event.channel, ref),
        "flags": [],
        "public": False,
        "sentiment": None,
        "analysis": None,
        "created_at": event.received_at,
        "round": None,
    }
