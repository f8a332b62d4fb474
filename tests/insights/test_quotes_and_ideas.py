"""Quotes a QI lead can trust, and ideas that are really suggestions.

Quotes: never from a reply flagged for safety (or one that reads as a crisis though it
was stored unscreened), redacted, HTML entities decoded, cut at a sentence end, typical
of their group and unlike each other. Ideas: replies that ask for a change, measured on
the labelled sample in ``tests/data/insights/suggestions.jsonl``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consultations import screening
from consultations.insights import ResponseRow, analyse_text, build_report
from consultations.insights.quotes import (
    QUOTE_CHARS,
    SAME_SAYING,
    decode,
    overlap,
    quote_text,
    trim,
    word_set,
)
from consultations.insights.render import render_markdown
from consultations.insights.suggestions import clauses, is_suggestion
from consultations.insights.training import criticality_class, read_pxtextmining
from consultations.spec import parse_spec
from tests.helpers import spec_data
from tests.insights.fixture import SPEC, START

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "insights" / "suggestions.jsonl"
PXTEXTMINING_SAMPLE = (
    Path(__file__).resolve().parents[1] / "data" / "pxtextmining" / "text_data_sample.csv"
)


def test_entities_are_decoded_even_when_encoded_twice() -> None:
    raw = "Staff were kind&nbsp;&amp; helpful.&amp;nbsp;The ward &lt;was&gt; clean<br/>too"
    assert decode(raw) == "Staff were kind & helpful. The ward <was> clean too"
    assert "&" not in quote_text("Fish &amp;amp; chips were cold").replace(" & ", "")


def test_long_quotes_end_at_a_sentence() -> None:
    first = "The nurse explained every step of the procedure and answered all my questions. "
    second = "She came back later to check how I was feeling and made sure I had water. "
    third = "Parking was hard to find and I was late, which was stressful " * 5
    quoted = trim(first + second + third)
    assert quoted == (first + second).strip()
    assert len(quoted) <= QUOTE_CHARS


def test_without_an_early_sentence_end_the_cut_falls_at_a_word() -> None:
    text = "waited " * 80
    quoted = trim(text.strip())
    assert quoted.endswith(" …")
    assert len(quoted) <= QUOTE_CHARS + 2
    assert all(w == "waited" for w in quoted[:-2].split())


def test_quotes_are_redacted_again() -> None:
    # A reply stored before redaction existed (or imported raw) still shows no details.
    quoted = quote_text("Ring me on 0412 345 678 or write to jo.bloggs@example.com please")
    assert "0412" not in quoted and "example.com" not in quoted
    assert "[phone]" in quoted and "[email]" in quoted


def _row(i: int, text: str, flags: tuple[str, ...] = ()) -> ResponseRow:
    return ResponseRow(
        id=5000 + i,
        item_id="one-thing",
        item_type="prompt",
        channel="import",
        participant=f"q{i:04d}",
        segments={},
        choices=(),
        text=text,
        created_at=START + timedelta(minutes=i),
        flags=flags,
        analysis=analyse_text(text),
    )


CRISIS = "I want to end my life, the waiting list is too long and nobody calls back."
FLAGGED = "Please add more staff, I cannot go on like this and I will kill myself."


def _report(rows: list[ResponseRow]) -> dict[str, Any]:
    return build_report(SPEC, rows, generated_at=START + timedelta(days=30))


def _all_quotes(report: dict[str, Any]) -> list[str]:
    quotes = [q for t in report["themes"] for q in t["quotes"]]
    quotes += [q for c in report["codebook"]["categories"] for q in c["quotes"]]
    plan = report["stage_summary"]["plan"]
    quotes += [x["text"] for x in plan["ideas"]["examples"]]
    quotes += [p["quote"] for p in plan["main_problems"] if p["quote"]]
    return quotes


@pytest.fixture(scope="module")
def busy_report() -> dict[str, Any]:
    """Many near-copies of the same replies, a crisis text stored unflagged, one flagged."""
    texts = []
    for k in range(12):
        texts += [
            f"Please add evening appointments, I work until six{'!' * (k % 3)}",
            f"The phone line rang out every time I called the clinic ({k}).",
            f"Staff were kind&nbsp;&amp; helpful, thank you {k}.",
            f"It would help if the letter said where to park {k}.",
            f"The waiting room was cold and noisy on day {k}.",
        ]
    texts += ["I would recommend this service, the staff should be proud."] * 6
    texts += ["More than happy with everything, keep up the good work."] * 6
    rows = [_row(i, t) for i, t in enumerate(texts)]
    rows.append(_row(900, CRISIS))
    rows.append(_row(901, FLAGGED, ("safety",)))
    rows.append(_row(902, "Ring me on 0412 345 678 about parking please, it is hard"))
    return _report(rows)


def test_no_quote_comes_from_a_crisis_or_flagged_reply(busy_report: dict[str, Any]) -> None:
    everything = json.dumps(busy_report)
    assert "end my life" not in everything
    assert "kill myself" not in everything
    assert busy_report["safety"]["flagged"] == 1


def test_quotes_are_decoded_and_redacted(busy_report: dict[str, Any]) -> None:
    quotes = _all_quotes(busy_report)
    assert quotes
    assert not any("&nbsp;" in q or "&amp;" in q for q in quotes)
    assert not any("0412" in q for q in quotes)


def test_quotes_in_one_place_differ_from_each_other(busy_report: dict[str, Any]) -> None:
    groups = [t["quotes"] for t in busy_report["themes"]]
    groups += [c["quotes"] for c in busy_report["codebook"]["categories"]]
    groups.append([x["text"] for x in busy_report["stage_summary"]["plan"]["ideas"]["examples"]])
    for quotes in groups:
        sets = [word_set(q) for q in quotes]
        for a in range(len(sets)):
            for b in range(a + 1, len(sets)):
                assert overlap(sets[a], sets[b]) <= SAME_SAYING, (quotes[a], quotes[b])


def test_ideas_quote_suggestions_not_praise(busy_report: dict[str, Any]) -> None:
    ideas = busy_report["stage_summary"]["plan"]["ideas"]
    examples = [x["text"] for x in ideas["examples"]]
    assert len(examples) >= 2
    assert all(is_suggestion(x) for x in examples)
    assert not any("recommend" in x or "happy" in x for x in examples)
    # 12 + 12 among the near-copies, the parking one, and the flagged one (counted, never
    # quoted); none of the praise.
    assert ideas["count"] == 26


def test_a_main_problem_is_quoted_from_its_complaints() -> None:
    # A large theme mostly of praise is among the main problems for its complaints: its
    # quote must be one of them ("Keep on top of pain relief ..."), not the theme's first
    # quote ("Thankful to have such a good service").
    texts = [c.text for c in read_pxtextmining(PXTEXTMINING_SAMPLE)]
    report = _report([_row(i, t) for i, t in enumerate(texts)])
    problems = report["stage_summary"]["plan"]["main_problems"]
    assert len(problems) >= 3, problems
    assert any(p["negative_share"] < 0.5 for p in problems), problems  # mostly praise
    for problem in problems:
        assert problem["quote"] is not None
        assert analyse_text(problem["quote"]).label == "negative", problem
    # The report says it beside the theme.
    md = render_markdown(report)
    section = md.split("### Main problems", 1)[1].split("###", 1)[0]
    lines = [x for x in section.splitlines() if x.startswith("- ")]
    assert len(lines) == len(problems) and all(x.endswith("”") for x in lines), lines


@pytest.mark.parametrize(
    "text",
    [
        "Could you offer evening appointments?",
        "It would help if the crisis team rang back the same day.",
        "Please add a text reminder.",
        "I wish the sessions did not stop after six weeks.",
        "More staff at weekends.",
        "You need to answer the phone before 10am.",
        "Answer the phone!",
        "Lovely staff. The parking needs sorting out though.",
    ],
)
def test_suggestions_are_recognised(text: str) -> None:
    assert is_suggestion(text)


@pytest.mark.parametrize(
    "text",
    [
        "I would recommend this service to anyone.",
        "Couldn't ask for more.",
        "Nothing could be improved.",
        "Keep up the good work!",
        "More than happy with my care.",
        "The staff should be proud of themselves.",
        "I waited fourteen weeks and nobody called.",
        "The nurses were kind and helpful.",
    ],
)
def test_praise_and_plain_complaints_are_not_suggestions(text: str) -> None:
    assert not is_suggestion(text)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Kind staff but long waits", ["kind staff", "long waits"]),
        ("But the parking; however, the café", ["the parking", "the café"]),
        ("A rebuttal, butter and buttons", ["a rebuttal, butter and buttons"]),
        ("Although late - very kind. Thanks!", ["late", "very kind", "thanks"]),
        ("xbut _but 2but ébut nonetheless", ["xbut _but 2but ébut nonetheless"]),
        ("tired,but fine (but slow)", ["tired", "fine", "slow"]),
    ],
)
def test_clauses_break_at_conjunctions_only_as_whole_words(text: str, parts: list[str]) -> None:
    assert clauses(text) == parts


def _sample() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def test_the_labelled_sample_is_large_balanced_and_split() -> None:
    rows = _sample()
    assert len(rows) >= 300
    share = sum(r["suggestion"] for r in rows) / len(rows)
    assert 0.45 <= share <= 0.55
    assert {r["split"] for r in rows} == {"tune", "held-out"}
    assert sum(r["split"] == "held-out" for r in rows) >= 100
    assert sum(r["source"].startswith("pxtextmining") for r in rows) >= 100
    assert len({r["text"] for r in rows}) == len(rows)


def test_suggestion_precision_on_held_out_replies() -> None:
    held = [r for r in _sample() if r["split"] == "held-out"]
    predicted = [r for r in held if is_suggestion(r["text"])]
    true_positive = sum(r["suggestion"] for r in predicted)
    precision = true_positive / len(predicted)
    recall = true_positive / sum(r["suggestion"] for r in held)
    # Measured 1.00 precision and 0.95 recall when set; the issue asks for 0.8.
    assert precision >= 0.8
    assert recall >= 0.6


def _spanish_rows() -> list[ResponseRow]:
    texts = []
    for k in range(8):
        texts += [
            f"El teléfono de citas no contesta nunca por la mañana ({k}).",
            f"Esperamos tres horas en urgencias y nadie nos informó ({k}).",
        ]
    # Imported before the screen existed: stored as written, a Spanish mobile and all.
    texts += ["Llámenme al 612 34 56 78 por las tardes, el teléfono de citas no contesta."] * 3
    return [_row(i, t) for i, t in enumerate(texts)]


def test_quotes_are_redacted_again_as_the_consultation_reads_its_replies() -> None:
    # The report's second redaction reads a Spanish consultation's replies with Spain's
    # phone formats and writes its Spanish placeholders, as its screen did at intake.
    spanish = parse_spec(spec_data(language="es", segments=[]))
    report = build_report(spanish, _spanish_rows(), generated_at=START + timedelta(days=30))
    quotes = _all_quotes(report)
    phones = [q for q in quotes if "Llámenme" in q]
    assert phones
    assert all("Llámenme al [teléfono] por las tardes" in q for q in phones), phones
    assert not any("612" in q or "[id number]" in q or "[phone]" in q for q in quotes)
    # Without the consultation (a spec that is not one), the defaults: no Spanish region.
    english = build_report(SPEC, _spanish_rows(), generated_at=START + timedelta(days=30))
    assert any("[id number]" in q for q in _all_quotes(english))
    # Hints given by the caller win.
    given = build_report(
        SPEC,
        _spanish_rows(),
        generated_at=START + timedelta(days=30),
        hints=screening.hints_for(spanish),
    )
    assert _all_quotes(given) == quotes


def test_quote_text_takes_the_consultations_hints() -> None:
    text = "Llámenme al 612 34 56 78, soy Marta."
    hints = screening.hints_for(parse_spec(spec_data(language="es", segments=[])))
    assert quote_text(text, hints=hints) == "Llámenme al [teléfono], soy [nombre]."
    # Read with AU, UK and US formats only, the mobile is no phone there (nor, before a
    # comma, a long id number).
    assert quote_text(text) == "Llámenme al 612 34 56 78, soy [name]."


def test_a_timed_chat_quotes_what_other_sections_may_quote() -> None:
    # A reply held for review, or one stored unscreened that reads as a crisis, was quoted
    # in a timed chat's part (only safety-flagged replies were left out there).
    from tests.over_time.helpers import timed_spec

    spec = parse_spec(timed_spec(START))
    rows = [
        replace(_row(0, "The chairs are hard and the TV is too loud."), item_id="waiting"),
        replace(_row(1, CRISIS), item_id="waiting"),
        replace(
            _row(2, "Ni idea, pero las sillas son duras", (screening.REVIEW,)), item_id="waiting"
        ),
    ]
    (part, _) = build_report(spec, rows, generated_at=START + timedelta(days=1))["timed_chat"]
    assert part["replies"] == 3
    assert part["quotes"] == ["The chairs are hard and the TV is too loud."]


#: Suggestions about where a letter or text puts its date or time: the semantic layer
#: read "put the date" (and the lexicon "set the date") as a plan, urgent at once.
LAYOUT_SUGGESTIONS = [
    "Put the date first",
    "Put the date first.",
    "Please put the date first on the letter",
    "Set the date at the top",
    "Just put the time in bold",
    "Could you put the date on the envelope",
]
#: Plans with a date, clause-initial ones among them: still urgent.
DATED_PLANS = [
    "I've set the date, the 14th. It's the anniversary. I've got everything I need.",
    "Set the date. My birthday. Seemed right somehow. I've already cancelled the rent from then.",
    "I have set the date first, then I will write the notes",
    "picked the date for my final exit. nobody knows",
]


@pytest.mark.parametrize("text", LAYOUT_SUGGESTIONS)
def test_a_suggestion_about_a_letters_date_is_no_safety_flag(text: str) -> None:
    screened = screening.screen(text)
    assert not screened.verdict.flagged and not screened.urgent, screened.verdict


@pytest.mark.parametrize("text", DATED_PLANS)
def test_a_plan_with_a_date_stays_urgent(text: str) -> None:
    screened = screening.screen(text)
    assert screened.verdict.flagged and screened.urgent, screened.verdict


def test_a_layout_suggestion_screened_at_intake_is_an_idea_in_the_report() -> None:
    texts = [*LAYOUT_SUGGESTIONS, *(f"Staff were kind and helpful {k}" for k in range(6))]
    rows = [_row(i, t, screening.screen(t).flags) for i, t in enumerate(texts)]
    report = _report(rows)
    assert report["safety"]["flagged"] == 0
    ideas = report["stage_summary"]["plan"]["ideas"]
    # Each is counted as an idea ("set" opens no instruction to the suggestion rules).
    assert ideas["count"] == sum(is_suggestion(t) for t in LAYOUT_SUGGESTIONS) == 5
    assert any("date" in x["text"] for x in ideas["examples"])


def test_suggestions_keep_the_sentiment_people_give_them() -> None:
    # Sentiment does not call a suggestion neutral: on the labelled comments the people
    # who scored them called three in four of those the rules mark negative (170 of 226
    # in the sample; bench/README.md: every way tried of making suggestions neutral
    # lowered held-out 3-class macro-F1, 0.451 to between 0.363 and 0.442).
    comments = read_pxtextmining(PXTEXTMINING_SAMPLE)
    marked = [c for c in comments if is_suggestion(c.text)]
    truth = Counter(criticality_class(c.criticality) for c in marked)
    assert len(marked) >= 200
    assert truth["negative"] >= 0.7 * len(marked), truth
    assert truth["neutral"] <= 0.1 * len(marked), truth
    complaint = analyse_text("Staff should not be so rude on the phone")
    assert complaint.suggestion and complaint.label == "negative"
