"""What the dashboard's pages show: one typed context per template.

The HTML is in ``bot/web/templates/dashboard/`` (autoescaped Jinja2), with the web
channel's look widened for tables. Accessibility as there: one ``h1`` per page, every
control labelled, tables with a caption and header cells, status messages announced,
focus order following the source. Free text from participants appears on the
moderation page only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.followups import ChannelReach
from bot.web.accounts import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, AccountView
from bot.web.dashboard import shown_once
from bot.web.dashboard.follow_up import MAX_CHANGE, ChannelPreview
from bot.web.templating import Page
from consultations import moderation
from consultations.service import Summary
from consultations.spec import STAGES

#: A message at the top of a page: ("error" or "notice", text).
Notice = tuple[str, str]

STATE_NOTES: Mapping[str, str] = {
    "active": "still answering",
    "finished": "answered everything",
    "stopped": "declined or left",
    "held": "made a safety disclosure; a moderator follows up",
}


@dataclass(frozen=True)
class Viewer:
    """Who the page is for: shown in the bar at the top, with their log-out form."""

    email: str
    role: str
    csrf: str
    can_moderate: bool
    can_manage: bool = False
    can_manage_accounts: bool = False
    # Signed in with a password someone else set: the bar offers nothing but signing out.
    must_change_password: bool = False


@dataclass(frozen=True)
class ItemCount:
    """One row of the responses-by-question table."""

    id: str
    type: str
    text: str
    responses: int


@dataclass(frozen=True)
class CaseRow:
    """A case in the moderation queue, with how long it has waited."""

    case: moderation.CaseView
    age: str
    overdue: bool


@dataclass(frozen=True)
class LoginPage(Page):
    """The login form; ``error`` is the one generic message, never which part was wrong."""

    template = "dashboard/login.html"
    csrf: str
    next_path: str
    email: str = ""
    error: str = ""
    viewer: Viewer | None = None


@dataclass(frozen=True)
class MessagePage(Page):
    """A page that only says something: not found, not allowed, logged out."""

    template = "dashboard/message.html"
    title: str
    text: str
    viewer: Viewer | None = None
    link_href: str = "/dashboard"
    link_label: str = "Back to the consultations"


@dataclass(frozen=True)
class ConsultationsPage(Page):
    """Every consultation with its state, QI stage and counts."""

    template = "dashboard/consultations.html"
    viewer: Viewer
    rows: Sequence[Summary]


@dataclass(frozen=True)
class ConsultationPage(Page):
    """One consultation: facts, counts by question, participants by state, actions."""

    template = "dashboard/consultation.html"
    viewer: Viewer
    summary: Summary
    organisation: str
    items: Sequence[ItemCount]
    funnel: Mapping[str, int]
    open_cases: int
    public_url: str | None
    can_manage: bool
    notices: Sequence[Notice] = ()
    state_notes: Mapping[str, str] = field(default_factory=lambda: STATE_NOTES)
    stages: Sequence[str] = STAGES
    # Closing the loop (bot/web/dashboard/follow_up.py): the earlier consultations this
    # one follows up, its texts per channel with their limits, and its reach so far.
    follows: Sequence[str] = ()
    previews: Sequence[ChannelPreview] = ()
    reach: Sequence[ChannelReach] = ()
    can_draft_loop: bool = False
    max_change: int = MAX_CHANGE


@dataclass(frozen=True)
class ModerationPage(Page):
    """Cases not yet resolved, oldest first, with the text that raised them and actions."""

    template = "dashboard/moderation.html"
    viewer: Viewer
    cases: Sequence[CaseRow]
    notices: Sequence[Notice] = ()


@dataclass(frozen=True)
class DoubtRow:
    """A message whose send was interrupted and not sent again: where and when, not what."""

    id: int
    channel: str
    kind: str
    consultation: str | None
    created_at: datetime
    attempted_at: datetime
    attempts: int


@dataclass(frozen=True)
class DeliveryPage(Page):
    """Messages of unknown delivery (``engage outbox unknown``) and the outbox by status."""

    template = "dashboard/delivery.html"
    viewer: Viewer
    in_doubt: Sequence[DoubtRow]
    by_status: Sequence[tuple[str, str, int]]
    held_aside: int


@dataclass(frozen=True)
class NewAccountForm:
    """The form to add an account: empty, or as it was sent with what was wrong with it."""

    email: str = ""
    role: str = ""
    email_error: str = ""
    role_error: str = ""
    max_email: int = MAX_EMAIL

    @property
    def refused(self) -> bool:
        return bool(self.email_error or self.role_error)


@dataclass(frozen=True)
class AccountsPage(Page):
    """Every dashboard account, the form to add one, and for each one that can sign in:
    role, remove, reset."""

    template = "dashboard/accounts.html"
    viewer: Viewer
    accounts: Sequence[AccountView]
    roles: Sequence[str]
    notices: Sequence[Notice] = ()
    adding: NewAccountForm = field(default_factory=NewAccountForm)


@dataclass(frozen=True)
class PasswordPage(Page):
    """The form to change one's own password; for an account whose password someone else
    set, the only page open until it has chosen its own (``viewer.must_change_password``).
    """

    template = "dashboard/password.html"
    viewer: Viewer
    next_path: str = "/dashboard"
    error: str = ""
    changed: bool = False
    min_length: int = MIN_PASSWORD
    max_length: int = MAX_PASSWORD


@dataclass(frozen=True)
class NewPasswordPage(Page):
    """A password just made for an account, shown this once to the admin who asked.

    ``kind`` says what it was made for (:data:`bot.web.dashboard.shown_once.KINDS`): a
    reset, a new account (``added``), or a removed account given back (``restored``).
    """

    template = "dashboard/new_password.html"
    viewer: Viewer
    email: str
    password: str
    kind: str = shown_once.RESET
    role: str = ""
