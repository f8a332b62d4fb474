"""HTML for the dashboard: server-rendered pages that need no JavaScript.

The look is the web channel's (:data:`bot.web.pages.STYLE`), widened for tables.
Accessibility as there: one ``h1`` per page, every control labelled, tables with a
caption and header cells, status messages announced, focus order following the source.
Free text from participants appears on the moderation page only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from bot.web.pages import STYLE
from consultations.service import Summary
from consultations.spec import STAGES

DASHBOARD_STYLE = (
    STYLE
    + """
main{max-width:64rem}
.bar{background:var(--accent);color:#fff}
.bar nav{max-width:64rem;margin:0 auto;padding:.5rem 1rem;display:flex;flex-wrap:wrap;
gap:.25rem 1.25rem;align-items:center}
.bar a{color:#fff;font-weight:600}
.bar .who{margin-left:auto;font-size:.95rem}
.bar form{display:inline}
.bar button{background:#fff;color:var(--accent);border-color:#fff;padding:.3rem .8rem;
min-height:2.25rem}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #c9d3dc;vertical-align:top}
thead th{background:var(--soft)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.9rem;
font-weight:600;border:1px solid currentColor}
.state-open{color:#1d6b2f}.state-closed{color:var(--muted)}.state-draft{color:#7a4a00}
.error{background:#fff4f4;border-left:4px solid var(--warn);padding:.75rem 1rem;margin:1rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.case{border:1px solid #c9d3dc;border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1rem}
.case h2{margin:0 0 .5rem;font-size:1.1rem}
input[type=email],input[type=password]{width:100%;max-width:24rem;font:inherit;padding:.5rem;
border:1px solid #6b7075;border-radius:.35rem}
.login{max-width:26rem}
"""
)

STATE_NOTES = {
    "active": "still answering",
    "finished": "answered everything",
    "stopped": "left the consultation",
    "held": "made a safety disclosure; a moderator follows up",
}


@dataclass(frozen=True)
class Viewer:
    """Who the page is for: shown in the bar at the top, with their log-out form."""

    email: str
    role: str
    csrf: str
    can_moderate: bool


@dataclass(frozen=True)
class ItemCount:
    """One row of the responses-by-question table."""

    id: str
    type: str
    text: str
    responses: int


@dataclass(frozen=True)
class CaseView:
    """An open moderation case with the flagged text, for the moderation queue."""

    id: int
    consultation_id: str
    consultation_title: str
    item_id: str
    reason: str
    text: str
    created_at: datetime


def _when(moment: datetime | None) -> str:
    return f"{moment:%d %b %Y %H:%M} UTC" if moment is not None else "–"


def layout(title: str, body: str, viewer: Viewer | None = None) -> str:
    """A whole dashboard document: the bar (when logged in), then ``body``."""
    bar = ""
    if viewer is not None:
        moderation = (
            '<a href="/dashboard/moderation">Moderation queue</a>' if viewer.can_moderate else ""
        )
        bar = (
            '<header class="bar"><nav aria-label="Dashboard">'
            f'<a href="/dashboard">Consultations</a>{moderation}'
            f'<span class="who">{escape(viewer.email)} ({escape(viewer.role)})</span>'
            f'<form method="post" action="/dashboard/logout">{csrf_field(viewer.csrf)}'
            "<button>Log out</button></form></nav></header>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · engage dashboard</title>"
        f"<style>{DASHBOARD_STYLE}</style></head><body>"
        '<a class="skip" href="#content">Skip to content</a>'
        f'{bar}<main id="content">{body}</main></body></html>'
    )


def csrf_field(token: str) -> str:
    """The hidden CSRF field every dashboard form carries."""
    return f'<input type="hidden" name="csrf" value="{escape(token)}">'


def _notices(notices: Sequence[tuple[str, str]]) -> str:
    out = []
    for kind, text in notices:
        if kind == "error":
            out.append(f'<div class="error" role="alert">{escape(text)}</div>')
        else:
            out.append(f'<div class="notice" role="status">{escape(text)}</div>')
    return "".join(out)


def login_page(csrf: str, *, next_path: str, email: str = "", error: str = "") -> str:
    """The login form; ``error`` is the one generic message, never which part was wrong."""
    message = f'<div class="error" role="alert">{escape(error)}</div>' if error else ""
    body = (
        '<div class="login"><h1>Log in to the dashboard</h1>'
        f"{message}"
        f'<form method="post" action="/dashboard/login">{csrf_field(csrf)}'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label for="email">Email</label>'
        f'<input type="email" id="email" name="email" autocomplete="username" required '
        f'value="{escape(email)}">'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<div class="actions"><button>Log in</button></div></form>'
        '<p class="hint">Accounts are made by an administrator with '
        "<code>engage user add</code>.</p></div>"
    )
    return layout("Log in", body)


def message_page(
    title: str,
    text: str,
    viewer: Viewer | None = None,
    *,
    link: tuple[str, str] = ("/dashboard", "Back to the consultations"),
) -> str:
    """A page that only says something: not found, not allowed, logged out."""
    href, label = link
    body = (
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
        f'<p><a href="{escape(href)}">{escape(label)}</a></p>'
    )
    return layout(title, body, viewer)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _state(state: str) -> str:
    return f'<span class="state state-{escape(state)}">{escape(state)}</span>'


def consultations_page(viewer: Viewer, rows: Sequence[Summary]) -> str:
    """Every consultation with its state, QI stage and counts."""
    if not rows:
        listing = (
            "<p>No consultations yet. Write a spec, then store it with "
            "<code>engage consultation create FILE</code>.</p>"
        )
    else:
        body_rows = "".join(
            "<tr>"
            f'<th scope="row"><a href="/dashboard/c/{escape(r.id)}">{escape(r.title)}</a>'
            f'<br><span class="hint">{escape(r.id)}</span></th>'
            f"<td>{_state(r.state)}</td>"
            f"<td>{escape(r.stage)}, cycle {r.cycle}</td>"
            f'<td class="num">{r.responses}</td><td class="num">{r.participants}</td>'
            f"<td>{escape(', '.join(r.channels))}</td></tr>"
            for r in rows
        )
        listing = (
            "<table><caption>All consultations</caption><thead><tr>"
            '<th scope="col">Consultation</th><th scope="col">State</th>'
            '<th scope="col">QI stage</th><th scope="col" class="num">Responses</th>'
            '<th scope="col" class="num">Participants</th><th scope="col">Channels</th>'
            f"</tr></thead><tbody>{body_rows}</tbody></table>"
        )
    return layout("Consultations", f"<h1>Consultations</h1>{listing}", viewer)


def consultation_page(
    viewer: Viewer,
    summary: Summary,
    *,
    organisation: str,
    items: Sequence[ItemCount],
    funnel: Mapping[str, int],
    open_cases: int,
    public_url: str | None,
    can_manage: bool,
    notices: Sequence[tuple[str, str]] = (),
) -> str:
    """One consultation: facts, counts by question, participants by state, actions."""
    cid = escape(summary.id)
    facts = (
        '<dl class="facts">'
        f"<dt>State</dt><dd>{_state(summary.state)}</dd>"
        f"<dt>Model</dt><dd>{escape(summary.model)}</dd>"
        f"<dt>QI stage</dt><dd>{escape(summary.stage)}, cycle {summary.cycle}</dd>"
        f"<dt>Channels</dt><dd>{escape(', '.join(summary.channels))}</dd>"
        f"<dt>Created</dt><dd>{_when(summary.created_at)}</dd>"
        f"<dt>Opened</dt><dd>{_when(summary.opened_at)}</dd>"
        f"<dt>Closed</dt><dd>{_when(summary.closed_at)}</dd>"
    )
    if public_url is not None:
        facts += (
            f'<dt>Public page</dt><dd><a href="{escape(public_url)}">{escape(public_url)}</a></dd>'
        )
    facts += "</dl>"

    actions = ""
    if can_manage and summary.state in ("draft", "open"):
        verb, label, note = (
            ("launch", "Launch consultation", "Opens it and publishes its items on its channels.")
            if summary.state == "draft"
            else ("close", "Close consultation", "Stops accepting answers and closes polls.")
        )
        actions = (
            f'<form method="post" action="/dashboard/c/{cid}/{verb}">{csrf_field(viewer.csrf)}'
            f'<div class="actions"><button>{label}</button></div>'
            f'<p class="hint">{note}</p></form>'
        )

    item_rows = "".join(
        f'<tr><th scope="row">{escape(i.text)}<br><span class="hint">{escape(i.id)}</span></th>'
        f'<td>{escape(i.type)}</td><td class="num">{i.responses}</td></tr>'
        for i in items
    )
    by_item = (
        "<table><caption>Responses by question</caption><thead><tr>"
        '<th scope="col">Question</th><th scope="col">Kind</th>'
        '<th scope="col" class="num">Responses</th></tr></thead>'
        f"<tbody>{item_rows}</tbody></table>"
    )

    if funnel:
        state_rows = "".join(
            f'<tr><th scope="row">{escape(state)}</th>'
            f"<td>{escape(STATE_NOTES.get(state, ''))}</td>"
            f'<td class="num">{count}</td></tr>'
            for state, count in sorted(funnel.items())
        )
        states = (
            "<table><caption>Participants by state</caption><thead><tr>"
            '<th scope="col">State</th><th scope="col">Meaning</th>'
            '<th scope="col" class="num">Participants</th></tr></thead>'
            f"<tbody>{state_rows}</tbody></table>"
        )
    else:
        states = "<p>No one has started this consultation yet.</p>"

    safety = ""
    if open_cases:
        link = (
            ' <a href="/dashboard/moderation">Open the moderation queue</a>.'
            if viewer.can_moderate
            else " A moderator follows them up."
        )
        safety = (
            f'<div class="error" role="status">{open_cases} safety '
            f"{'case needs' if open_cases == 1 else 'cases need'} a moderator.{link}</div>"
        )

    reports = "".join(
        f'<li><a href="/dashboard/c/{cid}/report?stage={stage}">{stage.capitalize()} report</a>'
        f"{' (current stage)' if stage == summary.stage else ''}</li>"
        for stage in STAGES
    )
    body = (
        f'<h1>{escape(summary.title)}</h1><p class="org">{escape(organisation)} · '
        f"<code>{cid}</code></p>"
        f"{_notices(notices)}{safety}{facts}{actions}"
        f"<h2>Responses</h2><p>{_count(summary.responses, 'response')} from "
        f"{_count(summary.participants, 'participant')}.</p>{by_item}"
        f"<h2>Participants</h2>{states}"
        f"<h2>Reports</h2><ul>{reports}</ul>"
    )
    return layout(summary.title, body, viewer)


def moderation_page(
    viewer: Viewer, cases: Sequence[CaseView], notices: Sequence[tuple[str, str]] = ()
) -> str:
    """Open safety cases with the text that raised them, each with a resolve button."""
    if not cases:
        listing = "<p>No open cases. Thank you.</p>"
    else:
        parts = []
        for case in cases:
            parts.append(
                f'<article class="case" aria-labelledby="case-{case.id}">'
                f'<h2 id="case-{case.id}">Case {case.id}: '
                f"{escape(case.consultation_title)}</h2>"
                f'<p class="hint">{escape(case.reason)} · question '
                f"<code>{escape(case.item_id)}</code> · {_when(case.created_at)} · "
                f'<a href="/dashboard/c/{escape(case.consultation_id)}">consultation</a></p>'
                f'<div class="safety">{escape(case.text)}</div>'
                f'<form method="post" action="/dashboard/moderation/{case.id}/resolve">'
                f"{csrf_field(viewer.csrf)}"
                f'<div class="actions"><button aria-describedby="case-{case.id}">'
                "Mark resolved</button></div></form></article>"
            )
        listing = "".join(parts)
    body = (
        "<h1>Moderation queue</h1>"
        f"{_notices(notices)}"
        '<p class="hint">Texts that mentioned self-harm or crisis. The person was shown '
        "helpline details at once; mark a case resolved once it has been followed up. "
        "These texts are shown only here.</p>"
        f"{listing}"
    )
    return layout("Moderation queue", body, viewer)
