"""Theme summaries by a local language model: cited, checked, screened, and never needed.

The model is tests/fakes/local_model.py, a stand-in for the program an operator would
run (llama.cpp's ``llama-cli``): a real process, run the way engage runs any model.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from consultations import screening
from consultations.insights import render_csv, render_html, render_json, render_markdown
from consultations.insights.narrative import (
    MAX_SENTENCES,
    NOTE,
    LocalModel,
    Sentence,
    add_summaries,
    build_prompt,
    parse_summary,
    screen,
)
from consultations.spec import parse_spec
from tests.helpers import spec_data
from tests.insights.fixture import COMMENTS, SAFETY_INDEX
from tests.insights.test_insights_report import report

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "local_model.py"
_DIGITS_IN_BRACKETS = re.compile(r"\[\s*\d")


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    """The fixture's report without summaries (as every report is by default)."""
    return report(stage="plan", include_responses=True)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-model.gguf"
    path.write_bytes(b"GGUF not really a model")
    return path


def fake(
    model_file: Path,
    mode: str = "normal",
    *,
    record: Path | None = None,
    stdin: bool = False,
    timeout: float = 30.0,
) -> LocalModel:
    command = [sys.executable, str(FAKE), "--model", "{model}", "--mode", mode]
    if not stdin:
        command += ["--prompt", "{prompt}"]
    if record is not None:
        command += ["--record", str(record)]
    return LocalModel(model=model_file, command=tuple(command), timeout=timeout)


def summarised(plain: dict[str, Any], model: LocalModel) -> dict[str, Any]:
    r = copy.deepcopy(plain)
    add_summaries(r, model)
    return r


def without_narrative(r: dict[str, Any]) -> dict[str, Any]:
    r = copy.deepcopy(r)
    r.pop("narrative", None)
    for theme in r["themes"]:
        theme.pop("summary", None)
    return r


def test_every_kept_sentence_cites_quotes_that_are_shown(
    plain: dict[str, Any], model_file: Path
) -> None:
    r = summarised(plain, fake(model_file))

    assert r["narrative"] == {
        "model": "tiny-model.gguf",
        "themes_summarised": len(r["themes"]),
        "themes_failed": 0,
        "note": NOTE,
    }
    assert len(r["themes"]) >= 2
    for theme in r["themes"]:
        sentences = theme["summary"]["sentences"]
        # The fake cites [1][n] and [1]; the uncited sentence and the one citing n+1 go.
        assert [s["text"] for s in sentences] == [
            "These replies describe one shared concern.",
            "The first reply puts it most plainly.",
        ]
        assert [s["quotes"] for s in sentences] == [[0, len(theme["quotes"]) - 1], [0]]
        for s in sentences:
            assert s["quotes"] and all(0 <= q < len(theme["quotes"]) for q in s["quotes"])
            assert not _DIGITS_IN_BRACKETS.search(s["text"])
    # Nothing else changes.
    assert without_narrative(r) == plain


def test_the_model_sees_the_quotes_and_nothing_flagged(
    plain: dict[str, Any], model_file: Path, tmp_path: Path
) -> None:
    record = tmp_path / "prompts.txt"
    summarised(plain, fake(model_file, record=record))

    prompts = [p for p in record.read_text(encoding="utf-8").split("\f") if p]
    assert len(prompts) == len(plain["themes"])
    for prompt, theme in zip(prompts, plain["themes"], strict=True):
        assert prompt == build_prompt(theme["label"], theme["description"], theme["quotes"])
        numbered = re.findall(r"^\[(\d+)\] (.+)$", prompt, re.MULTILINE)
        assert numbered == [(str(k), q) for k, q in enumerate(theme["quotes"], 1)]
        assert "no medical advice" in prompt and "square brackets" in prompt
    flagged = COMMENTS[SAFETY_INDEX]
    # The flagged reply is in a theme (counted), yet never given to the model.
    assert any(t["safety_flagged"] for t in plain["themes"])
    assert all(flagged not in prompt and "want to die" not in prompt for prompt in prompts)
    # Only quotes: no other reply's words reach the model.
    quoted = {q for t in plain["themes"] for q in t["quotes"]}
    others = [c for c in COMMENTS if c not in quoted]
    assert others and all(c not in prompt for c in others for prompt in prompts)


