"""Renderers for a report dict: JSON, Markdown, one self-contained HTML file, CSV.

The HTML file comes from a Jinja2 template (``templates/report.html``) with autoescape on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from consultations.insights import charts
from consultations.insights.opinion import opinion_map_svg_from_json
from consultations.insights.plurals import are, noun, plural, verb, were
from consultations.spreadsheet import inert
from consultations.texts import words_marked

CSV_COLUMNS = ("item", "participant", "text", "theme", "sentiment")
#: Shown instead of the words of a safety-flagged reply: counted, never quoted.
WITHHELD = "[withheld: safety flag]"
#: The text of a reply kept off public pages for a moderator: one the screen could not
#: read (another language or script, which may be a disclosure) or one a moderator
#: released as no disclosure (docs/moderation.md).
HELD_BACK = "[withheld: kept for a moderator]"
#: Shown instead of a listened public post that was not addressed to the service.
NOT_QUOTED = "[not quoted: a public post not addressed to the service]"


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (UTF-8 text, non-ASCII kept readable)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_csv(report: Mapping[str, Any]) -> str:
    """One row per free-text reply: item, participant, text, theme, sentiment.

    Needs a report built with ``include_responses=True``. Safety-flagged replies keep
    their row (they count) but not their words, nor a theme or sentiment read from them;
    so do replies held back for a moderator (:data:`HELD_BACK`).
    """
    if "responses" not in report:
        raise ValueError("render_csv needs a report built with include_responses=True")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(r) for r in report["responses"])
    return out.getvalue()


def _csv_row(r: Mapping[str, Any]) -> tuple[object, ...]:
    who = (inert(r["item"]), inert(r["participant"]))
    if r["safety"]:
        return (*who, WITHHELD, "", "")
    if r.get("held_back"):
        return (*who, HELD_BACK, "", "")
    text = inert(r["text"]) if r.get("quotable", True) else NOT_QUOTED
    return (*who, text, inert(r["theme"] or ""), r["sentiment"])


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _anonymous_votes_md(p: Mapping[str, Any]) -> str:
    """The participation line's note of anonymous poll votes, when there are any."""
    votes = int(p.get("anonymous_votes") or 0)
    if not votes:
        return ""
    return (
        f" Also {plural(votes, 'vote')} in anonymous polls, known only as totals"
        f" ({p['responses_with_anonymous_votes']} responses with them)."
    )


def _unknown(o: Mapping[str, Any]) -> bool:
    """A share with no answers behind it: its interval is all of 0 to 1 (stats.py)."""
    return bool(o["ci_low"] == 0.0 and o["ci_high"] == 1.0)


def _ci(o: Mapping[str, Any]) -> str:
    return "–" if _unknown(o) else f"{_pct(o['ci_low'])}–{_pct(o['ci_high'])}"


def _option_share(o: Mapping[str, Any]) -> str:
    return "–" if _unknown(o) else _pct(o["share"])


#: Characters that Markdown (CommonMark with the GitHub table extension) gives a meaning
#: to anywhere in a line; each is backslash-escaped, which is always allowed before
#: punctuation.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")
#: What gives a line a meaning when it starts it (list items, setext underlines).
_MD_LEADING = re.compile(r"^(\s*|\s*\d+(?=[.)]))([-+=]|(?<=\d)[.)])")


#: An ``&`` that would start a character reference (``&amp;``, ``&#38;``, ``&#x26;``).
_MD_REFERENCE = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")


def _md_entities(text: str) -> str:
    """``<`` and ``>`` as entities, and ``&`` where it would start one: a plain ``&``
    ("help & advice") reads as itself in Markdown and stays as written."""
    text = _MD_REFERENCE.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_text(value: object) -> str:
    """``value`` as inert Markdown text for one line: HTML escaped, Markdown escaped.

    ``<`` and ``>`` become entities, and ``&`` where it would start one (no raw HTML, no
    autolinks, no block quotes, no character references);
    ``|``, backticks, ``#``, ``*``, ``_``, ``~``, brackets and backslashes are
    backslash-escaped so that they read as themselves and cannot end a table cell or
    start a code span, heading, link or emphasis; a leading list or underline marker is
    escaped too; line breaks become spaces.
    """
    text = " ".join(str(value).splitlines())
    text = _MD_SPECIAL.sub(r"\\\1", _md_entities(text))
    return _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _segment_questions(report: Mapping[str, Any]) -> dict[str, str]:
    """Each segment question's words, by its id (from the participation section)."""
    return {
        seg_id: seg["question"] for seg_id, seg in report["participation"]["by_segment"].items()
    }


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]
    return lines + [""]


