"""Engagement models: the ways of using social media in service design and QI, as templates.

Each model is a pattern of polls, prompts and threads suited to some activities and some
stages of the Plan-Do-Study-Act cycle (see "Engagement models" in the design notes). A spec
names its model in ``model:``; the model gives a starter spec to edit
(:meth:`EngagementModel.template`, :func:`template_yaml`) and may fill in a small number of
defaults when the spec leaves them out:

- ``recruitment`` asks permission to contact people again (``consent.recontact: true``);
- ``recruitment`` and ``closing-the-loop`` have a default ``closing_message``.

A model never limits what a spec may contain: any mix of items is accepted whatever the
model, so the model is a label for reporting and a starting point, not a rule.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import yaml

from consultations.spec.model import ID_PATTERN, Item, ItemType, Segment, Stage, is_valid_id

__all__ = ["MODELS", "EngagementModel", "template_yaml"]

_CONSENT = (
    "We will use your answers to improve this service. We do not keep your name or account "
    "details with them, and we may quote what you write without saying who you are. "
    "Reply STOP at any time to stop taking part."
)
_THANKS = "Thank you for taking part. We will share what we learn and what we change."

_ROLE = Segment(
    id="role",
    text="Which best describes you?",
    options=("Patient", "Carer or family member", "Staff", "Community member"),
)


@dataclass(frozen=True)
class EngagementModel:
    """One way of engaging people, what it is built from, and a starter spec for it.

    Attributes:
        name: the value of ``model:`` in a spec, e.g. ``pulse-poll``.
        title: a short human name, e.g. "Pulse poll".
        summary: one sentence on what happens.
        item_kinds: the item types the model is built from (a spec may use others).
        stages: the PDSA stages it suits best; the first is the template's stage.
        guidance: a few sentences on running it well, shown in the YAML template.
        recontact_default: ``consent.recontact`` when the spec does not say.
        closing_message_default: ``closing_message`` when the spec does not give one.
        starter_title: the template's title.
        starter_items: the template's items.
        starter_segments: the template's segment questions.
        starter_channels: the template's channels.
    """

    name: str
    title: str
    summary: str
    item_kinds: tuple[ItemType, ...]
    stages: tuple[Stage, ...]
    guidance: str
    starter_title: str
    starter_items: tuple[Item, ...]
    starter_segments: tuple[Segment, ...] = (_ROLE,)
    starter_channels: tuple[str, ...] = ("web",)
    recontact_default: bool = False
    closing_message_default: str | None = None
    # Settings of the model's own beside the items (listening's hashtags, say).
    starter_extra: Mapping[str, Any] = field(default_factory=dict)
    # Minutes after the start of a timed chat at which each prompt is posted (``at:``).
    starter_minutes: tuple[int, ...] = ()

    def template(self, consultation_id: str) -> dict[str, Any]:
        """A starter spec for this model, valid as it stands, for the service to edit.

        Raises:
            ValueError: ``consultation_id`` is not a valid id.
        """
        if not is_valid_id(consultation_id):
            raise ValueError(
                f"'{consultation_id}' is not a valid consultation id: use lowercase letters, "
                f"digits and single hyphens (pattern {ID_PATTERN.pattern}), at most 64 characters"
            )
        data: dict[str, Any] = {
            "id": consultation_id,
            "title": self.starter_title,
            "organisation": "Your health service",
            "model": self.name,
            "qi": {"project": self.starter_title, "stage": self.stages[0], "cycle": 1},
            "channels": list(self.starter_channels),
            "language": "en",
            "consent": {"text": _CONSENT, "recontact": self.recontact_default},
            "segments": [segment.to_dict() for segment in self.starter_segments],
            "items": [item.to_dict() for item in self.starter_items],
            "closing_message": self.closing_message_default or _THANKS,
        }
        data.update(copy.deepcopy(dict(self.starter_extra)))
        if self.starter_minutes:
            # The chat at noon the day after the template is made (UTC), to be edited:
            # each question posted at its time, a few minutes apart.
            start = (datetime.now(UTC) + timedelta(days=1)).replace(
                hour=12, minute=0, second=0, microsecond=0
            )
            prompts = [item for item in data["items"] if item["type"] == "prompt"]
            for item, minutes in zip(prompts, self.starter_minutes, strict=False):
                item["at"] = (start + timedelta(minutes=minutes)).isoformat()
        if self.recontact_default:
            data["consent"]["text"] = (
                _CONSENT + " We will also ask whether we may contact you again about this work."
            )
        return data


_MODELS = (
    EngagementModel(
        name="pulse-poll",
        title="Pulse poll",
        summary=(
            "A single quick closed question sent to as many people as possible, to gauge "
            "how big a problem is or whether a change has made a difference."
        ),
        item_kinds=("poll",),
        stages=("plan", "study"),
        guidance=(
            "Keep it to one or two polls that take seconds to answer. Run the same poll "
            "before a change (stage plan) and after it (stage study, next cycle) so the "
            "report can compare the two."
        ),
        starter_title="How easy is it to book an appointment?",
        starter_items=(
            Item(
                id="ease",
                type="poll",
                text="How easy was it to book your last appointment with us?",
                options=("Very easy", "Easy", "Neither easy nor hard", "Hard", "Very hard"),
            ),
        ),
    ),
    EngagementModel(
        name="feedback-prompt",
        title="Feedback prompt",
        summary=(
            "An open invitation for people to tell, in their own words, what using a "
            "service was like for them."
        ),
        item_kinds=("prompt",),
        stages=("plan", "do"),
        guidance=(
            "Ask about one concrete experience rather than opinions in general. The report "
            "groups the stories into themes with example quotes."
        ),
        starter_title="Your experience of our service",
        starter_items=(
            Item(
                id="experience",
                type="prompt",
                text="Tell us about your last visit: what went well, and what could have "
                "gone better?",
            ),
            Item(
                id="one-change",
                type="prompt",
                text="If you could change one thing about our service, what would it be?",
            ),
        ),
    ),
    EngagementModel(
        name="co-design-thread",
        title="Co-design thread",
        summary=(
            "A facilitated discussion where people work through a design problem together, "
            "replying to the question and to each other."
        ),
        item_kinds=("thread", "poll"),
        stages=("plan", "do"),
        guidance=(
            "Pose one design problem per thread and post short summaries back into it as "
            "the discussion moves on. A poll can check which direction people prefer."
        ),
        starter_title="Designing our appointment reminders together",
        starter_items=(
            Item(
                id="reminder",
                type="thread",
                text="Let's design our appointment reminder together. What should it say, "
                "and when should it arrive?",
            ),
            Item(
                id="reminder-timing",
                type="poll",
                text="When would a reminder help you most?",
                options=("A week before", "Two days before", "The day before", "On the day"),
            ),
        ),
    ),
    EngagementModel(
        name="timed-chat",
        title="Timed chat",
        summary=(
            "A live hour in which a moderator posts a short series of numbered questions "
            "and people answer each one with the matching number."
        ),
        item_kinds=("thread", "prompt"),
        stages=("plan",),
        guidance=(
            "Set opens_at and closes_at about an hour apart and announce the time in "
            "advance. Post Q1, Q2 and Q3 a few minutes apart; people start their replies "
            "with A1, A2 or A3."
        ),
        starter_title="Live chat: getting to your appointment",
        starter_items=(
            Item(
                id="chat",
                type="thread",
                text="Welcome to our one-hour chat about getting to your appointment. We "
                "will post three questions; start each reply with A1, A2 or A3.",
            ),
            Item(id="q1", type="prompt", text="How do you usually travel to see us?"),
            Item(id="q2", type="prompt", text="What makes getting here hard?"),
            Item(id="q3", type="prompt", text="What one change would help most?"),
        ),
        starter_minutes=(5, 20, 35),
    ),
    EngagementModel(
        name="priority-setting",
        title="Priority setting",
        summary=(
            "People rank or rate a list of options over one or more rounds, seeing the "
            "group's results before each new round."
        ),
        item_kinds=("poll",),
        stages=("plan", "act"),
        guidance=(
            "Ask the deciding poll in rounds (rounds: 3, round_gap: 48h on the item): each "
            "new round shows people the group's answers and their own, and is asked again "
            "only of those who answered the round before, so opinions can settle."
        ),
        starter_title="What should we improve first?",
        starter_items=(
            Item(
                id="priorities",
                type="poll",
                text="Which of these matter most to you? Choose all that apply.",
                options=(
                    "Shorter waiting times",
                    "Easier booking",
                    "Clearer information",
                    "More appointments after hours",
                ),
                multiple=True,
            ),
            Item(
                id="top-priority",
                type="poll",
                text="If we could only do one, which should it be?",
                options=(
                    "Shorter waiting times",
                    "Easier booking",
                    "Clearer information",
                    "More appointments after hours",
                ),
                rounds=3,
                round_gap=timedelta(hours=48),
            ),
        ),
    ),
    EngagementModel(
        name="idea-crowdsourcing",
        title="Idea crowdsourcing",
        summary=(
            "People suggest ideas and say whether they agree or disagree with statements "
            "drawn from others' ideas, showing where opinion groups form."
        ),
        item_kinds=("statements",),
        stages=("plan",),
        guidance=(
            "Seed a few short statements of your own, one idea each, so the first people "
            "have something to vote on; people add theirs and vote agree, disagree or pass "
            "on others', one at a time. The report finds opinion groups and what nearly "
            "everyone agrees on. Use moderation: pre to read added statements first."
        ),
        starter_title="Ideas for a better waiting room",
        starter_items=(
            Item(
                id="ideas",
                type="statements",
                text="What would make our waiting room better?",
                seed=(
                    "The waiting room should show how long the wait is.",
                    "The waiting room should have a quiet area.",
                    "The waiting room should have more comfortable chairs.",
                    "The waiting room should have water to drink.",
                    "The waiting room should have a corner for children to play.",
                    "The waiting room should have free wifi.",
                    "The waiting room should have a screen showing who is next.",
                ),
                moderation="post",
            ),
        ),
    ),
    EngagementModel(
        name="listening",
        title="Listening",
        summary=(
            "Gathering what people already say in public about a service, without asking "
            "them anything."
        ),
        item_kinds=("prompt",),
        stages=("plan", "study"),
        guidance=(
            "Nothing is asked: public posts with the hashtags in mastodon.listen (and posts "
            "that mention the account) are gathered while it is open, and kept for the "
            "retention period. Replace #YourService with the tags people use for you."
        ),
        starter_title="What people say about our service",
        starter_items=(),
        starter_segments=(),
        starter_channels=("mastodon",),
        starter_extra=MappingProxyType(
            {"mastodon": {"listen": ["#YourService"]}, "retention": "90d"}
        ),
    ),
    EngagementModel(
        name="recruitment",
        title="Recruitment",
        summary=(
            "Inviting people to join deeper co-design work and asking their permission to "
            "contact them again."
        ),
        item_kinds=("prompt",),
        stages=("plan",),
        guidance=(
            "This model asks for permission to re-contact by default. Say plainly what "
            "taking part involves and only contact people who said yes."
        ),
        starter_title="Help us redesign our clinic",
        starter_items=(
            Item(
                id="interest",
                type="prompt",
                text="We are looking for people to help redesign our clinic. What would you "
                "like to bring to this work?",
            ),
            Item(
                id="availability",
                type="prompt",
                text="When could you usually take part (for example weekday evenings)?",
            ),
        ),
        recontact_default=True,
        closing_message_default=(
            "Thank you. If you agreed to be contacted again, we will be in touch about the "
            "next steps."
        ),
    ),
    EngagementModel(
        name="closing-the-loop",
        title="Closing the loop",
        summary=(
            "Telling the people who took part what they said and what changed as a result, "
            "and asking how they feel about it."
        ),
        item_kinds=("poll",),
        stages=("act",),
        guidance=(
            "Say what people told you and what you did about it in the poll's text, then "
            "ask for their reaction. Send it to the same channels as the first consultation, "
            "and add follow_up: {of: [FIRST-ID]} so that launching it invites, on their own "
            "channel, everyone there who agreed to be contacted again. `engage consultation "
            "draft-loop FIRST-ID` drafts all of this from the first consultation's act "
            "summary."
        ),
        starter_title="You said, we did: online booking",
        starter_items=(
            Item(
                id="reaction",
                type="poll",
                text="You told us booking by phone was hard, so you can now book online. "
                "How do you feel about this change?",
                options=(
                    "It helps a lot",
                    "It helps a little",
                    "It makes no difference",
                    "It makes things worse",
                ),
            ),
        ),
        closing_message_default="Thank you for telling us whether the change works for you.",
    ),
)

MODELS: Mapping[str, EngagementModel] = MappingProxyType({model.name: model for model in _MODELS})
"""Every engagement model, by name, in the order of the design notes."""


# --------------------------------------------------------------------------------------
# Commented YAML templates


class _Flow(list[Any]):
    """A list written on one line: ``[a, b, c]``."""


class _FlowDict(dict[str, Any]):
    """Fields written on one line: ``{a: 1, b: 2}``."""


class _TemplateDumper(yaml.SafeDumper):
    """Block style for sections, one-line lists for options and channels."""


_TemplateDumper.add_representer(
    _Flow,
    lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True),
)
_TemplateDumper.add_representer(
    _FlowDict,
    lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True),
)


def _dump(data: object) -> str:
    return yaml.dump(data, Dumper=_TemplateDumper, sort_keys=False, allow_unicode=True, width=4096)


def _comment(text: str, indent: str = "") -> str:
    lines = textwrap.wrap(text, width=88 - len(indent) - 2, break_on_hyphens=False)
    return "".join(f"{indent}# {line}\n" for line in lines)


def _entries(entries: list[dict[str, Any]], notes: list[str | None]) -> str:
    """A list of sections (items or segments), each with its note, indented under its key."""
    out = []
    for entry, note in zip(entries, notes, strict=True):
        if note:
            out.append(_comment(note, indent="  "))
        if "options" in entry:
            entry = {**entry, "options": _Flow(entry["options"])}
        out.append(textwrap.indent(_dump([entry]), "  "))
    return "".join(out)


_ITEM_NOTES: Mapping[ItemType, str] = {
    "poll": "A poll: a closed question with 2 or more options. Add `multiple: true` to let "
    "people choose several.",
    "prompt": "A prompt: an open question people answer in their own words.",
    "thread": "A thread: a discussion people reply to, and reply to each other in.",
    "statements": "Statements: people add short statements and vote agree, disagree or pass "
    "on others', one at a time. seed: the ones you start with; moderation: pre to approve "
    "each added statement before anyone sees it.",
}

_OPTIONAL_SETTINGS = """\
# Optional: when the consultation opens and closes (with a timezone).
# opens_at: 2026-12-01T09:00:00+10:00
# closes_at: 2026-12-15T17:00:00+10:00

