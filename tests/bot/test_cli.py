"""The `engage` command line as operators use it: exit codes, messages, files."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy import text as text_clause

from bot.config import Settings
from bot.platform import create_platform
from storage.db import create_engine
from storage.tables import AuditEvent
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.channel import Person
from tests.helpers import engage, spec_data

CONTRACT_KEYS = [
    "id",
    "consultation",
    "item",
    "item_type",
    "channel",
    "participant",
    "segments",
    "choices",
    "text",
    "in_reply_to",
    "created_at",
    "flags",
]


def write_spec(folder: Path, data: Any, name: str = "spec.yaml") -> str:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return str(path)


MISTAKES: list[tuple[str, Any, str]] = [
    ("unknown field", {"colour": "blue"}, "colour"),
    ("bad id", {"id": "Outpatient Booking"}, "id"),
    ("unknown model", {"model": "town-hall"}, "model"),
    ("unknown stage", {"qi": {"project": "p", "stage": "review", "cycle": 1}}, "qi.stage"),
    ("bad cycle", {"qi": {"project": "p", "stage": "plan", "cycle": 0}}, "qi.cycle"),
    ("unknown channel", {"channels": ["web", "fax"]}, "channels[1]"),
    ("empty consent", {"consent": {"text": "  "}}, "consent.text"),
    ("empty title", {"title": ""}, "title"),
    (
        "duplicate item ids",
        {
            "items": [
                {"id": "a", "type": "prompt", "text": "x"},
                {"id": "a", "type": "prompt", "text": "y"},
            ]
        },
        "items[1].id",
    ),
    (
        "one-option poll",
        {"items": [{"id": "a", "type": "poll", "text": "q", "options": ["Only"]}]},
        "items[0].options",
    ),
    (
        "duplicate options",
        {"items": [{"id": "a", "type": "poll", "text": "q", "options": ["Yes", "yes "]}]},
        "items[0].options[1]",
    ),
    ("unknown item type", {"items": [{"id": "a", "type": "survey", "text": "q"}]}, "items[0].type"),
    ("empty items", {"items": []}, "items"),
    (
        "closes before opens",
        {"opens_at": "2026-12-15T09:00:00+10:00", "closes_at": "2026-12-01T09:00:00+10:00"},
        "closes_at",
    ),
    ("naive time", {"opens_at": "2026-12-01T09:00:00"}, "opens_at"),
    (
        "telegram option too long",
        {"items": [{"id": "a", "type": "poll", "text": "q", "options": ["x" * 120, "y"]}]},
        "items[0].options[0]",
    ),
]


@pytest.mark.parametrize(("name", "change", "path"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_spec_mistake_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, change: Any, path: str
) -> None:
    spec = write_spec(tmp_path, spec_data(**change))
    code, out, err = engage(capsys, "consultation", "validate", spec)
    assert code == 2, name
    assert f"{spec}: {path}:" in err, err


def test_malformed_yaml_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "id: x\ntitle: [unclosed\nitems:\n")
    code, _, err = engage(capsys, "consultation", "validate", spec)
    assert code == 2
    assert "line" in err


@pytest.mark.parametrize("value", ["2026-02-30T09:00:00Z", "2026-13-45T09:00:00+00:00"])
def test_a_date_that_is_not_real_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    text = yaml.safe_dump(spec_data(opens_at=value), sort_keys=False)
    spec = write_spec(tmp_path, text.replace(f"'{value}'", value))
    code, _, err = engage(capsys, "consultation", "validate", spec)
    assert code == 2
    assert err.splitlines()[0].startswith(
        f"engage: {spec}: opens_at: '{value}' is not a real date and time: "
    ), err


def test_every_line_of_a_spec_with_several_problems_carries_the_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    poll = {"id": "ease", "type": "poll", "text": "How easy was it?", "options": ["Easy"]}
    spec = write_spec(tmp_path, spec_data(id="Bad Id", items=[poll]))
    code, out, err = engage(capsys, "consultation", "validate", spec)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"engage: {spec}: id: 'Bad Id' is not a valid id: use only lowercase letters and "
        "digits, with single hyphens between words, for example 'bad-id'",
        f"engage: {spec}: items[0].options: a poll needs at least 2 options; it has 1",
        f"engage: {spec}: 2 problems found",
    ]


@pytest.mark.parametrize("command", ["validate", "create"])
def test_unreadable_spec_is_one_line_naming_the_file_once(
    env: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = yaml.safe_dump(spec_data(), sort_keys=False)
    broken = text.replace("\n  type: poll\n", "\n type: poll\n", 1)
    assert broken != text
    spec = write_spec(env, broken)
    line = broken[: broken.index(" type: poll")].count("\n") + 1
    code, out, err = engage(capsys, "consultation", command, spec)
    assert (code, out) == (2, "")
    assert err == (
        f"engage: {spec}, line {line}, column 2: not valid YAML: "
        "the indentation does not line up with the lines above\n"
    )
    missing = str(env / "nope.yaml")
    code, _, err = engage(capsys, "consultation", command, missing)
    assert (code, err) == (2, f"engage: there is no file {missing}\n")


@pytest.mark.parametrize("command", ["validate", "create"])
def test_a_spec_that_is_not_utf8_names_the_line_and_column(
    env: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Saved as Latin-1 by an older editor: "Café" on the title's line.
    text = yaml.safe_dump(spec_data(title="Café hours"), sort_keys=False, allow_unicode=True)
    spec = env / "latin1.yaml"
    spec.write_bytes(text.encode("latin-1"))
    line = text[: text.index("é")].count("\n") + 1
    column = text.index("é") - text.rfind("\n", 0, text.index("é"))
    code, out, err = engage(capsys, "consultation", command, str(spec))
    assert (code, out) == (2, "")
    assert err == (
        f"engage: {spec}, line {line}, column {column}: not UTF-8 text (the byte 0xe9 cannot "
        "be read); save the file as UTF-8\n"
    )


def test_a_spec_read_from_a_pipe_is_stored_with_its_text(env: Path, database_url: str) -> None:
    # `engage consultation create /dev/stdin < spec.yaml`: the file can be read once only
    # (a second read found nothing, and a named pipe was waited on for ever).
    text = yaml.safe_dump(spec_data(), sort_keys=False)
    engage_script = Path(sys.executable).parent / "engage"
    done = subprocess.run(
        [str(engage_script), "consultation", "create", "/dev/stdin"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "outpatient-booking"

    async def stored() -> str:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                query = "SELECT source FROM consultation WHERE id = 'outpatient-booking'"
                return str(await connection.scalar(text_clause(query)))
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == text


def test_valid_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = engage(capsys, "consultation", "validate", write_spec(tmp_path, spec_data()))
    assert code == 0
    assert "valid" in out


@pytest.mark.parametrize(
    ("given", "example"), [("Bad ID", "bad-id"), ("UPPER", "upper"), ("x--y", "x-y")]
)
def test_template_with_a_bad_id_exits_2_with_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], given: str, example: str
) -> None:
    code, out, err = engage(capsys, "consultation", "template", "feedback-prompt", "--id", given)
    assert (code, out) == (2, "")
    assert err == (
        f"engage: --id: {given!r} is not a valid consultation id: use only lowercase "
        "letters and digits, with single hyphens between words, at most 64 characters, "
        f"for example {example!r}\n"
    )


def test_template_prints_a_spec_with_the_id_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = engage(capsys, "consultation", "template", "feedback-prompt", "--id", "a-b1")
    assert code == 0
    assert yaml.safe_load(out)["id"] == "a-b1"


def test_a_spec_without_a_region_is_valid_with_a_warning_naming_the_helplines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Left out, the region would give a service anywhere Australia's helplines.
    data = spec_data()
    data.pop("safety", None)
    code, out, err = engage(capsys, "consultation", "validate", write_spec(tmp_path, data))
    assert code == 0 and "valid" in out
    assert "warning: safety.region: not set" in err and "AU" in err
    code, _, err = engage(
        capsys, "consultation", "validate", write_spec(tmp_path, spec_data(safety={"region": "UK"}))
    )
    assert code == 0
    assert "safety.region" not in err
    # A safety section without a region is still a default region; in Welsh it is the UK's.
    for extra, region in (({}, "AU"), ({"language": "cy"}, "UK")):
        data = spec_data(safety={"response_hours": 12}, **extra)
        code, _, err = engage(capsys, "consultation", "validate", write_spec(tmp_path, data))
        assert code == 0
        assert "warning: safety.region: not set" in err and f"helplines of {region}" in err


def test_create_launch_import_export_report_participant(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["web"]))
    code, out, _ = engage(capsys, "consultation", "create", spec)
    assert code == 0
    assert out.strip().splitlines()[-1] == "outpatient-booking"

    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    code, _, err = engage(capsys, "consultation", "launch", "nope")
    assert code == 2 and "nope" in err
    code, _, err = engage(
        capsys, "consultation", "launch", "outpatient-booking", "--channel", "fax"
    )
    assert code == 2 and "--channel" in err

    comments = env / "comments.csv"
    comments.write_text(
        "respondent,comment\n"
        "r1,The wait was far too long\nr2,\nr1,Lovely nurses\n,Parking is hard\n"
    )
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
    assert code == 0, out
    assert "imported 3 responses" in out and "skipped 1 empty" in out
    code, _, err = engage(
        capsys,
        "import",
        "outpatient-booking",
        str(comments),
        "--format",
        "csv",
        "--text-column",
        "nope",
    )
    assert code == 2 and "--text-column" in err

    code, out, _ = engage(capsys, "export", "outpatient-booking", "--format", "json")
    assert code == 0
    exported = json.loads(out)
    assert [list(r) for r in exported] == [CONTRACT_KEYS] * 3
    assert {r["channel"] for r in exported} == {"import"}
    assert len({r["participant"] for r in exported}) == 2

    target = env / "out.csv"
    code, _, _ = engage(
        capsys, "export", "outpatient-booking", "--format", "csv", "--output", str(target)
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert list(rows[0]) == CONTRACT_KEYS and len(rows) == 3

    code, out, _ = engage(capsys, "report", "outpatient-booking", "--format", "json")
    assert code == 0
    report = json.loads(out)
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
    ):
        assert key in report, key
    assert report["participation"]["responses"] == 3
    assert report["stage"] == "plan"
    code, out, _ = engage(
        capsys, "report", "outpatient-booking", "--stage", "act", "--format", "csv"
    )
    assert code == 0
    assert out.splitlines()[0] == "item,participant,text,theme,sentiment"
    assert len(out.strip().splitlines()) == 4
    for fmt, marker in (("md", "# "), ("html", "<svg")):
        code, out, _ = engage(capsys, "report", "outpatient-booking", "--format", fmt)
        assert code == 0
        assert marker in out, fmt

    code, out, _ = engage(capsys, "consultation", "show", "outpatient-booking", "--json")
    assert code == 0 and json.loads(out)["responses"] == 3
    code, out, _ = engage(capsys, "consultation", "list")
    assert code == 0 and "outpatient-booking" in out

    code, out, _ = engage(
        capsys,
        "participant",
        "export",
        "--channel",
        "import",
        "--platform-id",
        "outpatient-booking:r1",
    )
    held = json.loads(out)
    assert code == 0 and held["held"] is True and len(held["responses"]) == 2
    code, out, _ = engage(
        capsys,
        "participant",
        "erase",
        "--channel",
        "import",
        "--platform-id",
        "outpatient-booking:r1",
    )
    assert code == 0 and "2 responses" in out
    code, out, _ = engage(capsys, "export", "outpatient-booking", "--format", "json")
    assert len(json.loads(out)) == 1

    assert engage(capsys, "consultation", "close", "outpatient-booking")[0] == 0
    code, _, err = engage(capsys, "consultation", "create", spec)
    assert code == 2 and "closed" in err


def test_an_imported_person_is_found_and_erased_by_the_id_in_the_file(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A subject-access or erasure request names the respondent as the survey file does;
    # the same respondent imported into two consultations is found, and erased, in both.
    comments = env / "comments.csv"
    comments.write_text("respondent,comment\nr1,The wait was far too long\nr2,Kind staff\n")
    for cid in ("outpatient-booking", "discharge"):
        spec = write_spec(env, spec_data(id=cid), f"{cid}.yaml")
        assert engage(capsys, "consultation", "create", spec)[0] == 0
        assert engage(capsys, "consultation", "launch", cid)[0] == 0
        code, out, _ = engage(
            capsys,
            "import",
            cid,
            str(comments),
            "--format",
            "csv",
            "--text-column",
            "comment",
            "--participant-column",
            "respondent",
        )
        assert code == 0, out
    person = ("--channel", "import", "--platform-id", "r1")
    code, out, _ = engage(capsys, "participant", "export", *person)
    held = json.loads(out)
    assert code == 0 and held["held"] is True
    assert sorted(r["consultation"] for r in held["responses"]) == [
        "discharge",
        "outpatient-booking",
    ]
    assert {r["text"] for r in held["responses"]} == {"The wait was far too long"}
    assert len(held["participants"]) == 2 and held["participant"] in held["participants"]
    # One consultation's respondent alone, by CONSULTATION:VALUE, as before.
    code, out, _ = engage(
        capsys, "participant", "export", "--channel", "import", "--platform-id", "discharge:r1"
    )
    assert [r["consultation"] for r in json.loads(out)["responses"]] == ["discharge"]

    code, out, _ = engage(capsys, "participant", "erase", *person)
    assert code == 0 and "erased: 2 responses" in out
    code, out, _ = engage(capsys, "participant", "export", *person)
    assert json.loads(out) == {"channel": "import", "held": False}
    for cid in ("outpatient-booking", "discharge"):
        code, out, _ = engage(capsys, "export", cid, "--format", "json")
        assert [r["text"] for r in json.loads(out)] == ["Kind staff"]


def _launched(
    env: Path, capsys: pytest.CaptureFixture[str], cid: str = "outpatient-booking"
) -> str:
    spec = write_spec(env, spec_data(id=cid, channels=["web"]), f"{cid}.yaml")
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    assert engage(capsys, "consultation", "launch", cid)[0] == 0
    return cid


def _exported_texts(capsys: pytest.CaptureFixture[str], cid: str) -> list[str]:
    code, out, _ = engage(capsys, "export", cid, "--format", "json")
    assert code == 0
    return sorted(r["text"] for r in json.loads(out))


@pytest.mark.parametrize(
    ("separator", "name"), [(";", "semicolons"), ("\t", "tabs")], ids=["semicolon", "tab"]
)
def test_an_import_whose_columns_are_not_separated_by_commas_reads_each_column(
    env: Path, capsys: pytest.CaptureFixture[str], separator: str, name: str
) -> None:
    # Excel's CSV where the decimal mark is a comma: semicolons, and commas in the texts.
    cid = _launched(env, capsys)
    comments = env / "comments.csv"
    comments.write_text(
        f"Patient number{separator}Comment\n"
        f"30021{separator}The discharge lounge had no chairs\n"
        f"30022{separator}Kind staff, but the wait was long\n"
        f'30021{separator}"Noisy at night{separator} every night"\n'
    )
    code, out, err = engage(
        capsys,
        "import",
        cid,
        str(comments),
        "--format",
        "csv",
        "--participant-column",
        "Patient number",
    )
    assert (code, err) == (0, ""), err
    assert out == (
        f"imported 3 responses into {cid}/one-thing from 2 participants; skipped 0 empty "
        f"rows; columns separated by {name}\n"
    )
    assert _exported_texts(capsys, cid) == [
        "Kind staff, but the wait was long",
        f"Noisy at night{separator} every night",
        "The discharge lounge had no chairs",
    ]


def test_an_import_of_a_comma_separated_file_says_nothing_of_separators(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = _launched(env, capsys)
    comments = env / "comments.csv"
    comments.write_text('who,comment\nr1,"Fine; thanks"\nr2,Cold\n')
    code, out, _ = engage(capsys, "import", cid, str(comments), "--format", "csv")
    assert code == 0
    assert out == (
        f"imported 2 responses into {cid}/one-thing from 2 participants; skipped 0 empty rows\n"
    )
    assert _exported_texts(capsys, cid) == ["Cold", "Fine; thanks"]


def test_an_import_whose_separator_cannot_be_told_exits_2_naming_the_header(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = _launched(env, capsys)
    comments = env / "comments.csv"
    comments.write_text("Patient number;Comment, if any\n30021;Fine\n")
    code, out, err = engage(capsys, "import", cid, str(comments), "--format", "csv")
    assert (code, out) == (2, "")
    assert err == (
        "engage: line 1: the header holds 1 comma and 1 semicolon, so which one separates "
        "the columns cannot be told; put double quotes around a column name that holds one\n"
    )
    assert _exported_texts(capsys, cid) == []


def _state(capsys: pytest.CaptureFixture[str], cid: str) -> str:
    code, out, _ = engage(capsys, "consultation", "show", cid, "--json")
    assert code == 0
    return str(json.loads(out)["state"])


def test_a_spec_whose_closes_at_has_passed_is_warned_of_and_not_launched(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(
        env,
        spec_data(
            channels=["web"],
            opens_at="2020-03-01T09:00:00+10:00",
            closes_at="2020-03-15T17:00:00+10:00",
        ),
    )
    warning = (
        f"{spec}: warning: closes_at: 2020-03-15T17:00:00+10:00 is in the past, so "
        "`engage consultation launch` will refuse it; set a later time\n"
    )
    for command in ("validate", "create"):
        code, _, err = engage(capsys, "consultation", command, spec)
        assert code == 0, err
        assert warning in err, command
    code, out, err = engage(capsys, "consultation", "launch", "outpatient-booking")
    assert (code, out) == (2, "")
    assert err == (
        "engage: outpatient-booking: closes_at: 2020-03-15T17:00:00+10:00 has passed, so it "
        "would close as soon as it opened; set a later closes_at and store the spec again\n"
    )
    assert _state(capsys, "outpatient-booking") == "draft"


def test_a_spec_closing_later_is_valid_without_a_warning(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["web"], closes_at="2099-03-15T17:00:00+10:00"))
    code, _, err = engage(capsys, "consultation", "validate", spec)
    assert code == 0 and "closes_at" not in err


def test_a_launch_before_opens_at_says_when_it_opens(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["web"], opens_at="2099-03-01T09:00:00+10:00"))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "outpatient-booking")
    assert (code, err) == (0, "")
    assert out == (
        "web: opens at 2099-03-01T09:00:00+10:00 at http://127.0.0.1:8080/c/outpatient-booking\n"
        "outpatient-booking opens at 2099-03-01T09:00:00+10:00\n"
    )
    assert _state(capsys, "outpatient-booking") == "open"


def test_a_launch_on_channels_none_of_which_is_configured_leaves_a_draft_and_exits_2(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["telegram", "mastodon"]))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "outpatient-booking")
    assert (code, out) == (2, "outpatient-booking is still a draft\n")
    assert err == (
        "outpatient-booking: not launched: telegram: not configured (set TELEGRAM_BOT_TOKEN)\n"
        "outpatient-booking: not launched: mastodon: not configured "
        "(set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN)\n"
    )
    assert _state(capsys, "outpatient-booking") == "draft"


def test_a_launch_published_somewhere_names_the_channels_skipped(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(env, spec_data(channels=["web", "telegram"]))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "outpatient-booking")
    assert code == 0
    assert err == "telegram: skipped, not configured (set TELEGRAM_BOT_TOKEN)\n"
    assert out.splitlines()[-1] == "outpatient-booking is open"
    assert _state(capsys, "outpatient-booking") == "open"


def _import(
    capsys: pytest.CaptureFixture[str], cid: str, path: Path, *options: str
) -> tuple[int, str, str]:
    return engage(capsys, "import", cid, str(path), "--format", "csv", *options)


def test_an_import_done_with_the_wrong_options_is_replaced_by_importing_it_again(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = _launched(env, capsys)
    other = env / "other.csv"
    other.write_text("who,comment\nr9,Another survey's comment\n")
    assert _import(capsys, cid, other, "--participant-column", "who")[0] == 0
    comments = env / "comments.csv"
    comments.write_text(
        "who,comment\nr1,The wait was far too long\nr1,Lovely nurses\n"
        "r2,I am going to kill myself tonight\n"
    )
    # First without the participant column: each row its own person.
    code, out, _ = _import(capsys, cid, comments)
    assert code == 0 and "from 3 participants" in out, out
    code, out, err = _import(capsys, cid, comments, "--participant-column", "who")
    assert (code, out) == (2, "")
    assert err == (
        f"engage: {comments}: this file was already imported into {cid}/one-thing; to "
        "import it again in place of that import (with other options, say), add --replace\n"
    )
    code, out, err = _import(capsys, cid, comments, "--participant-column", "who", "--replace")
    assert code == 0, err
    assert out.splitlines()[0] == f"removed 3 responses of the earlier import of {comments}"
    assert "imported 3 responses" in out and "from 2 participants" in out
    code, out, _ = engage(capsys, "export", cid, "--format", "json")
    exported = json.loads(out)
    # The other file's record is untouched; this file's are there once, by two people.
    assert sorted(r["text"] for r in exported if "safety" not in r["flags"]) == [
        "Another survey's comment",
        "Lovely nurses",
        "The wait was far too long",
    ]
    assert len(exported) == 4
    mine = [r for r in exported if r["text"] != "Another survey's comment"]
    assert len({r["participant"] for r in mine}) == 2
    # The disclosure's first case keeps its words for the moderator; the new import's
    # row has its own case.
    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0
    assert out.count("I am going to kill myself tonight") == 2
    # The people of the first import who are held for nothing now are gone.
    code, out, _ = engage(capsys, "consultation", "show", cid, "--json")
    assert json.loads(out)["participants"] == 3


def test_replace_of_a_file_not_imported_before_imports_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = _launched(env, capsys)
    comments = env / "comments.csv"
    comments.write_text("comment\nFine\n")
    code, out, _ = _import(capsys, cid, comments, "--replace")
    assert code == 0
    assert (
        out
        == f"imported 1 responses into {cid}/one-thing from 1 participants; skipped 0 empty rows\n"
    )


def test_create_says_when_it_replaces_a_draft(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = engage(capsys, "consultation", "create", write_spec(env, spec_data()))
    assert code == 0 and "replaced" not in out
    changed = write_spec(env, spec_data(title="Booking, second draft"), "changed.yaml")
    code, out, _ = engage(capsys, "consultation", "create", changed)
    assert code == 0
    *said, last = out.strip().splitlines()
    assert last == "outpatient-booking"
    assert said[0].startswith(
        "replaced the draft outpatient-booking ('Improving outpatient booking', stored "
    ), out
    code, out, _ = engage(capsys, "consultation", "show", "outpatient-booking", "--json")
    assert json.loads(out)["title"] == "Booking, second draft"


def test_create_keeps_a_draft_that_holds_imported_responses(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Comments imported into a draft (before its launch) and their safety cases: storing
    # the draft again deleted the comments and left the cases without their words.
    assert engage(capsys, "consultation", "create", write_spec(env, spec_data()))[0] == 0
    comments = env / "comments.csv"
    comments.write_text("comment\nKind staff\nI want to end my life\n", encoding="utf-8")
    code, _, err = engage(
        capsys,
        "import",
        "outpatient-booking",
        str(comments),
        "--format",
        "csv",
        "--item",
        "one-thing",
    )
    assert code == 0, err
    changed = write_spec(env, spec_data(title="Booking, second draft"), "changed.yaml")
    code, out, err = engage(capsys, "consultation", "create", changed)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "engage: id: the draft 'outpatient-booking' holds 2 responses (imported); storing "
        "it again would delete them (use a new id)"
    ]
    code, out, _ = engage(capsys, "export", "outpatient-booking", "--format", "json")
    assert len(json.loads(out)) == 2
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert [case["consultation"] for case in json.loads(out)] == ["outpatient-booking"]


def test_create_refuses_a_follow_up_of_a_consultation_there_is_not(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    follow_up = {"of": ["outpatient-booking", "old-survey"], "invite": "recontact"}
    spec = write_spec(env, spec_data(id="booking-loop", follow_up=follow_up), "loop.yaml")
    code, out, err = engage(capsys, "consultation", "create", spec)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"engage: {spec}: follow_up.of[0]: there is no consultation 'outpatient-booking'",
        f"engage: {spec}: follow_up.of[1]: there is no consultation 'old-survey'",
        f"engage: {spec}: 2 problems found",
    ]
    code, out, _ = engage(capsys, "consultation", "list", "--json")
    assert json.loads(out) == []

    assert engage(capsys, "consultation", "create", write_spec(env, spec_data()))[0] == 0
    code, _, err = engage(capsys, "consultation", "create", spec)
    assert code == 2 and "follow_up.of[0]" not in err and "follow_up.of[1]" in err
    follow_up["of"] = ["outpatient-booking"]
    spec = write_spec(env, spec_data(id="booking-loop", follow_up=follow_up), "loop.yaml")
    code, out, _ = engage(capsys, "consultation", "create", spec)
    assert code == 0 and out.strip().splitlines()[-1] == "booking-loop"


def test_validate_checks_a_follow_ups_earlier_consultations_in_the_store(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate names each earlier consultation the configured store does not hold, as
    create would (exit 2); with no store there yet it says it could not look, and makes
    none."""
    follow_up = {"of": ["outpatient-booking", "old-survey"], "invite": "recontact"}
    spec = write_spec(env, spec_data(id="booking-loop", follow_up=follow_up), "loop.yaml")
    code, out, err = engage(capsys, "consultation", "validate", spec)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"engage: {spec}: follow_up.of[0]: there is no consultation 'outpatient-booking'",
        f"engage: {spec}: follow_up.of[1]: there is no consultation 'old-survey'",
        f"engage: {spec}: 2 problems found",
    ]
    with monkeypatch.context() as elsewhere:
        elsewhere.setenv("ENGAGE_DATABASE_URL", f"sqlite+aiosqlite:///{env}/none.db")
        code, out, err = engage(capsys, "consultation", "validate", spec)
    assert code == 0 and "valid: booking-loop" in out
    assert "follow_up.of: not checked against stored consultations" in err
    assert not (env / "none.db").exists()

    assert engage(capsys, "consultation", "create", write_spec(env, spec_data()))[0] == 0
    code, out, err = engage(capsys, "consultation", "validate", spec)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"engage: {spec}: follow_up.of[1]: there is no consultation 'old-survey'",
        f"engage: {spec}: 1 problem found",
    ]
    follow_up["of"] = ["outpatient-booking"]
    spec = write_spec(env, spec_data(id="booking-loop", follow_up=follow_up), "loop.yaml")
    code, out, err = engage(capsys, "consultation", "validate", spec)
    assert code == 0 and "valid: booking-loop" in out and "follow_up" not in err


