"""HTML for the web channel: plain forms that work without JavaScript, on any phone.

Accessibility: one ``h1`` per page, every control labelled, radio groups in a
``fieldset`` with a ``legend``, visible focus, text and controls at WCAG AA contrast
or better, and a layout that reads in source order (so focus order follows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from consultations.spec import ConsultationSpec, Item, Segment

STYLE = """
:root{--ink:#1b1b1b;--muted:#4a4a4a;--accent:#00558c;--bg:#fff;--soft:#f2f5f8;--warn:#8a1c1c}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}
main{max-width:40rem;margin:0 auto;padding:1rem 1rem 3rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 .25rem}
h2{font-size:1.25rem;margin:2rem 0 .5rem}
.org{color:var(--muted);margin:0 0 1.5rem}
fieldset{border:1px solid #8a8f94;border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1.25rem}
legend{font-weight:600;padding:0 .25rem}
label{display:block;padding:.35rem 0}
.choice{display:flex;gap:.6rem;align-items:flex-start;padding:.45rem 0}
.choice input{width:1.3rem;height:1.3rem;margin-top:.2rem;flex:none}
textarea{width:100%;min-height:7rem;font:inherit;padding:.5rem;border:1px solid #6b7075;
border-radius:.35rem}
button{font:inherit;font-weight:600;padding:.7rem 1.2rem;border-radius:.4rem;border:2px solid
var(--accent);background:var(--accent);color:#fff;cursor:pointer;min-height:2.75rem}
button.secondary{background:#fff;color:var(--accent)}
:focus-visible{outline:3px solid #f5b400;outline-offset:2px}
.notice{background:var(--soft);border-left:4px solid var(--accent);padding:.75rem 1rem;
margin:1rem 0}
.safety{background:#fff4f4;border-left:4px solid var(--warn);padding:.75rem 1rem;
white-space:pre-line}
.thread{list-style:none;padding-left:0}.thread .thread{padding-left:1rem;
border-left:3px solid #c9d3dc}
.reply{background:var(--soft);border-radius:.4rem;padding:.5rem .75rem;margin:.5rem 0}
.reply p{margin:.1rem 0 .4rem}
details summary{cursor:pointer;color:var(--accent);font-weight:600;padding:.25rem 0}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:2rem}
.hint{color:var(--muted);font-size:.95rem}
"""


def page(title: str, body: str, *, lang: str = "en", status_note: str = "") -> str:
    """A whole HTML document around ``body``."""
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        '<a class="skip" href="#content">Skip to content</a>'
        f'<main id="content">{status_note}{body}</main></body></html>'
    )


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

    def hidden(self) -> str:
        return (
            f'<input type="hidden" name="csrf" value="{escape(self.csrf)}">'
            f'<input type="hidden" name="nonce" value="{escape(self.nonce)}">'
        )


def _header(spec: ConsultationSpec) -> str:
    return f"<h1>{escape(spec.title)}</h1><p class=org>{escape(spec.organisation)}</p>"


def _messages(messages: Iterable[tuple[str, str]]) -> str:
    out = []
    for kind, text in messages:
        css = "safety" if kind == "safety" else "notice"
        role = ' role="alert"' if kind == "safety" else ' role="status"'
        out.append(f'<div class="{css}"{role}>{escape(text)}</div>')
    return "".join(out)


def consent_page(
    spec: ConsultationSpec, form: FormContext, messages: Sequence[tuple[str, str]] = ()
) -> str:
    body = (
        _header(spec)
        + _messages(messages)
        + f"<h2>Before you start</h2><p>{escape(spec.consent.text)}</p>"
        f'<form method="post" action="/c/{escape(spec.id)}/consent">{form.hidden()}'
        '<div class="actions"><button name="answer" value="yes">Yes, I agree</button>'
        '<button class="secondary" name="answer" value="no">No thanks</button></div></form>'
        '<p class="hint">You can leave at any time. We never ask for your name.</p>'
    )
    return page(spec.title, body, lang=spec.language)


def _choice_group(
    name: str, legend: str, options: Sequence[str], *, multiple: bool, chosen: Sequence[str]
) -> str:
    kind = "checkbox" if multiple else "radio"
    hint = ' <span class="hint">(choose any that apply)</span>' if multiple else ""
    inputs = []
    for index, option in enumerate(options):
        control_id = f"{name}-{index}"
        checked = " checked" if option in chosen else ""
        inputs.append(
            f'<div class="choice"><input type="{kind}" id="{control_id}" name="{escape(name)}" '
            f'value="{escape(option)}"{checked}><label for="{control_id}">{escape(option)}'
            "</label></div>"
        )
    return f"<fieldset><legend>{escape(legend)}{hint}</legend>{''.join(inputs)}</fieldset>"


def segments_page(
    spec: ConsultationSpec,
    segments: Sequence[Segment],
    form: FormContext,
    messages: Sequence[tuple[str, str]] = (),
) -> str:
    groups = "".join(
        _choice_group(f"segment:{s.id}", s.text, s.options, multiple=False, chosen=())
        for s in segments
    )
    body = (
        _header(spec)
        + _messages(messages)
        + "<h2>About you</h2><p class=hint>These help us see whose views we have heard. "
        "Skip any you prefer not to answer.</p>"
        f'<form method="post" action="/c/{escape(spec.id)}/answers">{form.hidden()}'
        f"{groups}<button>Continue</button></form>"
    )
    return page(spec.title, body, lang=spec.language)


def _thread_list(
    replies: Sequence[ThreadReply], spec_id: str, item_id: str, form: FormContext
) -> str:
    if not replies:
        return ""
    out = ['<ul class="thread">']
    for reply in replies:
        who = "You" if reply.mine else "Someone"
        box_id = f"reply-{escape(reply.ref)}"
        out.append(
            f'<li><div class="reply"><p><strong>{who}</strong> '
            f'<span class="hint">{escape(reply.created)}</span></p><p>{escape(reply.text)}</p>'
            f"<details><summary>Reply</summary>"
            f'<form method="post" action="/c/{escape(spec_id)}/threads/{escape(item_id)}">'
            f'{form.hidden()}<input type="hidden" name="parent" value="{escape(reply.ref)}">'
            f'<label for="{box_id}">Your reply</label><textarea id="{box_id}" name="text" '
            "required></textarea><button>Send reply</button></form></details></div>"
            f"{_thread_list(reply.children, spec_id, item_id, form)}</li>"
        )
    out.append("</ul>")
    return "".join(out)


def items_page(
    spec: ConsultationSpec,
    form: FormContext,
    *,
    unanswered: Sequence[Item],
    answers: Mapping[str, Sequence[str]],
    threads: Mapping[str, Sequence[ThreadReply]],
    finished: bool,
    messages: Sequence[tuple[str, str]] = (),
) -> str:
    """The questions still to answer, then the discussion threads."""
    parts = [_header(spec), _messages(messages)]
    questions = [item for item in unanswered if item.type in ("poll", "prompt")]
    if questions:
        fields = []
        for item in questions:
            if item.type == "poll":
                fields.append(
                    _choice_group(
                        f"item:{item.id}",
                        item.text,
                        item.options,
                        multiple=item.multiple,
                        chosen=answers.get(item.id, ()),
                    )
                )
            else:
                fields.append(
                    f'<label for="item-{escape(item.id)}"><strong>{escape(item.text)}</strong>'
                    f'</label><textarea id="item-{escape(item.id)}" name="item:{escape(item.id)}">'
                    "</textarea>"
                )
        parts.append(
            f"<h2>Your views</h2>"
            f'<form method="post" action="/c/{escape(spec.id)}/answers">{form.hidden()}'
            f"{''.join(fields)}<button>Send my answers</button></form>"
            '<p class="hint">Please don\'t include names, contact details or health '
            "information that could identify you or anyone else.</p>"
        )
    elif finished:
        parts.append(
            f'<div class="notice" role="status">'
            f"{escape(spec.closing_message or 'Thank you for taking part.')}</div>"
        )
    for item in spec.items:
        if item.type != "thread":
            continue
        box_id = f"thread-{escape(item.id)}"
        parts.append(
            f"<h2>Discussion: {escape(item.text)}</h2>"
            f'<form method="post" action="/c/{escape(spec.id)}/threads/{escape(item.id)}">'
            f'{form.hidden()}<label for="{box_id}">Add your idea</label>'
            f'<textarea id="{box_id}" name="text" required></textarea>'
            "<button>Post</button></form>"
            f"{_thread_list(threads.get(item.id, ()), spec.id, item.id, form)}"
        )
    parts.append(
        f'<div class="actions"><form method="post" action="/c/{escape(spec.id)}/stop">'
        f'{form.hidden()}<button class="secondary">Leave this consultation</button></form>'
        f'<form method="post" action="/c/{escape(spec.id)}/erase">{form.hidden()}'
        '<button class="secondary">Delete my answers</button></form></div>'
    )
    return page(spec.title, "".join(parts), lang=spec.language)


def notice_page(
    title: str, heading: str, text: str, *, kind: str = "notice", lang: str = "en"
) -> str:
    css = "safety" if kind == "safety" else "notice"
    body = f'<h1>{escape(heading)}</h1><div class="{css}">{escape(text)}</div>'
    return page(title, body, lang=lang)


def index_page(consultations: Sequence[tuple[str, str, str]]) -> str:
    if consultations:
        items = "".join(
            f'<li><a href="/c/{escape(cid)}">{escape(title)}</a> '
            f'<span class="hint">{escape(org)}</span></li>'
            for cid, title, org in consultations
        )
        listing = f"<ul>{items}</ul>"
    else:
        listing = "<p>No consultations are open right now.</p>"
    body = (
        "<h1>Have your say</h1><p>Health services use these consultations to hear from "
        f"patients, carers, staff and communities.</p><h2>Open consultations</h2>{listing}"
    )
    return page("Have your say", body)
