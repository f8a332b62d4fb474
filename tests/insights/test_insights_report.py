"""Reports from the hand-written fixture: numbers, privacy rules, themes, renderers."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consultations.insights import (
    CSV_COLUMNS,
    ChangeMarker,
    CodebookError,
    CycleResult,
    FunnelCounts,
    ResponseRow,
    analyse_text,
    build_report,
    load_codebook,
    parse_codebook,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)
from consultations.insights.render import WITHHELD
from tests.insights.fixture import (
    COMMENTS,
    POLL_ANSWERS,
    SAFETY_INDEX,
    SPEC,
    START,
    all_rows,
    reply_rows,
)

GENERATED = datetime(2026, 12, 20, tzinfo=UTC)


def report(**kwargs: Any) -> dict[str, Any]:
    from tests.insights.fixture import POLL_TOTALS

    return build_report(SPEC, all_rows(), POLL_TOTALS, None, generated_at=GENERATED, **kwargs)


@pytest.fixture(scope="module")
def plan_report() -> dict[str, Any]:
    return report(include_responses=True)


def test_contract_fields_are_present(plan_report: dict[str, Any]) -> None:
    for key in (
        "consultation",
        "stage",
        "generated_at",
        "participation",
        "polls",
        "themes",
        "sentiment",
        "safety",
        "suppressed",
        "stage_summary",
    ):
        assert key in plan_report
    for key in ("responses", "participants", "by_channel", "by_segment"):
        assert key in plan_report["participation"]
    assert plan_report["consultation"]["id"] == "outpatient-booking"
    assert plan_report["stage"] == "plan"
    assert plan_report["generated_at"] == "2026-12-20T00:00:00+00:00"


def test_participation_counts(plan_report: dict[str, Any]) -> None:
    p = plan_report["participation"]
    assert p["responses"] == len(COMMENTS) + len(POLL_ANSWERS)
    assert p["participants"] == len(COMMENTS)
    assert sum(d["responses"] for d in p["by_day"]) == p["responses"]
    assert p["by_channel"]["mastodon"]["poll_votes_from_totals"] == 10
    assert p["funnel"]["finished"] == len(POLL_ANSWERS)
    # Community member (nobody) is hidden, and Staff (5 people) with it, so that the
    # total minus the groups shown does not give the empty group away; both get the same
    # status, as saying which was empty would undo that.
    status = "fewer than 5, or hidden with a group that has fewer"
    assert p["missing_segments"] == [
        {
            "segment": "role",
            "question": "Which best describes you?",
            "option": option,
            "status": status,
        }
        for option in ("Staff", "Community member")
    ]


def test_given_funnel_is_reported_with_rates() -> None:
    from tests.insights.fixture import POLL_TOTALS

    r = build_report(
        SPEC, all_rows(), POLL_TOTALS, FunnelCounts(50, 40, 30), generated_at=GENERATED
    )
    assert r["participation"]["funnel"] == {
        "consented": 50,
        "answered": 40,
        "finished": 30,
        "answered_rate": 0.8,
        "finished_rate": 0.6,
        "derived_from_responses": False,
    }


def test_poll_merges_per_person_answers_with_latest_totals(plan_report: dict[str, Any]) -> None:
    (poll,) = plan_report["polls"]
    counts = {o["label"]: o["count"] for o in poll["options"]}
    # 30 per-person answers plus the later Mastodon snapshot (10 votes); the earlier
    # snapshot is ignored.
    assert counts == {"Very easy": 6, "Easy": 11, "Neither": 6, "Hard": 12, "Very hard": 5}
    assert poll["n"] == 40
    hard = next(o for o in poll["options"] if o["label"] == "Hard")
    assert hard["share"] == 0.3
    assert (hard["ci_low"], hard["ci_high"]) == pytest.approx((0.1807, 0.4543), abs=1e-4)


def test_public_poll_totals_add_to_the_same_channels_direct_answers() -> None:
    from consultations.insights import PollTotal

    # Three people answered by direct message; four voted on the public poll.
    rows = [
        ResponseRow(i, "ease", "poll", "mastodon", f"m{i}", {}, ("Easy",), None, START)
        for i in range(3)
    ]
    totals = [PollTotal("ease", "mastodon", {"Easy": 3, "Hard": 1}, START)]
    r = build_report(SPEC, rows, totals, None, generated_at=GENERATED)
    assert r["polls"][0]["n"] == 7
    counts = {o["label"]: o["count"] for o in r["polls"][0]["options"]}
    assert (counts["Easy"], counts["Hard"]) == (6, 1)


def test_small_segment_cells_are_hidden_and_listed(plan_report: dict[str, Any]) -> None:
    (poll,) = plan_report["polls"]
    patients = poll["by_segment"]["role"]["Patient"]
    shown = {o["label"]: o["count"] for o in patients["options"]}
    assert all(v is None or v >= 5 for v in shown.values())
    # Complementary suppression: Staff (4 answers) and Community member (none) are hidden
    # whole, and Carer (7) with them since those two hold fewer than 5 between them.
    # Every option's other groups then hold fewer than 5, so each Patient cell (Hard was
    # 6) is hidden too: the option totals minus a Patient cell would give them away.
    assert patients["n"] == 19
    assert shown == dict.fromkeys(shown)
    for group in ("Carer", "Staff", "Community member"):
        assert poll["by_segment"]["role"][group] == {"n": None, "options": None}
    listed = {(s["section"], s.get("group"), s.get("option")) for s in plan_report["suppressed"]}
    for label, value in shown.items():
        if value is None:
            assert ("polls.by_segment", "Patient", label) in listed
    assert ("polls.by_segment", "Staff", None) in listed
    assert ("participation.by_segment", None, "Community member") in listed
    # Whole-item totals are never suppressed.
    assert all(o["count"] is not None for o in poll["options"])


def test_themes_are_named_in_words_with_distinct_safe_quotes(
    plan_report: dict[str, Any],
) -> None:
    themes = plan_report["themes"]
    assert len(themes) >= 3
    assert sum(t["count"] for t in themes) == len(COMMENTS)
    flagged_text = COMMENTS[SAFETY_INDEX]
    for t in themes:
        assert re.search(r"[A-Za-z]{3,}", t["label"])
        assert not re.fullmatch(r"(theme|cluster|topic)?\s*\d+", t["label"], re.IGNORECASE)
        assert 0 < len(t["quotes"]) <= 3
        assert len(set(t["quotes"])) == len(t["quotes"])
        assert flagged_text not in t["quotes"]
        assert set(t["sentiment"]) >= {"positive", "neutral", "negative"}
    labels = [t["label"] for t in themes]
    assert len(set(labels)) == len(labels)
    assert plan_report["safety"]["flagged"] == 1
    everything = json.dumps({k: v for k, v in plan_report.items() if k != "responses"})
    assert flagged_text not in everything


def test_phone_complaints_share_a_theme(plan_report: dict[str, Any]) -> None:
    by_id = {r["id"]: r["theme"] for r in plan_report["responses"]}
    phone = [by_id[i] for i in (1000, 1001, 1002, 1003, 1005, 1006)]
    # Forty replies are few for clustering; most phone complaints must still meet.
    assert max(phone.count(t) for t in phone) >= 4


def test_overall_sentiment_shares_sum_to_one(plan_report: dict[str, Any]) -> None:
    s = plan_report["sentiment"]
    assert s["positive"] + s["neutral"] + s["negative"] == pytest.approx(1.0, abs=1e-3)
    assert s["negative"] > s["positive"]  # a consultation about what is hard


def test_plan_summary(plan_report: dict[str, Any]) -> None:
    plan = plan_report["stage_summary"]["plan"]
    assert plan["main_problems"]
    assert plan["priorities"][0]["item"] == "ease"
    assert plan["ideas"]["count"] > 5
    assert all(e["response"] != 1000 + SAFETY_INDEX for e in plan["ideas"]["examples"])


def history() -> list[CycleResult]:
    return [
        CycleResult(
            cycle=1,
            consultation="outpatient-booking-c1",
            start=date(2026, 10, 1),
            end=date(2026, 10, 14),
            polls={"ease": {"Very easy": 2, "Easy": 6, "Neither": 8, "Hard": 16, "Very hard": 8}},
            poll_n={"ease": 40},
            categories={"Access": 20, "Communication": 10, "Staff": 10},
            text_n=40,
            negative=32,
        )
    ]


def test_study_compares_with_the_baseline_cycle() -> None:
    changes = [ChangeMarker(date(2026, 11, 15), "Text reminders")]
    r = report(stage="study", history=history(), changes=changes)
    (cp,) = r["comparison"]["polls"]
    assert cp["measure"] == "share choosing Very easy or Easy"
    assert [c["share"] for c in cp["cycles"]] == [0.2, 0.425]
    assert cp["vs_baseline"]["difference"] == pytest.approx(0.225)
    assert cp["vs_baseline"]["ci_low"] < cp["vs_baseline"]["difference"]
    study = r["stage_summary"]["study"]
    assert study["measures"][0]["now"] == 0.425
    (chart,) = r["run_charts"]
    assert [p["label"] for p in chart["points"]] == ["cycle 1", "cycle 2"]
    assert chart["changes"] == [{"date": "2026-11-15", "label": "Text reminders"}]
    assert all(p["lcl"] <= chart["centre"] <= p["ucl"] for p in chart["points"])


def test_single_cycle_run_chart_is_by_day() -> None:
    r = report(stage="do")
    (chart,) = r["run_charts"]
    assert len(chart["points"]) > 2
    assert sum(p["n"] for p in chart["points"]) == len(POLL_ANSWERS)
    assert "do" in r["stage_summary"]


def test_act_suggests_and_drafts_a_message() -> None:
    r = report(
        stage="act", history=history(), changes=[ChangeMarker(date(2026, 11, 15), "Text reminders")]
    )
    act = r["stage_summary"]["act"]
    assert act["suggested_decision"] in {"adopt", "adapt", "abandon"}
    assert act["evidence"]["adopt"]
    message = act["you_said_we_did"]
    assert "You said" in message and "Text reminders" in message
    assert len(message) <= 500


def test_you_said_names_no_phrase_only_one_reply_holds() -> None:
    """What is said back goes to everyone, in public: a theme named by a phrase of one
    reply (a small theme's fallback name) would repeat that person's answer, perhaps a
    private one. Only phrases two or more replies share, or the framework's names."""
    from tests.insights.fixture import text_rows

    alone = [
        "Third private answer here about my gran",
        "Parking permit machine swallowed coins",
        "Receptionist Tuesday mornings seemed rushed",
    ]
    rows = [
        dataclasses.replace(
            row, id=9000 + i, participant=f"q{i}", text=text, flags=(), analysis=analyse_text(text)
        )
        for i, (row, text) in enumerate(zip(text_rows(), alone, strict=False))
    ]
    every = [*all_rows(), *rows]
    r = build_report(
        SPEC,
        every,
        [],
        None,
        generated_at=GENERATED,
        stage="act",
        changes=[ChangeMarker(date(2026, 12, 20), "Text reminders")],
    )
    said = next(
        line
        for line in r["stage_summary"]["act"]["you_said_we_did"].splitlines()
        if line.startswith("You said")
    )
    texts = [row.text.lower() for row in every if row.text]
    labels = [part.rsplit(" (", 1)[0] for part in said.removeprefix("You said: ").split("; ")]
    assert labels and labels != ["You told us what matters to you."]
    for label in labels:
        holders = [t for t in texts if label.lower() in t]
        subcategory = any(t.get("subcategory") == label for t in r["themes"])
        assert subcategory or len(holders) >= 2, (label, holders)
    # The report itself still names every theme (the fallback names a small one there).
    assert all(t["label"] for t in r["themes"])


def test_you_said_names_what_people_raised_before_what_they_praised() -> None:
    """Real comments, mostly praise: "You said" names the themes of complaints and ideas
    (what was done is said about them), not "Nothing to improve" because it is largest."""
    from consultations.insights.training import read_pxtextmining

    sample = Path(__file__).resolve().parents[1] / "data" / "pxtextmining" / "text_data_sample.csv"
    rows = reply_rows([c.text for c in read_pxtextmining(sample)])
    r = build_report(SPEC, rows, [], None, generated_at=GENERATED, stage="act")
    said = next(
        line
        for line in r["stage_summary"]["act"]["you_said_we_did"].splitlines()
        if line.startswith("You said")
    )
    labels = [part.rsplit(" (", 1)[0] for part in said.removeprefix("You said: ").split("; ")]
    by_label = {t["label"]: t for t in r["themes"]}
    assert labels and all(label in by_label for label in labels), (labels, list(by_label))
    largest = max(r["themes"], key=lambda t: t["count"])
    assert largest["sentiment"]["positive"] > 0.5  # the largest theme is praise
    for label in labels:
        t = by_label[label]
        asks = t["sentiment"]["negative"] >= 0.5 or t["suggestions"] >= 0.3 * t["count"]
        assert asks, (label, t["sentiment"], t["suggestions"], t["count"])


def test_act_suggests_no_decision_and_drafts_nothing_without_answers() -> None:
    """Nobody answered: no decision rests on nothing ("adapt" was suggested), and no
    message thanks "the 0 people who took part"."""
    r = build_report(SPEC, [], [], None, generated_at=GENERATED, stage="act")
    act = r["stage_summary"]["act"]
    assert act["suggested_decision"] is None
    assert not any(act["evidence"].values())  # no "the decision rests on comments alone"
    assert act["you_said_we_did"] == ""
    md = render_markdown(r)
    assert "No decision is suggested" in md and "Suggested decision" not in md
    assert "0 people" not in md
    assert "0 people" not in render_html(r)
    # A poll nobody answered: its shares are unknown, shown as such, not as 0%–0%.
    assert r["polls"]
    for poll in r["polls"]:
        assert poll["n"] == 0
        assert all((o["ci_low"], o["ci_high"]) == (0.0, 1.0) for o in poll["options"])
    assert "0%–0%" not in md and "0%–0%" not in render_html(r)


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="stage must be one of"):
        report(stage="deploy")


