"""The consultation store: every table, in SQLAlchemy 2 declarative style.

Platform user ids never appear here in the clear: participants are known by a keyed
HMAC pseudonym, and the few addresses the platform must keep in order to reply (a chat
id, an account handle) are sealed with a key held outside the database
(see :mod:`consultations.keys`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, but SQLite only autoincrements an INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Consultation(Base):
    """A consultation as launched by a health service, with the spec as submitted."""

    __tablename__ = "consultation"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(32))
    qi_project: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(8))
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(8), default="draft")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Item(Base):
    """A question of a consultation: a poll, prompt, thread, or a segment question."""

    __tablename__ = "item"

    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)


class Participant(Base):
    """One person on one channel, known only by pseudonym."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("channel", "pseudonym"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    pseudonym: Mapped[str] = mapped_column(String(64))
    # Sealed reply address (chat id, account), needed to answer and to close the loop.
    address: Mapped[str | None] = mapped_column(Text, default=None)
    current_consultation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opted_out_at: Mapped[datetime | None] = mapped_column(default=None)


class Consent(Base):
    """Consent for one purpose ('consultation' or 'recontact'), given and maybe withdrawn."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("participant_id", "consultation_id", "purpose"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    given: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(24))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class Dialogue(Base):
    """Where one participant stands in one consultation."""

    __tablename__ = "dialogue"
    __table_args__ = (UniqueConstraint("participant_id", "consultation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    # active | finished | stopped | held (a safety disclosure: a person follows up)
    state: Mapped[str] = mapped_column(String(8), default="active")
    pending: Mapped[str | None] = mapped_column(String(80), default=None)
    segments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Statements items the person has finished voting in (and was offered to add to).
    finished_items: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Response(Base):
    """One stored answer: poll choices, segment choice, or screened free text."""

    __tablename__ = "response"
    __table_args__ = (
        ForeignKeyConstraint(
            ["consultation_id", "item_id"],
            ["item.consultation_id", "item.id"],
            ondelete="CASCADE",
        ),
        Index("ix_response_consultation_item", "consultation_id", "item_id"),
        Index("ix_response_participant", "participant_id"),
        Index("ix_response_reply", "consultation_id", "item_id", "in_reply_to"),
        # Never an id used before, on SQLite too: response:N names a record in exports and
        # thread replies; an erased post's number must not pass to the next post.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    # poll | prompt | thread | segment | statement | vote | import ...
    item_type: Mapped[str] = mapped_column(String(16))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    in_reply_to: Mapped[str | None] = mapped_column(String(120), default=None)
    # The platform's reference for this post (to thread replies to it), when it has one.
    platform_ref: Mapped[str | None] = mapped_column(String(120), default=None, index=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Said where everyone can see it (a thread on the web page, a group, a public status);
    # only these may be shown on public surfaces (CONTRACT.md, "Public and private").
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    sentiment: Mapped[float | None] = mapped_column(Float, default=None)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The Delphi round this answer belongs to (polls asked in rounds), else None.
    round: Mapped[int | None] = mapped_column(Integer, default=None)


class TimedAction(Base):
    """Something done once at its time: a Delphi round's invitations, a timed question.

    The row is inserted before the action; its unique key makes a second worker's insert
    fail, so the action happens once whatever the number of workers.
    """

    __tablename__ = "timed_action"
    __table_args__ = (UniqueConstraint("consultation_id", "item_id", "action"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    done_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Statement(Base):
    """One statement of a ``statements`` item: seeded by the spec or added by a person.

    An added statement is also the person's response (``response_id``), so export,
    erasure and moderation treat it like any text they wrote; this row says whether it
    may be shown: ``shown``, ``pending`` (waiting for a moderator), ``rejected`` or
    ``withheld`` (flagged by the screen: never shown). Votes are responses of type
    ``vote`` whose ``in_reply_to`` is ``statement:<id>``.
    """

    __tablename__ = "statement"
    __table_args__ = (
        ForeignKeyConstraint(
            ["consultation_id", "item_id"],
            ["item.consultation_id", "item.id"],
            ondelete="CASCADE",
        ),
        Index("ix_statement_consultation_item", "consultation_id", "item_id"),
        # Never an id used before, on SQLite too (statement:N names it in exports).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(64))
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("response.id", ondelete="CASCADE"), index=True, default=None
    )
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), index=True, default=None
    )
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="shown")
    seed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Running vote counts, updated with each vote, to choose what to show next without
    # reading every vote; the report counts the votes themselves.
    agrees: Mapped[int] = mapped_column(Integer, default=0)
    disagrees: Mapped[int] = mapped_column(Integer, default=0)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    # How far apart the opinion groups stand on it (0 alike .. 1 opposite), refreshed in
    # the background from the latest groups; None until there are groups.
    split: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModerationCase(Base):
    """A response a person must look at: a safety disclosure, for now."""

    __tablename__ = "moderation_case"
    # Never an id used before, on SQLite too: a case erased with its person must not lend
    # its number (and a form open on it) to the next disclosure.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # None for a text that was never stored as a response (one the screen could not read),
    # and once the person's data was erased. A deleted response never takes its case with
    # it (SET NULL): what is deleted with a person is decided in erase_participant.
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("response.id", ondelete="SET NULL"), index=True, default=None
    )
    consultation_id: Mapped[str] = mapped_column(String(64))
    # For words not stored as an answer (a disclosure typed where a choice was asked):
    # the redacted text, and whose it is.
    text: Mapped[str | None] = mapped_column(Text, default=None)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="SET NULL"), index=True, default=None
    )
    # When the person asked for their data to be erased while the case was still open:
    # the case stays for the moderators, without the person, their response or words.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(16))
    # open | acknowledged | resolved
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    categories: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # How the screen flagged a disclosure: "phrase" (a listed phrase matched) or "model"
    # (its statistical model alone). Never the phrase itself (cut from the unredacted
    # text). None for review and statement cases, and for cases opened before 0019.
    flagged_by: Mapped[str | None] = mapped_column(String(8), default=None)
    # What the person who wrote a disclosure was sent (consultations.moderation.SENT_*):
    # "held" (the safety reply, and no more questions), "check-in" (the helplines as a
    # check-in; their questions went on), "safety-reply" (the safety reply where no
    # questions were under way), "nothing" (an import; a public post not addressed to
    # the platform). None for review and statement cases, and cases opened before 0020.
    person_sent: Mapped[str | None] = mapped_column(String(16), default=None)
    # The most serious disclosures alert moderators on arrival, not only when overdue.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(254), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(254), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # When the alert's sending started (kept once a destination accepted it).
    alerted_at: Mapped[datetime | None] = mapped_column(default=None)
    # A checker holds the case until then to send its alert; a claim whose sending never
    # started (the process stopped or died first) is taken again once this has passed.
    alert_claimed_until: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """Who looked at or did what, and when (moderation views and actions, sign-ins)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(80), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class InboxEntry(Base):
    """An inbound platform event, stored before the platform is told it arrived."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index("ix_inbox_sender", "sender", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(120))
    # Sealed: the event names the sender's platform id.
    payload: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when handling kept failing: held aside (kept, shown to operators, retryable).
    failed_at: Mapped[datetime | None] = mapped_column(default=None)
    # A keyed hash of who sent the event (not their pseudonym), while it waits: one
    # person's events are handled in the order they came, one worker at a time
    # (bot/inbox.py). Cleared with the payload once handled.
    sender: Mapped[str | None] = mapped_column(String(64), default=None)


WAITING = "processed_at IS NULL AND failed_at IS NULL"
"""The inbox rows still to be handled: the condition of the inbox claim index."""

# The inbox claim (bot/inbox.py) reads the first waiting rows in id order straight from
# this index and stops at its batch. Without it PostgreSQL walked the primary key past
# every handled row below the oldest waiting one (124,427 for a batch of 50 on the
# 30-minute soak's store, 25 ms a claim), or fetched every waiting row and sorted them.
# Only waiting rows are in it, so it stays small however many events were handled. The
# claim's conditions are ``IS NULL`` tests, not bound values, so the generic plan of a
# prepared statement can use it too.
Index("ix_inbox_waiting", InboxEntry.id, postgresql_where=text(WAITING), sqlite_where=text(WAITING))


class OutboxEntry(Base):
    """A message to send, written in the same transaction as what caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_due", "channel", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(160))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), default=None, index=True
    )
    consultation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Sealed address; cleared once the message is sent.
    address: Mapped[str | None] = mapped_column(Text, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | claimed | sending | sent | failed | cancelled | unknown (see bot/outbox.py)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    platform_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # For messages nobody asked for just now (invitations, reminders): the quiet hours
    # and time zone they must not be sent in (consultations/spec/outreach.py).
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Sent on the service's initiative to many people (invitations, reminders): claimed
    # after every due reply on the channel, so a person answering never waits behind them.
    bulk: Mapped[bool] = mapped_column(Boolean, default=False)
    # A safety reply: claimed before every other due row on the channel.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)


CLAIMABLE = "status = 'pending'"
"""The outbox rows a sender may claim: the condition of the claim index, which the claim
(bot/outbox.py) repeats as text, not as a bound value, so that the planner can see the
index applies even in the generic plan of a prepared statement."""

# The claim reads a channel's due rows in its order (safety replies, other replies, then
# invitations and reminders; each oldest first) straight from this index and stops at
# its batch: without it, every pending row of the channel was fetched and sorted first
# (50 ms a claim at 18,823 pending rows in the soak). Only pending rows are in it, so it
# stays small however many rows were sent. ``next_attempt_at`` is last so that rows not
# yet due (retries, quiet hours) are passed over in the index, without reading the table.
Index(
    "ix_outbox_claim",
    OutboxEntry.channel,
    OutboxEntry.bulk,
    OutboxEntry.urgent.desc(),
    OutboxEntry.id,
    OutboxEntry.next_attempt_at,
    postgresql_where=text(CLAIMABLE),
    sqlite_where=text(CLAIMABLE),
)


class Publication(Base):
    """A post the platform made on a channel for a consultation (intro, item, summary)."""

    __tablename__ = "publication"
    __table_args__ = (UniqueConstraint("channel", "platform_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str | None] = mapped_column(String(64), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    # A keyed hash of the platform's reference (e.g. "chat:-100123:msg:45", a status id),
    # to find the post again; the reference itself is sealed in sealed_ref (it names a chat).
    platform_ref: Mapped[str] = mapped_column(String(120))
    sealed_ref: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str] = mapped_column(String(12), default="item")
    # A poll sent privately for a question asked in Delphi rounds: the round it asks, so
    # a vote on it belongs to that round whatever round is open when the vote comes.
    round: Mapped[int | None] = mapped_column(Integer, default=None)
    # A poll sent in one person's private chat (``dm-poll``): that person, so the row
    # goes with their erasure; None for posts where everyone sees them.
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PollTally(Base):
    """Totals from a channel that reports only tallies (Mastodon, anonymous group polls)."""

    __tablename__ = "poll_tally"
    __table_args__ = (Index("ix_poll_tally_item", "consultation_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    platform_ref: Mapped[str] = mapped_column(String(120))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelCursor(Base):
    """A channel's saved position (a polling offset, a notifications cursor)."""

    __tablename__ = "channel_cursor"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A dashboard account.

    A removed account keeps its row (``removed_at`` set), so the audit trail that names
    it still says who it was; it can no longer sign in and its sessions are ended.
    """

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    # A password set by someone else (the command line, an admin's reset) is for one
    # sign-in: the dashboard asks its owner to choose their own before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)


class UserSession(Base):
    """A dashboard sign-in, shared by every worker: signing out ends it everywhere."""

    __tablename__ = "user_session"

    # A hash of the token in the cookie: the table alone cannot be used to sign in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class SignInThrottle(Base):
    """Failed sign-ins counted per key (an account, an address) in a time window."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class FormNonce(Base):
    """A single-use id the server put in a web form; a second use of it is refused."""

    __tablename__ = "form_nonce"

    # A keyed hash of the nonce in the page, so the table alone cannot replay a form.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class RateWindow(Base):
    """A count of events for one key (a client address, a participant) in a time window."""

    __tablename__ = "rate_window"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Invitation(Base):
    """A person invited to a follow-up consultation: one row per person per follow-up.

    The unique constraint is what makes "never twice" hold across launches and workers.
    On private channels the invitation is an outbox row (``outbox_key``); on the web it
    waits for the person to come back to the earlier page (``shown_at`` once seen).
    """

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("consultation_id", "participant_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), index=True
    )
    # The earlier consultation this person took part in (where the web page shows it).
    earlier_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    outbox_key: Mapped[str | None] = mapped_column(String(160), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shown_at: Mapped[datetime | None] = mapped_column(default=None)


class ScheduledAction(Base):
    """A time-driven action on a consultation (open, close), done once across workers.

    Whoever inserts the row first does the action; ``done_at`` says it finished. A row
    claimed long ago and never done (its worker died) may be claimed again.
    """

    __tablename__ = "scheduled_action"

    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(Text, default=None)


class KeyCheck(Base):
    """What tells whether a key is the one the store was made with, never the key itself.

    ``verifier`` is a keyed hash of a fixed label (``consultations.keys.Keyring.verifier``):
    a start with another key (a typo, a lost development key file) finds it differs and
    refuses, instead of taking every person for a stranger and missing who said STOP.
    """

    __tablename__ = "key_check"

    # Which key: "pseudonym" (ENGAGE_PSEUDONYM_KEY, which also seals platform references).
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    verifier: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
