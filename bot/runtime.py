"""The channel-agnostic runtime: an inbound event in, a stored response and replies out.

Each event is handled in one transaction: pseudonymise the sender, apply opt-out and
consent, screen free text, store the answer, and queue replies in the outbox. A person
moves through consent -> permission to re-contact (if asked) -> segment questions ->
items in order; where they stand is derived from what is stored, so a restart loses
nothing and needs no separate cursor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import screening
from bot.crypto import Keyring
from bot.events import CHOOSE, CONSENT, RECONTACT, EventKind, InboundEvent, OutboundMessage
from consultations import service
from consultations.spec import ConsultationSpec, Item
from storage import queries
from storage.tables import (
    Consultation,
    Dialogue,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Participant,
    Response,
    utcnow,
)

log = logging.getLogger(__name__)

STOP_WORDS = frozenset({"stop", "/stop", "stop all", "unsubscribe", "opt out", "quit", "leave"})
HELP_WORDS = frozenset({"help", "/help", "?"})
YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "ok", "okay", "agree", "i agree", "sure"})
NO_WORDS = frozenset({"no", "n", "nope", "no thanks", "disagree", "i do not agree"})
CONSENT_OPTIONS = ("Yes, I agree", "No thanks")
RECONTACT_OPTIONS = ("Yes, you may contact me", "No, please don't")

TextAnalyser = Callable[[str], tuple[float | None, dict[str, Any] | None]]


def _normalise(text: str) -> str:
    return re.sub(r"[\s.!]+$", "", text.strip().lower())


def no_analysis(text: str) -> tuple[float | None, dict[str, Any] | None]:
    """The analyser used when insights are not wired in: nothing precomputed."""
    return None, None


@dataclass
class Outcome:
    """What handling one event did."""

    duplicate: bool = False
    participant: str | None = None
    stored: list[Response] = field(default_factory=list)
    messages: list[OutboundMessage] = field(default_factory=list)


class Runtime:
    """Receives events from every channel and turns them into stored responses and replies.

    Args:
        sessionmaker: the store's session factory.
        keyring: pseudonymises senders and seals reply addresses.
        inline_channels: channels that show replies themselves in answer to the request
            (the web page) rather than having them sent through the outbox.
        analyse: per-response text analysis done once at intake (sentiment, features).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        *,
        inline_channels: frozenset[str] = frozenset({"web"}),
        analyse: TextAnalyser = no_analysis,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.keyring = keyring
        self.inline_channels = inline_channels
        self.analyse = analyse

    # -- intake -------------------------------------------------------------------------

    async def receive(self, event: InboundEvent) -> bool:
        """Store an event in the inbox and commit; ``False`` if it was already there.

        Call this before telling the platform the event arrived; :meth:`process_pending`
        handles it afterwards.
        """
        async with self.sessionmaker.begin() as session:
            entry_id = await queries.insert_inbox(
                session, event.channel, event.event_id, self.keyring.seal(event.to_json())
            )
        return entry_id is not None

    async def receive_many(self, events: Sequence[InboundEvent]) -> int:
        """:meth:`receive` for a batch in one transaction; returns how many were new."""
        new = 0
        async with self.sessionmaker.begin() as session:
            for event in events:
                entry_id = await queries.insert_inbox(
                    session, event.channel, event.event_id, self.keyring.seal(event.to_json())
                )
                new += entry_id is not None
        return new

    async def process_pending(self, limit: int = 100) -> int:
        """Handle inbox rows not yet handled, each in its own transaction; returns how many."""
        handled = 0
        while handled < limit:
            async with self.sessionmaker() as session, session.begin():
                statement = (
                    select(InboxEntry)
                    .where(InboxEntry.processed_at.is_(None))
                    .order_by(InboxEntry.id)
                    .limit(1)
                )
                if session.get_bind().dialect.name == "postgresql":
                    statement = statement.with_for_update(skip_locked=True)
                entry = await session.scalar(statement)
                if entry is None:
                    break
                try:
                    async with session.begin_nested():
                        if entry.payload is not None:
                            event = InboundEvent.from_json(self.keyring.unseal(entry.payload))
                            await self._handle(session, event, Outcome())
                    await queries.mark_inbox_processed(session, entry.id)
                except Exception as exc:  # one bad event must not stop the others
                    log.exception("inbox entry %s could not be handled", entry.id)
                    await queries.mark_inbox_processed(
                        session, entry.id, error=f"{type(exc).__name__}: {exc}"
                    )
            handled += 1
        return handled

    async def handle_now(self, *events: InboundEvent) -> Outcome:
        """Record and handle events in one transaction (for channels that wait on them).

        Events already in the inbox are skipped; if all were, the outcome is a duplicate.
        """
        outcome = Outcome(duplicate=True)
        async with self.sessionmaker.begin() as session:
            for event in events:
                entry_id = await queries.insert_inbox(
                    session, event.channel, event.event_id, None, processed=True
                )
                if entry_id is None:
                    continue
                outcome.duplicate = False
                await self._handle(session, event, outcome)
        return outcome

    # -- the dialogue ----------------------------------------------------------------

    async def _handle(self, session: AsyncSession, event: InboundEvent, outcome: Outcome) -> None:
        pseudonym = self.keyring.pseudonym(event.channel, event.sender)
        participant = await queries.get_or_create_participant(session, event.channel, pseudonym)
        outcome.participant = pseudonym
        if not event.public and event.address is not None and participant.address is None:
            participant.address = self.keyring.seal(event.address)
        turn = _Turn(self, session, event, participant, outcome)

        kind = event.kind
        if kind is EventKind.TEXT and event.text is not None:
            word = _normalise(event.text)
            if word in STOP_WORDS:
                kind = EventKind.STOP
            elif word in HELP_WORDS and not event.public:
                kind = EventKind.HELP

        if kind in (EventKind.STOP, EventKind.BLOCKED):
            await turn.opt_out(confirm=kind is EventKind.STOP)
            return
        if kind is EventKind.HELP:
            turn.say(HELP_TEXT)
            return
        if kind is EventKind.ERASE:
            await turn.erase()
            return
        if kind is EventKind.START:
            participant.opted_out_at = None
        elif participant.opted_out_at is not None:
            return  # opted out: nothing stored, nothing said
        await turn.run(kind)