def test_the_prompt_can_go_on_standard_input(plain: dict[str, Any], model_file: Path) -> None:
    model = fake(model_file, stdin=True)
    assert model.reads_stdin
    r = summarised(plain, model)
    assert r["narrative"]["themes_summarised"] == len(r["themes"])


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("fail", "exit status 1"),
        ("silent", "it wrote nothing"),
        ("slow", "no answer within 1 s"),
        ("missing", "cannot be started"),
    ],
)
def test_a_failing_model_leaves_the_report_whole(
    plain: dict[str, Any],
    model_file: Path,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    reason: str,
) -> None:
    # Only the slow model meets its time-out; the others have time to start on a busy machine.
    model = fake(model_file, mode, timeout=1.0 if mode == "slow" else 30.0)
    if mode == "missing":
        model = LocalModel(model_file, ("/nonexistent/llama-cli", "-m", "{model}"), 1.0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="consultations.insights.narrative"):
        r = summarised(plain, model)
    elapsed = time.monotonic() - started

    themes = len(plain["themes"])
    assert r["narrative"]["themes_summarised"] == 0
    assert r["narrative"]["themes_failed"] == themes
    assert all("summary" not in t for t in r["themes"])
    assert without_narrative(r) == plain
    # A slow model is stopped at its time-out, theme by theme (it would sleep a minute).
    assert elapsed < themes * 10
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == themes and all(reason in m for m in messages)
    # The warnings name the theme by number, never by its words or its quotes.
    for theme in plain["themes"]:
        for m in messages:
            assert theme["label"] not in m
            assert all(q not in m for q in theme["quotes"])
    for fmt in (render_markdown, render_html, render_json):
        assert fmt(r)


def test_a_phone_number_is_redacted_and_a_crisis_sentence_dropped(
    plain: dict[str, Any], model_file: Path
) -> None:
    r = summarised(plain, fake(model_file, "phone"))
    texts = [s["text"] for t in r["themes"] for s in t["summary"]["sentences"]]
    assert "One reply asks for a call back on [phone]." in texts
    assert not any("0412" in text or "345 678" in text for text in texts)

    r = summarised(plain, fake(model_file, "crisis"))
    assert r["narrative"]["themes_summarised"] == len(r["themes"])
    for theme in r["themes"]:
        texts = [s["text"] for s in theme["summary"]["sentences"]]
        assert len(texts) == 2 and not any("end my life" in text for text in texts)


def test_a_repeated_prompt_is_not_read_as_the_answer(
    plain: dict[str, Any], model_file: Path
) -> None:
    r = summarised(plain, fake(model_file, "echo"))
    for theme in r["themes"]:
        texts = [s["text"] for s in theme["summary"]["sentences"]]
        assert texts == [
            "These replies describe one shared concern.",
            "The first reply puts it most plainly.",
        ]


def test_a_theme_with_one_quote_is_not_summarised(
    plain: dict[str, Any], model_file: Path, tmp_path: Path
) -> None:
    r = copy.deepcopy(plain)
    r["themes"][0]["quotes"] = r["themes"][0]["quotes"][:1]
    record = tmp_path / "prompts.txt"
    add_summaries(r, fake(model_file, record=record))
    assert "summary" not in r["themes"][0]
    assert r["narrative"]["themes_summarised"] == len(r["themes"]) - 1
    assert r["narrative"]["themes_failed"] == 0
    assert record.read_text(encoding="utf-8").count("\f") == len(r["themes"]) - 1


