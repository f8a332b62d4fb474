"""`engage report` with theme summaries by a local language model (ENGAGE_SUMMARY_*)."""

from __future__ import annotations

import asyncio
import csv
import json
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_settings
from bot.platform import configured_adapters, create_platform
from bot.web.app import create_app
from tests.bot.test_dashboard import as_role
from tests.helpers import engage, spec_data
from tests.insights.fixture import COMMENTS, SAFETY_INDEX

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "local_model.py"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_summarises_themes_with_the_operators_model(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = env / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(channels=["web"]), sort_keys=False))
    assert engage(capsys, "consultation", "create", str(spec))[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    comments = env / "comments.csv"
    with comments.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["respondent", "comment"])
        writer.writerows((f"r{i}", text) for i, text in enumerate(COMMENTS))
    code, out, _ = engage(
        capsys,
        "import",
        "outpatient-booking",
        str(comments),
        "--format",
        "csv",
        "--text-column",
        "comment",
        "--participant-column",
        "respondent",
    )
    assert code == 0 and "flagged for safety review" in out, out

    code, plain, _ = engage(capsys, "report", "outpatient-booking", "--format", "md")
    assert code == 0 and "## Themes" in plain and "Summary (local model)" not in plain

    model = env / "model.gguf"
    model.write_bytes(b"GGUF")
    prompts = env / "prompts.txt"
    monkeypatch.setenv("ENGAGE_SUMMARY_MODEL", str(model))
    monkeypatch.setenv(
        "ENGAGE_SUMMARY_COMMAND",
        shlex.join([sys.executable, str(FAKE), "--model", "{model}", "--prompt", "{prompt}"])
        + f" --record {shlex.quote(str(prompts))}",
    )
    code, md, err = engage(capsys, "report", "outpatient-booking", "--format", "md")
    assert code == 0, err
    themes = md.count("\n### ", md.index("## Themes"), md.index("## Codebook"))
    assert themes >= 2
    assert md.count("**Summary (local model):** These replies describe one shared concern.") == (
        themes
    )
    assert "This sentence cites nothing" not in md and "not there" not in md
    assert "> \\[1\\] " in md and "Model: model.gguf; " in md
    recorded = prompts.read_text(encoding="utf-8")
    assert recorded.count("\f") == themes
    assert "want to die" not in recorded and COMMENTS[SAFETY_INDEX] not in recorded

    code, out, _ = engage(capsys, "report", "outpatient-booking", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["narrative"]["themes_summarised"] == themes
    assert report["narrative"]["themes_failed"] == 0
    for theme in report["themes"]:
        for sentence in theme["summary"]["sentences"]:
            assert sentence["quotes"] and max(sentence["quotes"]) < len(theme["quotes"])

    # The dashboard renders its report on every view: it never runs the model.
    before = prompts.read_text(encoding="utf-8")
    assert before.count("\f") == 2 * themes
    page = asyncio.run(dashboard_report("outpatient-booking"))
    assert "<h2>Themes</h2>" in page and "Summary (local model)" not in page
    assert prompts.read_text(encoding="utf-8") == before

    # A model that fails leaves the report as it would be without one.
    monkeypatch.setenv(
        "ENGAGE_SUMMARY_COMMAND",
        shlex.join([sys.executable, str(FAKE), "--model", "{model}", "--mode", "fail"]),
    )
    code, out, _ = engage(capsys, "report", "outpatient-booking", "--format", "json")
    assert code == 0
    failed = json.loads(out)
    assert failed["narrative"]["themes_failed"] == themes
    assert not any("summary" in theme for theme in failed["themes"])

    # A bad setting stops the command with one line naming it.
    monkeypatch.setenv("ENGAGE_SUMMARY_MODEL", str(env / "missing.gguf"))
    code, _, err = engage(capsys, "report", "outpatient-booking", "--format", "md")
    assert code == 2 and "ENGAGE_SUMMARY_MODEL" in err


async def dashboard_report(consultation: str) -> str:
    """The dashboard's report page, with the settings `engage` reads from the environment."""
    settings = load_settings()
    assert settings.summary_model is not None
    platform = create_platform(settings)
    try:
        app = create_app(
            settings, platform=platform, adapters=configured_adapters, background=False
        )
        app.cleanup_ctx.clear()
        async with TestClient(TestServer(app)) as client:
            await as_role(platform, client, "viewer")
            response = await client.get(f"/dashboard/c/{consultation}/report")
            assert response.status == 200
            return await response.text()
    finally:
        await platform.aclose()