def segment_poll_tables(
    poll: Mapping[str, Any], questions: Mapping[str, str]
) -> list[tuple[str, list[str], list[tuple[object, ...]]]]:
    """A poll's answers by segment: (caption, header, rows) per segment question, each
    group's answers and every option's count (share), hidden cells said to be hidden."""
    return [
        (f"By {question}", header, rows)
        for question, header, rows in _segment_poll_tables(poll, questions)
    ]


def _segment_poll_tables(
    poll: Mapping[str, Any], questions: Mapping[str, str]
) -> list[tuple[str, list[str], list[tuple[object, ...]]]]:
    """:func:`segment_poll_tables` with each segment question's words in place of the
    caption (the HTML report marks them with the consultation's language)."""
    tables: list[tuple[str, list[str], list[tuple[object, ...]]]] = []
    labels = [o["label"] for o in poll["options"]]
    for seg_id, groups in (poll.get("by_segment") or {}).items():
        if not groups:
            continue
        rows: list[tuple[object, ...]] = []
        for group, cell in groups.items():
            if cell["n"] is None:
                rows.append((group, HIDDEN, *([HIDDEN] * len(labels))))
                continue
            rows.append(
                (
                    group,
                    cell["n"],
                    *(
                        HIDDEN if o["count"] is None else f"{o['count']} ({_pct(o['share'])})"
                        for o in cell["options"]
                    ),
                )
            )
        tables.append((questions.get(seg_id, seg_id), ["Group", "Answers", *labels], rows))
    return tables


def representativeness_rows(section: Mapping[str, Any] | None) -> list[tuple[object, ...]]:
    """Rows of the representativeness table: segment, group, share (interval), expected, status."""
    rows: list[tuple[object, ...]] = []
    for seg in (section or {}).get("segments", []):
        for g in seg["groups"]:
            shown = (
                HIDDEN
                if g["status"] == "hidden"
                else f"{_pct(g['share'])} ({_pct(g['ci_low'])} to {_pct(g['ci_high'])})"
            )
            rows.append((seg["segment"], g["option"], shown, _pct(g["expected"]), g["status"]))
    return rows


def _md_representativeness(section: Mapping[str, Any] | None) -> list[str]:
    if not section:
        return []
    e = md_text
    out: list[str] = []
    rows = representativeness_rows(section)
    if rows:
        out += ["### Who answered, against who was expected", ""]
        out += _md_table(["Segment", "Group", "Share (95% interval)", "Expected", "Status"], rows)
    if section["under_represented"]:
        out += [
            "**Under-represented:** "
            + "; ".join(
                f"{e(u['option'])} ({_pct(u['share'])} of answers, {_pct(u['expected'])} expected)"
                for u in section["under_represented"]
            ),
            "",
        ]
    if section["channel_mix"]:
        out += ["### Channel mix", ""]
        out += _md_table(CHANNEL_MIX_HEADER, channel_mix_rows(section))
    return out


#: The channel mix table's columns, in ``md`` and ``html``.
CHANNEL_MIX_HEADER = ["Channel", "Participants", "Share (95% interval)"]


def channel_mix_rows(section: Mapping[str, Any] | None) -> list[tuple[object, ...]]:
    """Rows of the channel mix table: channel, participants, share with its interval."""
    return [
        (
            m["channel"],
            m["participants"],
            f"{_pct(m['share'])} ({_pct(m['ci_low'])} to {_pct(m['ci_high'])})",
        )
        for m in (section or {}).get("channel_mix", [])
    ]