def test_json_renders_and_parses(plan_report: dict[str, Any]) -> None:
    assert json.loads(render_json(plan_report))["stage"] == "plan"


def test_csv_has_one_row_per_free_text_reply(plan_report: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO(render_csv(plan_report))))
    assert rows[0] == ["item", "participant", "text", "theme", "sentiment"] == list(CSV_COLUMNS)
    assert len(rows) == len(COMMENTS) + 1
    shown = [r for r in rows[1:] if r[2] != WITHHELD]
    assert all(r[3] and r[4] in {"positive", "neutral", "negative"} for r in shown)
    assert COMMENTS[SAFETY_INDEX] not in {r[2] for r in rows}
    # A withheld reply is counted, and nothing read from its words is shown beside it.
    withheld = [r for r in rows[1:] if r[2] == WITHHELD]
    assert len(withheld) == 1 and withheld[0][3:] == ["", ""]


def test_csv_needs_the_responses() -> None:
    with pytest.raises(ValueError, match="include_responses"):
        render_csv(report())


def test_html_is_one_accessible_file_with_charts() -> None:
    r = report(
        stage="study",
        history=history(),
        changes=[ChangeMarker(date(2026, 11, 15), "Text reminders")],
    )
    html = render_html(r)
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert html.count("<svg") >= 3  # poll bars, theme shares, run chart
    assert "<title" in html and "<desc" in html and "<h1>" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert COMMENTS[SAFETY_INDEX] not in html


