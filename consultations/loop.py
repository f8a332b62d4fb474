"""Drafting a ``closing-the-loop`` consultation from an earlier one's act summary.

``engage consultation draft-loop ID`` turns what the act report says ("you said, we
did", drawn from the themes people raised and the changes the team made) into a spec
that goes back to the same people: the same channels and QI project, the act stage,
``follow_up`` set to the earlier consultation (so launching it invites everyone who
agreed to be contacted again), and a reaction poll. The draft is meant to be edited,
but is valid as it stands, within every channel's limits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

# The spec package first: consultations.models is only importable once it is loaded.
from consultations import spec as spec_types
from consultations.models import MODELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from consultations.insights import ChangeMarker

LOOP = "closing-the-loop"

#: The reaction poll's options (the engagement model's own).
REACTIONS: tuple[str, ...] = MODELS[LOOP].starter_items[0].options

#: Longest poll question every channel takes (Telegram's native polls: 300 characters).
QUESTION_MAX = 300
ASK = "How do you feel about this change?"


class NothingToDraft(ValueError):
    """There is nothing to close the loop on yet; the message says why.

    ``reason`` names the case (``never-launched``, ``no-responses``) for those that answer
    in words of their own (the dashboard's notices).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def act_summary(
    session: AsyncSession, consultation_id: str, changes: Sequence[ChangeMarker] = ()
) -> Mapping[str, Any]:
    """The act summary (``stage_summary.act``) a loop for ``consultation_id`` is drafted from.

    The one way to it for the command line and the dashboard alike. Raises
    :class:`NothingToDraft` for a consultation never launched (there is no one to close
    the loop with) or without a response (nothing to say back to anyone);
    :class:`consultations.service.NotFound` and
    :class:`consultations.reporting.ReportError` as the report does.
    """
    from consultations import reporting, service

    row = await service.require(session, consultation_id)
    if row.opened_at is None:
        raise NothingToDraft(
            "never-launched",
            f"{consultation_id} was never launched, so there is no one to close the loop with",
        )
    report = await reporting.build(session, consultation_id, stage="act", changes=changes)
    if report["participation"]["responses"] == 0:
        raise NothingToDraft(
            "no-responses",
            f"{consultation_id} has no responses yet, so there is nothing to say back to anyone",
        )
    act: Mapping[str, Any] = report["stage_summary"]["act"]
    return act


def loop_id(earlier_id: str, taken: Collection[str] = ()) -> str:
    """The draft's id: the earlier one's with ``-loop``, within the id length; when that
    names a consultation already launched (``taken``), ``-loop-2``, ``-loop-3``, ..."""
    number = 1
    while True:
        suffix = "-loop" if number == 1 else f"-loop-{number}"
        found = earlier_id[: spec_types.ID_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if found not in taken:
            return found
        number += 1


async def launched_ids(session: AsyncSession, prefix: str) -> set[str]:
    """Ids of consultations past the draft stage that start with ``prefix`` (a draft of
    the same id is replaced by ``create``, so it does not take the id)."""
    from sqlalchemy import select

    from consultations import service
    from storage.tables import Consultation

    return set(
        await session.scalars(
            select(Consultation.id).where(
                Consultation.id.startswith(prefix, autoescape=True),
                Consultation.state != service.DRAFT,
            )
        )
    )


def _lines(message: str) -> tuple[str, str]:
    """The "You said" and "We did" sentences of an act summary's draft message."""
    said = next((line for line in message.splitlines() if line.startswith("You said")), "")
    did = next((line for line in message.splitlines() if line.startswith("We did")), "")
    return said or "You told us what matters to you.", did or "We did: [what we changed]."


def reaction_question(message: str) -> str:
    """ "You said ... We did ... How do you feel?", shortened to fit a poll question."""
    said, did = _lines(message)
    room = QUESTION_MAX - len(did) - len(ASK) - 2
    if len(said) > room:
        said = said[: max(room - 1, 0)].rsplit(" ", 1)[0].rstrip(";,") + "…"
    return f"{said} {did} {ASK}".strip() if said else f"{did} {ASK}"


def draft(
    spec: spec_types.ConsultationSpec, act: Mapping[str, Any], taken: Collection[str] = ()
) -> dict[str, Any]:
    """The spec data of the loop for ``spec``, from its act summary (``stage_summary.act``)."""
    message = str(act.get("you_said_we_did") or "")
    data: dict[str, Any] = {
        "id": loop_id(spec.id, taken),
        "title": _title(spec.title),
        "organisation": spec.organisation,
        "model": LOOP,
        "qi": {"project": spec.qi.project, "stage": "act", "cycle": spec.qi.cycle},
        "channels": list(spec.channels),
        "language": spec.language,
        "consent": {
            "text": (
                f"We are sharing what changed after “{spec.title}” and asking what you think "
                "of it. We use your answer to check the change works. Reply STOP to leave "
                "at any time."
            ),
            "recontact": False,
        },
        "follow_up": {"of": [spec.id], "invite": "recontact"},
        "items": [
            {
                "id": "reaction",
                "type": "poll",
                "text": reaction_question(message),
                "options": list(REACTIONS),
            },
            {
                "id": "anything-else",
                "type": "prompt",
                "text": "Is there anything else you would like to tell us about this change?",
            },
        ],
        "closing_message": MODELS[LOOP].closing_message_default,
    }
    # The same helplines and response time as the consultation people answered.
    safety = spec.safety.to_dict()
    if not safety["helplines"]:
        del safety["helplines"]
    data["safety"] = safety
    if spec.texts:
        data["texts"] = dict(spec.texts)
    if spec.telegram.chats:
        data["telegram"] = {"chats": list(spec.telegram.chats)}
    if spec.mastodon.visibility != "public":
        data["mastodon"] = {"visibility": spec.mastodon.visibility}
    if spec.timezone != "UTC":
        data["timezone"] = spec.timezone
    quiet = spec.to_dict().get("quiet_hours")
    if quiet is not None:
        data["quiet_hours"] = quiet
    return data


def _title(earlier: str) -> str:
    return f"You said, we did: {earlier}"


def _in_english(language: str) -> bool:
    return language.replace("_", "-").split("-")[0].lower() == "en"


def draft_yaml(data: Mapping[str, Any], message: str) -> str:
    """The draft as YAML, opening with the act summary's full message to edit from.

    The words the draft writes (title, consent, the two questions, the "you said, we
    did" message) are English: the catalogues in consultations/texts have no
    translation of them, so a draft in another language says that they need translating.
    """
    language = str(data.get("language") or "en")
    translate = (
        []
        if _in_english(language)
        else [
            f"# language: {language}. The texts this draft wrote (title, consent.text, the",
            "# items' texts, closing_message) are in English: translate them before launch.",
            "#",
        ]
    )
    header = [
        *translate,
        "# A closing-the-loop consultation drafted from the act summary.",
        "# Edit the reaction poll's text (what people said, what you changed), then:",
        f"#   engage consultation create FILE && engage consultation launch {data['id']}",
        "# Launching invites, on their own channel, everyone who agreed to be contacted again.",
        "#",
        '# The act summary\'s "you said, we did" message, in full:',
        *(f"#   {line}" for line in message.splitlines()),
        "",
    ]
    body = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + body