#: Shown for a hidden count (under 5, or hidden so that one under 5 cannot be worked out).
HIDDEN = "hidden"


def _count(value: int | None) -> str:
    return HIDDEN if value is None else str(value)


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``, so it cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


#: Before the groups hidden in the segment breakdowns, in ``md`` and ``html``. Not "missing":
#: a large group is hidden too when a small one could be worked out from it.
HIDDEN_GROUPS_LABEL = "Groups hidden to protect small numbers (they may be under-represented):"

#: Before a theme's summary, in ``md`` and ``html``.
SUMMARY_LABEL = "Summary (local model):"


def citations(quotes: Sequence[int]) -> str:
    """A sentence's citations as the numbers its quotes are shown with: ``[1][3]``."""
    return "".join(f"[{k + 1}]" for k in quotes)


def summary_text(summary: Mapping[str, Any]) -> str:
    """A theme's summary as one line: each sentence followed by its citations."""
    return " ".join(f"{s['text']} {citations(s['quotes'])}" for s in summary["sentences"])


def safety_line(flagged: int) -> str:
    """The report's sentence on replies flagged for safety follow-up."""
    return (
        f"{plural(flagged, 'reply')} {were(flagged)} flagged for safety follow-up; "
        f"{'it is' if flagged == 1 else 'they are'} counted above and never quoted."
    )


def suppressed_line(hidden: int) -> str:
    """The report's sentence on the cells hidden for small numbers."""
    return (
        f"{plural(hidden, 'cell')} {are(hidden)} hidden (shown as {HIDDEN} or –): counts "
        "under 5, and the other counts needed so that none of those can be worked out "
        "from the totals."
    )


def narrative_note(narrative: Mapping[str, Any]) -> str:
    """What the theme summaries are, by which model, and how many themes have none."""
    done, failed = narrative["themes_summarised"], narrative["themes_failed"]
    note = f"{narrative['note']} Model: {narrative['model']}; {plural(done, 'theme')} summarised"
    if failed:
        note += f", {failed} without a summary (the model gave none that could be checked)"
    return note + "."


