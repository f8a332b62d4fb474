"""Renderers for a report dict: JSON, Markdown, one self-contained HTML file, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from consultations.insights import charts
from consultations.spreadsheet import inert

CSV_COLUMNS = ("item", "participant", "text", "theme", "sentiment")
#: Shown instead of the words of a safety-flagged reply: counted, never quoted.
WITHHELD = "[withheld: safety flag]"


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (UTF-8 text, non-ASCII kept readable)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_csv(report: Mapping[str, Any]) -> str:
    """One row per free-text reply: item, participant, text, theme, sentiment.

    Needs a report built with ``include_responses=True``. Safety-flagged replies keep
    their row (they count) but not their words.
    """
    if "responses" not in report:
        raise ValueError("render_csv needs a report built with include_responses=True")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(
        (
            inert(r["item"]),
            inert(r["participant"]),
            WITHHELD if r["safety"] else inert(r["text"]),
            inert(r["theme"] or ""),
            r["sentiment"],
        )
        for r in report["responses"]
    )
    return out.getvalue()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _ci(o: Mapping[str, Any]) -> str:
    return f"{_pct(o['ci_low'])}–{_pct(o['ci_high'])}"


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _count(value: int | None) -> str:
    return "<5" if value is None else str(value)


def render_markdown(report: Mapping[str, Any]) -> str:
    """A readable Markdown summary: headline numbers, polls, themes with quotes, stage."""
    c = report["consultation"]
    p = report["participation"]
    s = report["sentiment"]
    out = [
        f"# {c['title']}",
        "",
        f"{c['organisation']} · QI project *{c['qi']['project']}*, cycle {c['qi']['cycle']} · "
        f"report for the **{report['stage']}** stage · generated {report['generated_at']}",
        "",
        "## Participation",
        "",
        f"{_plural(p['responses'], 'response')} from {_plural(p['participants'], 'participant')}.",
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
        out += [f"### {seg['question']} ({seg_id})", ""]
        out += _md_table(
            ["Group", "Participants"], [(k, _count(v)) for k, v in seg["options"].items()]
        )
    if p["missing_segments"]:
        out += [
            "**Missing or few voices:** "
            + "; ".join(f"{m['option']} ({m['status']})" for m in p["missing_segments"]),
            "",
        ]
    if report["polls"]:
        out += ["## Polls", ""]
        for poll in report["polls"]:
            out += [f"### {poll['question']}", "", f"{poll['n']} answers (every channel).", ""]
            out += _md_table(
                ["Option", "Count", "Share", "95% interval"],
                [(o["label"], o["count"], _pct(o["share"]), _ci(o)) for o in poll["options"]],
            )
    out += [
        "## Sentiment",
        "",
        f"{s['n']} free-text replies: {_pct(s['positive'])} positive, {_pct(s['neutral'])} "
        f"neutral, {_pct(s['negative'])} negative.",
        "",
    ]
    if report["themes"]:
        out += ["## Themes", ""]
        for t in report["themes"]:
            ts = t["sentiment"]
            out += [
                f"### {t['label']}",
                "",
                f"{t['count']} replies ({_pct(t['share'])}); keywords: {', '.join(t['keywords'])}; "
                f"{_pct(ts['positive'])} positive, {_pct(ts['negative'])} negative.",
                "",
            ]
            out += [f"> {q}" + "\n" for q in t["quotes"]]
    book = report.get("codebook")
    if book:
        out += [f"## Codebook: {book['name']}", ""]
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
            out += [f"### {cp['question']}: {cp['measure']}", ""]
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
    out += _md_stage(report["stage_summary"])
    flagged = report["safety"]["flagged"]
    out += [
        "## Safety",
        "",
        f"{flagged} replies were flagged for safety follow-up; they are counted above and "
        "never quoted.",
        "",
    ]
    if report["suppressed"]:
        out += [f"{len(report['suppressed'])} cells under 5 are hidden (shown as <5 or –).", ""]
    return "\n".join(out)


def _md_stage(summary: Mapping[str, Any]) -> list[str]:
    stage = summary["stage"]
    body = summary[stage]
    out = [f"## {stage.capitalize()} stage summary", ""]
    if stage == "plan":
        out += ["### Main problems", ""]
        out += [
            f"- {x['theme']} ({x['count']} replies, {_pct(x['negative_share'])} negative)"
            for x in body["main_problems"]
        ] or ["- none stood out"]
        out += ["", "### Priorities", ""]
        out += [
            f"- {x['question']}: {x['leading']} ({_pct(x['share'])}"
            f"{', clear lead' if x['clear_lead'] else ', not a clear lead'})"
            for x in body["priorities"]
        ] or ["- no polls"]
        out += ["", f"### Ideas ({body['ideas']['count']} replies suggest something)", ""]
        out += [f"> {x['text']}\n" for x in body["ideas"]["examples"]]
    elif stage == "do":
        e = body["experience"]["sentiment"]
        out += [
            f"Experience so far: {_pct(e['positive'])} positive, {_pct(e['negative'])} negative.",
            "",
            "### Problems",
            "",
        ]
        out += [
            f"- {x['theme']} ({x['count']} replies, {_pct(x['negative_share'])} negative)"
            for x in body["problems"]
        ] or ["- none stood out"]
    elif stage == "study":
        if body.get("note"):
            out += [body["note"], ""]
        for m in body["measures"]:
            vb = m["vs_baseline"]
            out.append(
                f"- {m['item']} {m['measure']}: {_pct(m['baseline'])} → {_pct(m['now'])}"
                + (f" ({'clear change' if vb.get('clear') else 'no clear change'})" if vb else "")
            )
        for key, word in (("themes_grew", "Grew"), ("themes_shrank", "Shrank")):
            if body[key]:
                out.append(
                    f"- {word}: "
                    + ", ".join(
                        f"{x['name']} ({_pct(x['previous_share'])} → {_pct(x['share'])})"
                        for x in body[key]
                    )
                )
        out.append("")
    else:
        out += [f"Suggested decision: **{body['suggested_decision']}**", ""]
        for key in ("adopt", "adapt", "abandon"):
            if body["evidence"][key]:
                out += [f"### Evidence to {key}", ""]
                out += [f"- {x}" for x in body["evidence"][key]] + [""]
        out += ['### Draft "you said, we did"', "", "```", body["you_said_we_did"], "```", ""]
    return out


_CSS = """
body{font-family:Arial,Helvetica,sans-serif;color:#212B32;background:#fff;max-width:60rem;
margin:0 auto;padding:1rem 1.5rem;line-height:1.5}
h1,h2,h3{line-height:1.25}h2{border-bottom:2px solid #005EB8;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #AEB7BD;
padding:.25rem .6rem;text-align:left}th{background:#E8EDEE}caption{text-align:left;
font-weight:bold;padding:.3rem 0}blockquote{border-left:4px solid #005EB8;margin:.5rem 0;
padding:.2rem .8rem;background:#F0F4F5}.meta{color:#4C6272}svg{max-width:100%;height:auto}
pre{white-space:pre-wrap;background:#F0F4F5;padding:.8rem}
"""


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained, accessible HTML page with inline SVG charts (no scripts)."""
    c = report["consultation"]
    p = report["participation"]
    s = report["sentiment"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(c['title'])}: {escape(report['stage'])} report</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(c['title'])}</h1>",
        f'<p class="meta">{escape(c["organisation"])} · QI project '
        f"<em>{escape(c['qi']['project'])}</em>, cycle {c['qi']['cycle']} · report for the "
        f"<strong>{escape(report['stage'])}</strong> stage · generated "
        f"{escape(report['generated_at'])}</p>",
        "<h2>Participation</h2>",
        f"<p>{_plural(p['responses'], 'response')} from "
        f"{_plural(p['participants'], 'participant')}.</p>",
        _table(
            "Responses by channel",
            ["Channel", "Responses", "Participants"],
            [(ch, v["responses"], v["participants"]) for ch, v in p["by_channel"].items()],
        ),
    ]
    f = p["funnel"]
    parts.append(
        f"<p>Funnel: {f['consented']} consented → {f['answered']} answered at least once "
        f"({_pct(f['answered_rate'])}) → {f['finished']} finished ({_pct(f['finished_rate'])}).</p>"
    )
    for seg_id, seg in p["by_segment"].items():
        parts.append(
            _table(
                f"{seg['question']} ({seg_id})",
                ["Group", "Participants"],
                [(k, _count(v)) for k, v in seg["options"].items()],
            )
        )
    if p["missing_segments"]:
        parts.append(
            "<p><strong>Missing or few voices:</strong> "
            + escape("; ".join(f"{m['option']} ({m['status']})" for m in p["missing_segments"]))
            + "</p>"
        )
    if report["polls"]:
        parts.append("<h2>Polls</h2>")
        for poll in report["polls"]:
            parts += [
                f"<h3>{escape(poll['question'])}</h3>",
                f"<p>{poll['n']} answers from every channel; bars show shares, whiskers the "
                "95% interval.</p>",
                charts.poll_bars(poll),
                _table(
                    "Counts, shares and 95% intervals",
                    ["Option", "Count", "Share", "95% interval"],
                    [(o["label"], o["count"], _pct(o["share"]), _ci(o)) for o in poll["options"]],
                ),
            ]
    parts += [
        "<h2>Sentiment</h2>",
        f"<p>{s['n']} free-text replies: {_pct(s['positive'])} positive, "
        f"{_pct(s['neutral'])} neutral, {_pct(s['negative'])} negative.</p>",
    ]
    if report["themes"]:
        parts.append("<h2>Themes</h2>")
        parts.append(
            charts.share_bars(
                "Share of free-text replies by theme",
                [(t["label"], t["share"], t["count"]) for t in report["themes"]],
            )
        )
        for t in report["themes"]:
            ts = t["sentiment"]
            parts += [
                f"<h3>{escape(t['label'])}</h3>",
                f"<p>{t['count']} replies ({_pct(t['share'])}). Keywords: "
                f"{escape(', '.join(t['keywords']))}. {_pct(ts['positive'])} positive, "
                f"{_pct(ts['negative'])} negative.</p>",
            ]
            parts += [f"<blockquote>{escape(q)}</blockquote>" for q in t["quotes"]]
    book = report.get("codebook")
    if book:
        parts += [
            f"<h2>Codebook: {escape(book['name'])}</h2>",
            _table(
                "Replies by codebook category",
                ["Category", "Replies", "Share", "Negative"],
                [
                    (e["name"], e["count"], _pct(e["share"]), _pct(e["sentiment"]["negative"]))
                    for e in book["categories"]
                ],
            ),
        ]
    comparison = report.get("comparison") or {}
    if comparison.get("polls") or report.get("run_charts"):
        parts.append("<h2>Across cycles and over time</h2>")
        for cp in comparison.get("polls", []):
            parts.append(
                _table(
                    f"{cp['question']}: {cp['measure']}",
                    ["Cycle", "n", "Share", "95% interval"],
                    [(x["cycle"], x["n"], _pct(x["share"]), _ci(x)) for x in cp["cycles"]],
                )
            )
        for chart in report.get("run_charts", []):
            parts += [f"<h3>Run chart: {escape(chart['item'])}</h3>", charts.run_chart(chart)]
    stage_md = _md_stage(report["stage_summary"])
    parts.append(_stage_html(stage_md))
    parts += [
        "<h2>Safety</h2>",
        f"<p>{report['safety']['flagged']} replies were flagged for safety follow-up; they are "
        "counted above and never quoted.</p>",
    ]
    if report["suppressed"]:
        parts.append(
            f"<p>{len(report['suppressed'])} cells under 5 are hidden (shown as &lt;5 or –).</p>"
        )
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _stage_html(lines: Sequence[str]) -> str:
    """The stage summary's Markdown lines as simple HTML (headings, lists, quotes, code)."""
    out: list[str] = []
    in_list = in_pre = False
    for line in lines:
        if line == "```":
            out.append("</pre>" if in_pre else "<pre>")
            in_pre = not in_pre
            continue
        if in_pre:
            out.append(escape(line))
            continue
        if in_list and not line.startswith("- "):
            out.append("</ul>")
            in_list = False
        if line.startswith("### "):
            out.append(f"<h3>{escape(line[4:])}</h3>")
        elif line.startswith("## "):
            out.append(f"<h2>{escape(line[3:])}</h2>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{escape(line[2:])}</li>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{escape(line[2:].strip())}</blockquote>")
        elif line:
            text = escape(line).replace("**", "")
            out.append(f"<p>{text}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)