def test_launch_refuses_a_follow_up_of_a_consultation_still_a_draft(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody can have taken part in a draft: launching a follow-up of one would invite
    nobody, ever. Refused (exit 2), naming it; the follow-up stays a draft."""
    assert engage(capsys, "consultation", "create", write_spec(env, spec_data()))[0] == 0
    follow_up = {"of": ["outpatient-booking"], "invite": "recontact"}
    data = spec_data(id="booking-loop", channels=["web"], follow_up=follow_up)
    loop = write_spec(env, data, "loop.yaml")
    code, out, err = engage(capsys, "consultation", "create", loop)
    assert code == 0 and out.splitlines()[-1] == "booking-loop"
    assert (
        f"{loop}: warning: follow_up.of[0]: 'outpatient-booking' is still a draft: launch it "
        "before this one (launching this one is refused until then)\n" in err
    )
    code, out, err = engage(capsys, "consultation", "launch", "booking-loop")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "engage: booking-loop: follow_up.of[0]: 'outpatient-booking' is still a draft, so "
        "nobody has taken part in it; launch it first",
        "engage: booking-loop: 1 problem found",
    ]
    code, out, _ = engage(capsys, "consultation", "list", "--json")
    assert {row["id"]: row["state"] for row in json.loads(out)} == {
        "outpatient-booking": "draft",
        "booking-loop": "draft",
    }
    data = spec_data(channels=["web"])
    assert engage(capsys, "consultation", "create", write_spec(env, data))[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "booking-loop")
    assert code == 0, err
    assert out.splitlines()[-1] == "invited 0 on web"


PERSON_MISTAKES = [
    ("export", "whatsapp", "1", "--channel: 'whatsapp' is not a channel"),
    ("erase", "telgram", "1", "--channel: 'telgram' is not a channel"),
    ("export", "telegram", "", "--platform-id: is blank"),
    ("erase", "web", "  ", "--platform-id: is blank"),
    # Telegram keeps the numeric user id only: a @username would find no one.
    ("erase", "telegram", "@alice_tg", "--platform-id: '@alice_tg' is not a Telegram user id"),
    ("export", "telegram", "alice", "--platform-id: 'alice' is not a Telegram user id"),
]


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("olga", "olga"),
        ("@olga", "olga"),
        ("OLGA", "olga"),
        (" @Olga@Social.Example ", "olga"),
        ("bob@elsewhere.example", "bob@elsewhere.example"),
        ("@Bob@Elsewhere.example", "bob@elsewhere.example"),
    ],
)
def test_a_mastodon_handle_is_found_however_an_operator_writes_it(written: str, kept: str) -> None:
    from bot.commands import person_id

    assert person_id("mastodon", written, "https://social.example") == kept


@pytest.mark.parametrize("command", ["export", "erase"])
def test_a_mastodon_account_number_finding_no_one_says_the_handle_is_kept(
    env: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """An operator given a number from the instance's admin page is told what to give."""
    code, out, err = engage(
        capsys, "participant", command, "--channel", "mastodon", "--platform-id", "109382"
    )
    assert code == 0
    said = out + err
    assert "nothing is held about this person" in said
    assert "kept by their handle, not their account number" in said
    code, out, err = engage(
        capsys, "participant", command, "--channel", "mastodon", "--platform-id", "@olga"
    )
    assert code == 0 and "account number" not in out + err


@pytest.mark.parametrize(("command", "channel", "platform_id", "said"), PERSON_MISTAKES)
def test_participant_request_with_a_mistyped_channel_or_blank_id_exits_2(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    channel: str,
    platform_id: str,
    said: str,
) -> None:
    """A typo must not answer a subject-access or erasure request with "nothing is held"."""
    code, out, err = engage(
        capsys, "participant", command, "--channel", channel, "--platform-id", platform_id
    )
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(f"engage: {said}"), err
    if said.startswith("--channel"):
        assert line.endswith("use one of web, telegram, mastodon, import"), err


@pytest.mark.parametrize(
    "command",
    [
        ["export", "outpatient-booking", "--format", "csv"],
        ["report", "outpatient-booking", "--format", "md"],
        ["consultation", "draft-loop", "outpatient-booking"],
    ],
    ids=["export", "report", "draft-loop"],
)
def test_output_naming_a_folder_exits_2_and_leaves_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert engage(capsys, "consultation", "create", write_spec(env, spec_data()))[0] == 0
    folder = env / "out"
    folder.mkdir()
    before = sorted(env.iterdir())
    code, out, err = engage(capsys, *command, "--output", str(folder))
    assert (code, out, err) == (2, "", f"engage: --output: {folder} is a folder\n")
    assert sorted(env.iterdir()) == before and list(folder.iterdir()) == []
    for blank in ("", "  "):
        code, out, err = engage(capsys, *command, "--output", blank)
        assert (code, out) == (2, "")
        assert err == "engage: --output: is empty; give the file to write\n"
    assert sorted(env.iterdir()) == before


def test_invalid_setting_stops_with_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", "short")
    code, _, err = engage(capsys, "consultation", "list")
    assert code == 2
    assert err.strip().count("\n") == 0 and "ENGAGE_PSEUDONYM_KEY" in err


def test_console_script_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "engage"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("db", "run", "consultation", "export", "import", "report", "participant"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("consultation", "validate", "spec.yaml"),
        ("consultation", "template", "feedback-prompt"),
        ("--help",),
        ("consultation", "validate", "--help"),
    ],
    ids=["validate", "template", "help", "validate-help"],
)
def test_commands_that_touch_no_store_write_no_key_files(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Checking a spec in an empty folder leaves it as it was: no development keys."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "spec.yaml").write_text(yaml.safe_dump(spec_data(), sort_keys=False))
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "engage"), *command],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["spec.yaml"]
    assert list(home.iterdir()) == []
    assert "development key" not in result.stderr


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path: Path) -> None:
    """`engage ... | head`: no traceback on the terminal when the pipe closes early."""
    command = [
        str(Path(sys.executable).parent / "engage"),
        "consultation",
        "validate",
        str(Path(__file__).parents[2] / "examples" / "outpatient-booking.yaml"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # before the command writes a word
        err = child.stderr.read().decode()
        assert child.wait(timeout=60) == 1
    assert err == ""


def test_user_add(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = engage(
        capsys, "user", "add", "Lead@Example.org", "--role", "lead", "--generate-password"
    )
    assert code == 0
    assert "added lead@example.org as lead" in out
    assert len(out.split("keep it safe): ")[1].strip()) >= 12
    code, _, err = engage(
        capsys, "user", "add", "lead@example.org", "--role", "admin", "--generate-password"
    )
    assert code == 2 and "already has an account" in err
    code, out, _ = engage(
        capsys,
        "user",
        "add",
        "lead@example.org",
        "--role",
        "admin",
        "--generate-password",
        "--exists-ok",
    )
    assert code == 0 and "(lead)" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = engage(capsys, "user", "add", "v@example.org", "--role", "viewer")
    assert code == 2 and "12 characters" in err
    code, _, err = engage(capsys, "user", "add", "not-an-email", "--role", "viewer")
    assert code == 2 and "EMAIL" in err


def test_import_of_a_folder_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(env, spec_data(channels=["web"]))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    code, _, err = engage(capsys, "import", "outpatient-booking", str(env), "--format", "csv")
    assert code == 2 and err.strip() == f"engage: FILE: {env}: is a folder"
    missing = env / "missing.csv"
    code, _, err = engage(capsys, "import", "outpatient-booking", str(missing), "--format", "csv")
    assert code == 2 and err.strip() == f"engage: FILE: {missing}: no such file"
    for content in ("", "\ufeff", "\n \n"):
        empty = env / "empty.csv"
        empty.write_text(content, encoding="utf-8")
        code, out, err = engage(
            capsys, "import", "outpatient-booking", str(empty), "--format", "csv"
        )
        assert (code, out) == (2, "")
        assert err == (
            f"engage: {empty}: the file is empty; it needs a header row naming its columns, "
            "then a row for each response\n"
        )


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("consultation", "validate", " "), "FILE: is empty; give the spec file"),
        (("consultation", "create", ""), "FILE: is empty; give the spec file"),
        (
            ("import", "outpatient-booking", "", "--format", "csv"),
            "FILE: is empty; give the CSV file",
        ),
        (
            ("report", "outpatient-booking", "--format", "md", "--codebook", ""),
            "--codebook: is empty; give the codebook file",
        ),
    ],
    ids=["validate", "create", "import", "codebook"],
)
def test_an_empty_file_argument_is_named_as_empty(
    env: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...], said: str
) -> None:
    # An unset shell variable ("$SPEC") gives an empty argument: Path("") is the working
    # folder, which the messages called a folder, or "no file ".
    spec = write_spec(env, spec_data(channels=["web"]))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    code, out, err = engage(capsys, *command)
    assert (code, out, err) == (2, "", f"engage: {said}\n")