def render_markdown(report: Mapping[str, Any]) -> str:
    """A readable Markdown summary: headline numbers, polls, themes with quotes, stage."""
    e = md_text
    c = report["consultation"]
    p = report["participation"]
    s = report["sentiment"]
    out = [
        f"# {e(c['title'])}",
        "",
        f"{e(c['organisation'])} · QI project *{e(c['qi']['project'])}*, cycle "
        f"{e(c['qi']['cycle'])} · report for the **{e(report['stage'])}** stage · generated "
        f"{e(report['generated_at'])}",
        "",
        "## Participation",
        "",
        f"{plural(p['responses'], 'response')} from {plural(p['participants'], 'participant')}."
        + _anonymous_votes_md(p),
        "",
    ]
    out += _md_table(
        ["Channel", "Responses", "Participants"],
        [(ch, v["responses"], v["participants"]) for ch, v in p["by_channel"].items()],
    )
    f = p["funnel"]
    out += [
        f"Funnel: {f['consented']} consented → {f['answered']} answered at least once "
        f"({_pct(f['answered_rate'])}) → {f['finished']} finished ({_pct(f['finished_rate'])}).",
        "",
    ]
    for seg_id, seg in p["by_segment"].items():
        out += [f"### {e(seg['question'])} ({e(seg_id)})", ""]
        out += _md_table(
            ["Group", "Participants"], [(k, _count(v)) for k, v in seg["options"].items()]
        )
    if p["missing_segments"]:
        out += [
            f"**{HIDDEN_GROUPS_LABEL}** "
            + "; ".join(f"{e(m['option'])} ({e(m['status'])})" for m in p["missing_segments"]),
            "",
        ]
    out += _md_representativeness(report.get("representativeness"))
    if report["polls"]:
        out += ["## Polls", ""]
        questions = _segment_questions(report)
        for poll in report["polls"]:
            out += [
                f"### {e(poll['question'])}",
                "",
                f"{plural(poll['n'], 'answer')} (every channel).",
                "",
            ]
            out += _md_table(
                ["Option", "Count", "Share", "95% interval"],
                [(o["label"], o["count"], _option_share(o), _ci(o)) for o in poll["options"]],
            )
            for caption, header, rows in segment_poll_tables(poll, questions):
                out += [f"{e(caption)}:", ""] + _md_table([e(h) for h in header], rows)
    out += _md_over_time(report, e)
    out += [
        "## Sentiment",
        "",
        f"{s['n']} free-text {noun(s['n'], 'reply')}: {_pct(s['positive'])} positive, "
        f"{_pct(s['neutral'])} neutral, {_pct(s['negative'])} negative.",
        "",
    ]
    if report["themes"]:
        out += ["## Themes", ""]
        if report.get("narrative"):
            out += [f"*{e(narrative_note(report['narrative']))}*", ""]
        for t in report["themes"]:
            ts = t["sentiment"]
            summary = t.get("summary")
            out += [
                f"### {e(t['label'])}",
                "",
                *([e(t["description"]), ""] if t.get("description") else []),
                *([f"**{SUMMARY_LABEL}** {e(summary_text(summary))}", ""] if summary else []),
                f"{plural(t['count'], 'reply')} ({_pct(t['share'])}); "
                + (f"keywords: {e(', '.join(t['keywords']))}; " if t["keywords"] else "")
                + f"{_pct(ts['positive'])} positive, {_pct(ts['negative'])} negative.",
                "",
            ]
            if summary:
                # Numbered, so that the summary's citations can be followed.
                out += [f"> {e(f'[{k}] {q}')}" + "\n" for k, q in enumerate(t["quotes"], 1)]
            else:
                out += [f"> {e(q)}" + "\n" for q in t["quotes"]]
    book = report.get("codebook")
    if book:
        out += [f"## Codebook: {e(book['name'])}", ""]
        out += _md_table(
            ["Category", "Replies", "Share", "Negative"],
            [
                (e["name"], e["count"], _pct(e["share"]), _pct(e["sentiment"]["negative"]))
                for e in book["categories"]
            ],
        )
    comparison = report.get("comparison") or {}
    if comparison.get("polls"):
        out += ["## Across cycles", ""]
        for cp in comparison["polls"]:
            vb = cp["vs_baseline"]
            out += [f"### {e(cp['question'])}: {e(cp['measure'])}", ""]
            out += _md_table(
                ["Cycle", "n", "Share", "95% interval"],
                [(x["cycle"], x["n"], _pct(x["share"]), _ci(x)) for x in cp["cycles"]],
            )
            if "difference" in vb:
                out += [
                    f"Change since cycle {vb['cycle']}: {vb['difference'] * 100:+.1f} points "
                    f"(95% CI {vb['ci_low'] * 100:+.1f} to {vb['ci_high'] * 100:+.1f}).",
                    "",
                ]
    tally = report.get("statement_votes")
    if tally is not None:
        out += ["## Statement votes", "", statement_tally_note(tally), ""]
        if tally["statements"]:
            out += _md_table(STATEMENT_TALLY_HEADER, statement_tally_rows(tally))
    opinions = _md_opinions(report, md_text)
    if opinions:
        out += ["## Opinion groups", "", *opinions]
    out += _md_stage(report["stage_summary"], md_text)
    flagged = report["safety"]["flagged"]
    out += [
        "## Safety",
        "",
        safety_line(flagged),
        "",
    ]
    if report["suppressed"]:
        out += [
            suppressed_line(len(report["suppressed"])),
            "",
        ]
    return "\n".join(out)


