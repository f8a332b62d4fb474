"""Words of follow-up invitations and reminders, and who may receive them: pure functions.

A follow-up consultation (``follow_up`` in its spec) invites the people of earlier
consultations who agreed to be contacted again. The store decides who that is; this
module says what they are told, in words that work on every channel (a button on
Telegram, a numbered reply on Mastodon, a link on the web page).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from consultations.dialogue import (
    CHOOSE,
    CONSENT,
    ERASE,
    RECONTACT,
    Question,
    item_question,
    recontact_question,
    segment_question,
)
from consultations.loop import ASK, LOOP
from consultations.spec import ConsultationSpec

INVITATION_KIND = "invitation"
"""The outbox kind of an invitation: never sent again after an interrupted send."""
REMINDER_KIND = "reminder"
"""The outbox kind of a reminder: sent at most once per person per consultation."""


@dataclass(frozen=True)
class InvitationText:
    """An invitation: its words, and the one-option choice that starts the follow-up."""

    text: str
    question: str
    question_type: str
    options: tuple[str, ...]


def invitation(
    spec: ConsultationSpec, earlier_title: str, earlier_id: str | None = None
) -> InvitationText:
    """What a person who agreed to be contacted again is sent for follow-up ``spec``.

    A closing-the-loop follow-up of ``earlier_id`` says what people said and what changed
    first, in the invitation itself: it reaches each person on their own channel whether
    or not they go on to answer (a channel whose polls are posted in public, Mastodon,
    would otherwise never show it in the conversation).
    """
    invite = spec.wording()(
        "followup_invite",
        earlier=earlier_title,
        organisation=spec.organisation,
        title=spec.title,
    )
    said = you_said_we_did(spec, earlier_id) if earlier_id is not None else None
    return InvitationText(
        text=f"{said}\n\n{invite}" if said else invite,
        question=CHOOSE,
        question_type="choose",
        options=(spec.id,),
    )


def web_invitation_text(spec: ConsultationSpec) -> str:
    """The line the earlier page shows to a person it invites (a link follows it)."""
    return spec.wording()("followup_web_invite", organisation=spec.organisation, title=spec.title)


def you_said_we_did(spec: ConsultationSpec, earlier_id: str) -> str | None:
    """What closing-the-loop ``spec`` tells the people of ``earlier_id``: what they said
    and what changed, as its reaction poll says it (the model's guidance puts it there,
    and ``draft-loop`` writes it so), without the question asking how they feel.

    ``None`` when ``spec`` is not a loop that follows up ``earlier_id``, or has no poll.
    Public words the service wrote (its poll is posted in public): no one's answers.
    """
    if spec.model != LOOP or spec.follow_up is None or earlier_id not in spec.follow_up.of:
        return None
    poll = next((item for item in spec.items if item.type == "poll"), None)
    if poll is None:
        return None
    text = poll.text.strip()
    return text.removesuffix(ASK).strip() or text


def reminder_text(spec: ConsultationSpec) -> str:
    """The one reminder to someone who started and did not finish."""
    return spec.wording()("reminder", title=spec.title)


def pending_question(spec: ConsultationSpec, pending: str | None) -> Question | None:
    """The question a person was left on (``Dialogue.pending``), to ask again in a reminder.

    ``None`` when there is none to repeat: not started (consent still pending), or a
    question this spec no longer has.
    """
    if pending is None or pending in (CONSENT, CHOOSE, ERASE):
        return None
    if pending == RECONTACT:
        return recontact_question(spec)
    for segment in spec.segments:
        if segment.id == pending:
            question = segment_question(segment.id, segment.text, segment.options)
            return replace(question, consultation_id=spec.id)
    for item in spec.items:
        if item.id == pending:
            return replace(item_question(item), consultation_id=spec.id)
    return None
