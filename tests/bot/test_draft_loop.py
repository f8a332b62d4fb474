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
    "Please send reminders by text message",
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


def _took_part(token: str, text: str, again: bool) -> tuple[str, list[InboundEvent]]:
    cid = "outpatient-booking"
    return token, [
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
        _event(token, cid, "answer", EventKind.ANSWER, item_id="one-thing", text=text),
    ]


def _reacted(token: str, cid: str, choice: str) -> tuple[str, list[InboundEvent]]:
    return token, [
        _event(token, cid, "start", EventKind.START),
        _event(token, cid, "consent", EventKind.ANSWER, item_id=CONSENT, choices=("yes",)),
        _event(token, cid, "reaction", EventKind.ANSWER, item_id="reaction", choices=(choice,)),
    ]


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

    code, out, err = engage(
        capsys,
        "consultation",
        "draft-loop",
        "outpatient-booking",
        "--output",
        "loop.yaml",
        "--change",
        "2026-12-08=Text reminders two days before",
    )
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


def test_draft_loop_of_an_unknown_consultation_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = engage(capsys, "consultation", "draft-loop", "nowhere")
    assert code == 2
    assert "nowhere" in err