# The crisis helplines the safety reply offers: those of AU, UK or US. Set the region
# the service is in.
safety:
  region: AU
"""

_CHANNEL_SETTINGS = """\
# Optional channel settings:
# telegram:
#   chats: [-1001234567890]   # groups or channels where the items are posted on launch
# mastodon:
#   visibility: public        # public or unlisted
"""


def template_yaml(model: str | EngagementModel, consultation_id: str) -> str:
    """A starter spec for ``model`` as YAML with notes, ready to edit and validate.

    Raises:
        ValueError: the model name is unknown or ``consultation_id`` is not a valid id.
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(
                f"unknown engagement model '{model}'; choose one of {', '.join(MODELS)}"
            )
        model = MODELS[model]
    data = model.template(consultation_id)
    fields = {
        "id": "Stable id: lowercase letters, digits and hyphens. Answers are stored under it.",
        "title": "The name people see.",
        "organisation": "Who runs the consultation, as people will see it.",
        "model": "The engagement model; one of " + ", ".join(MODELS) + ".",
        "qi": "The quality-improvement project, its PDSA stage (plan, do, study or act) "
        "and cycle number.",
        "channels": "Where to run it: any of web, telegram, mastodon.",
        "language": "The language the texts are written in, as a code such as en or mi.",
        "consent": "What people agree to before answering. recontact: true also asks "
        "whether we may contact them again.",
        "segments": "Optional questions people answer about themselves, used to break "
        "results down. Delete the section if you do not need it.",
    }
    stages = ", ".join(model.stages)
    plural = "s" if len(model.stages) > 1 else ""
    out = [
        _comment(f"{model.title} ({model.name}): {model.summary}"),
        "#\n",
        _comment(f"Suits PDSA stage{plural}: {stages}. {model.guidance}"),
        "#\n",
        "# Check this file with: engage consultation validate FILE\n",
        "# Lines starting with # are notes and are ignored.\n",
    ]
    for key, note in fields.items():
        value = data[key]
        if key == "segments" and not value:
            continue
        if note:
            out.append("\n" + _comment(note))
        if key == "qi":
            out.append(_dump({key: _FlowDict(value)}))
        elif key == "channels":
            out.append(_dump({key: _Flow(value)}))
        elif key == "segments":
            out.append("segments:\n" + _entries(value, [None] * len(value)))
        else:
            out.append(_dump({key: value}))
    out.append("\n" + _OPTIONAL_SETTINGS)
    if data["items"]:
        out.append("\nitems:\n")
        out.append(_entries(data["items"], [_ITEM_NOTES[item["type"]] for item in data["items"]]))
    else:
        out.append("\n" + _comment("Nothing is asked."))
        out.append("items: []\n")
    for key in model.starter_extra:
        out.append("\n" + _dump({key: data[key]}))
    out.append("\n" + _comment("Sent when someone has answered everything."))
    out.append(_dump({"closing_message": data["closing_message"]}))
    out.append("\n" + _CHANNEL_SETTINGS)
    return "".join(out)