def _md_over_time(report: Mapping[str, Any], e: Callable[[object], str]) -> list[str]:
    """Delphi rounds and timed-chat questions as Markdown lines (when the report has them)."""
    out: list[str] = []
    for poll in report.get("delphi", []):
        out += [f"## Delphi rounds: {e(poll['question'])}", ""]
        out += _md_table(
            ["Round", "n", *[o["label"] for o in poll["by_round"][0]["options"]], "Consensus"],
            [
                (
                    r["round"],
                    r["n"],
                    *[f"{o['count']} ({_pct(o['share'])})" for o in r["options"]],
                    "yes" if r["consensus"]["reached"] else "no",
                )
                for r in poll["by_round"]
            ],
        )
        out += _md_table(
            ["Rounds", "Answered both", "Unchanged", "Towards first option", "Towards last option"],
            [
                (
                    f"{m['from_round']} to {m['to_round']}",
                    m["both"],
                    _count(m["unchanged"]),
                    _count(m["towards_first"]),
                    _count(m["towards_last"]),
                )
                for m in poll["movement"]
            ],
        )
        c, st = poll["consensus"], poll["stability"]
        out += [
            f"Consensus (rule: {e(poll['rules']['consensus'])}): "
            f"{'reached' if c['reached'] else 'not reached'} in round {c['round']}, "
            f"{_pct(c['share'])} within {e(' / '.join(c['options']))}.",
            "",
            f"Stability (rule: {e(poll['rules']['stability'])}): "
            + (
                (
                    # Rounds were answered, but the count it rests on is hidden (under 5).
                    "hidden with the small counts it rests on."
                    if st["rounds"] is not None
                    else "not known yet."
                )
                if st["stable"] is None
                else f"{'stable' if st['stable'] else 'not stable'}, "
                f"{_pct(st['share_unchanged'])} unchanged."
            ),
            "",
        ]
    for q in report.get("timed_chat", []):
        out += [
            f"## {q['label']}: {e(q['question'])}",
            "",
            f"{plural(q['replies'], 'reply')} from {plural(q['participants'], 'person')}.",
            "",
        ]
        out += [f"> {e(quote)}" + "\n" for quote in q["quotes"]]
    return out


def _md_stage(summary: Mapping[str, Any], e: Callable[[object], str]) -> list[str]:
    """The stage summary as Markdown lines; ``e`` makes report text safe to include
    (:func:`md_text` for Markdown; for HTML the template escapes the lines instead)."""
    stage = summary["stage"]
    body = summary[stage]
    out = [f"## {stage.capitalize()} stage summary", ""]
    if stage == "plan":
        out += ["### Main problems", ""]
        out += [
            f"- {e(x['theme'])} ({plural(x['count'], 'reply')}, "
            f"{_pct(x['negative_share'])} negative)"
            + (f": “{e(x['quote'])}”" if x.get("quote") else "")
            for x in body["main_problems"]
        ] or ["- none stood out"]
        out += ["", "### Priorities", ""]
        out += [
            f"- {e(x['question'])}: {e(x['leading'])} ({_pct(x['share'])}"
            f"{', clear lead' if x['clear_lead'] else ', not a clear lead'})"
            for x in body["priorities"]
        ] or ["- no polls"]
        ideas = body["ideas"]["count"]
        out += [
            "",
            f"### Ideas ({plural(ideas, 'reply')} {verb(ideas, 'asks', 'ask')} for a change)",
            "",
        ]
        out += [f"> {e(x['text'])}\n" for x in body["ideas"]["examples"]] or (
            ["- none that can be quoted (too short, or flagged for safety follow-up)"]
            if body["ideas"]["count"]
            else ["- none"]
        )
        agreed = body.get("agreed_statements") or []
        if agreed:
            out += ["", "### Statements most agreed with", ""]
            out += [
                f"- {e(x['text'])} ({_pct(x['agree_share'])} of {x['votes']} agree"
                f"{', added by a participant' if x['added_by'] == 'participant' else ''})"
                for x in agreed
            ]
    elif stage == "do":
        feel = body["experience"]["sentiment"]
        out += [
            f"Experience so far: {_pct(feel['positive'])} positive, "
            f"{_pct(feel['negative'])} negative.",
            "",
            "### Problems",
            "",
        ]
        out += [
            f"- {e(x['theme'])} ({plural(x['count'], 'reply')}, "
            f"{_pct(x['negative_share'])} negative)"
            for x in body["problems"]
        ] or ["- none stood out"]
    elif stage == "study":
        if body.get("note"):
            out += [e(body["note"]), ""]
        for m in body["measures"]:
            vb = m["vs_baseline"]
            out.append(
                f"- {e(m['item'])} {e(m['measure'])}: {_pct(m['baseline'])} → {_pct(m['now'])}"
                + (f" ({'clear change' if vb.get('clear') else 'no clear change'})" if vb else "")
            )
        for key, word in (("themes_grew", "Grew"), ("themes_shrank", "Shrank")):
            if body[key]:
                out.append(
                    f"- {word}: "
                    + ", ".join(
                        f"{e(x['name'])} ({_pct(x['previous_share'])} → {_pct(x['share'])})"
                        for x in body[key]
                    )
                )
        if body.get("signals"):
            out += ["", "Run chart signals (Making data count rules):"]
            out += [f"- {e(x)}" for x in body["signals"]]
        out.append("")
    else:
        if body["suggested_decision"] is None:
            out += ["No decision is suggested: there is not enough evidence yet.", ""]
        else:
            out += [f"Suggested decision: **{body['suggested_decision']}**", ""]
        for key in ("adopt", "adapt", "abandon"):
            if body["evidence"][key]:
                out += [f"### Evidence to {key}", ""]
                out += [f"- {e(x)}" for x in body["evidence"][key]] + [""]
        # Preformatted: the draft is kept as written (a code block shows no HTML and no
        # Markdown), in a fence that no run of backticks in it can close.
        draft = str(body["you_said_we_did"])
        if draft:
            fence = _fence(draft)
            out += ['### Draft "you said, we did"', "", fence, *draft.splitlines(), fence, ""]
    if stage in ("study", "act"):
        out += _md_reception(body.get("reception") or [], e)
    if not out[-1].endswith("\n") and out[-1] != "":
        out.append("")  # the next section's heading starts a block of its own
    return out


