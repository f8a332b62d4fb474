"""Inviting the people of earlier consultations to a follow-up, and the reach it had.

Launching a consultation whose spec has ``follow_up`` invites each person of the
earlier consultations who agreed to be contacted again (a ``recontact`` consent given
and not withdrawn), privately, on the channel they used: an outbox row on Telegram and
Mastodon (paced by the outbox sender, held out of the spec's quiet hours), and on the
web an invitation the earlier page shows when they come back. Nobody who said STOP,
was erased or declined is invited (STOP withdraws consent and marks the person opted
out; erasure deletes them), and the ``invitation`` table's unique (follow-up, person)
row means nobody is invited twice, whoever launches and however often.

Someone whose safety disclosure a moderator has not yet resolved is not invited either:
the first contact after a disclosure is a person's, not a survey's. Launching again once
the case is resolved invites them (launching is safe to repeat).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from channels.events import OutboundMessage
from consultations import followups, loop, moderation, screening, service
from consultations.spec import ConsultationSpec
from storage.lists import one_of
from storage.queries import (
    ReferenceKeys,
    add_outbox_rows,
    cases_of,
    dialect_insert,
    outbox_row,
)
from storage.tables import (
    Consent,
    Consultation,
    Invitation,
    ModerationCase,
    OutboxEntry,
    Participant,
    Response,
    utcnow,
)

#: Rows written per statement when inviting many people at once.
BATCH = 1000


def invitation_key(consultation_id: str, participant_id: int) -> str:
    """The outbox idempotency key of one person's invitation to one follow-up."""
    return f"invite:{consultation_id}:{participant_id}"


@dataclass(frozen=True)
class _Candidate:
    participant_id: int
    channel: str
    address: str | None
    earlier_id: str