def test_citations_are_read_where_models_put_them() -> None:
    output = "\n".join(
        [
            "Calls go unanswered for a long time [1][2].",
            "Letters arrive late. [3]",
            "- Reminders by text would help [2, 3]",
            "1. Parking is hard [1] and costly [4].",
            "[2]",
            "Nobody cites anything here.",
            "Staff are kind [5].",
            "Waits are long [0].",
            "The clinic is clean. [0]",
        ]
    )
    sentences = parse_summary(output, 4)
    assert [(s.text, s.quotes) for s in sentences] == [
        ("Calls go unanswered for a long time.", (0, 1)),
        ("Letters arrive late.", (2,)),
        ("Reminders by text would help", (1, 2)),
        # A stray citation on its own line belongs to the sentence before it.
        ("Parking is hard and costly.", (0, 1, 3)),
    ]
    assert parse_summary("No citations at all. None here either.", 3) == []
    assert parse_summary("[1][2]", 3) == []


def test_at_most_four_sentences_are_kept(plain: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text(
        "for k in range(9):\n    print(f'Point number {chr(97 + k)} is made [1].')\n",
        encoding="utf-8",
    )
    model_file = tmp_path / "m.bin"
    model_file.write_bytes(b"x")
    model = LocalModel(model_file, (sys.executable, str(script), "{model}"), 30.0)
    r = summarised(plain, model)
    for theme in r["themes"]:
        assert len(theme["summary"]["sentences"]) == MAX_SENTENCES


def test_md_and_html_show_summaries_with_numbered_quotes(
    plain: dict[str, Any], model_file: Path
) -> None:
    r = summarised(plain, fake(model_file))
    theme = r["themes"][0]
    last = len(theme["quotes"])

    md = render_markdown(r)
    assert (
        "**Summary (local model):** These replies describe one shared concern. "
        f"\\[1\\]\\[{last}\\] The first reply puts it most plainly. \\[1\\]"
    ) in md
    for k, quote in enumerate(theme["quotes"], 1):
        assert f"> \\[{k}\\] {quote}" in md
    assert "Model: tiny-model.gguf; " in md

    html = render_html(r)
    assert "<strong>Summary (local model):</strong> These replies describe" in html
    assert f'<a href="#theme-1-quote-{last}" aria-label="quote {last}">[{last}]</a>' in html
    assert f'<blockquote id="theme-1-quote-1">[1] {theme["quotes"][0]}</blockquote>' in html
    assert html.count("<strong>Summary (local model):</strong>") == len(r["themes"])

    # A model's words are text like any other: escaped in both formats.
    theme["summary"]["sentences"][0]["text"] = "Shown | as <script>alert(1)</script> text"
    assert "<script" not in render_html(r) and "&lt;script&gt;" in render_html(r)
    assert "<script" not in render_markdown(r) and "Shown \\| as &lt;script&gt;" in (
        render_markdown(r)
    )

    # The CSV has no place for summaries, and the plain report shows none.
    assert render_csv(r) == render_csv(plain)
    assert "Summary (local model)" not in render_markdown(plain)
    assert "Summary (local model)" not in render_html(plain)
    assert '"narrative"' not in render_json(plain) and '"summary"' not in render_json(plain)


def test_summaries_are_redacted_as_the_consultation_reads_its_replies(
    plain: dict[str, Any], model_file: Path
) -> None:
    # A Spanish consultation's summaries take its placeholders, and its regions' phones.
    hints = screening.hints_for(parse_spec(spec_data(language="es", segments=[])))
    r = copy.deepcopy(plain)
    add_summaries(r, fake(model_file, "phone"), hints=hints)
    texts = [s["text"] for t in r["themes"] for s in t["summary"]["sentences"]]
    assert "One reply asks for a call back on [teléfono]." in texts
    kept = screen([Sentence("Una respuesta pide que la llamen al 612 34 56 78.", (0,))], hints)
    assert [s.text for s in kept] == ["Una respuesta pide que la llamen al [teléfono]."]