def _md_reception(loops: Sequence[Mapping[str, Any]], e: Callable[[object], str]) -> list[str]:
    """Closing-the-loop reactions of the project (``consultations/reception.py``)."""
    if not loops:
        return []
    out = ["### How people received the change", ""]
    for loop in loops:
        out.append(
            f"- {e(loop['title'])} (cycle {loop['cycle']}): {loop['invited']} invited, "
            f"{loop['answered_invited']} of them answered"
        )
        for poll in loop["polls"]:
            shares = ", ".join(f"{e(o['label'])} {_pct(o['share'])}" for o in poll["options"])
            out.append(f"  - {e(poll['question'])} (n={poll['n']}): {shares}")
    out.append("")
    return out


def _share(value: float) -> str:
    return f"{value * 100:.0f}%"


#: The columns of the statement tally, in ``md`` and ``html``.
STATEMENT_TALLY_HEADER = ("Statement", "Added by", "Votes", "Agree", "Disagree", "Pass")


def _count_share(count: int, share: float | None) -> str:
    return str(count) if share is None else f"{count} ({_share(share)})"


def statement_tally_rows(tally: Mapping[str, Any]) -> list[tuple[object, ...]]:
    """One row per shown statement: its words, where it came from, its votes."""
    return [
        (
            s["text"],
            "a participant" if s["added_by"] == "participant" else "the spec",
            s["votes"],
            _count_share(s["agree"], s["agree_share"]),
            _count_share(s["disagree"], s["disagree_share"]),
            _count_share(s["pass"], s["pass_share"]),
        )
        for s in tally["statements"]
    ]


def statement_tally_note(tally: Mapping[str, Any]) -> str:
    """One line on the tally: votes, voters, statements, and those not shown."""
    statements = tally["statements"]
    added = tally["added_by_participants"]
    note = (
        f"{plural(tally['votes'], 'vote')} from {plural(tally['voters'], 'participant')} "
        f"on {plural(len(statements), 'statement')} "
        f"({added} added by {'a participant' if added == 1 else 'participants'}), "
        "most agreed with first."
    )
    flagged = tally["flagged"]
    if flagged:
        note += (
            f" {plural(flagged, 'statement')} flagged for safety follow-up "
            f"{are(flagged)} counted here and never shown."
        )
    held = tally["not_shown"]["pending"] + tally["not_shown"]["rejected"]
    if held:
        note += (
            f" {plural(held, 'statement')} waiting for a moderator or rejected "
            f"{are(held)} not shown."
        )
    return note


