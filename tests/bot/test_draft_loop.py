"""`engage consultation draft-loop`: from an act summary to a launched follow-up, by CLI.

People answer on the web page (the real runtime, as the page's forms do), some saying
they may be contacted again; the draft is valid as it stands, launching it invites
them, and the project's act report shows how they received the change.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings
from bot.platform import create_platform
from channels.events import CONSENT, RECONTACT, EventKind, InboundEvent
from consultations.dialogue import RECONTACT_OPTIONS
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.helpers import engage, spec_data

EARLIER = spec_data(
    channels=["web"],
    segments=[],
    items=[{"id": "one-thing", "type": "prompt", "text": "What one thing would help?"}],
)
COMMENTS = [
    "Text me a reminder the day before, the letters come too late",
    "A text reminder would stop me missing appointments",
    "Phone lines are always busy in the morning, I gave up calling",
    "Please send a text reminder before appointments",
    "Being on hold for forty minutes is awful",
    "Online booking so I do not have to call",
]


def _event(
    token: str, consultation_id: str, suffix: str, kind: EventKind, **values: Any
) -> InboundEvent:
    """What the web page hands the runtime when the person with cookie ``token`` acts."""
    return InboundEvent(
        channel="web",
        event_id=f"{token}:{consultation_id}:{suffix}",
        sender=token,
        kind=kind,
        consultation_id=consultation_id,
        **values,
    )


def _on_the_web(database_url: str, people: list[tuple[str, list[InboundEvent]]]) -> None:
    """Each person's events, handled as the web page's forms have them handled."""

    async def run() -> None:
        platform = create_platform(
            Settings(database_url=database_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY),
            analyse=None,
        )
        try:
            for _, events in people:
                await platform.runtime.handle_now(*events)
        finally:
            await platform.aclose()

    asyncio.run(run())


def _joined(token: str, cid: str, again: bool) -> list[InboundEvent]:
    """Started, agreed, and said whether they may be contacted again."""
    return [
        _event(token, cid, "start", EventKind.START),
        _event(token, cid, "consent", EventKind.ANSWER, item_id=CONSENT, choices=("yes",)),
        _event(
            token,
            cid,
            "recontact",
            EventKind.ANSWER,
            item_id=RECONTACT,
            choices=(RECONTACT_OPTIONS[0 if again else 1],),
        ),
    ]


def _took_part(token: str, text: str, again: bool) -> tuple[str, list[InboundEvent]]:
    cid = "outpatient-booking"
    return token, [
        *_joined(token, cid, again),
        _event(token, cid, "answer", EventKind.ANSWER, item_id="one-thing", text=text),
    ]


def _reacted(token: str, cid: str, choice: str) -> tuple[str, list[InboundEvent]]:
    return token, [
        _event(token, cid, "start", EventKind.START),
        _event(token, cid, "consent", EventKind.ANSWER, item_id=CONSENT, choices=("yes",)),
        _event(token, cid, "reaction", EventKind.ANSWER, item_id="reaction", choices=(choice,)),
    ]


def _draft_loop(
    capsys: pytest.CaptureFixture[str], output: str, change: str
) -> tuple[int, str, str]:
    """``engage consultation draft-loop outpatient-booking --output OUTPUT --change CHANGE``."""
    return engage(
        capsys,
        "consultation",
        "draft-loop",
        "outpatient-booking",
        "--output",
        output,
        "--change",
        change,
    )


def test_draft_loop_makes_a_valid_follow_up_that_invites_and_reports_back(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    (env / "earlier.yaml").write_text(yaml.safe_dump(EARLIER, sort_keys=False))
    assert engage(capsys, "consultation", "create", "earlier.yaml")[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    _on_the_web(
        database_url,
        [_took_part(f"person-{n}", text, again=n % 2 == 0) for n, text in enumerate(COMMENTS)],
    )

    code, out, err = _draft_loop(capsys, "loop.yaml", "2026-12-08=Text reminders two days before")
    assert code == 0, err
    drafted = (env / "loop.yaml").read_text()
    data = yaml.safe_load(drafted)
    assert data["id"] == "outpatient-booking-loop"
    assert data["model"] == "closing-the-loop"
    assert data["follow_up"] == {"of": ["outpatient-booking"], "invite": "recontact"}
    assert data["qi"] == {"project": "Outpatient booking redesign", "stage": "act", "cycle": 1}
    assert data["channels"] == ["web"]
    reaction = data["items"][0]
    assert reaction["type"] == "poll"
    assert "We did: Text reminders two days before." in reaction["text"]
    assert reaction["text"].startswith("You said:")
    assert len(reaction["text"]) <= 300  # a Telegram poll question
    assert "# The act summary's" in drafted and "Thank you to the 6 people" in drafted

    code, out, err = engage(capsys, "consultation", "validate", "loop.yaml")
    assert code == 0, err
    assert engage(capsys, "consultation", "create", "loop.yaml")[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "outpatient-booking-loop")
    assert code == 0, err
    assert out.splitlines()[-1] == "invited 3 on web"  # the three who said yes
    code, out, _ = engage(capsys, "consultation", "launch", "outpatient-booking-loop")
    assert out.splitlines()[-1] == "invited 0 on web"  # never twice

    # Two of the invited react to the change.
    _on_the_web(
        database_url,
        [_reacted(f"person-{n}", data["id"], "It helps a lot") for n in (0, 2)],
    )
    code, out, err = engage(
        capsys, "report", "outpatient-booking", "--stage", "act", "--format", "json"
    )
    assert code == 0, err
    act = json.loads(out)["stage_summary"]["act"]
    [loop] = act["reception"]
    assert loop["consultation"] == "outpatient-booking-loop"
    assert loop["invited"] == 3 and loop["answered_invited"] == 2
    [poll] = loop["polls"]
    assert {o["label"]: o["count"] for o in poll["options"]}["It helps a lot"] == 2
    code, out, _ = engage(
        capsys, "report", "outpatient-booking", "--stage", "study", "--format", "md"
    )
    assert "### How people received the change" in out
    assert "3 invited, 2 of them answered" in out

    # A second loop after the next change: the first keeps its id, the draft takes the next.
    code, out, err = _draft_loop(capsys, "loop2.yaml", "2027-01-10=Evening phone line")
    assert code == 0, err
    assert yaml.safe_load((env / "loop2.yaml").read_text())["id"] == "outpatient-booking-loop-2"
    assert engage(capsys, "consultation", "create", "loop2.yaml")[0] == 0


def test_draft_loop_of_an_unknown_consultation_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = engage(capsys, "consultation", "draft-loop", "nowhere")
    assert code == 2
    assert "nowhere" in err


def _earlier_with(**fields: Any) -> dict[str, Any]:
    return {**EARLIER, **fields}


def test_the_draft_says_what_the_report_found_and_keeps_the_safety_settings(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    safety = {
        "region": "UK",
        "helplines": [{"name": "Local crisis line", "contact": "0800 000 000"}],
        "response_hours": 12,
    }
    earlier = _earlier_with(language="es", safety=safety)
    (env / "earlier.yaml").write_text(yaml.safe_dump(earlier, sort_keys=False))
    assert engage(capsys, "consultation", "create", "earlier.yaml")[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    comments = [*COMMENTS, *COMMENTS[:4], *COMMENTS[:2]]
    _on_the_web(
        database_url,
        [_took_part(f"person-{n}", text, again=True) for n, text in enumerate(comments)],
    )
    code, out, err = engage(capsys, "report", "outpatient-booking", "--format", "json")
    assert code == 0, err
    labels = {t["label"]: t["count"] for t in json.loads(out)["themes"]}

    code, _, err = engage(
        capsys, "consultation", "draft-loop", "outpatient-booking", "--output", "loop.yaml"
    )
    assert code == 0, err
    drafted = (env / "loop.yaml").read_text()
    data = yaml.safe_load(drafted)
    said = next(line for line in drafted.splitlines() if line.startswith("#   You said: "))
    parts = said.removeprefix("#   You said: ").rstrip(".").split("; ")
    counts = []
    for part in parts:
        label, _, rest = part.rpartition(" (")
        assert label in labels, (label, labels)
        count = int(rest.split(" of ")[0])
        assert count == labels[label]
        counts.append(count)
    assert counts == sorted(counts, reverse=True) and counts
    assert f"Thank you to the {len(comments)} people" in drafted
    # The same helplines, response time and language as the consultation people answered.
    assert data["safety"] == safety and data["language"] == "es"
    assert "# language: es." in drafted and "translate them before launch" in drafted

    # The placeholder for what was changed is refused wherever it is, by its field path.
    code, _, err = engage(capsys, "consultation", "validate", "loop.yaml")
    assert code == 2
    assert "loop.yaml: items[0].text: still says [what we changed]" in err
    code, _, err = engage(capsys, "consultation", "create", "loop.yaml")
    assert code == 2 and "items[0].text: still says [what we changed]" in err
    data["closing_message"] = "Thank you. We did [what we changed]."
    data["items"][0]["text"] = data["items"][0]["text"].replace("[what we changed]", "New texts")
    (env / "edited.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    code, _, err = engage(capsys, "consultation", "validate", "edited.yaml")
    assert code == 2 and "closing_message: still says [what we changed]" in err
    assert "items[0]" not in err


def test_launch_refuses_a_stored_draft_that_still_has_the_placeholder(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    from consultations import service
    from consultations.spec import parse_spec

    unfinished = _earlier_with(closing_message="We did: [what we changed].")

    async def store() -> None:
        platform = create_platform(
            Settings(database_url=database_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY),
            analyse=None,
        )
        try:
            async with platform.sessionmaker.begin() as session:
                await service.create(session, parse_spec(unfinished), source="dashboard")
        finally:
            await platform.aclose()

    assert engage(capsys, "db", "upgrade")[0] == 0
    asyncio.run(store())
    code, _, err = engage(capsys, "consultation", "launch", "outpatient-booking")
    assert code == 2
    assert "closing_message: still says [what we changed]" in err


def test_draft_loop_of_a_consultation_nobody_answered_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "earlier.yaml").write_text(yaml.safe_dump(EARLIER, sort_keys=False))
    assert engage(capsys, "consultation", "create", "earlier.yaml")[0] == 0
    code, out, err = engage(capsys, "consultation", "draft-loop", "outpatient-booking")
    assert code == 2 and out == ""
    assert "was never launched" in err
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    code, out, err = engage(capsys, "consultation", "draft-loop", "outpatient-booking")
    assert code == 2 and out == ""
    assert "has no responses yet" in err and "Thank you to the 0" not in err


def test_a_no_to_re_contact_in_any_consultation_named_is_a_no(
    env: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    """Someone who agreed to be contacted again after one consultation and said no after
    the next is not invited by a follow-up of both (they were, through the first)."""
    second = {**EARLIER, "id": "outpatient-booking-2", "title": "Booking, again"}
    (env / "earlier.yaml").write_text(yaml.safe_dump(EARLIER, sort_keys=False))
    (env / "second.yaml").write_text(yaml.safe_dump(second, sort_keys=False))
    for file, cid in (("earlier.yaml", "outpatient-booking"), ("second.yaml", second["id"])):
        assert engage(capsys, "consultation", "create", file)[0] == 0
        assert engage(capsys, "consultation", "launch", cid)[0] == 0

    _on_the_web(
        database_url,
        [
            ("changed-mind", _joined("changed-mind", "outpatient-booking", True)),
            ("changed-mind", _joined("changed-mind", second["id"], False)),
            ("both-yes", _joined("both-yes", "outpatient-booking", True)),
            ("both-yes", _joined("both-yes", second["id"], True)),
        ],
    )
    follow_up = {
        **EARLIER,
        "id": "booking-follow-up",
        "follow_up": {"of": ["outpatient-booking", second["id"]], "invite": "recontact"},
    }
    (env / "follow.yaml").write_text(yaml.safe_dump(follow_up, sort_keys=False))
    assert engage(capsys, "consultation", "create", "follow.yaml")[0] == 0
    code, out, err = engage(capsys, "consultation", "launch", "booking-follow-up")
    assert code == 0, err
    assert out.splitlines()[-1] == "invited 1 on web"  # both-yes only


def test_follow_ups_that_would_follow_each_other_round_are_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """x is followed up by y; x re-created as a follow-up of y would make a cycle: refused
    with the chain named (exit 2), and the stored draft of x is kept as it was."""
    x = {**EARLIER, "id": "cyc-x"}
    y = {**EARLIER, "id": "cyc-y", "follow_up": {"of": ["cyc-x"], "invite": "recontact"}}
    (env / "x.yaml").write_text(yaml.safe_dump(x, sort_keys=False))
    (env / "y.yaml").write_text(yaml.safe_dump(y, sort_keys=False))
    assert engage(capsys, "consultation", "create", "x.yaml")[0] == 0
    assert engage(capsys, "consultation", "create", "y.yaml")[0] == 0
    x_again = {**x, "follow_up": {"of": ["cyc-y"], "invite": "recontact"}}
    (env / "x.yaml").write_text(yaml.safe_dump(x_again, sort_keys=False))
    code, _, err = engage(capsys, "consultation", "create", "x.yaml")
    assert code == 2
    assert "follow_up.of[0]" in err and "cyc-x -> cyc-y -> cyc-x" in err
    code, out, _ = engage(capsys, "consultation", "show", "cyc-x")
    assert code == 0 and "follow_up" not in out
