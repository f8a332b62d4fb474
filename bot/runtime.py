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
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from bot.preparation import Preparation, Prepared
from channels.events import EventKind, InboundEvent, OutboundMessage
from consultations import moderation, rounds, screening, service, timed_chat
from consultations import statements as voting
from consultations.dialogue import (
    CHOOSE,
    CONSENT,
    ERASE,
    RECONTACT,
    RESUME,
    Question,
    consent_question,
    item_question,
    next_question,
    normalise,
    not_accepting_text,
    options,
    recontact_question,
    says_stop,
    segment_question,
    yes_no,
)
from consultations.dialogue import choices as choices_of
from consultations.keys import Keyring
from consultations.spec import ConsultationSpec, Item
from consultations.texts import ENGLISH, Texts, available_languages, texts_for
from storage import over_time, queries
from storage import statements as statement_store
from storage.db import checkpoint
from storage.lists import one_of
from storage.tables import (
    Consent,
    Consultation,
    Dialogue,
    ModerationCase,
    OutboxEntry,
    Participant,
    Response,
    Statement,
    utcnow,
)

log = logging.getLogger(__name__)

#: A bot command alone ("/delete", "/help"), as a keyword is compared (dialogue.normalise).
_COMMAND = re.compile(r"/\w+")


def _keyword_language(word: str, key: str) -> Texts | None:
    """The texts of the first shipped language other than English in whose ``key`` list
    (``stop_words``, ``help_words``) ``word`` is: for words said where no consultation
    gives the language ("@bot stopio" in a group), so they are understood and answered
    in the language they were said in."""
    for language in available_languages():
        texts = texts_for(language)
        if language != "en" and word in texts.words(key):
            return texts
    return None


#: Messages one person may send in a minute on a chat channel (every channel whose events
#: come through the inbox: Telegram, Mastodon) before the rest of that minute's are not
#: taken. A person answering as fast as they can read and tap sends far fewer. Off unless
#: the operator sets it: a backlog after an outage is counted in the minute it is handled,
#: and a limit would hold back a person's replies the platform delivers late all at once.
CHAT_MESSAGES_PER_MINUTE = 0
CHAT_WINDOW = timedelta(minutes=1)
# What is never refused for coming too fast: leaving (STOP, blocking the bot) and
# erasure are always obeyed; a deleted post names no person; a listened post is not
# written to us.
_NEVER_LIMITED = frozenset(
    {EventKind.STOP, EventKind.BLOCKED, EventKind.ERASE, EventKind.DELETED, EventKind.LISTEN}
)
# The chat limit's rows in rate_window start so (the web page's have their own kinds).
_CHAT_WINDOW_KEY = "chat:"
# Each process deletes finished windows at most this often (one indexed DELETE).
_FORGET_WINDOWS_EVERY = 300.0

# Queued messages, as Core: many rows to one statement, compiled once.
_OUTBOX_INSERT = insert(cast(Table, OutboxEntry.__table__))

TextAnalyser = Callable[[str], tuple[float | None, dict[str, Any] | None]]


PUBLIC_CONSENT = frozenset({"public-reply", "public-vote"})
"""How consent is recorded when given by replying or voting in public."""


def no_analysis(text: str) -> tuple[float | None, dict[str, Any] | None]:
    """The analyser used when insights are not wired in: nothing precomputed."""
    return None, None


Admit = Callable[[AsyncSession, Sequence[str | None]], Awaitable[Sequence[bool]]]
"""Decides, inside a group commit's transaction, which requests may be handled: given each
request's ticket (a form nonce), whether it is admitted. Deciding in the same transaction
makes the ticket used if and only if the request's events commit."""


@dataclass
class StoredAnswer:
    """An answer stored by the plain path (what :attr:`Outcome.stored` lists)."""

    consultation_id: str
    item_id: str
    item_type: str
    text: str | None
    choices: list[str]


@dataclass
class Outcome:
    """What handling one event did."""

    duplicate: bool = False
    refused: bool = False  # its ticket was not admitted: nothing was handled or stored
    # A ticketed request to a consultation that is closed: refused, its ticket left unused.
    gone: bool = False
    participant: str | None = None
    stored: list[Response | StoredAnswer] = field(default_factory=list)
    messages: list[OutboundMessage] = field(default_factory=list)
    #: The safety reply of a disclosure in it that held the person's dialogue (nothing
    #: more is asked); None if none did (a check-in lets the person carry on).
    held_by: OutboundMessage | None = None
    #: The person left (STOP) while it was handled.
    left: bool = False
    #: The person's data was erased at their request while it was handled.
    erased: bool = False
    #: A statement refused as a near-repeat: the one it repeats, offered next for a vote.
    prefer_statement: int | None = None
    #: The text key saying why a vote was not counted (a statement not open for votes,
    #: or the person's own), if one was not.
    vote_refused: str | None = None
    #: Polls asked in rounds whose answer was not stored, with the round open then: the
    #: person is not part of that round, or voted on an earlier round's poll.
    round_refused: dict[str, int] = field(default_factory=dict)


#: Takes the common web answers of a group commit with plain rows; returns the indexes of
#: the groups it handled (:func:`bot.plain_batch.handle`).
PlainBatch = Callable[
    ["Runtime", AsyncSession, Sequence[Sequence[InboundEvent]], Sequence[Outcome], dict[str, Any]],
    Awaitable[set[int]],
]