def _md_opinions(report: Mapping[str, Any], e: Callable[[object], str]) -> list[str]:
    """The statement-voting section (without its heading); empty when there is none.

    Groups under five people were never made groups: their members are counted as
    "others" and nothing is said about them, so no small group can be singled out.
    """
    section = report.get("opinions")
    if section is None:
        return []
    groups = report["opinion_groups"]
    out = [
        f"{plural(section['votes'], 'vote')} from "
        f"{plural(section['participants'], 'participant')} on "
        f"{plural(section['statements'], 'statement')}; "
        f"{section['eligible_participants']} voted on at least "
        f"{plural(section['min_votes'], 'statement')} and {are(section['eligible_participants'])} "
        "placed on the map, near those who voted alike.",
        "",
    ]
    if section.get("reason"):
        out += [f"No opinion groups: {e(section['reason'])}", ""]
    for group in groups:
        out += [f"### {e(group['label'])}: {plural(group['size'], 'participant')}", ""]
        if group["representative"]:
            out += ["What sets this group apart from the others:", ""]
            out += [
                f"- {e(s['direction'].capitalize())}s: “{e(s['text'])}” "
                f"({_share(s['group_share'])} of the group, {_share(s['others_share'])} "
                "of the others)"
                for s in group["representative"]
            ]
            out.append("")
        else:
            out += ["No statement sets this group clearly apart.", ""]
    if groups and section["others"]:
        out += [
            f"Others: {plural(section['others'], 'participant')} in no group of at least "
            f"{section['min_group_size']}; they are counted, not shown as a group.",
            "",
        ]
    if report["consensus"]:
        out += ["### What every group agrees with", ""]
        out += [
            f"- “{e(c['text'])}” ({_share(c['agree_share'])} agree)" for c in report["consensus"]
        ]
        out.append("")
    if section.get("divisive"):
        out += ["### Where the groups differ most", ""]
        out += [f"- “{e(d['text'])}”" for d in section["divisive"]]
        out.append("")
    return out


@dataclass(frozen=True)
class _Block:
    """A block of the stage summary: a heading, a list, a quote, preformatted text or a
    paragraph, with its lines of plain text (the template escapes them)."""

    kind: str
    lines: tuple[str, ...]


def _stage_blocks(lines: Sequence[str]) -> list[_Block]:
    """The stage summary's Markdown lines as blocks (headings, lists, quotes, code)."""
    blocks: list[_Block] = []
    listed: list[str] = []
    pre: list[str] | None = None
    fence = ""
    for line in lines:
        if pre is None and len(line) >= 3 and line == "`" * len(line):
            pre, fence = [], line
            continue
        if pre is not None and line == fence:
            blocks.append(_Block("pre", tuple(pre)))
            pre = None
            continue
        if pre is not None:
            pre.append(line)
            continue
        if listed and not line.startswith("- "):
            blocks.append(_Block("list", tuple(listed)))
            listed = []
        if line.startswith("### "):
            blocks.append(_Block("h3", (line[4:],)))
        elif line.startswith("## "):
            blocks.append(_Block("h2", (line[3:],)))
        elif line.startswith("- "):
            listed.append(line[2:])
        elif line.startswith("> "):
            blocks.append(_Block("quote", (line[2:].strip(),)))
        elif line:
            blocks.append(_Block("p", (line.replace("**", ""),)))
    if listed:
        blocks.append(_Block("list", tuple(listed)))
    if pre is not None:
        blocks.append(_Block("pre", tuple(pre)))
    return blocks


# The charts module escapes every text it draws (labels, titles, descriptions) and
# formats every number itself, so its SVG is marked safe here and nowhere else.
def _poll_bars(poll: Mapping[str, Any]) -> Markup:
    return Markup(charts.poll_bars(poll))


def _theme_bars(themes: Sequence[Mapping[str, Any]]) -> Markup:
    return Markup(
        charts.share_bars(
            "Share of free-text replies by theme",
            [(t["label"], t["share"], t["count"]) for t in themes],
        )
    )