async def invite(
    session: AsyncSession,
    keyring: ReferenceKeys,
    spec: ConsultationSpec,
    *,
    channels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Invite everyone of ``spec.follow_up.of`` who agreed to be contacted again.

    Runs in the caller's transaction. Only people on ``channels`` (default: the
    follow-up's own) are invited; someone already invited is skipped. Returns how many
    were newly invited, per channel (every channel asked for is present, maybe with 0).
    """
    wanted = [c for c in (channels or spec.channels) if c in spec.channels]
    counts = dict.fromkeys(wanted, 0)
    if spec.follow_up is None or not wanted:
        return counts
    now = now or utcnow()
    # Launched ahead of its opening: the invitations go out when it opens; and never
    # in the quiet hours (queued then, they are due when those hours end).
    due = max(now, spec.opens_at) if spec.opens_at is not None else now
    due = spec.quiet_hours.ends_after(due, spec.timezone)
    earlier = list(spec.follow_up.of)
    titles = dict(
        (
            await session.execute(
                select(Consultation.id, Consultation.title).where(one_of(Consultation.id, earlier))
            )
        ).all()
    )
    # A "no" to re-contact in any of the consultations named (or a yes withdrawn) is a
    # no: someone who agreed in one and declined in another is not invited.
    declined = aliased(Consent)
    said_no = (
        select(declined.id)
        .where(
            declined.participant_id == Participant.id,
            one_of(declined.consultation_id, earlier),
            declined.purpose == "recontact",
            or_(declined.given.is_(False), declined.withdrawn_at.is_not(None)),
        )
        .exists()
    )
    # A disclosure waiting for a moderator, in any consultation.
    waiting = _disclosure_waits(Participant.id)
    rows = await session.execute(
        select(Participant.id, Participant.channel, Participant.address, Consent.consultation_id)
        .join(Consent, Consent.participant_id == Participant.id)
        .where(
            one_of(Consent.consultation_id, earlier),
            Consent.purpose == "recontact",
            Consent.given.is_(True),
            Consent.withdrawn_at.is_(None),
            Participant.opted_out_at.is_(None),
            one_of(Participant.channel, wanted),
            ~said_no,
            ~waiting,
        )
        .order_by(Participant.id)
    )
    order = {cid: index for index, cid in enumerate(earlier)}
    chosen: dict[int, _Candidate] = {}
    for pid, channel, address, earlier_id in rows:
        if channel != "web" and address is None:
            continue  # never wrote privately: there is nowhere private to invite them
        found = chosen.get(pid)
        if found is None or order[earlier_id] < order[found.earlier_id]:
            chosen[pid] = _Candidate(pid, channel, address, earlier_id)
    candidates = list(chosen.values())
    for start in range(0, len(candidates), BATCH):
        batch = candidates[start : start + BATCH]
        inserted = await session.execute(
            dialect_insert(session, Invitation)
            .on_conflict_do_nothing(index_elements=["consultation_id", "participant_id"])
            .returning(Invitation.participant_id),
            [
                {
                    "consultation_id": spec.id,
                    "participant_id": c.participant_id,
                    "earlier_id": c.earlier_id,
                    "channel": c.channel,
                    "outbox_key": (
                        None if c.channel == "web" else invitation_key(spec.id, c.participant_id)
                    ),
                    "created_at": now,
                }
                for c in batch
            ],
        )
        new = {int(pid) for (pid,) in inserted}
        messages = []
        for c in batch:
            if c.participant_id not in new:
                continue
            counts[c.channel] += 1
            if c.channel == "web":
                continue  # shown on the earlier page when the person returns
            words = followups.invitation(spec, titles.get(c.earlier_id, c.earlier_id), c.earlier_id)
            message = OutboundMessage(
                text=words.text,
                consultation_id=spec.id,
                question=words.question,
                question_type=words.question_type,
                options=words.options,
                kind=followups.INVITATION_KIND,
                language=spec.wording().language,
            )
            messages.append(
                outbox_row(
                    channel=c.channel,
                    key=invitation_key(spec.id, c.participant_id),
                    payload=message.to_json(),
                    address=_fresh_address(keyring, c.channel, c.address),
                    participant_id=c.participant_id,
                    consultation_id=spec.id,
                    due=due,
                    quiet_hours=spec.quiet_hours.to_json(spec.timezone),
                    bulk=message.bulk,
                    now=now,
                )
            )
        await add_outbox_rows(session, messages)
    return counts


def _disclosure_waits(participant_id: Any) -> ColumnElement[bool]:
    """Whether a safety disclosure of the person (an id, or a column of an enclosing
    query) waits for a moderator, in any consultation: the first contact after one is a
    person's, so nobody is invited then."""
    return (
        select(ModerationCase.id)
        .where(
            cases_of(participant_id),
            ModerationCase.reason == screening.SAFETY,
            ModerationCase.status.in_(moderation.OPEN_STATES),
        )
        .exists()
    )


def _fresh_address(keyring: ReferenceKeys, channel: str, sealed: str | None) -> str | None:
    """The person's sealed address, as a new private conversation rather than a reply.

    A Mastodon address names the direct message it answered; an invitation starts a
    new direct message instead of replying in an old thread that may be gone.
    """
    if sealed is None or channel != "mastodon":
        return sealed
    address = keyring.unseal(sealed)
    if isinstance(address, dict) and "reply_to" in address:
        address = {key: value for key, value in address.items() if key != "reply_to"}
        return keyring.seal(address)
    return sealed


@dataclass(frozen=True)
class ChannelReach:
    """How far a follow-up's invitations got on one channel."""

    channel: str
    invited: int
    delivered: int
    answered: int

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "invited": self.invited,
            "delivered": self.delivered,
            "answered": self.answered,
        }


async def reach(session: AsyncSession, consultation_id: str) -> list[ChannelReach]:
    """Invited, delivered (sent, or seen on the web page) and answered, per channel."""
    invited = dict(
        (
            await session.execute(
                select(Invitation.channel, func.count(Invitation.id))
                .where(Invitation.consultation_id == consultation_id)
                .group_by(Invitation.channel)
            )
        ).all()
    )
    sent = dict(
        (
            await session.execute(
                select(Invitation.channel, func.count(Invitation.id))
                .join(OutboxEntry, OutboxEntry.idempotency_key == Invitation.outbox_key)
                .where(Invitation.consultation_id == consultation_id, OutboxEntry.status == "sent")
                .group_by(Invitation.channel)
            )
        ).all()
    )
    shown = dict(
        (
            await session.execute(
                select(Invitation.channel, func.count(Invitation.id))
                .where(
                    Invitation.consultation_id == consultation_id,
                    Invitation.shown_at.is_not(None),
                )
                .group_by(Invitation.channel)
            )
        ).all()
    )
    answered_people = (
        select(Response.participant_id)
        .where(Response.consultation_id == consultation_id)
        .distinct()
        .scalar_subquery()
    )
    answered = dict(
        (
            await session.execute(
                select(Invitation.channel, func.count(Invitation.id))
                .where(
                    Invitation.consultation_id == consultation_id,
                    Invitation.participant_id.in_(answered_people),
                )
                .group_by(Invitation.channel)
            )
        ).all()
    )
    return [
        ChannelReach(
            channel=channel,
            invited=int(invited[channel]),
            delivered=int(sent.get(channel, 0)) + int(shown.get(channel, 0)),
            answered=int(answered.get(channel, 0)),
        )
        for channel in sorted(invited)
    ]