class Runtime:
    """Receives events from every channel and turns them into stored responses and replies.

    Args:
        sessionmaker: the store's session factory.
        keyring: pseudonymises senders and seals reply addresses.
        inline_channels: channels that show replies themselves in answer to the request
            (the web page) rather than having them sent through the outbox.
        totals_only_channels: channels whose native polls report only totals, not who
            voted (``Capabilities.per_person_polls`` false): their native polls are not
            asked again in private conversations there.
        analyse: per-response text analysis done once at intake (sentiment, features).
        chat_messages_per_minute: messages one person may send a minute on the channels
            that go through the inbox; beyond it the rest of the minute's are not stored
            or answered (STOP, erasure and the safety screen excepted), and the person is
            told once. 0 turns the limit off.
        clock: the time the limit's windows are counted in.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        *,
        inline_channels: frozenset[str] = frozenset(),
        totals_only_channels: frozenset[str] = frozenset(),
        analyse: TextAnalyser = no_analysis,
        plain_batch: PlainBatch | None = None,
        chat_messages_per_minute: int = CHAT_MESSAGES_PER_MINUTE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.chat_messages_per_minute = chat_messages_per_minute
        self.clock = clock
        self._windows_forgotten_at: float | None = None
        self.keyring = keyring
        self.inline_channels = inline_channels
        self.totals_only_channels = totals_only_channels
        self.analyse = analyse
        #: What takes the common web answer of a group commit with plain rows
        #: (:func:`bot.plain_batch.handle`, given by :func:`bot.platform.create_platform`);
        #: None: every event goes through the ORM objects.
        self.plain_batch = plain_batch
        # Texts screened and analysed ahead of their batch (see prepare): screened by the
        # consultation's hints and the text, analysed by the text as stored.
        self._screened: _Ahead[tuple[screening.Hints, str], screening.Screened] = _Ahead()
        self._analysed: _Ahead[str, tuple[float | None, dict[str, Any] | None]] = _Ahead()
        # Counts the times what was kept prepared was dropped (forget_prepared): texts sent
        # to be prepared before the last time are not kept when they come back.
        self._forgotten = 0
        #: Where :meth:`prepare_ahead` sends texts (worker processes); None: done here.
        self.preparation: Preparation | None = None
        #: The hints of the consultation a text was last screened for: those the inbox
        #: prepares arriving texts with (nearly every text of a deployment is for it).
        self.recent_hints: screening.Hints = screening.NO_HINTS

    def prepare(self, texts: Iterable[str], hints: screening.Hints = screening.NO_HINTS) -> None:
        """Screen and analyse free texts before the batch that will store them.

        The work is the same as the batch would do (the same functions on the same
        text), done by the request's own task while the batch before it is in the
        database; the batch then takes the results instead of doing it inside its
        transaction. A text not prepared, not kept, or whose preparation failed is
        screened in the batch as ever. ``hints`` are those of the texts' consultation
        (:func:`consultations.screening.hints_for`), as the batch screens them.
        """
        wanted, repeated = self._unprepared(texts, hints)
        for text in wanted:
            try:
                screened = screening.screen(text, hints)
                analysed = self.analyse(screened.text)
            except Exception:
                # Left to the batch, which fails the request as it would have anyway.
                continue
            self._keep(text, hints, (screened, analysed))
        self._again(repeated, hints)

    async def prepare_ahead(
        self,
        texts: Iterable[str],
        hints: screening.Hints = screening.NO_HINTS,
        *,
        behind: bool = False,
    ) -> None:
        """:meth:`prepare`, in the worker processes of :attr:`preparation` if it has any.

        Returns once every text is prepared (or left to the batch), so a request that
        waits for this and then for its batch still has its disclosure answered.
        ``behind``: nobody waits for these texts (the inbox's): they go to the processes
        after any request's, and what the processes do not prepare is left to the batch
        instead of being prepared here.
        """
        wanted, repeated = self._unprepared(texts, hints)
        if not wanted:
            return
        preparation = self.preparation
        forgotten = self._forgotten
        done = (
            await preparation.run(wanted, hints, behind=behind) if preparation is not None else None
        )
        if self._forgotten != forgotten:
            # Someone was erased meanwhile: these may be their words. The batch screens
            # whatever is still to be stored.
            return
        if done is None:
            if not behind:
                self.prepare([*wanted, *repeated], hints)
            return
        for text, prepared in zip(wanted, done, strict=True):
            if prepared is not None:
                self._keep(text, hints, prepared)
        self._again(repeated, hints)

    def forget_prepared(self) -> None:
        """Drop every text kept prepared ahead, and what is still being prepared.

        After an erasure the person's words must not stay in this process's memory: a
        text prepared but never taken by a batch (a message forgotten with them, one
        prepared with another consultation's hints) was kept until 2,000 newer ones
        pushed it out. Texts are kept by their words, not by who wrote them, so all go;
        the batches screen other people's texts themselves, as they do any text not
        prepared.
        """
        self._forgotten += 1
        self._screened.clear()
        self._analysed.clear()
        if self.preparation is not None:
            self.preparation.drop_behind()

    def kept_texts(self) -> set[str]:
        """The texts kept prepared ahead: as written (screened) and as stored (analysed)."""
        return {text for _, text in self._screened.kept()} | set(self._analysed.kept())

    def _unprepared(
        self, texts: Iterable[str], hints: screening.Hints
    ) -> tuple[list[str], list[str]]:
        """The stripped texts to prepare, and repeats of them among ``texts``.

        A text prepared already is kept for one use more instead.
        """
        wanted: list[str] = []
        repeated: list[str] = []
        for raw in texts:
            text = raw.strip()
            if not text:
                continue
            if text in wanted:
                repeated.append(text)
            elif not self._again([text], hints):
                wanted.append(text)
        return wanted, repeated

    def _again(self, texts: Iterable[str], hints: screening.Hints) -> bool:
        """Keep what was prepared for each text for one use more; whether all were."""
        every = True
        for text in texts:
            screened = self._screened.again((hints, text))
            if screened is None:
                every = False
            else:
                # The same words in another request: prepared once, taken by each.
                self._analysed.again(screened.text)
        return every

    def _keep(self, text: str, hints: screening.Hints, prepared: Prepared) -> None:
        screened, analysed = prepared
        self._screened.keep((hints, text), screened)
        self._analysed.keep(screened.text, analysed)

    def peek_screened(self, text: str, hints: screening.Hints) -> screening.Screened | None:
        """The screening prepared ahead for ``text``, left in place; None if there is none."""
        return self._screened.peek((hints, text))

    def screen(self, text: str, hints: screening.Hints) -> screening.Screened:
        """:func:`consultations.screening.screen` of ``text`` with its consultation's
        ``hints``, prepared ahead if it was."""
        self.recent_hints = hints
        found = self._screened.take((hints, text.strip()))
        return found if found is not None else screening.screen(text, hints)

    def analysis(self, text: str) -> tuple[float | None, dict[str, Any] | None]:
        """The intake analysis of a stored text, prepared ahead if it was."""
        found = self._analysed.take(text)
        return found if found is not None else self.analyse(text)

    def reference(self, event: InboundEvent) -> str:
        """The event's id as kept at rest: a keyed hash."""
        return self.keyring.reference(event.channel, event.event_id)

    async def handle_batch(
        self, session: AsyncSession, events: Sequence[InboundEvent]
    ) -> list[Outcome]:
        """Handle events taken from the inbox, inside the caller's transaction; once it
        has committed, the caller passes the outcomes to :meth:`after_commit`."""
        state = await _State.load(session, self, events)
        beyond = await self._beyond_the_limit(session, events)
        outcomes = [Outcome() for _ in events]
        for position, (event, outcome) in enumerate(zip(events, outcomes, strict=True)):
            await self._handle(session, event, outcome, state, beyond=beyond.get(position))
        await state.update_progress(session)
        await state.finish(session)
        return outcomes

    async def _beyond_the_limit(
        self, session: AsyncSession, events: Sequence[InboundEvent]
    ) -> dict[int, bool]:
        """The events that come beyond their sender's messages a minute, by position:
        True for the first beyond it in the minute (the person is told), False after.

        Counted in ``rate_window`` (one statement for the batch, in its transaction, so
        a batch that fails counts nothing), under a keyed hash of the sender that is
        neither their pseudonym nor the inbox's: the rows name no one, and go within
        the hour.
        """
        limit = self.chat_messages_per_minute
        if limit <= 0:
            return {}
        keys: list[str | None] = [
            None
            if event.kind in _NEVER_LIMITED or event.channel in self.inline_channels
            else _CHAT_WINDOW_KEY + self.keyring.reference(event.channel, f"rate:{event.sender}")
            for event in events
        ]
        counts = Counter(key for key in keys if key is not None)
        if not counts:
            return {}
        now = self.clock()
        totals = await queries.count_in_windows(session, counts, now, CHAT_WINDOW)
        tick = time.monotonic()
        if (
            self._windows_forgotten_at is None
            or tick - self._windows_forgotten_at >= _FORGET_WINDOWS_EVERY
        ):
            self._windows_forgotten_at = tick
            await queries.forget_windows(session, _CHAT_WINDOW_KEY, now - 60 * CHAT_WINDOW)
        seen: Counter[str] = Counter()
        beyond: dict[int, bool] = {}
        for position, key in enumerate(keys):
            if key is None:
                continue
            seen[key] += 1
            number = totals[key] - counts[key] + seen[key]
            if number > limit:
                beyond[position] = number == limit + 1
        return beyond

    async def after_commit(self, outcomes: Iterable[Outcome | Exception]) -> None:
        """What follows the commit of handled events: after an erasure, SQLite's
        write-ahead log is folded in, as ``engage participant erase`` does, so the erased
        words leave no copy in the log (:func:`storage.db.checkpoint`). The erasure has
        committed by then: a checkpoint that fails is logged, not the request's failure
        (SQLite's next checkpoint folds the log in)."""
        if not any(isinstance(outcome, Outcome) and outcome.erased for outcome in outcomes):
            return
        try:
            await checkpoint(self.sessionmaker.kw["bind"])
        except Exception as exc:
            log.warning("the write-ahead log was not folded in after an erasure (%s)", exc)

    async def handle_now(self, *events: InboundEvent) -> Outcome:
        """Record and handle events in one transaction (for channels that wait on them).

        Events already in the inbox are skipped; if all were, the outcome is a duplicate.
        """
        result = (await self.handle_groups([events]))[0]
        if isinstance(result, Exception):
            raise result
        return result

    async def handle_groups(
        self,
        groups: Sequence[Sequence[InboundEvent]],
        *,
        tickets: Sequence[str | None] | None = None,
        admit: Admit | None = None,
    ) -> list[Outcome | Exception]:
        """Record and handle several requests' events in one transaction (group commit).

        Returns one :class:`Outcome` per group, or the exception that group's handling
        raised. If the shared transaction fails, each group is handled again in a
        transaction of its own, so one bad request fails alone and the others commit.
        With ``admit``, each group's ticket is checked first in the same transaction; a
        group not admitted is ``refused`` and nothing of it is stored. A ticketed group
        whose events name a closed consultation is ``gone`` (and refused) without its
        ticket being claimed: the check is the transaction's own, so a request is never
        taken by a consultation closed before it commits. Erasure is not refused so: it
        stores nothing, and a person may always delete what they gave.
        """
        given = list(tickets) if tickets is not None else [None] * len(groups)
        results: list[Outcome | Exception]
        try:
            results = list(await self._handle_groups(groups, given, admit))
        except Exception as exc:
            if len(groups) == 1:
                return [exc]
            log.warning("a batch of %d requests failed; handling them one by one", len(groups))
            results = []
            for group, ticket in zip(groups, given, strict=True):
                try:
                    results.append((await self._handle_groups([group], [ticket], admit))[0])
                except Exception as exc:
                    results.append(exc)
        await self.after_commit(results)
        return results

    async def _handle_groups(
        self,
        groups: Sequence[Sequence[InboundEvent]],
        tickets: Sequence[str | None],
        admit: Admit | None,
    ) -> list[Outcome]:
        outcomes = [Outcome(duplicate=True) for _ in groups]
        async with self.sessionmaker.begin() as session:
            named: dict[str, Consultation] = {}
            if admit is not None:
                # The consultations the requests name, read once: whether any has closed
                # decides here, and the batch's handling takes them from this reading.
                named = await _consultations(
                    session, {e.consultation_id for g in groups for e in g if e.consultation_id}
                )
                closed = {cid for cid, row in named.items() if row.state == service.CLOSED}
                if closed:
                    # Erasure stores nothing: a person may ask for it after the close.
                    for outcome, group in zip(outcomes, groups, strict=True):
                        outcome.gone = any(
                            e.consultation_id in closed and e.kind is not EventKind.ERASE
                            for e in group
                        )
                    tickets = [
                        None if o.gone else t for o, t in zip(outcomes, tickets, strict=True)
                    ]
                admitted = await admit(session, tickets)
                for outcome, ok in zip(outcomes, admitted, strict=True):
                    outcome.refused = not ok
                groups = [g if ok else () for g, ok in zip(groups, admitted, strict=True)]
            references = [[self.reference(e) for e in group] for group in groups]
            new = await queries.insert_inbox_many(
                session,
                [
                    {"channel": e.channel, "event_id": ref}
                    for group, refs in zip(groups, references, strict=True)
                    for e, ref in zip(group, refs, strict=True)
                ],
                processed=True,
            )
            # An event repeated within the batch (a double submit) is handled by the first
            # request that carries it; the others see it as a repeat.
            taken: set[tuple[str, str]] = set()
            fresh: list[list[InboundEvent]] = []
            for group, refs in zip(groups, references, strict=True):
                mine = []
                for event, ref in zip(group, refs, strict=True):
                    key = (event.channel, ref)
                    if key in new and key not in taken:
                        taken.add(key)
                        mine.append(event)
                fresh.append(mine)
            if self.plain_batch is not None:
                plain = await self.plain_batch(self, session, fresh, outcomes, named)
                fresh = [[] if i in plain else g for i, g in enumerate(fresh)]
            state = await _State.load(session, self, [e for group in fresh for e in group], named)
            for events, outcome in zip(fresh, outcomes, strict=True):
                for event in events:
                    outcome.duplicate = False
                    await self._handle(session, event, outcome, state)
            await state.update_progress(session)
            await state.finish(session)
        return outcomes

    # -- the dialogue ----------------------------------------------------------------

    async def _withdraw_post(
        self, session: AsyncSession, event: InboundEvent, state: _State
    ) -> None:
        """A post its author deleted on the platform: what was stored from it goes too
        (from public pages, reports and exports), as the person took it back where they
        wrote it. A safety case about it keeps its words (a moderator must still see
        them); deleted with the batch's replaced answers (:meth:`_State.finish`)."""
        if event.platform_ref is None:
            return
        ref = self.keyring.reference(event.channel, event.platform_ref)
        found = list(
            await session.scalars(
                select(Response.id).where(
                    Response.channel == event.channel, Response.platform_ref == ref
                )
            )
        )
        if found:
            state.replaced.update(found)
            log.info(
                "%s: a post was deleted by its author; %d answer(s) withdrawn",
                event.channel,
                len(found),
            )

    async def _handle(
        self,
        session: AsyncSession,
        event: InboundEvent,
        outcome: Outcome,
        state: _State,
        *,
        beyond: bool | None = None,
    ) -> None:
        """Handle one event. ``beyond`` says it came beyond its sender's messages a minute
        (True: the first so, of which the person is told), None that it did not."""
        if event.kind is EventKind.DELETED:
            await self._withdraw_post(session, event, state)
            return
        pseudonym = state.pseudonyms.get((event.channel, event.sender))
        if pseudonym is None:
            pseudonym = self.keyring.pseudonym(event.channel, event.sender)
        participant = state.participants[(event.channel, pseudonym)]
        state.unhandled[(event.channel, pseudonym)] -= 1
        outcome.participant = pseudonym
        if not event.public and event.address is not None and participant.address is None:
            participant.address = self.keyring.seal(event.address)
        turn = _Turn(self, session, event, participant, outcome, state)
        # Before the event is tied to a consultation, words are those of the one it
        # names or the person's current one: STOP and HELP in its language or English.
        found = (
            state.texts_of(event.consultation_id)
            or await turn.texts_replied_to()
            or state.texts_of(participant.current_consultation_id)
            or await turn.texts_last_taken_part_in()
        )
        texts = turn.texts = found or ENGLISH

        kind = event.kind
        if kind is EventKind.LISTEN:
            # A public post gathered by listening: not a message to us, so no command in
            # it counts (STOP included); someone who left is not gathered.
            if participant.opted_out_at is None:
                await turn.listen()
            return
        if kind is EventKind.TEXT and event.text is not None:
            word = normalise(event.text)
            if found is None:
                # No consultation gives the language: STOP and HELP in any shipped one,
                # answered in it (English ones are English, as before).
                for key in ("stop_words", "help_words"):
                    if word not in texts.words(key) and (said := _keyword_language(word, key)):
                        texts = turn.texts = said
                        break
            if word in texts.words("stop_words"):
                kind = EventKind.STOP
            elif word in texts.words("help_words"):
                kind = EventKind.HELP
            elif event.public and _COMMAND.fullmatch(word):
                # A command ("/delete") said in a group or a public reply is no answer to
                # store; the commands work in a private chat.
                return
            elif event.public and event.addressed and event.in_reply_to is None:
                # Written to the bot in a group but answering none of its posts: only STOP
                # and HELP mean something there. Nothing is stored; a disclosure still
                # gets the helplines at once and goes to a moderator.
                await turn.screen_unattached()
                return
        elif (
            kind is EventKind.ANSWER
            and event.text is not None
            and not event.choices
            and says_stop(event.text, texts)
        ):
            # STOP typed as the whole of a web page's answer or post leaves, as it does in
            # a chat: it is neither stored as an answer nor shown in a thread.
            kind = EventKind.STOP

        if kind in (EventKind.STOP, EventKind.BLOCKED):
            await turn.opt_out(confirm=kind is EventKind.STOP)
            return
        if beyond is not None and kind is not EventKind.ERASE:
            # Sent faster than a person answers: not stored, not answered, nothing asked.
            # A disclosure among the words still gets the safety reply at once and a case
            # for a moderator; someone who left is not written to.
            await turn.screen_unattached()
            if beyond and participant.opted_out_at is None:
                turn.say(texts("chat_too_fast"), private=event.public)
            return
        if kind is EventKind.HELP:
            # Asked in public: answered to the person alone (a direct message; on Telegram
            # their private chat, if they have one with the bot), never stored.
            turn.say(texts("help_reply"), private=event.public)
            return
        if kind is EventKind.ERASE:
            await turn.erase()
            return
        if kind is EventKind.ERASE_REQUEST:
            turn.say(
                texts("erase_ask"),
                question=ERASE,
                question_type="confirm",
                options=options(texts, "erase_yes", "erase_no"),
                kind="question",
            )
            return
        if kind is EventKind.START:
            participant.opted_out_at = None
        elif participant.opted_out_at is not None:
            # Opted out: nothing stored, nothing asked; but a disclosure still gets the
            # helplines at once and goes to a moderator.
            if kind is EventKind.TEXT:
                await turn.screen_unattached()
            return
        if kind is EventKind.EDIT:
            await turn.edit()
            return
        if kind is EventKind.UNREADABLE:
            turn.say(texts("only_words"))  # the question asked stays where it was
            return
        await turn.run(kind)


class _State:
    """What a batch of events needs from the store, loaded with a few queries up front.

    Handling then reads and changes these objects; the unit of work writes the changes
    back at commit, many rows to a statement.
    """

    def __init__(self) -> None:
        self.participants: dict[tuple[str, str], Participant] = {}
        # Those the batch created (forgotten at its end if nothing came to name them).
        self.new_participants: set[int] = set()
        # Pseudonyms worked out by load, by (channel, platform id): a keyed hash each.
        self.pseudonyms: dict[tuple[str, str], str] = {}
        self.consultations: dict[str, Consultation | None] = {}
        self.dialogues: dict[tuple[int, str], Dialogue] = {}
        self.consents: dict[tuple[int, str], dict[str, Consent]] = {}
        self.publications: dict[tuple[str, str], set[tuple[str | None, str]]] = {}
        # Inline channels: whose progress to update once their request is handled.
        self.progress: dict[int, tuple[_Turn, ConsultationSpec, Dialogue]] = {}
        # Dialogues held in this batch, by (participant, consultation), with the outcome
        # of the request whose disclosure held them (see _Turn.held_by_this_request).
        self.held_by: dict[tuple[int, str], Outcome] = {}
        # Events of each sender, by (channel, pseudonym), not yet handled in this batch.
        self.unhandled: Counter[tuple[str, str]] = Counter()
        # Answers to prompts on pages that let a person change them (inline channels),
        # per (participant, consultation, item): stored ids, or this batch's new rows.
        self.prompt_answers: dict[tuple[int, str, str], list[tuple[int | Response, str | None]]]
        self.prompt_answers = {}
        self.replaced: set[int] = set()
        # Messages queued by this batch, in the order they were asked for: written with
        # one statement (write_outbox) instead of an ORM object and a flush each.
        self.outbox: list[dict[str, Any]] = []
        # Each queued safety reply's row in ``outbox``, with the moderation case it answers.
        self.outbox_cases: list[tuple[dict[str, Any], ModerationCase]] = []

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        runtime: Runtime,
        events: Sequence[InboundEvent],
        consultations: dict[str, Consultation] | None = None,
    ) -> _State:
        """Read what ``events`` need (``consultations``: rows this transaction has read)."""
        state = cls()
        state.consultations = dict(consultations or {})
        # A deleted post names no person (Runtime._withdraw_post).
        events = [e for e in events if e.kind is not EventKind.DELETED]
        if not events:
            return state
        pseudonyms = state.pseudonyms
        for e in events:
            if (e.channel, e.sender) not in pseudonyms:
                pseudonyms[(e.channel, e.sender)] = runtime.keyring.pseudonym(e.channel, e.sender)
        senders = [(e.channel, pseudonyms[(e.channel, e.sender)]) for e in events]
        state.unhandled = Counter(senders)
        keys = set(senders)
        state.participants, state.new_participants = await queries.participants_for(session, keys)
        ids = [p.id for p in state.participants.values()]
        wanted = {e.consultation_id for e in events if e.consultation_id} | {
            p.current_consultation_id
            for p in state.participants.values()
            if p.current_consultation_id
        }
        unread = wanted - state.consultations.keys()
        if unread:
            state.consultations.update(await _consultations(session, unread))
        state.dialogues = await queries.dialogues_for(session, ids)
        state.consents = await queries.consents_for(session, ids)
        if any(e.channel in runtime.inline_channels and e.text for e in events):
            loaded = await queries.prompt_answers_of(session, ids, list(wanted))
            state.prompt_answers = {key: list(rows) for key, rows in loaded.items()}
        return state

    def texts_of(self, consultation_id: str | None) -> Texts | None:
        """The words of a consultation already loaded for this batch, if it is."""
        row = self.consultations.get(consultation_id) if consultation_id else None
        return service.spec_of(row).wording() if row is not None else None

    def replace_prompt_answer(
        self, session: AsyncSession, key: tuple[int, str, str], text: str
    ) -> bool:
        """Make way for a new answer to a prompt; ``True`` if it is the same text.

        Earlier answers stored before are deleted at the end of the batch
        (:meth:`finish`); one given earlier in this same batch and not yet written is
        simply dropped from the unit of work.
        """
        earlier = self.prompt_answers.get(key, [])
        if len(earlier) == 1 and earlier[0][1] == text:
            return True
        for row, _ in earlier:
            if isinstance(row, int):
                self.replaced.add(row)
            elif sa_inspect(row).pending:
                session.expunge(row)
            elif row.id is not None:
                self.replaced.add(row.id)
        self.prompt_answers[key] = []
        return False

    def stored_prompt_answer(self, key: tuple[int, str, str], response: Response) -> None:
        self.prompt_answers[key] = [(response, response.text)]

    async def finish(self, session: AsyncSession) -> None:
        """Write what the batch decided in bulk: its messages, and delete the answers
        replaced."""
        await self.write_outbox(session)
        if self.replaced:
            await session.flush()
            await queries.delete_replaced(session, self.replaced)
            self.replaced.clear()
        if self.new_participants:
            # Someone whose events this batch took nothing from is not kept.
            gone = await queries.forget_passers_by(session, self.new_participants)
            for person in self.participants.values():
                if person.id in gone:
                    session.expunge(person)
            self.new_participants = set()

    async def write_outbox(self, session: AsyncSession) -> None:
        """Insert the messages queued so far, in order (one statement, many rows).

        Called at the end of the batch, and before anything that changes a person's
        queued messages (opting out cancels them, erasure deletes them), so that it meets
        the messages this batch queued before it, as it would rows already stored.
        """
        if not self.outbox:
            return
        rows, self.outbox = self.outbox, []
        cases, self.outbox_cases = self.outbox_cases, []
        if cases:
            # A safety reply names its case, so the outbox can tell it what reached the
            # person; the case needs its id first (a disclosure is rare: one flush).
            await session.flush()
            for row, case in cases:
                row["payload"]["case"] = case.id
        connection = await session.connection()
        await connection.execute(_OUTBOX_INSERT, rows)

    async def consultation(
        self, session: AsyncSession, consultation_id: str
    ) -> Consultation | None:
        if consultation_id not in self.consultations:
            self.consultations[consultation_id] = await session.get(Consultation, consultation_id)
        return self.consultations[consultation_id]

    def dialogue(
        self, session: AsyncSession, participant_id: int, consultation_id: str
    ) -> Dialogue:
        key = (participant_id, consultation_id)
        found = self.dialogues.get(key)
        if found is None:
            found = Dialogue(
                participant_id=participant_id,
                consultation_id=consultation_id,
                state="active",
                segments={},
                updated_at=utcnow(),
            )
            session.add(found)
            self.dialogues[key] = found
        return found

    async def update_progress(self, session: AsyncSession) -> None:
        """Move inline-channel participants on (or to finished), one query for them all."""
        if not self.progress:
            return
        await session.flush()
        ids = list(self.progress)
        rows = await session.execute(
            select(Response.participant_id, Response.consultation_id, Response.item_id)
            .where(one_of(Response.participant_id, ids))
            .distinct()
        )
        answered: dict[tuple[int, str], set[str]] = {}
        for participant_id, consultation_id, item_id in rows:
            answered.setdefault((participant_id, consultation_id), set()).add(item_id)
        for participant_id, (turn, spec, dialogue) in self.progress.items():
            if dialogue.state == "held":
                # A later answer of the same request was a disclosure: nothing more is
                # asked (and the dialogue stays held, not finished).
                continue
            await turn.ask_next(
                spec, dialogue, answered=answered.get((participant_id, spec.id), set())
            )
        self.progress.clear()

    async def published_kinds(
        self, session: AsyncSession, channel: str, consultation_id: str
    ) -> set[tuple[str | None, str]]:
        """``(item_id, kind)`` of a consultation's publications on a channel (read once)."""
        key = (channel, consultation_id)
        if key not in self.publications:
            found = await queries.publication_kinds(session, channel, [consultation_id])
            self.publications[key] = found[consultation_id]
        return self.publications[key]

    def consents_of(self, participant_id: int, consultation_id: str) -> dict[str, Consent]:
        return self.consents.setdefault((participant_id, consultation_id), {})

    def set_consent(
        self,
        session: AsyncSession,
        participant_id: int,
        consultation_id: str,
        purpose: str,
        given: bool,
        method: str,
    ) -> None:
        """Record consent given or refused for a purpose, replacing an earlier answer."""
        records = self.consents_of(participant_id, consultation_id)
        record = records.get(purpose)
        if record is None:
            record = Consent(
                participant_id=participant_id, consultation_id=consultation_id, purpose=purpose
            )
            session.add(record)
            records[purpose] = record
        record.given = given
        record.method = method
        record.given_at = utcnow()
        record.withdrawn_at = None


class _Turn:
    """Handling of one event for one participant, inside the caller's transaction."""

    def __init__(
        self,
        runtime: Runtime,
        session: AsyncSession,
        event: InboundEvent,
        participant: Participant,
        outcome: Outcome,
        state: _State,
    ) -> None:
        self.state = state
        self.runtime = runtime
        self.session = session
        self.event = event
        self.participant = participant
        self.outcome = outcome
        self.consultation_id: str | None = None
        #: The safety case this event opened, told what its writer is sent.
        self.case: ModerationCase | None = None
        #: The words this turn speaks in: the consultation's language, else English.
        self.texts: Texts = ENGLISH
        self._sequence = 0
        # Statement voting: the message a vote was given on (the next statement replaces
        # it where the channel can edit); the statement to show next after a near-repeat
        # is the outcome's ``prefer_statement``.
        self.replaces: str | None = None
        # Delphi rounds: the round asked by the poll this event votes on, when the poll
        # recorded it (a private Telegram poll). Its vote belongs to that round alone.
        self.asked_round: int | None = None

    # -- replies -------------------------------------------------------------

    def say(
        self, text: str, *, case: ModerationCase | None = None, **fields: Any
    ) -> OutboundMessage:
        return self.reply(
            OutboundMessage(
                text=text,
                consultation_id=self.consultation_id,
                language=self.texts.language,
                **fields,
            ),
            case=case,
        )

    def say_safety(
        self, spec: ConsultationSpec, categories: Sequence[str], *, check_in: bool = False
    ) -> OutboundMessage:
        """The safety reply: privately, and for a public post a general note as fallback;
        worded for who the disclosure (its ``categories``) says is at risk, and as a
        check-in that lets the person carry on (``check_in``) or not."""
        texts = spec.wording()
        if self.case is not None:
            moderation.record_sent(
                self.case, moderation.SENT_CHECK_IN if check_in else moderation.SENT_SAFETY_REPLY
            )
        return self.say(
            screening.safety_message(
                spec.safety, spec.organisation, texts, categories, check_in=check_in
            ),
            kind="safety",
            fallback=screening.general_note(spec.safety, texts) if self.event.public else None,
            case=self.case,
        )

    def after_disclosure(
        self, spec: ConsultationSpec, dialogue: Dialogue, screened: screening.Screened
    ) -> None:
        """The answer to a flagged text (its case is opened by the caller).

        A disclosure holds the dialogue (:meth:`hold`). A text only the screen's model
        flagged, with a score just over its threshold (:attr:`Screened.tentative`), gets
        the safety reply as a check-in, and the person may carry on: most of those are
        ordinary answers ("Clean toilets and enough of them"), and holding them would
        leave the person without their next question until a moderator has read it. The
        case goes to a person either way.
        """
        if screened.tentative:
            self.say_safety(spec, screened.categories, check_in=True)
        else:
            self.hold(spec, dialogue, screened.categories)

    def hold(self, spec: ConsultationSpec, dialogue: Dialogue, categories: Sequence[str]) -> None:
        """After a disclosure: the safety reply, and no more questions (a person follows up)."""
        dialogue.state = "held"
        dialogue.pending = None
        self.state.held_by[(dialogue.participant_id, dialogue.consultation_id)] = self.outcome
        said = self.say_safety(spec, categories)
        if self.case is not None:
            moderation.record_sent(self.case, moderation.SENT_HELD)
        if self.outcome.held_by is None:
            self.outcome.held_by = said

    def held_by_this_request(self, dialogue: Dialogue) -> bool:
        """Whether a disclosure in this event's own request held the dialogue.

        A web form carries several answers at once: the person's others in it are stored
        as any answer is (screened, redacted), not lost for the one that was flagged.
        Only events that name their question carry on so; nothing more is asked.
        """
        key = (dialogue.participant_id, dialogue.consultation_id)
        return self.event.item_id is not None and self.state.held_by.get(key) is self.outcome

    def reply(
        self, message: OutboundMessage, *, case: ModerationCase | None = None
    ) -> OutboundMessage:
        """Answer the event: inline for the web page, else through the outbox; the message
        as it was sent. A safety reply names its ``case``, which the outbox tells when only
        the general note could be posted (:meth:`_State.write_outbox`)."""
        event = self.event
        if event.public and message.reply_to is None and event.platform_ref is not None:
            message = replace(message, reply_to=event.platform_ref)
        self.outcome.messages.append(message)
        if event.channel in self.runtime.inline_channels or event.address is None:
            return message
        self._sequence += 1
        self._queue(
            message, str(self._sequence), self.participant.id, message.consultation_id, case
        )
        return message

    # -- leaving ---------------------------------------------------------------

    async def opt_out(self, *, confirm: bool) -> None:
        await self.state.write_outbox(self.session)
        await self.session.flush()
        # A consultation's own page leaves that consultation, as its words say; STOP in
        # a conversation leaves everything.
        page = self.event.consultation_id if self._on_a_page() else None
        if page is not None:
            already = await queries.leave_consultation(self.session, self.participant.id, page)
        else:
            already = await queries.opt_out(self.session, self.participant.id)
        await self.session.refresh(self.participant)
        # Public posts gathered by listening were noted with "reply STOP if you would
        # rather we did not": STOP takes them back (a case about one keeps its words).
        noted_where = [
            Response.participant_id == self.participant.id,
            Response.item_type == over_time.LISTENING,
        ]
        if page is not None:
            noted_where.append(Response.consultation_id == page)
        noted = list(await self.session.scalars(select(Response.id).where(*noted_where)))
        if noted:
            await queries.delete_replaced(self.session, noted)
        self.outcome.left = True
        if confirm and not (already and self.event.public):
            # "We keep the answers you gave before" only to someone who gave any.
            held = await self.session.scalar(
                select(Response.id).where(Response.participant_id == self.participant.id).limit(1)
            )
            # Said in public (a group, a public reply): confirmed to the person alone.
            self.say(
                self.texts("stop_reply" if held is not None else "stop_reply_none"),
                private=self.event.public,
            )

    def _on_a_page(self) -> bool:
        """Whether the event comes from one consultation's own page (the web channel's
        forms each name theirs), not from a conversation that may hold several."""
        return (
            self.event.channel in self.runtime.inline_channels
            and self.event.consultation_id is not None
        )

    async def erase(self) -> None:
        await self.state.write_outbox(self.session)
        # The person's own request, from the web page's "Delete my answers" or a chat.
        await queries.erase_participant(
            self.session, self.participant.id, actor="participant", channel=self.event.channel
        )
        # What they sent before asking, still waiting to be handled, goes too.
        event = self.event
        await queries.forget_waiting_events(
            self.session,
            self.runtime.keyring,
            event.channel,
            event.sender,
            but=self.runtime.reference(event),
        )
        self.outcome.participant = None
        self.outcome.erased = True
        # Nor may their words stay prepared ahead in memory (what this process holds; the
        # command line's erasure runs in a process of its own).
        self.runtime.forget_prepared()
        message = OutboundMessage(
            text=self.texts("erased"),
            language=self.texts.language,
            forget_after_sending=True,
        )
        self.outcome.messages.append(message)
        if self.event.channel not in self.runtime.inline_channels and self.event.address:
            self._queue(message, "erased", None, None)

    def _queue(
        self,
        message: OutboundMessage,
        suffix: str,
        participant_id: int | None,
        consultation_id: str | None,
        case: ModerationCase | None = None,
    ) -> None:
        """Queue ``message`` to the event's sender for the outbox (written with the
        batch's others, :meth:`_State.write_outbox`); ``suffix`` ends its idempotency key."""
        event = self.event
        assert event.address is not None
        now = utcnow()
        row: dict[str, Any] = {
            "channel": event.channel,
            "idempotency_key": f"{event.channel}:{self.runtime.reference(event)}:{suffix}",
            "participant_id": participant_id,
            "consultation_id": consultation_id,
            "address": self.runtime.keyring.seal(event.address),
            "payload": message.stored(self.runtime.keyring.seal),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "urgent": message.urgent,
        }
        self.state.outbox.append(row)
        if case is not None:
            self.state.outbox_cases.append((row, case))

    # -- listening -------------------------------------------------------------

    async def listen(self) -> None:
        """Store a listened public post as a ``listening`` response of its consultation.

        Screened like any words (redacted; a disclosure opens a case for a moderator).
        Only a post that mentions the bot's account is answered, privately (the safety
        message for a disclosure, else a short note), and only it may be quoted
        (flag ``mention``); the event of any other carries no address to answer.
        """
        event = self.event
        if event.consultation_id is None or not (event.text or "").strip():
            return
        row = await self.state.consultation(self.session, event.consultation_id)
        if row is None:
            return
        spec = service.spec_of(row)
        self.consultation_id = row.id
        if (
            not service.accepting(row, spec, datetime.now(UTC))
            or event.channel not in spec.channels
        ):
            return
        screened = self.runtime.screen((event.text or "").strip(), screening.hints_for(spec))
        await over_time.ensure_listening_item(self.session, spec.id)
        flags = list(screened.flags) + ([over_time.MENTION] if event.addressed else [])
        response = self._store(
            spec.id, over_time.LISTENING_ITEM, over_time.LISTENING, text=screened.text, flags=flags
        )
        await self._case_if_flagged(spec, response, screened)
        if not event.addressed:
            return
        if screened.crisis:
            self.say_safety(spec, screened.categories, check_in=screened.tentative)
        else:
            self.say(
                spec.wording()("listening_noted", title=spec.title, organisation=spec.organisation)
            )

    async def _gather_mention(self) -> bool:
        """A public mention of the bot, kept by the oldest open listening consultation;
        whether one takes it (or its hashtag reader will).

        A mention that also carries one of its hashtags is left to the hashtag reader,
        so that the post is gathered once.
        """
        event = self.event
        if event.in_reply_to is not None or not event.text:
            return False
        text = event.text.casefold()
        now = datetime.now(UTC)
        for row in await service.taking_answers(self.session, now):
            spec = service.spec_of(row)
            if not spec.mastodon.listen or event.channel not in spec.channels:
                continue
            if any(tag.casefold() in text for tag in spec.mastodon.listen):
                return True
            self.event = replace(
                event, kind=EventKind.LISTEN, consultation_id=row.id, addressed=True
            )
            await self.listen()
            return True
        return False

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
        if kind is EventKind.START and consultation_id is None and not event.public:
            # "/start" alone offers the open consultations (CONTRACT.md), even mid-way.
            await self.offer_open_consultations()
            return
        if consultation_id is None and not event.public:
            consultation_id = self.participant.current_consultation_id
        if consultation_id is None and event.public and kind is EventKind.TEXT:
            # A public post to the bot that answers none of its posts: a mention, gathered
            # by a listening consultation if one is open here; else not stored, but a
            # disclosure in it gets the safety reply and a case all the same.
            if not await self._gather_mention():
                await self.screen_unattached()
            return
        if consultation_id is None:
            if not event.public and not (kind is EventKind.TEXT and await self.screen_unattached()):
                await self.offer_open_consultations()
            return

        row = await self.state.consultation(session, consultation_id)
        if row is None:
            if not event.public:
                self.say(self.texts("no_such_consultation", id=consultation_id))
                await self.offer_open_consultations()
            return
        spec = service.spec_of(row)
        self.consultation_id = row.id
        texts = self.texts = spec.wording()
        now = datetime.now(UTC)
        # In public places the bot stays quiet about these: a reply to every late comment
        # in a group would be noise.
        if not service.accepting(row, spec, now):
            if (kind is EventKind.TEXT and await self.screen_unattached(spec)) or event.public:
                return
            if row.state == service.DRAFT and not (spec.opens_at and now < spec.opens_at):
                # Not launched and not due to be: as if there were no such consultation
                # (its title is not public yet).
                self.say(self.texts("no_such_consultation", id=consultation_id))
                await self.offer_open_consultations()
                return
            self.say(not_accepting_text(row.state, spec, now))
            if row.state == service.CLOSED and event.consultation_id is None:
                # The one they were last in has closed: nothing more to carry on there,
                # so what is open now is offered (else every message got "it is closed").
                if self.participant.current_consultation_id == row.id:
                    self.participant.current_consultation_id = None
                await self.offer_open_consultations()
            return
        if event.channel not in spec.channels:
            if not event.public:
                self.say(texts("not_on_channel", title=spec.title, channel=event.channel))
            return
        if (None, "unpublished") in await self.state.published_kinds(
            session, event.channel, row.id
        ):
            # Its launch failed on this channel: not taking answers here (bot/publishing.py).
            if not event.public:
                self.say(texts("not_on_channel", title=spec.title, channel=event.channel))
            return
        if not event.public:
            self.participant.current_consultation_id = row.id
        dialogue = self.state.dialogue(session, self.participant.id, row.id)

        if dialogue.state == "held" and not self.held_by_this_request(dialogue):
            await self._held(spec, dialogue)
            return

        given = self.state.consents_of(self.participant.id, row.id).get("consultation")
        has_consent = given is not None and given.given and given.withdrawn_at is None
        if (
            has_consent
            and not event.public
            and given is not None
            and given.method in PUBLIC_CONSENT
        ):
            # Consent given by replying or voting in public: the consent text is still shown
            # in the first private message, and answered there (CONTRACT.md, consent).
            has_consent = False
        if not has_consent:
            if event.public:
                # Replying to or voting on a post that carries the consent text counts as
                # consent to that text for this consultation (CONTRACT.md).
                method = (
                    "public-vote"
                    if kind in (EventKind.ANSWER, EventKind.RETRACT)
                    else "public-reply"
                )
                self.state.set_consent(
                    self.session, self.participant.id, row.id, "consultation", True, method
                )
            else:
                await self._consent_step(kind, target, spec, dialogue)
                return
        if kind is EventKind.ANSWER and target == CONSENT and not event.public:
            asked = options(texts, "consent_yes", "consent_no")
            if yes_no(event.choices[0] if event.choices else "", asked, texts) is False:
                # "No" from someone who had agreed (a consent form left open in another
                # tab): they leave, as with STOP, so "we won't ask you anything" holds.
                await self.opt_out(confirm=False)
                return

        if kind is EventKind.START:
            dialogue.state = "active" if dialogue.state != "finished" else dialogue.state
            await self.ask_next(spec, dialogue, welcome_back=True)
            return

        if kind is EventKind.TEXT and spec.timed_items and event.text:
            # "A2 ..." answers timed question 2 (once it is posted), wherever in the group
            # or thread it is, and in a private conversation too.
            tagged = timed_chat.answer_tag(spec, event.text)
            if tagged is not None and tagged[1] and await self._asked_yet(spec, tagged[0], now):
                target = tagged[0].id
                in_reply_to = None
                self.event = replace(event, text=tagged[1])
                event = self.event

        if target is None and not event.public:
            target = dialogue.pending
        if target == RESUME:
            # Held after a disclosure a moderator judged a false alarm: whatever this
            # message says (screened all the same), the questions go on from where they
            # stopped.
            dialogue.pending = None
            if kind is EventKind.TEXT and self._disclosed(spec, dialogue):
                return
            await self.ask_next(spec, dialogue, welcome_back=True)
            return
        if target is None:
            if event.public and kind is EventKind.TEXT:
                # A public reply to a post that asks nothing (the introduction): not
                # stored, but screened: a disclosure gets the safety reply and a case.
                await self.screen_unattached(spec)
            elif (
                not event.public and kind is EventKind.TEXT and not self._disclosed(spec, dialogue)
            ):
                self.say(texts("all_answered"))
            return

        answered = await self._answer(kind, target, spec, dialogue, in_reply_to)
        if answered and not event.public and dialogue.state != "held":
            if event.channel in self.runtime.inline_channels:
                # The page shows what comes next; see where they stand once per request.
                self.state.progress[self.participant.id] = (self, spec, dialogue)
            elif self._last_of_sender() and not any(i.type == "statements" for i in spec.items):
                # Nothing more from this person in the batch: the next question is asked
                # with everyone else's, from one query of what each has answered. (Not
                # with statements, whose next one to vote on depends on the others'.)
                self.state.progress[self.participant.id] = (self, spec, dialogue)
            else:
                await self.ask_next(spec, dialogue)

    def _last_of_sender(self) -> bool:
        """Whether this person has no later event in the batch (whose turn would start
        from the question this one asks)."""
        key = (self.participant.channel, self.participant.pseudonym)
        return self.state.unhandled[key] <= 0

    def _stored_ref(self) -> str | None:
        """The event's platform reference as kept at rest: a keyed hash, never the id."""
        ref = self.event.platform_ref
        return None if ref is None else self.runtime.keyring.reference(self.event.channel, ref)

    async def texts_replied_to(self) -> Texts | None:
        """The words of the consultation a public reply answers (a reply in a group to
        one of its posts), so that STOP in its language is STOP there too."""
        event = self.event
        if not event.public or event.in_reply_to is None or event.consultation_id is not None:
            return None
        if event.kind is not EventKind.TEXT:
            return None
        resolved = await self._resolve_reply(event.in_reply_to)
        if resolved is None:
            return None
        row = await self.state.consultation(self.session, resolved[0])
        return service.spec_of(row).wording() if row is not None else None

    async def texts_last_taken_part_in(self) -> Texts | None:
        """For words written to the bot in public answering none of its posts ("@bot
        stop" in a group), the words of the consultation the person last took part in: a
        public reply sets no current consultation, so without this they were English."""
        event = self.event
        if not event.public or event.in_reply_to is not None or event.consultation_id:
            return None
        if event.kind is not EventKind.TEXT:
            return None
        consultation_id = await self._last_consultation_id()
        if consultation_id is None:
            return None
        row = await self.state.consultation(self.session, consultation_id)
        return service.spec_of(row).wording() if row is not None else None

    async def _last_consultation_id(self) -> str | None:
        """The consultation of the person's most recent conversation, if any."""
        return await self.session.scalar(
            select(Dialogue.consultation_id)
            .where(Dialogue.participant_id == self.participant.id)
            .order_by(Dialogue.updated_at.desc(), Dialogue.id.desc())
            .limit(1)
        )

    async def _resolve_reply(self, platform_ref: str) -> tuple[str, str | None, str] | None:
        """Tie a reply to the post it answers: a consultation item, or another reply.

        ``response:ID`` names a stored reply directly (the web page does this).
        """
        if platform_ref.startswith("response:") and platform_ref[9:].isdigit():
            parent = await self.session.get(Response, int(platform_ref[9:]))
            event = self.event
            if (
                parent is None
                # Only a post shown in the thread can be answered: never a private answer,
                # a post kept off public pages (flagged, unreadable, released), or a post
                # of another consultation or thread (the reply is then a post in the thread
                # it was sent to).
                or parent.item_type != "thread"
                or not parent.public
                or moderation.OFF_PUBLIC_PAGES.intersection(parent.flags or ())
                or event.consultation_id not in (None, parent.consultation_id)
                or event.item_id not in (None, parent.item_id)
            ):
                return None
            return parent.consultation_id, parent.item_id, platform_ref
        publication = await queries.publication_by_ref(
            self.session, self.runtime.keyring, self.event.channel, platform_ref
        )
        if publication is not None:
            if publication.item_id is None:
                return publication.consultation_id, None, "intro"
            self.asked_round = publication.round
            return publication.consultation_id, publication.item_id, f"item:{publication.item_id}"
        parent = await queries.response_by_ref(
            self.session,
            self.event.channel,
            self.runtime.keyring.reference(self.event.channel, platform_ref),
        )
        if parent is not None:
            return parent.consultation_id, parent.item_id, f"response:{parent.id}"
        return None

    async def offer_open_consultations(self) -> None:
        now = datetime.now(UTC)
        rows = await service.taking_answers(self.session, now)
        channel = self.event.channel
        kinds = await queries.publication_kinds(self.session, channel, [r.id for r in rows])
        # Never offered where its launch failed (bot/publishing.py marks it unpublished).
        # Nor one that asks nothing (listening gathers public posts): taking part in it
        # would be consent to nothing, then "you have answered every question".
        usable = [
            r
            for r in rows
            if channel in service.spec_of(r).channels
            and service.spec_of(r).items
            and not any(kind == "unpublished" for _, kind in kinds[r.id])
        ]
        if not usable:
            self.say(self.texts("none_open"))
            return
        self.say(
            self.texts("choose_consultation"),
            question=CHOOSE,
            question_type="choose",
            options=tuple(r.id for r in usable),
            kind="question",
        )

    async def _consent_step(
        self, kind: EventKind, target: str | None, spec: ConsultationSpec, dialogue: Dialogue
    ) -> None:
        answer: bool | None = None
        texts = self.texts
        asked = options(texts, "consent_yes", "consent_no")
        if kind is EventKind.ANSWER and target == CONSENT:
            answer = yes_no(self.event.choices[0] if self.event.choices else "", asked, texts)
        elif kind is EventKind.TEXT and dialogue.pending == CONSENT and self.event.text:
            answer = yes_no(self.event.text, asked, texts)
        if answer is None:
            if kind is EventKind.TEXT and self._disclosed(spec, dialogue):
                return
            prefix = None
            if kind is not EventKind.START and dialogue.pending == CONSENT:
                prefix = texts("consent_first")
            self.ask(dialogue, consent_question(spec), prefix=prefix)
            return
        self.state.set_consent(
            self.session, self.participant.id, spec.id, "consultation", answer, "explicit"
        )
        if not answer:
            dialogue.state = "stopped"
            dialogue.pending = None
            self.say(texts("consent_declined"))
            return
        dialogue.state = "active"
        await self.ask_next(spec, dialogue)

    async def screen_unattached(self, spec: ConsultationSpec | None = None) -> bool:
        """Words that answer no question, screened all the same (DESIGN.md: free text is
        screened on arrival): from someone who left (STOP), who has not started, or
        writing to a consultation that takes no answers now. They are not stored; a
        disclosure gets the safety reply at once, and a case for a moderator with the
        redacted words, under ``spec``, else the consultation the person was last in,
        else one open on this channel (whose helplines the reply gives)."""
        if not (self.event.text or "").strip():
            return False
        spec = spec or await self._nearest_spec()
        if spec is None:
            return False
        screened = self.runtime.screen(self.event.text or "", screening.hints_for(spec))
        if not screened.crisis:
            return False
        self.consultation_id = spec.id
        self.texts = spec.wording()
        self._case_for_words(spec, screened)
        self.say_safety(spec, screened.categories)
        return True

    async def _nearest_spec(self) -> ConsultationSpec | None:
        """The consultation this event names, else the one the person was last in, else
        the first open on its channel."""
        session = self.session
        consultation_id = self.event.consultation_id or await self._last_consultation_id()
        if consultation_id is not None:
            row = await self.state.consultation(session, consultation_id)
            if row is not None:
                return service.spec_of(row)
        now = datetime.now(UTC)
        for row in await service.taking_answers(session, now):
            spec = service.spec_of(row)
            if self.event.channel in spec.channels:
                return spec
        return None

    def _disclosed(self, spec: ConsultationSpec, dialogue: Dialogue) -> bool:
        """Words typed where a choice or consent was asked, screened all the same.

        They are not an answer and are not stored as one; but a disclosure among them gets
        the safety reply at once and a case for a moderator, with the redacted words kept
        on the case, and the dialogue asks nothing more.
        """
        screened = self.runtime.screen(self.event.text or "", screening.hints_for(spec))
        if not screened.crisis:
            return False
        self._case_for_words(spec, screened)
        self.hold(spec, dialogue, screened.categories)
        return True

    def _case_for_words(self, spec: ConsultationSpec, screened: screening.Screened) -> None:
        """A safety case for a disclosure not stored as an answer: its redacted words kept
        on the case, whose they are, and (until the reply is queued) nothing sent yet."""
        self.case = moderation.open_case(
            self.session,
            consultation_id=spec.id,
            response_id=None,
            reason=screening.SAFETY,
            categories=screened.categories,
            urgent=screened.urgent,
            response_hours=spec.safety.response_hours,
            text=screened.text,
            participant_id=self.participant.id,
            flagged_by=screened.flagged_by,
            person_sent=moderation.SENT_NOTHING,
        )

    async def _asked_yet(self, spec: ConsultationSpec, item: Item, now: datetime) -> bool:
        """Whether a timed question has been posted on the event's channel (or, where it
        is posted nowhere, whether its time has come): "A3 ..." before Q3 is out is no
        answer to it."""
        published = await self.state.published_kinds(self.session, self.event.channel, spec.id)
        if (item.id, "item") in published:
            return True
        if any(kind == "item" for _, kind in published):
            return False  # posted here, but not this one yet
        return item.at is None or item.at <= now

    async def edit(self) -> None:
        """A message changed after it was sent: the answer stored from it takes the new
        text, screened, redacted and analysed again, so that a disclosure added by an edit
        gets the safety reply and a case as at first writing. A safety flag stays (its case
        is a person's to close); a message never stored as an answer is left alone."""
        ref = self._stored_ref()
        text = (self.event.text or "").strip()
        if ref is None or not text:
            return
        response = await queries.response_by_ref(self.session, self.event.channel, ref)
        if response is None or response.participant_id != self.participant.id:
            return
        if response.text is None or response.text == text:
            return
        row = await self.state.consultation(self.session, response.consultation_id)
        if row is None:
            return
        spec = service.spec_of(row)
        self.consultation_id = row.id
        self.texts = spec.wording()
        tagged = timed_chat.answer_tag(spec, text) if spec.timed_items else None
        if tagged is not None and tagged[0].id == response.item_id and tagged[1]:
            text = tagged[1]  # an "A1 ..." answer edited: its words, without the tag
            if response.text == text:
                return
        screened = self.runtime.screen(text, screening.hints_for(spec))
        was_flagged = screening.SAFETY in (response.flags or [])
        response.text = screened.text
        response.flags = sorted(
            set(screened.flags) | ({screening.SAFETY} if was_flagged else set())
        )
        response.sentiment, response.analysis = self.runtime.analysis(screened.text)
        if was_flagged and screened.crisis:
            return  # the same disclosure, reworded: its case is open, its reply sent
        await self._case_if_flagged(spec, response, screened)
        if screened.crisis:
            self.after_disclosure(
                spec, self.state.dialogue(self.session, self.participant.id, row.id), screened
            )

    async def _held(self, spec: ConsultationSpec, dialogue: Dialogue) -> None:
        """After a safety disclosure the bot asks nothing more; a person follows up.

        A further disclosure gets the safety reply again and a case of its own (its words
        redacted on the case): it may be graver than the first, and the first may be
        judged a false alarm and closed."""
        if self.event.text:
            self._disclosed(spec, dialogue)

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
            answer = yes_no(raw, options(self.texts, "recontact_yes", "recontact_no"), self.texts)
            if answer is None and kind is EventKind.TEXT and self._disclosed(spec, dialogue):
                return False
            if answer is None:
                self.ask(dialogue, recontact_question(spec), prefix=self.texts("choose_one"))
                return False
            self.state.set_consent(
                self.session, self.participant.id, spec.id, "recontact", answer, "explicit"
            )
            return True
        if target in (CONSENT, CHOOSE):
            return True
        parsed = voting.parse_question(target)
        if parsed is not None:
            return await self._statement_answer(kind, spec, dialogue, *parsed)

        segment = next((s for s in spec.segments if s.id == target), None)
        if segment is not None and kind is EventKind.SKIP:
            if segment.id in dialogue.segments:
                # Answered or passed over already: a skip passes over a question not yet
                # answered, and never clears one (a web form sent with nothing filled in
                # carries skips for every "about you" question it did not show).
                return True
            await queries.delete_answers(session, self.participant.id, spec.id, segment.id)
            dialogue.segments = {**dialogue.segments, segment.id: None}
            return True
        if segment is not None:
            choice = _chosen(event, segment.options, multiple=False)
            if not choice and kind is EventKind.TEXT and self._disclosed(spec, dialogue):
                return False
            if not choice:
                self.ask(
                    dialogue,
                    segment_question(segment.id, segment.text, segment.options),
                    prefix=self.texts("choose_option"),
                )
                return False
            await queries.delete_answers(session, self.participant.id, spec.id, segment.id)
            self._store(spec.id, segment.id, "segment", choices=list(choice))
            dialogue.segments = {**dialogue.segments, segment.id: choice[0]}
            return True

        try:
            item = spec.item(target)
        except KeyError:
            self.say(self.texts("unknown_question"))
            return False
        if (
            item.at is not None
            and event.channel in self.runtime.inline_channels
            and item.at > datetime.now(UTC)
        ):
            # A timed question the page does not show yet (a form edited by hand): its
            # answers are taken from its time on. In a chat an answer replies to the
            # question's post, which the timeline makes at its time.
            return False

        if item.type == "statements":
            text = (event.text or "").strip()
            if not voting.has_words(text):
                return False
            return await self._add_statement(spec, item, dialogue, text)
        if item.type == "poll":
            number: int | None = None
            if item.rounds > 1 and not event.public:
                current = (await over_time.current_rounds(session, spec.id)).get(item.id, 1)
                if self.asked_round is not None and self.asked_round < current:
                    # A vote (or a vote taken back) on an earlier round's poll, still in
                    # the chat after its round ended: it answers that round, which is
                    # over, and never the round open now.
                    self.say(self.texts("round_ended"))
                    self.outcome.round_refused[item.id] = current
                    return False
                number = await self._round_for(spec, item, current)
                if number is None:
                    self.say(self.texts("round_not_yours"))
                    self.outcome.round_refused[item.id] = current
                    return False
            if (
                event.public
                and kind is EventKind.TEXT
                and (item.id, "poll")
                in (await self.state.published_kinds(session, event.channel, spec.id))
            ):
                # Its post carries a native poll, where the vote is cast (one per person;
                # Mastodon reports only totals): words replied to the post are a comment
                # on it, whatever they say, never a second vote.
                return await self._store_text(spec, item, dialogue, in_reply_to)
            if kind is EventKind.RETRACT:
                if number is not None:
                    await over_time.delete_round_answer(
                        session, self.participant.id, spec.id, item.id, number
                    )
                else:
                    await queries.delete_answers(session, self.participant.id, spec.id, item.id)
                return False
            choice = _chosen(event, item.options, multiple=item.multiple)
            if not choice:
                if event.public:
                    # A public reply to a poll post is a comment on it: kept as a post in
                    # the poll post's thread (_store_text), not as an answer to a prompt.
                    return await self._store_text(spec, item, dialogue, in_reply_to)
                if kind is EventKind.TEXT and self._disclosed(spec, dialogue):
                    return False
                self.ask(
                    dialogue,
                    item_question(item),
                    prefix=self.texts("choose_from"),
                    round_number=number,
                )
                return False
            if number is not None:
                await over_time.delete_round_answer(
                    session, self.participant.id, spec.id, item.id, number
                )
            else:
                await queries.delete_answers(session, self.participant.id, spec.id, item.id)
            self._store(spec.id, item.id, "poll", choices=list(choice), round_number=number)
            return True
        return await self._store_text(spec, item, dialogue, in_reply_to)

    # -- statement voting ------------------------------------------------------------

    async def _statement_answer(
        self,
        kind: EventKind,
        spec: ConsultationSpec,
        dialogue: Dialogue,
        item_id: str,
        part: int | str,
    ) -> bool:
        """A vote on a statement, a statement of the person's own, or "done"."""
        try:
            item = spec.item(item_id)
        except KeyError:
            item = None
        if item is None or item.type != "statements":
            self.say(self.texts("unknown_question"))
            return False
        event = self.event
        texts = self.texts
        raw = event.choices[0] if event.choices else (event.text or "")
        typed = event.text.strip() if kind is EventKind.TEXT and event.text else None
        adding = part == voting.ADD

        def finished() -> bool:
            dialogue.finished_items = sorted({*(dialogue.finished_items or []), item.id})
            return True

        # At the invitation to add a statement, "no" and "nothing" end the step before any
        # word is read as a vote.
        if adding and typed is not None and voting.is_done(typed, texts):
            return finished()
        vote = voting.read_vote(raw, texts, yes_no=False)
        if vote is None and event.option_indexes and not adding:
            index = event.option_indexes[0]
            vote = voting.VOTES[index] if 0 <= index < len(voting.VOTES) else None
        if vote is None and typed is not None and not adding:
            if voting.is_done(typed, texts, no_words=False):
                return finished()
            # Where a statement is shown, a yes ("sí", "ydw") agrees with it and a no
            # disagrees; at the invitation a yes only says "I see".
            vote = voting.read_vote(typed, texts)
        if vote is not None and isinstance(part, int):
            return await self._vote(spec, item, dialogue, part, vote)
        if vote is not None:
            # "Agree" typed after the last statement: a vote on the one just shown.
            last = await statement_store.last_voted(
                self.session, self.participant.id, spec.id, item.id
            )
            if last is not None:
                return await self._vote(spec, item, dialogue, last, vote)
        if typed is not None and voting.has_words(typed) and not voting.not_an_idea(typed, texts):
            return await self._add_statement(spec, item, dialogue, typed)
        if adding and typed is not None:
            # "ok", "1", "vale": never published as a statement for others to vote on.
            self.say(texts("statements_not_an_idea"))
            return False
        await self.ask_statement(spec, item, dialogue, prefix=texts("choose_one"))
        return False

    async def _vote(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue, statement_id: int, vote: str
    ) -> bool:
        statement = await self.session.get(Statement, statement_id)
        if (
            statement is None
            or statement.consultation_id != spec.id
            or statement.item_id != item.id
            or statement.status != statement_store.SHOWN
            or statement.participant_id == self.participant.id
        ):
            own = statement is not None and statement.participant_id == self.participant.id
            key = "statements_own_not_votable" if own else "statements_not_votable"
            self.outcome.vote_refused = key
            await self.ask_statement(spec, item, dialogue, prefix=self.texts(key))
            return False
        ref = voting.statement_ref(statement.id)
        await statement_store.replace_vote(self.session, self.participant.id, statement, ref, vote)
        self._store(spec.id, item.id, "vote", choices=[vote], in_reply_to=ref)
        if self.event.kind is EventKind.ANSWER and self.event.platform_ref is not None:
            self.replaces = self.event.platform_ref
        return True

    async def _add_statement(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue, text: str
    ) -> bool:
        """A statement of the person's own: screened, checked for repeats, then stored.

        Like any text, it is redacted and screened; a flagged one opens a case. A
        disclosure is never shown; one the screen could not read or flagged only
        tentatively waits on that case for a moderator to approve or reject it. With
        ``moderation: pre`` each waits so (a case of reason ``statement``); a near-repeat
        of one already there is refused with a pointer to it.
        """
        public = self.event.public
        if len(text) > voting.STATEMENT_MAX:
            if not public:
                self.say(
                    self.texts("statements_too_long", limit=voting.STATEMENT_MAX, length=len(text))
                )
            return False
        screened = self.runtime.screen(text, screening.hints_for(spec))
        flagged = screened.crisis or screened.needs_review
        # A disclosure is never shown. One the screen could not read, or flagged only
        # tentatively (mostly ordinary ideas), waits for a moderator to approve or reject
        # it on its case, as under moderation: pre.
        withheld = screened.crisis and not screened.tentative
        if not flagged:
            shown = await statement_store.shown(self.session, spec.id, item.id)
            mine = await statement_store.own_pending(
                self.session, spec.id, item.id, self.participant.id
            )
            known = [
                voting.Known(s.id, s.text, s.participant_id == self.participant.id)
                for s in [*shown, *mine]
            ]
            repeat = voting.near_duplicate(screened.text, known, spec.language)
            if repeat is not None:
                if not public:
                    if repeat.mine:
                        self.say(self.texts("statements_duplicate_own"))
                    else:
                        self.say(self.texts("statements_duplicate", existing=repeat.text))
                        self.outcome.prefer_statement = repeat.id
                return True
        response = self._store(
            spec.id, item.id, "statement", text=screened.text, flags=list(screened.flags)
        )
        await self.session.flush()
        status = statement_store.SHOWN
        if withheld:
            status = statement_store.WITHHELD
        elif flagged or item.moderation == "pre":
            status = statement_store.PENDING
        self.session.add(
            Statement(
                consultation_id=spec.id,
                item_id=item.id,
                response_id=response.id,
                participant_id=self.participant.id,
                text=screened.text,
                status=status,
                seed=False,
                created_at=utcnow(),
            )
        )
        if flagged:
            await self._case_if_flagged(spec, response, screened)
        elif status == statement_store.PENDING:
            moderation.open_case(
                self.session,
                consultation_id=spec.id,
                response_id=response.id,
                reason=moderation.STATEMENT,
                alert=False,
            )
        if screened.crisis:
            self.after_disclosure(spec, dialogue, screened)
        elif not public:
            key = "held" if flagged else "queued" if status == statement_store.PENDING else "added"
            self.say(self.texts(f"statements_{key}"))
        return True

    async def _case_if_flagged(
        self, spec: ConsultationSpec, response: Response, screened: screening.Screened
    ) -> None:
        """Open the moderation case a flagged text needs: safety, or a human look."""
        if not (screened.crisis or screened.needs_review):
            return
        await self.session.flush()
        case = moderation.open_case(
            self.session,
            consultation_id=spec.id,
            response_id=response.id,
            reason=screening.SAFETY if screened.crisis else screening.REVIEW,
            categories=screened.categories,
            urgent=screened.urgent,
            response_hours=spec.safety.response_hours,
            flagged_by=screened.flagged_by,
            # Until the reply that follows says otherwise (a post gathered by listening
            # gets none); a text only a person must read is answered as any other.
            person_sent=moderation.SENT_NOTHING if screened.crisis else None,
        )
        if screened.crisis:
            self.case = case

    async def statement_question(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue
    ) -> Question:
        """The next statement for this person to vote on, or the invitation to add one."""
        chosen, tallies = await voting.next_to_vote(
            self.session,
            self.participant.id,
            spec.id,
            item.id,
            prefer=self.outcome.prefer_statement,
        )
        if chosen is not None:
            return Question(
                text=self.texts("statements_vote", item=item.text, statement=chosen.text),
                question=voting.question_id(item.id, chosen.id),
                question_type="vote",
                options=tuple(self.texts(f"statements_{vote}") for vote in voting.VOTES),
                consultation_id=spec.id,
            )
        others = [t for t in tallies if t.author != self.participant.id]
        return Question(
            text=self.texts("statements_add" if others else "statements_add_first", item=item.text),
            question=voting.question_id(item.id, voting.ADD),
            question_type="prompt",
            consultation_id=spec.id,
        )

    async def ask_statement(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue, prefix: str | None = None
    ) -> None:
        self.ask(dialogue, await self.statement_question(spec, item, dialogue), prefix=prefix)

    async def _round_for(self, spec: ConsultationSpec, item: Item, current: int) -> int | None:
        """The Delphi round this person may answer now (``current`` is the one open);
        ``None`` if not in its panel.

        Round 1 is open to all; a later round only to those who answered the one before.
        """
        if current == 1:
            return 1
        own = await over_time.rounds_answered(self.session, self.participant.id, spec.id, item.id)
        return current if current - 1 in own else None

    async def _store_text(
        self, spec: ConsultationSpec, item: Item, dialogue: Dialogue, in_reply_to: str | None
    ) -> bool:
        text = (self.event.text or "").strip()
        if not text:
            self.ask(dialogue, item_question(item), prefix=self.texts("no_words_given"))
            return False
        screened = self.runtime.screen(text, screening.hints_for(spec))
        if (
            item.type == "prompt"
            and not self.event.public
            and self.event.channel in self.runtime.inline_channels
        ):
            # On a page that lets a person change their answer, the later one replaces
            # the earlier (CONTRACT.md, "Public and private").
            replacing = (self.participant.id, spec.id, item.id)
            if self.state.replace_prompt_answer(self.session, replacing, screened.text):
                return True
        else:
            replacing = None
        # Words replied to a poll's post are a comment in that post's thread: a thread
        # record of the poll item, answering the post (or the comment it replies to).
        item_type = "thread" if item.type == "poll" else item.type
        if item_type == "thread" and in_reply_to is None:
            in_reply_to = f"item:{item.id}"
        response = self._store(
            spec.id,
            item.id,
            item_type,
            text=screened.text,
            flags=list(screened.flags),
            in_reply_to=in_reply_to if item_type == "thread" else None,
        )
        if replacing is not None:
            self.state.stored_prompt_answer(replacing, response)
        await self._case_if_flagged(spec, response, screened)
        if screened.crisis:
            self.after_disclosure(spec, dialogue, screened)
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
        round_number: int | None = None,
    ) -> Response:
        sentiment, analysis = (None, None)
        if text is not None:
            sentiment, analysis = self.runtime.analysis(text)
        response = Response(
            consultation_id=consultation_id,
            item_id=item_id,
            item_type=item_type,
            participant_id=self.participant.id,
            channel=self.event.channel,
            choices=choices or [],
            text=text,
            in_reply_to=in_reply_to,
            platform_ref=self._stored_ref(),
            flags=flags or [],
            # Thread posts on a page everyone can read are public too (CONTRACT.md).
            public=self.event.public
            or (item_type == "thread" and self.event.channel in self.runtime.inline_channels),
            sentiment=sentiment,
            analysis=analysis,
            created_at=self.event.received_at,
            round=round_number,
        )
        self.session.add(response)
        self.outcome.stored.append(response)
        return response

    # -- asking ------------------------------------------------------------------

    def ask(
        self,
        dialogue: Dialogue,
        question: Question,
        prefix: str | None = None,
        *,
        round_number: int | None = None,
    ) -> None:
        """Ask ``question``; ``round_number`` is the Delphi round it asks, for a poll asked
        in rounds (kept with the poll, so a vote on it later stays in that round)."""
        dialogue.pending = question.question
        # One message made with its words, language and round (asked after every answer).
        message = OutboundMessage.asking(
            question,
            text=f"{prefix}\n\n{question.text}" if prefix else None,
            language=self.texts.language,
            round=round_number,
        )
        if self.replaces is not None and voting.parse_question(question.question) is not None:
            # The next statement takes the place of the one just voted on (Telegram edits
            # the message; channels that cannot edit send a new one).
            message = replace(message, replaces=self.replaces)
        self.reply(message)

    async def ask_next(
        self,
        spec: ConsultationSpec,
        dialogue: Dialogue,
        *,
        welcome_back: bool = False,
        answered: set[str] | None = None,
    ) -> None:
        """Ask the first question this person has not answered, or thank them.

        ``answered`` is what they have answered, when the caller already knows.
        """
        consents = self.state.consents_of(self.participant.id, spec.id)
        if answered is None:
            await self.session.flush()
            answered = await queries.answered_items(self.session, self.participant.id, spec.id)
        answered = answered | set(dialogue.segments)  # segment questions skipped are answered too
        if self.event.channel in self.runtime.totals_only_channels:
            # One vote per person per poll: a poll published natively on this channel is
            # answered there, where only totals are reported, so it is not asked again
            # privately (its totals merge in the report; docs/architecture.md).
            kinds = await self.state.published_kinds(self.session, self.event.channel, spec.id)
            answered = answered | {item for item, kind in kinds if kind == "poll" and item}
        standing = await rounds.persons_rounds(self.session, spec, self.participant.id, answered)
        asked_again = standing.due
        answered = (answered | {item.id for item in spec.items if item.rounds > 1}) - set(
            asked_again
        )
        # A timed chat's questions are not asked privately before their time.
        now = datetime.now(UTC)
        answered = answered | {
            item.id for item in spec.timed_items if item.at is not None and item.at > now
        }
        inline = self.event.channel in self.runtime.inline_channels
        # A statements item is done when the person says so (or, on the web page, where it
        # is a section of its own, never a step): votes alone do not finish it.
        voting_items = {i.id for i in spec.items if i.type == "statements"}
        if inline:
            answered = answered | voting_items
        else:
            answered = (answered - voting_items) | set(dialogue.finished_items or ())
        question = next_question(
            spec,
            consents.keys(),
            answered,
            ask_recontact=not inline,
            # On the web page threads are open discussions below the questions, not steps.
            ask_threads=not inline,
        )
        number: int | None = None
        if question is not None and question.question in asked_again:
            question = replace(question, text=asked_again[question.question])
            number = standing.current.get(question.question, 1)
        if question is None:
            if dialogue.state != "finished" or welcome_back:
                dialogue.state = "finished"
                dialogue.pending = None
                self.say(spec.closing_message or self.texts("thanks"))
            return
        if question.question_type == "statements":
            await self.ask_statement(spec, spec.item(question.question), dialogue)
            return
        self.ask(dialogue, question, round_number=number)