def test_a_web_id_that_starts_with_a_dash_is_read_as_the_id(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A web page's id is a random token; about one in 64 starts with "-", which the
    # command line read as another option ("expected one argument").
    for command in ("export", "erase"):
        code, out, err = engage(
            capsys, "participant", command, "--channel", "web", "--platform-id", "-QsLvh9hWRT3"
        )
        assert code == 0, err
        assert "expected one argument" not in err
    assert json.loads(
        engage(capsys, "participant", "export", "--channel", "web", "--platform-id", "-Qs")[1]
    ) == {"channel": "web", "held": False}


def test_an_import_into_a_closed_consultation_is_refused_storing_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A closed consultation takes no more responses (`consultation close`), imported
    ones neither: exit 2 naming it and its state, and nothing stored."""
    cid = _launched(env, capsys)
    assert engage(capsys, "consultation", "close", cid)[0] == 0
    comments = env / "comments.csv"
    comments.write_text("who,comment\nr1,Cold\nr2,Warm enough\n")
    code, out, err = engage(capsys, "import", cid, str(comments), "--format", "csv")
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"engage: ID: consultation '{cid}' is closed and takes no more responses; "
        "nothing was imported"
    )
    assert _exported_texts(capsys, cid) == []


def test_the_html_report_marks_the_consultations_own_words_with_its_language(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report is in English; a Welsh consultation's title, questions and quoted
    answers are marked as Welsh, so a screen reader says them in Welsh (WCAG 3.1.2)."""
    title = "Gwella trefnu apwyntiadau"
    spec = write_spec(env, spec_data(channels=["web"], language="cy", title=title))
    assert engage(capsys, "consultation", "create", spec)[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    comments = env / "sylwadau.csv"
    comments.write_text(
        "sylw\nRoedd yr aros yn rhy hir o lawer\nNyrsys hyfryd iawn\n"
        "Mae parcio yn anodd\nRoedd yr aros yn hir eto\nNyrsys caredig\n"
    )
    code, out, _ = engage(
        capsys,
        "import",
        "outpatient-booking",
        str(comments),
        "--format",
        "csv",
        "--text-column",
        "sylw",
    )
    assert code == 0, out
    code, page, _ = engage(capsys, "report", "outpatient-booking", "--format", "html")
    assert code == 0
    assert '<html lang="en">' in page  # the report's own words stay English
    assert f'<h1 lang="cy">{title}</h1>' in page
    assert '<h3 lang="cy">How easy was it to book your last appointment?</h3>' in page
    quotes = re.findall(r"<blockquote([^>]*)>", page)
    assert quotes and all('lang="cy"' in attributes for attributes in quotes)

    english = write_spec(env, spec_data(id="in-english", channels=["web"]), "english.yaml")
    assert engage(capsys, "consultation", "create", english)[0] == 0
    code, page, _ = engage(capsys, "report", "in-english", "--format", "html")
    assert code == 0 and page.count("lang=") == 1  # the page's own, nothing to mark


def test_an_erasure_that_finds_only_waiting_messages_is_audited_naming_no_one(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone's first message still waits in the inbox (it may be prepared ahead in a
    running server's memory): erasing them deletes it and writes the erasure's audit row,
    which is how a running server learns to drop what it prepared (bot/erasures.py)."""
    settings = Settings(
        database_url=database_url,
        public_url="http://127.0.0.1:8080",
        secret_key=TEST_SECRET,
        pseudonym_key=TEST_KEY,
    )

    async def arrives() -> None:
        platform = create_platform(settings)
        try:
            await platform.inbox.receive_many([Person("4242").says("Evening slots please")])
        finally:
            await platform.aclose()

    async def audited() -> list[tuple[str, Any]]:
        platform = create_platform(settings)
        try:
            async with platform.sessionmaker() as session:
                rows = await session.execute(select(AuditEvent.action, AuditEvent.detail))
                return [(action, detail) for action, detail in rows]
        finally:
            await platform.aclose()

    asyncio.run(arrives())
    code, out, _ = engage(
        capsys, "participant", "erase", "--channel", "telegram", "--platform-id", "4242"
    )
    assert code == 0 and "1 waiting messages of theirs deleted" in out
    [(action, detail)] = asyncio.run(audited())
    assert action == "participant.erase"
    assert detail == {"channel": "telegram", "responses": 0, "waiting": 1}
    assert "4242" not in json.dumps(detail)