def _run_chart(chart: Mapping[str, Any]) -> Markup:
    return Markup(charts.run_chart(chart))


def _opinion_map(report: Mapping[str, Any]) -> Markup:
    # opinion_map_svg escapes every text it draws (group labels, the description) and
    # writes no participant id, like the charts module.
    return Markup(
        opinion_map_svg_from_json(
            {**report["opinions"], "opinion_groups": report["opinion_groups"]}
        )
    )


def report_stylesheet() -> str:
    """The text of the HTML report's ``<style>`` element, exactly as written (the web
    app's CSP allows it by its hash)."""
    return "\n" + _environment().get_template("report.css").render()


def own_words(language: str) -> Markup:
    """The attributes (`` lang="cy"``, with ``dir="rtl"`` for a language written right to
    left) that mark an element holding a consultation's own words on an English page;
    nothing for an English consultation."""
    return Markup("").join(
        Markup(' {}="{}"').format(name, value) for name, value in words_marked(language).items()
    )


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("consultations.insights", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=_pct,
        plural=lambda count, singular: plural(count, singular),
        noun=lambda count, singular: noun(count, singular),
        small_count=lambda pair: (pair[0], _count(pair[1])),
        option_row=lambda o: (o["label"], o["count"], _option_share(o), _ci(o)),
        delphi_round_row=lambda r: (
            r["round"],
            r["n"],
            *[f"{o['count']} ({_pct(o['share'])})" for o in r["options"]],
            "yes" if r["consensus"]["reached"] else "no",
        ),
        delphi_movement_row=lambda m: (
            f"{m['from_round']} to {m['to_round']}",
            m["both"],
            _count(m["unchanged"]),
            _count(m["towards_first"]),
            _count(m["towards_last"]),
        ),
        category_row=lambda e: (
            e["name"],
            e["count"],
            _pct(e["share"]),
            _pct(e["sentiment"]["negative"]),
        ),
        cycle_row=lambda x: (x["cycle"], x["n"], _pct(x["share"]), _ci(x)),
        poll_bars=_poll_bars,
        theme_bars=_theme_bars,
        narrative_note=narrative_note,
        run_chart=_run_chart,
        opinion_map=_opinion_map,
        own_words=own_words,
    )
    return env


_ENV = _environment()


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained, accessible HTML page with inline SVG charts (no scripts).

    Rendered from ``templates/report.html`` with autoescape on: every text from the
    report (titles, quotes, labels) is escaped by the template.
    """
    questions = _segment_questions(report)
    return _ENV.get_template("report.html").render(
        report=report,
        channel_rows=[
            (ch, v["responses"], v["participants"])
            for ch, v in report["participation"]["by_channel"].items()
        ],
        representativeness_rows=representativeness_rows(report.get("representativeness")),
        segment_poll_tables={
            poll["item"]: _segment_poll_tables(poll, questions) for poll in report["polls"]
        },
        under_represented=(report.get("representativeness") or {}).get("under_represented", []),
        channel_mix_header=CHANNEL_MIX_HEADER,
        channel_mix_rows=channel_mix_rows(report.get("representativeness")),
        hidden_groups_label=HIDDEN_GROUPS_LABEL,
        codebook=report.get("codebook"),
        comparison_polls=(report.get("comparison") or {}).get("polls", []),
        run_charts=report.get("run_charts", []),
        stage_blocks=_stage_blocks(_md_stage(report["stage_summary"], str)),
        opinion_blocks=_stage_blocks(_md_opinions(report, str)),
        statement_tally_header=STATEMENT_TALLY_HEADER,
        statement_tally_rows=statement_tally_rows(report["statement_votes"])
        if "statement_votes" in report
        else [],
        statement_tally_note=statement_tally_note(report["statement_votes"])
        if "statement_votes" in report
        else "",
        summary_label=SUMMARY_LABEL,
        safety_line=safety_line(report["safety"]["flagged"]),
        suppressed_line=suppressed_line(len(report["suppressed"])),
    )