HELP_TEXT = (
    "This is a consultation run by a health service to improve its care. "
    "Answer the questions in your own words or with the buttons. "
    "Send STOP at any time to leave; send /delete to have your answers erased. "
    "We can't give medical advice here: for that, please contact your health service, "
    "or emergency services if it is urgent."
)


class _Turn:
    """Handling of one event for one participant, inside the caller's transaction."""

    def __init__(
        self,
        runtime: Runtime,
        session: AsyncSession,
        event: InboundEvent,
        participant: Participant,
        outcome: Outcome,
    ) -> None:
        self.runtime = runtime
        self.session = session
        self.event = event
        self.participant = participant
        self.outcome = outcome
        self.consultation_id: str | None = None
        self._sequence = 0

    # -- replies -------------------------------------------------------------

    def say(self, text: str, **fields: Any) -> None:
        self.reply(OutboundMessage(text=text, consultation_id=self.consultation_id, **fields))

    def reply(self, message: OutboundMessage) -> None:
        """Answer the event: inline for the web page, else through the outbox."""
        event = self.event
        if event.public and message.reply_to is None and event.platform_ref is not None:
            message = replace(message, reply_to=event.platform_ref)
        self.outcome.messages.append(message)
        if event.channel in self.runtime.inline_channels or event.address is None:
            return
        self._sequence += 1
        self.session.add(
            OutboxEntry(
                channel=event.channel,
                idempotency_key=f"{event.channel}:{event.event_id}:{self._sequence}",
                participant_id=self.participant.id,
                consultation_id=message.consultation_id,
                address=self.runtime.keyring.seal(event.address),
                payload=message.to_json(),
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
        )

    # -- leaving ---------------------------------------------------------------

    async def opt_out(self, *, confirm: bool) -> None:
        await self.session.flush()
        already = await queries.opt_out(self.session, self.participant.id)
        await self.session.refresh(self.participant)
        if confirm and not (already and self.event.public):
            self.say(
                "You have left this consultation and we won't ask you anything more. "
                "Answers you gave before are kept; send /delete if you want them erased."
            )

    async def erase(self) -> None:
        await queries.erase_participant(self.session, self.participant.id)
        self.outcome.participant = None
        message = OutboundMessage(
            text="Everything we held about you in this consultation has been erased."
        )
        self.outcome.messages.append(message)
        if self.event.channel not in self.runtime.inline_channels and self.event.address:
            self.session.add(
                OutboxEntry(
                    channel=self.event.channel,
                    idempotency_key=f"{self.event.channel}:{self.event.event_id}:erased",
                    participant_id=None,
                    address=self.runtime.keyring.seal(self.event.address),
                    payload=message.to_json(),
                    status="pending",
                    attempts=0,
                    next_attempt_at=utcnow(),
                    created_at=utcnow(),
                )
            )

    # -- the main path -------------------------------------------------------

    async def run(self, kind: EventKind) -> None:
        event = self.event
        session = self.session
        consultation_id = event.consultation_id
        target: str | None = event.item_id
        in_reply_to: str | None = None

        if event.in_reply_to is not None:
            resolved = await self._resolve_reply(event.in_reply_to)
            if resolved is not None:
                consultation_id = consultation_id or resolved[0]
                target = target or resolved[1]
                in_reply_to = resolved[2]
        if consultation_id is None and not event.public:
            consultation_id = self.participant.current_consultation_id
        if consultation_id is None:
            if not event.public:
                await self.offer_open_consultations()
            return

        row = await session.get(Consultation, consultation_id)
        if row is None:
            if not event.public:
                self.say(f"There is no consultation called “{consultation_id}”.")
                await self.offer_open_consultations()
            return
        spec = service.spec_of(row)
        self.consultation_id = row.id
        now = datetime.now(UTC)
        if not service.accepting(row, spec, now):
            self.say(_not_accepting_text(row, spec, now))
            return
        if event.channel not in spec.channels and event.channel != "import":
            self.say(f"“{spec.title}” is not taking answers on {event.channel}.")
            return
        if not event.public:
            self.participant.current_consultation_id = row.id
        dialogue = await queries.get_dialogue(session, self.participant.id, row.id)

        if dialogue.state == "held":
            await self._held(spec, dialogue)
            return

        consents = await queries.consents(session, self.participant.id, row.id)
        given = consents.get("consultation")
        has_consent = given is not None and given.given and given.withdrawn_at is None
        if not has_consent:
            if event.public:
                # Replying to or voting on a post that carries the consent text counts as
                # consent to that text for this consultation (CONTRACT.md).
                method = (
                    "public-vote"
                    if kind in (EventKind.ANSWER, EventKind.RETRACT)
                    else "public-reply"
                )
                await queries.set_consent(
                    session, self.participant.id, row.id, "consultation", True, method
                )
            else:
                await self._consent_step(kind, target, spec, dialogue)
                return

        if kind is EventKind.START:
            dialogue.state = "active" if dialogue.state != "finished" else dialogue.state
            await self.ask_next(spec, dialogue, welcome_back=True)
            return

        if target is None and not event.public:
            target = dialogue.pending
        if target is None:
            if not event.public and kind is EventKind.TEXT:
                self.say("Thank you. You have answered every question in this consultation.")
            return

        answered = await self._answer(kind, target, spec, dialogue, in_reply_to)
        if answered and not event.public and dialogue.state != "held":
            await self.ask_next(spec, dialogue)

    async def _resolve_reply(self, platform_ref: str) -> tuple[str, str | None, str] | None:
        """Tie a reply to the post it answers: a consultation item, or another reply.

        ``response:ID`` names a stored reply directly (the web page does this).
        """
        if platform_ref.startswith("response:") and platform_ref[9:].isdigit():
            parent = await self.session.get(Response, int(platform_ref[9:]))
            if parent is None:
                return None
            return parent.consultation_id, parent.item_id, platform_ref
        publication = await queries.publication_by_ref(
            self.session, self.event.channel, platform_ref
        )
        if publication is not None:
            if publication.item_id is None:
                return publication.consultation_id, None, "intro"
            return publication.consultation_id, publication.item_id, f"item:{publication.item_id}"
        parent = await queries.response_by_ref(self.session, self.event.channel, platform_ref)
        if parent is not None:
            return parent.consultation_id, parent.item_id, f"response:{parent.id}"
        return None

    async def offer_open_consultations(self) -> None:
        rows = await queries.open_consultations(self.session, datetime.now(UTC))
        usable = [r for r in rows if self.event.channel in service.spec_of(r).channels]
        if not usable:
            self.say("There are no consultations open right now. Thank you for your interest.")
            return
        self.say(
            "Which consultation would you like to take part in?",
            question=CHOOSE,
            question_type="choose",
            options=tuple(r.id for r in usable),
            kind="question",
        )

    async def _consent_step(
        self, kind: EventKind, target: str | None, spec: ConsultationSpec, dialogue: Dialogue
    ) -> None:
        answer: bool | None = None
        if kind is EventKind.ANSWER and target == CONSENT:
            answer = _yes_no(self.event.choices[0] if self.event.choices else "", CONSENT_OPTIONS)
        elif kind is EventKind.TEXT and dialogue.pending == CONSENT and self.event.text:
            answer = _yes_no(self.event.text, CONSENT_OPTIONS)
        if answer is None:
            prefix = None
            if kind is not EventKind.START and dialogue.pending == CONSENT:
                prefix = "Before any questions, we need your answer to this, please."
            self.ask(dialogue, consent_question(spec), prefix=prefix)
            return
        await queries.set_consent(
            self.session, self.participant.id, spec.id, "consultation", answer, "explicit"
        )
        if not answer:
            dialogue.state = "stopped"
            dialogue.pending = None
            self.say("No problem. We won't ask you anything. Thank you for your time.")
            return
        dialogue.state = "active"
        await self.ask_next(spec, dialogue)

    async def _held(self, spec: ConsultationSpec, dialogue: Dialogue) -> None:
        """After a safety disclosure the bot asks nothing more; a person follows up."""
        if self.event.text and screening.is_crisis(self.event.text):
            self.say(screening.safety_message(spec.safety, spec.organisation), kind="safety")

    async def _answer(
        self,
        kind: EventKind,
        target: str,
        spec: ConsultationSpec,
        dialogue: Dialogue,
        in_reply_to: str | None,
    ) -> bool:
        """Store an answer to ``target``; ``False`` when it could not be understood."""
        session = self.session
        event = self.event
        if target == RECONTACT:
            raw = event.choices[0] if event.choices else (event.text or "")
            answer = _yes_no(raw, RECONTACT_OPTIONS)
            if answer is None:
                self.ask(dialogue, recontact_question(spec), prefix="Please choose one answer.")
                return False
            await queries.set_consent(
                session, self.participant.id, spec.id, "recontact", answer, "explicit"
            )
            return True
        if target in (CONSENT, CHOOSE):
            return True

        segment = next((s for s in spec.segments if s.id == target), None)
        if segment is not None and kind is EventKind.SKIP:
            await queries.delete_answers(session, self.participant.id, spec.id, segment.id)
            dialogue.segments = {**dialogue.segments, segment.id: None}
            return True
        if segment is not None:
            choice = _choices(event, segment.options, multiple=False)
            if not choice:
                self.ask(
                    dialogue,
                    segment_question(segment.id, segment.text, segment.options),
                    prefix="Please choose one of the options.",
                )
                return False
            await queries.delete_answers(session, self.participant.id, spec.id, segment.id)
            self._store(spec.id, segment.id, "segment", choices=list(choice))
            dialogue.segments = {**dialogue.segments, segment.id: choice[0]}
            return True

        try:
            item = spec.item(target)
        except KeyError:
            self.say("Sorry, that question is not part of this consultation.")
            return False

        if item.type == "poll":
            if kind is EventKind.RETRACT:
                await queries.delete_answers(session, self.participant.id, spec.id, item.id)
                return False
            choice = _choices(event, item.options, multiple=item.multiple)
            if not choice:
                if event.public:
                    # A public reply to a poll post is a comment on it: keep it as text.
                    return await self._store_text(spec, item, dialogue, in_reply_to)
                self.ask(dialogue, item_question(item), prefix="Please choose from the options.")
                return False
            await queries.delete_answers(session, self.participant.id, spec.id, item.id)
            self._store(spec.id, item.id, "poll", choices=list(choice))
            return True
        return await self._store_text(spec, item, dialogue, in_reply_to)

    async def _store_text(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue, in_reply_to: str | None
    ) -> bool:
        text = (self.event.text or "").strip()
        if not text:
            self.ask(dialogue, item_question(item), prefix="We didn't get any words there.")
            return False
        screened = screening.screen(text)
        if item.type == "thread" and in_reply_to is None:
            in_reply_to = f"item:{item.id}"
        response = self._store(
            spec.id,
            item.id,
            item.type if item.type != "poll" else "prompt",
            text=screened.text,
            flags=list(screened.flags),
            in_reply_to=in_reply_to if item.type == "thread" else None,
        )
        if screened.crisis:
            await self.session.flush()
            self.session.add(
                ModerationCase(
                    response_id=response.id,
                    consultation_id=spec.id,
                    reason=screening.SAFETY,
                    status="open",
                    created_at=utcnow(),
                )
            )
            dialogue.state = "held"
            dialogue.pending = None
            self.say(screening.safety_message(spec.safety, spec.organisation), kind="safety")
        return True

    def _store(
        self,
        consultation_id: str,
        item_id: str,
        item_type: str,
        *,
        choices: list[str] | None = None,
        text: str | None = None,
        flags: list[str] | None = None,
        in_reply_to: str | None = None,
    ) -> Response:
        sentiment, analysis = (None, None)
        if text is not None:
            sentiment, analysis = self.runtime.analyse(text)
        response = Response(
            consultation_id=consultation_id,
            item_id=item_id,
            item_type=item_type,
            participant_id=self.participant.id,
            channel=self.event.channel,
            choices=choices or [],
            text=text,
            in_reply_to=in_reply_to,
            platform_ref=self.event.platform_ref,
            flags=flags or [],
            sentiment=sentiment,
            analysis=analysis,
            created_at=self.event.received_at,
        )
        self.session.add(response)
        self.outcome.stored.append(response)
        return response

    # -- asking ------------------------------------------------------------------

    def ask(self, dialogue: Dialogue, question: OutboundMessage, prefix: str | None = None) -> None:
        dialogue.pending = question.question
        if prefix:
            question = replace(question, text=f"{prefix}\n\n{question.text}")
        self.reply(question)

    async def ask_next(
        self, spec: ConsultationSpec, dialogue: Dialogue, *, welcome_back: bool = False
    ) -> None:
        """Ask the first question this person has not answered, or thank them."""
        await self.session.flush()
        consents = await queries.consents(self.session, self.participant.id, spec.id)
        answered = await queries.answered_items(self.session, self.participant.id, spec.id)
        answered |= set(dialogue.segments)  # segment questions skipped are answered too
        question = next_question(
            spec,
            consents.keys(),
            answered,
            ask_recontact=self.event.channel not in self.runtime.inline_channels,
        )
        if question is None:
            if dialogue.state != "finished" or welcome_back:
                dialogue.state = "finished"
                dialogue.pending = None
                self.say(spec.closing_message or "Thank you for taking part.")
            return
        self.ask(dialogue, question)


def consent_question(spec: ConsultationSpec) -> OutboundMessage:
    return OutboundMessage(
        text=(
            f"{spec.title}\n{spec.organisation}\n\n{spec.consent.text}\n\n"
            "Do you agree to take part?"
        ),
        consultation_id=spec.id,
        question=CONSENT,
        question_type="consent",
        options=CONSENT_OPTIONS,
        kind="question",
    )


def recontact_question(spec: ConsultationSpec) -> OutboundMessage:
    return OutboundMessage(
        text=(
            "May we contact you again about this work, for example to tell you what "
            "changed or to invite you to help design it?"
        ),
        consultation_id=spec.id,
        question=RECONTACT,
        question_type="consent",
        options=RECONTACT_OPTIONS,
        kind="question",
    )


def segment_question(segment_id: str, text: str, options: Sequence[str]) -> OutboundMessage:
    return OutboundMessage(
        text=text,
        question=segment_id,
        question_type="segment",
        options=tuple(options),
        kind="question",
    )


def item_question(item: Item) -> OutboundMessage:
    return OutboundMessage(
        text=item.text,
        question=item.id,
        question_type=item.type,
        options=item.options,
        multiple=item.multiple,
        kind="question",
    )


def next_question(
    spec: ConsultationSpec,
    consent_purposes: Any,
    answered: set[str],
    *,
    ask_recontact: bool = True,
) -> OutboundMessage | None:
    """The first question not yet answered, in the order people meet them.

    Permission to re-contact is asked only where the channel lets us reach people again
    (not on the anonymous web page).
    """
    purposes = set(consent_purposes)
    question: OutboundMessage | None = None
    if ask_recontact and spec.consent.recontact and "recontact" not in purposes:
        question = recontact_question(spec)
    else:
        for segment in spec.segments:
            if segment.id not in answered:
                question = segment_question(segment.id, segment.text, segment.options)
                break
        else:
            for item in spec.items:
                if item.id not in answered:
                    question = item_question(item)
                    break
    if question is None:
        return None
    return replace(question, consultation_id=spec.id)


def _yes_no(raw: str, options: Sequence[str]) -> bool | None:
    word = _normalise(raw)
    if raw == options[0] or word in YES_WORDS or word == "1":
        return True
    if raw == options[1] or word in NO_WORDS or word == "2":
        return False
    return None


def _choices(event: InboundEvent, options: Sequence[str], *, multiple: bool) -> tuple[str, ...]:
    """The options chosen, from labels or (in text channels) numbers or labels typed."""
    chosen: list[str] = []
    if event.choices:
        raw_values = list(event.choices)
    elif event.text:
        raw_values = [part for part in re.split(r"[,;]|\band\b", event.text) if part.strip()]
        if not multiple:
            raw_values = [event.text]
    else:
        return ()
    lowered = {option.strip().lower(): option for option in options}
    for raw in raw_values:
        value = raw.strip()
        if value in options:
            label = value
        elif value.isdigit() and 1 <= int(value) <= len(options):
            label = options[int(value) - 1]
        elif value.lower() in lowered:
            label = lowered[value.lower()]
        else:
            return ()
        if label not in chosen:
            chosen.append(label)
    if not chosen or (not multiple and len(chosen) > 1):
        return ()
    return tuple(chosen)


def _not_accepting_text(row: Consultation, spec: ConsultationSpec, now: datetime) -> str:
    if row.state == "open" and spec.opens_at is not None and now < spec.opens_at:
        return f"“{spec.title}” opens on {spec.opens_at:%d %B %Y}. Please come back then."
    return (
        f"“{spec.title}” is closed and no longer taking answers. "
        "Thank you for your interest; we will share what we learned."
    )