def test_markdown_has_headings_and_quotes(plan_report: dict[str, Any]) -> None:
    md = render_markdown(plan_report)
    assert md.startswith("# Improving outpatient booking")
    assert "## Themes" in md and "> " in md
    assert COMMENTS[SAFETY_INDEX] not in md


def test_service_codebook_assigns_its_own_categories(tmp_path: Path) -> None:
    path = tmp_path / "booking.yaml"
    path.write_text(
        "name: Booking project\n"
        "categories:\n"
        "  - name: Phone line\n"
        "    description: Getting through on the phone to book.\n"
        "    examples: [phone rang out, on hold for ages, nobody answered the phone]\n"
        "  - name: Reminders\n"
        "    description: Letters, texts and reminders about appointments.\n"
        "    examples: [text reminder, the letter came late]\n"
        "  - name: Online booking\n"
        "    description: Booking appointments on the website.\n"
        "    examples: [book online, website slots]\n",
        encoding="utf-8",
    )
    r = report(codebook=load_codebook(path), include_responses=True)
    assert r["codebook"]["name"] == "Booking project"
    by_id = {x["id"]: x["category"] for x in r["responses"]}
    assert by_id[1000] == "Phone line"
    assert by_id[1009] == "Reminders"
    assert by_id[1013] == "Online booking"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "non-empty list"),
        ({"categories": [{"description": "x"}]}, r"categories\[0\]\.name"),
        ({"categories": [{"name": "A", "examples": "x"}]}, r"categories\[0\]\.examples"),
        ({"categories": [{"name": "A"}]}, "needs a description or examples"),
        ({"categories": [{"name": "A", "description": "x", "colour": "red"}]}, "colour"),
        (
            {"categories": [{"name": "A", "description": "x"}, {"name": "a", "description": "y"}]},
            "more than once",
        ),
    ],
)
def test_codebook_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(CodebookError, match=message):
        parse_codebook(data, source="book.yaml")


def test_codebook_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CodebookError, match="not valid json"):
        load_codebook(bad)
    with pytest.raises(CodebookError, match="cannot read"):
        load_codebook(tmp_path / "missing.yaml")


def test_empty_consultation_still_reports() -> None:
    r = build_report(SPEC, [], (), None, generated_at=GENERATED, include_responses=True)
    assert r["themes"] == [] and r["sentiment"]["n"] == 0
    assert render_html(r) and render_markdown(r) and render_csv(r).strip() == ",".join(CSV_COLUMNS)


def test_rows_without_stored_analysis_are_analysed() -> None:
    rows = [
        ResponseRow(
            i, "one-thing", "prompt", "web", f"p{i}", {}, (), text, START + timedelta(hours=i)
        )
        for i, text in enumerate(COMMENTS[:10])
    ]
    r = build_report(SPEC, rows, (), None, generated_at=GENERATED)
    assert r["sentiment"]["n"] == 10