@dataclass(frozen=True)
class WebInvitation:
    """A follow-up the web page shows to a person it invites."""

    consultation_id: str
    text: str
    #: The follow-up's language, which may not be the page's (WCAG 3.1.2, language of parts).
    language: str = "en"


@dataclass(frozen=True)
class PublishedLoop:
    """A closing-the-loop follow-up's "you said, we did", in its own language."""

    text: str
    language: str = "en"


async def published_loops(session: AsyncSession, earlier_id: str) -> list[PublishedLoop]:
    """The "you said, we did" of each closing-the-loop follow-up of ``earlier_id`` that
    was launched (open or closed since), first launched first.

    For the earlier consultation's page once it is closed, shown to whoever visits it:
    people who did not agree to be contacted again are never sent it, but the service's
    public words are there for them when they come back.
    """
    rows = await session.scalars(
        select(Consultation)
        .where(
            Consultation.model == loop.LOOP,
            Consultation.state != service.DRAFT,
            Consultation.opened_at.is_not(None),
        )
        .order_by(Consultation.opened_at, Consultation.id)
    )
    found = []
    for row in rows:
        spec = service.spec_of(row)
        text = followups.you_said_we_did(spec, earlier_id)
        if text:
            found.append(PublishedLoop(text, spec.wording().language))
    return found


def invited_on_web(participant_id: Any) -> ColumnElement[bool]:
    """The invitations of a web participant (a value, or a column of a query that joins
    it: the page's first query asks whether any exist; :func:`web_invitations` then keeps
    those the page may show)."""
    return and_(Invitation.participant_id == participant_id, Invitation.channel == "web")


async def web_invitations(
    session: AsyncSession, participant_id: int, now: datetime, *, earlier_id: str
) -> list[WebInvitation]:
    """Follow-ups this web participant is invited to and can answer now; marked shown.

    Shown on the page of an earlier consultation ``earlier_id`` when the person comes
    back to it (it may well be closed by then), until they have answered the follow-up,
    or said no to it or left it (its consent refused or withdrawn): on the page of any of
    the consultations the follow-up names, not only the one the invitation was counted
    for (someone who took part in two returns to either).
    """
    answered = (
        select(Response.id)
        .where(
            Response.participant_id == participant_id,
            Response.consultation_id == Invitation.consultation_id,
        )
        .exists()
    )
    declined = (
        select(Consent.id)
        .where(
            Consent.participant_id == participant_id,
            Consent.consultation_id == Invitation.consultation_id,
            Consent.purpose == "consultation",
            or_(Consent.given.is_(False), Consent.withdrawn_at.is_not(None)),
        )
        .exists()
    )
    rows = (
        await session.execute(
            select(Invitation, Consultation)
            .join(Consultation, Consultation.id == Invitation.consultation_id)
            .where(
                invited_on_web(participant_id),
                Consultation.state == service.OPEN,
                ~answered,
                ~declined,
            )
            .order_by(Invitation.id)
        )
    ).all()
    if rows and await session.scalar(select(_disclosure_waits(participant_id))):
        return []  # not until a moderator has resolved it, as on the private channels
    # Said no since the invitation was made (STOP on an earlier page withdraws its
    # consents): not shown, as a private channel's invitation is not sent after STOP.
    said_no = set()
    if rows:
        said_no = set(
            await session.scalars(
                select(Consent.consultation_id).where(
                    Consent.participant_id == participant_id,
                    Consent.purpose == "recontact",
                    or_(Consent.given.is_(False), Consent.withdrawn_at.is_not(None)),
                )
            )
        )
    found = []
    for invitation, consultation in rows:
        spec = service.spec_of(consultation)
        named = spec.follow_up.of if spec.follow_up is not None else ()
        if earlier_id != invitation.earlier_id and earlier_id not in named:
            continue
        if said_no.intersection(named or (invitation.earlier_id,)):
            continue
        if not service.accepting(consultation, spec, now):
            continue
        if invitation.shown_at is None:
            invitation.shown_at = now
        found.append(
            WebInvitation(spec.id, followups.web_invitation_text(spec), spec.wording().language)
        )
    return found
