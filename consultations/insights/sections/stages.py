"""Stage summaries: what the report says for the plan, do, study or act stage of a PDSA cycle.

Each summary reads the sections already built (participation, polls, themes, comparison)
and the free-text replies; the act summary drafts a "you said, we did" message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from consultations import screening
from consultations.insights.columns import TextColumns, day_of, distinct
from consultations.insights.plurals import plural
from consultations.insights.quotes import pick_diverse
from consultations.insights.records import ChangeMarker, SpecLike
from consultations.insights.sections import SMALL_CELL
from consultations.insights.sections.free_text import quotable, quote_text, sentiment_of
from consultations.insights.text import NEGATIVE, SENTIMENT_LABELS

_NEGATIVE = SENTIMENT_LABELS.index(NEGATIVE)

#: Longest "you said, we did" draft: fits a Mastodon status (500 characters).
YOU_SAID_CHARS = 500


def summarise(
    stage: str,
    spec: SpecLike,
    report: Mapping[str, Any],
    text: TextColumns,
    changes: Sequence[ChangeMarker],
    hints: screening.Hints = screening.NO_HINTS,
    assignment: npt.NDArray[np.intp] | None = None,
) -> dict[str, Any]:
    """The ``stage_summary`` section for ``stage``, read from the sections in ``report``
    (quotes redacted with the consultation's ``hints``; ``assignment``, each reply's theme,
    lets a main problem be quoted from its negative replies)."""
    themes: list[dict[str, Any]] = report["themes"]
    problems = sorted(
        (k for k, t in enumerate(themes) if t["sentiment"]["negative"] > 0),
        key=lambda k: -themes[k]["count"] * themes[k]["sentiment"]["negative"],
    )[:5]
    problem_rows = [
        {
            "theme": themes[k]["label"],
            "count": themes[k]["count"],
            "negative_share": themes[k]["sentiment"]["negative"],
            "quote": _problem_quote(text, themes[k], k, assignment, hints),
        }
        for k in problems
    ]
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "plan": lambda: {
            "main_problems": problem_rows,
            "priorities": _priorities(report["polls"]),
            "ideas": _ideas(text, themes, hints),
            "agreed_statements": _agreed_statements(report),
            "missing_voices": report["participation"]["missing_segments"],
            "under_represented": report["representativeness"]["under_represented"],
        },
        "do": lambda: {
            "experience": {
                "sentiment": report["sentiment"],
                "by_day": _sentiment_by_day(text),
                "responses_by_day": report["participation"]["by_day"],
            },
            "problems": problem_rows,
            "warning_signs": [
                {
                    "theme": t["label"],
                    "count": t["count"],
                    "negative_share": t["sentiment"]["negative"],
                }
                for t in themes
                if t["sentiment"]["negative"] >= 0.5 and t["count"] >= SMALL_CELL
            ],
        },
        "study": lambda: _study(report),
        "act": lambda: _act(spec, report, changes),
    }
    return {"stage": stage, stage: builders[stage]()}


def _priorities(polls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in polls:
        ranked = sorted(p["options"], key=lambda o: -o["count"])
        if not ranked or p["n"] == 0:
            continue
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        out.append(
            {
                "item": p["item"],
                "question": p["question"],
                "ranking": [o["label"] for o in ranked],
                "leading": top["label"],
                "share": top["share"],
                # A lead is clear when the intervals of first and second do not overlap.
                "clear_lead": second is None or top["ci_low"] > second["ci_high"],
            }
        )
    return out


def _typical_first(text: TextColumns, among: npt.NDArray[np.intp]) -> list[int]:
    """``among`` (reply indices), most typical first: a reply whose content words many
    of the others use too (mean document frequency among them), read at a readable
    length."""
    tokens = text.tokens.take(among)
    df = np.bincount(tokens.ids, minlength=len(tokens.vocab))
    running = np.concatenate([[0], np.cumsum(df[tokens.ids], dtype=np.int64)])
    used = running[tokens.ptr[1:]] - running[tokens.ptr[:-1]]
    lengths = np.diff(tokens.ptr)
    n = text.words[among]
    readable = np.where((n >= 6) & (n <= 40), 1.0, np.where(n >= 4, 0.5, 0.1))
    with np.errstate(invalid="ignore", divide="ignore"):
        common = used / (lengths * max(1, len(among)))
    typical = np.where(lengths > 0, common * readable, 0.0)
    order: list[int] = among[np.lexsort((text.ids[among], -typical))].tolist()
    return order


def _quotable_reply(text: TextColumns, i: int) -> bool:
    return bool(text.words[i] >= 4) and quotable(text.row(i))


def _problem_quote(
    text: TextColumns,
    theme: Mapping[str, Any],
    k: int,
    assignment: npt.NDArray[np.intp] | None,
    hints: screening.Hints,
) -> str | None:
    """A typical negative reply of theme ``k``, saying what the problem is; a theme
    mostly of praise is a main problem for its complaints, not for its first quote."""
    if assignment is not None and len(assignment) == len(text):
        negative = np.flatnonzero((assignment == k) & (text.label == _NEGATIVE)).astype(np.intp)
        if len(negative):
            # The clearest complaints (the most negative quarter, at least 10), the most
            # typical of them first: a reply the model only just calls negative may
            # be praise ("Could not have been more help").
            scores = text.sentiment[negative]
            clearest = negative[np.argsort(scores, kind="stable")[: max(10, len(negative) // 4)]]
            chosen = pick_diverse(
                _typical_first(text, np.sort(clearest)),
                lambda i: text.text(i) or "",
                lambda i: _quotable_reply(text, i),
                1,
                limit=200,
            )
            if chosen:
                return quote_text(text.text(chosen[0]) or "", hints=hints)
    quotes: list[str] = theme["quotes"]
    return quotes[0] if quotes else None


def _ideas(
    text: TextColumns, themes: Sequence[Mapping[str, Any]], hints: screening.Hints
) -> dict[str, Any]:
    ideas = np.flatnonzero(text.suggestion).astype(np.intp)
    # Typical ideas first; then no two alike.
    chosen = pick_diverse(
        _typical_first(text, ideas),
        lambda i: text.text(i) or "",
        lambda i: _quotable_reply(text, i),
        5,
        limit=400,
    )
    examples = [
        {
            "text": quote_text(text.text(i) or "", hints=hints),
            "response": int(text.ids[i]),
            "item": text.items[int(text.item[i])],
        }
        for i in chosen
    ]
    return {
        "count": len(ideas),
        "share": round(len(ideas) / len(text), 4) if len(text) else 0.0,
        "by_theme": sorted(
            ({"theme": t["label"], "count": t["suggestions"]} for t in themes if t["suggestions"]),
            key=lambda d: -d["count"],
        )[:5],
        "examples": examples,
    }


#: Statements the plan summary lists as the most agreed with, at most.
AGREED_STATEMENTS = 5


def _agreed_statements(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """With statement voting: the statements most voters agreed with, each voted on by
    at least :data:`SMALL_CELL` people (a share of fewer says little), most agreed first.

    Statements are already in their voters' words, so for an idea-crowdsourcing
    consultation these are the ideas people backed, not only the ones they wrote.
    """
    tally = report.get("statement_votes")
    if not tally:
        return []
    backed = [
        {
            "text": s["text"],
            "agree_share": s["agree_share"],
            "votes": s["votes"],
            "added_by": s["added_by"],
        }
        for s in tally["statements"]
        if s["votes"] >= SMALL_CELL and s["agree"] > s["disagree"]
    ]
    return backed[:AGREED_STATEMENTS]


def _sentiment_by_day(text: TextColumns) -> list[dict[str, Any]]:
    days = text.days
    out = []
    for day in distinct(days).tolist():
        members = np.flatnonzero(days == day)
        out.append(
            {"date": day_of(day * 86_400_000_000).isoformat(), **sentiment_of(text, members)}
        )
    return out


def _study(report: Mapping[str, Any]) -> dict[str, Any]:
    comparison = report["comparison"]
    if not comparison["polls"] and not comparison["categories"]:
        return {
            "note": "No earlier cycle of this QI project was given: nothing to compare with yet.",
            "measures": [],
            "themes_grew": [],
            "themes_shrank": [],
            "run_chart_signals": [
                {"item": c["item"], **c["signals"]} for c in report["run_charts"]
            ],
            "signals": _signals_in_words(report),
        }
    measures = [
        {
            "item": p["item"],
            "measure": p["measure"],
            "baseline": p["cycles"][0]["share"],
            "now": p["cycles"][-1]["share"],
            "vs_baseline": p["vs_baseline"],
            "vs_previous": p["vs_previous"],
        }
        for p in comparison["polls"]
    ]
    cats = comparison["categories"]
    return {
        "measures": measures,
        "themes_grew": [c for c in cats if c.get("clear") and c["difference"] > 0],
        "themes_shrank": [c for c in cats if c.get("clear") and c["difference"] < 0],
        "negative_comments": comparison["negative"],
        "run_chart_signals": [{"item": c["item"], **c["signals"]} for c in report["run_charts"]],
        "signals": _signals_in_words(report),
    }


def _signals_in_words(report: Mapping[str, Any]) -> list[str]:
    """Every special-cause signal on the run charts, one sentence each."""
    return [
        s["description"]
        for c in report["run_charts"]
        for s in c["signals"].get("special_cause", [])
    ]


def _act(
    spec: SpecLike, report: Mapping[str, Any], changes: Sequence[ChangeMarker]
) -> dict[str, Any]:
    comparison = report["comparison"]
    evidence: dict[str, list[str]] = {"adopt": [], "adapt": [], "abandon": []}
    for p in comparison["polls"]:
        d = p["vs_baseline"]
        if "difference" not in d:
            continue
        pts = (
            f"{d['difference'] * 100:+.1f} points "
            f"(95% CI {d['ci_low'] * 100:+.1f} to {d['ci_high'] * 100:+.1f})"
        )
        text = f"{p['question']} {p['measure']}: {pts} since cycle {d['cycle']}"
        if d["clear"] and d["difference"] > 0:
            evidence["adopt"].append(text)
        elif d["clear"]:
            evidence["abandon"].append(text)
        else:
            evidence["adapt"].append(text + " (no clear change)")
    negative = comparison.get("negative")
    if negative and "difference" in negative:
        text = f"negative comments {negative['previous_share']:.0%} -> {negative['share']:.0%}"
        if negative["clear"] and negative["difference"] < 0:
            evidence["adopt"].append(text)
        elif negative["clear"]:
            evidence["abandon"].append(text)
    for t in report["themes"]:
        if t["count"] >= SMALL_CELL and t["sentiment"]["negative"] >= 0.5:
            evidence["adapt"].append(
                f'{t["count"]} comments on "{t["label"]}", '
                f"{t['sentiment']['negative']:.0%} negative"
            )
    suggestion: str | None
    if evidence["abandon"] and not evidence["adopt"]:
        suggestion = "abandon"
    elif evidence["adopt"] and not evidence["abandon"]:
        suggestion = (
            "adopt" if not any("no clear change" in e for e in evidence["adapt"]) else "adapt"
        )
    else:
        suggestion = "adapt"
    if not any(evidence.values()):
        # No measure compared and no theme to act on (nobody answered yet, or too few):
        # no decision is suggested rather than one with nothing behind it.
        suggestion = None
    if suggestion is not None and not comparison["polls"] and not comparison["categories"]:
        evidence["adapt"].insert(
            0, "no earlier cycle to compare with: the decision rests on comments alone"
        )
    return {
        "suggested_decision": suggestion,
        "evidence": evidence,
        "you_said_we_did": _you_said(spec, report, changes),
    }


def _you_said(spec: SpecLike, report: Mapping[str, Any], changes: Sequence[ChangeMarker]) -> str:
    themes = report["themes"]
    total = report["sentiment"]["n"]
    people = report["participation"]["participants"]
    if not people:
        return ""  # nobody took part: nothing to say back to anyone
    # The themes as the report names them (a phrase at least two people wrote, or the
    # framework's sub-theme), most replies first; a theme named only by its category
    # says nothing, and one named by a phrase of a single reply would repeat that
    # person's words (perhaps a private answer) to everyone.
    named = [
        t
        for t in themes
        if t["label"] == t.get("subcategory")
        or t["label"].lower() in {p.lower() for p in t.get("phrases") or ()}
    ]
    # What people asked to change comes first: themes mostly of complaints or with many
    # ideas in them. "You said: nothing to improve; excellent care" tells nobody what
    # was done about what they raised. Only when nothing was raised, the largest themes.
    raised = [
        t
        for t in named
        if t["count"] >= SMALL_CELL
        and (t["sentiment"]["negative"] >= 0.5 or t.get("suggestions", 0) >= 0.3 * t["count"])
    ]
    said = [
        f"{t['label']} ({t['count']} of {plural(total, 'comment')})"
        for t in sorted(raised or named, key=lambda t: -t["count"])[:3]
    ]
    # consultations.spec.DRAFT_PLACEHOLDERS: a spec that still says this is refused.
    did = [c.label for c in changes][-3:] or ["[what we changed]"]
    lines = [
        f"Thank you to the {plural(people, 'person')} who took part in {spec.title}.",
        "You said: " + "; ".join(said) + "." if said else "You told us what matters to you.",
        "We did: " + "; ".join(did) + ".",
    ]
    if spec.closing_message:
        lines.append(spec.closing_message)
    message = "\n".join(lines)
    if len(message) > YOU_SAID_CHARS:
        message = message[: YOU_SAID_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return message