#: Texts kept prepared ahead of their batch at most: far more than are ever in flight
#: at once. A request that never reaches its batch (refused, failed) leaves its text
#: behind; the oldest make way, so the memory stays small whatever a client sends.
PREPARED_KEPT = 2_000

_K = TypeVar("_K")
_T = TypeVar("_T")


class _Ahead(Generic[_K, _T]):
    """Results worked out ahead, by text, each kept for as many uses as were asked for."""

    def __init__(self) -> None:
        self._kept: dict[_K, list[Any]] = {}  # text -> [result, uses left]

    def keep(self, text: _K, result: _T) -> None:
        """Keep ``result`` for one use (one more, if a result is kept for it already)."""
        entry = self._kept.get(text)
        if entry is not None:
            entry[1] += 1
            return
        if len(self._kept) >= PREPARED_KEPT:
            del self._kept[next(iter(self._kept))]
        self._kept[text] = [result, 1]

    def again(self, text: _K) -> _T | None:
        """The result kept for ``text``, now kept for one use more; None if there is none."""
        entry = self._kept.get(text)
        if entry is None:
            return None
        entry[1] += 1
        return cast(_T, entry[0])

    def clear(self) -> None:
        """Keep nothing."""
        self._kept.clear()

    def kept(self) -> list[_K]:
        """What results are kept for."""
        return list(self._kept)

    def peek(self, text: _K) -> _T | None:
        """The result kept for ``text``, still kept (None if there is none)."""
        entry = self._kept.get(text)
        return None if entry is None else cast(_T, entry[0])

    def take(self, text: _K) -> _T | None:
        """The result kept for ``text`` for one use (None if there is none)."""
        entry = self._kept.get(text)
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] <= 0:
            del self._kept[text]
        return cast(_T, entry[0])


