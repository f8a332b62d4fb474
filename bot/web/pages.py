"""What the web channel's pages show: one typed context per template.

The HTML is in ``bot/web/templates/participant/`` (autoescaped Jinja2): plain forms that
work without JavaScript, on any phone. Accessibility: one ``h1`` per page, every control
labelled, radio groups in a ``fieldset`` with a ``legend``, visible focus, text and
controls at WCAG AA contrast or better, and a layout that reads in source order (so
focus order follows it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from bot.followups import PublishedLoop, WebInvitation
from bot.web.templating import Page
from consultations.spec import ConsultationSpec, Item, Segment
from consultations.texts import ENGLISH, Texts, negotiate

#: A message above a page's questions: ("safety" or "notice", text).
Message = tuple[str, str]


@dataclass(frozen=True)
class ThreadReply:
    """A reply in a thread, as shown to everyone."""

    ref: str
    text: str
    created: str
    mine: bool
    children: list[ThreadReply] = field(default_factory=list)


@dataclass(frozen=True)
class FormContext:
    """What every form on a page carries: CSRF token and a one-time submission id."""

    csrf: str
    nonce: str


@dataclass(frozen=True)
class EraseForm:
    """The "Delete my answers" form of a consultation, for a person the page knows."""

    consultation_id: str
    form: FormContext


@dataclass(frozen=True)
class Listing:
    """An open consultation on the index page."""

    id: str
    title: str
    organisation: str
    #: Its language, marked on its title and organisation (WCAG 3.1.2, language of parts).
    language: str = "en"


@dataclass(frozen=True)
class ConsultationPage(Page):
    """A page of one consultation: worded in its language, with its spec's overrides."""

    spec: ConsultationSpec

    @property
    def words(self) -> Texts:
        return self.spec.wording()


@dataclass(frozen=True)
class ConsentPage(ConsultationPage):
    """The consent question, asked before anything else."""

    template = "participant/consent.html"
    form: FormContext
    messages: Sequence[Message] = ()
    #: Follow-ups this person was invited to, shown on the earlier consultation's page.
    invitations: Sequence[WebInvitation] = ()
    #: Whether the page knows the person (their cookie: they left, or said no): they may
    #: delete what they gave before.
    erase: bool = False


@dataclass(frozen=True)
class SegmentsPage(ConsultationPage):
    """The self-description questions not yet seen."""

    template = "participant/segments.html"
    segments: Sequence[Segment]
    form: FormContext
    messages: Sequence[Message] = ()
    invitations: Sequence[WebInvitation] = ()


#: Statements offered beside the next one on the web page, per item: enough that anyone
#: can vote on any statement of a usual consultation; the rest come as votes are given.
MORE_STATEMENTS = 50


@dataclass(frozen=True)
class StatementCard:
    """The statement a person is asked to vote on next (statement voting)."""

    id: int
    text: str


@dataclass(frozen=True)
class ItemsPage(ConsultationPage):
    """The questions (answered ones filled in, to change), then the discussion threads.

    ``answers`` holds the person's current answer to each poll (its choices) and prompt
    (its text, alone in the sequence).
    """

    template = "participant/items.html"
    form: FormContext
    unanswered: Sequence[Item]
    answers: Mapping[str, Sequence[str]]
    threads: Mapping[str, Sequence[ThreadReply]]
    finished: bool
    messages: Sequence[Message] = ()
    #: Which page of the threads' top-level posts this is, and whether more follow.
    page: int = 1
    more: bool = False
    #: Statements items: the statement to vote on next in each (None: none left).
    cards: Mapping[str, StatementCard | None] = field(default_factory=dict)
    #: The other statements each may be voted on here too (CONTRACT.md: each statement
    #: is a form), at most :data:`MORE_STATEMENTS` of them, in the order they would come.
    more_cards: Mapping[str, Sequence[StatementCard]] = field(default_factory=dict)
    statement_max: int = 280
    #: Polls asked again in a Delphi round, with the words of the round (the group's
    #: answers and the person's own).
    rounds: Mapping[str, str] = field(default_factory=dict)
    #: Polls in a Delphi round this person is not part of, with the line saying so: their
    #: earlier answer is shown, not to change (a change would not be stored).
    closed: Mapping[str, str] = field(default_factory=dict)
    #: Whether the closing thanks is shown once all is answered (not after a post whose
    #: answer was not stored).
    thanks: bool = True
    #: A timed chat's questions whose time has not come: not shown yet.
    waiting: frozenset[str] = frozenset()
    #: When the next of them is shown, in the consultation's time zone (None: none to come).
    next_at: str | None = None
    #: The thread whose post came back empty: its box is marked and the error tied to it.
    missing: str | None = None
    #: With ``missing``: the reply (its ref) whose answer came back empty, if it was one.
    missing_reply: str | None = None
    invitations: Sequence[WebInvitation] = ()


@dataclass(frozen=True)
class NoticePage(Page):
    """A page that only says something; ``kind="safety"`` shows it as a safety message.

    ``kind="error"`` is a problem with what was sent, announced as an alert.
    """

    template = "participant/notice.html"
    title: str
    heading: str
    text: str
    kind: str = "notice"
    texts: Texts = ENGLISH

    @property
    def words(self) -> Texts:
        return self.texts

    invitations: Sequence[WebInvitation] = ()
    #: "Delete my answers", for a person the page knows (after leaving, after the close).
    erase: EraseForm | None = None
    #: "Leave" beside it, for someone still in (the safety message holds their questions).
    leave: bool = False
    #: A closed consultation's "you said, we did": each launched closing-the-loop
    #: follow-up's words (bot.followups.published_loops), for everyone who comes back.
    loops: Sequence[PublishedLoop] = ()
    #: Where the person carries on answering from (after a safety check-in), if they may.
    carry_on: str | None = None


@dataclass(frozen=True)
class IndexPage(Page):
    """The open consultations that take answers on the web."""

    template = "participant/index.html"
    consultations: Sequence[Listing]
    texts: Texts = ENGLISH

    @property
    def words(self) -> Texts:
        return self.texts


def accepted_texts(request: web.Request) -> Texts:
    """Words for a page tied to no consultation (or shown while the store is down, when no
    spec can be read): the browser's languages, else English."""
    accepted = []
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*" and len(tag) <= 35:
            accepted.append(tag)
    return negotiate(accepted[:10])