async def _consultations(
    session: AsyncSession, consultation_ids: set[str]
) -> dict[str, Consultation]:
    """These consultations' rows, by id (one query; none when no id is given).

    The spec column is left out: a stored spec never changes (:func:`service.spec_of`),
    so it is read, decoded and parsed once per version and process, not in every group
    commit (decoding the JSON document cost more than the rest of the row's reading).
    Each row gets the spec already decoded (:func:`service.fill_spec`).
    """
    if not consultation_ids:
        return {}
    rows = list(await session.scalars(_CONSULTATIONS, {"ids": sorted(consultation_ids)}))
    for row in rows:
        if not service.fill_spec(row):
            # A version this process has not parsed yet: its spec read now, with its
            # created_at, so that the two belong together.
            await session.refresh(row, ["created_at", "spec"])
            service.spec_of(row)
    return {row.id: row for row in rows}


# Built once: every group commit reads its consultations with it.
_CONSULTATIONS = (
    select(Consultation)
    .options(defer(Consultation.spec))
    .where(one_of(Consultation.id, name="ids"))
)


def _chosen(event: InboundEvent, options: Sequence[str], *, multiple: bool) -> tuple[str, ...]:
    return choices_of(
        options,
        multiple=multiple,
        indexes=event.option_indexes,
        labels=event.choices,
        text=event.text,
    )
