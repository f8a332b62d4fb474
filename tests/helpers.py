"""Small helpers shared by tests: specs, launching, and reading the web pages."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.platform import Platform, analyse_at_intake
from bot.preparation import Preparation
from consultations import service
from consultations.spec import ConsultationSpec, parse_spec
from tests.waiting import wait_until

SPEC: dict[str, Any] = {
    "id": "outpatient-booking",
    "title": "Improving outpatient booking",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "qi": {"project": "Outpatient booking redesign", "stage": "plan", "cycle": 1},
    "channels": ["web", "telegram", "mastodon"],
    "language": "en",
    "consent": {
        "text": "We use your answers to improve our booking service. Reply STOP to leave.",
        "recontact": True,
    },
    "segments": [
        {
            "id": "role",
            "text": "Which best describes you?",
            "options": ["Patient", "Carer", "Staff", "Community member"],
        }
    ],
    "items": [
        {
            "id": "ease",
            "type": "poll",
            "text": "How easy was it to book your last appointment?",
            "options": ["Very easy", "Easy", "Neither", "Hard", "Very hard"],
        },
        {"id": "one-thing", "type": "prompt", "text": "What one thing would make booking easier?"},
        {
            "id": "reminder",
            "type": "thread",
            "text": "Let's design the reminder message together: what should it say?",
        },
    ],
    "closing_message": "Thank you. We will share what we change.",
}

#: Disclosures the screen flags each way (pinned in tests/consultations/test_screening.py):
#: by a listed phrase ("stockpiling my tablets"), and by its model alone.
BY_PHRASE = "I have been stockpiling my tablets to take them all"
BY_MODEL = "Some days I just want to disappear into the dark and not come back"
#: Another of each, for a second person or channel in the same test.
BY_PHRASE_TOO = "I have pills saved up and I am going to take them all tonight"
BY_MODEL_TOO = "If I got hit by a bus I wouldn't even be sad"


def spec_data(**changes: Any) -> dict[str, Any]:
    """A copy of the demo spec with top-level fields changed."""
    data = copy.deepcopy(SPEC)
    data.update(changes)
    return data


async def launch(platform: Platform, data: dict[str, Any] | None = None) -> ConsultationSpec:
    """Store and open a consultation (no channel publishing)."""
    spec = parse_spec(data or spec_data())
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="test")
        await service.open_(session, spec.id)
    return spec


def form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action`` on a page."""
    match = re.search(rf'<form method="post" action="{re.escape(action)}">(.*?)</form>', html, re.S)
    assert match, f"no form posting to {action} on the page"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', match.group(1)))


def engage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the ``engage`` command line in process: exit code, standard output and error."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


SEED = (
    "Open on Saturday mornings",
    "Text me when the clinic is running late",
    "Let me book appointments online",
)


def statements_spec(moderation: str = "post", seed: tuple[str, ...] = SEED) -> dict[str, Any]:
    """An idea-crowdsourcing consultation: one ``statements`` item with seed statements."""
    return spec_data(
        id="new-clinic",
        title="The new clinic",
        model="idea-crowdsourcing",
        consent={"text": "We use your votes to plan the new clinic. Reply STOP to leave."},
        segments=[],
        items=[
            {
                "id": "ideas",
                "type": "statements",
                "text": "What should the new clinic do differently?",
                "seed": list(seed),
                "moderation": moderation,
            }
        ],
        closing_message="Thank you for your ideas.",
    )


async def query_plan(platform: Platform, statement: Any, *, prepared: bool) -> list[str]:
    """The plan lines of ``statement``, as the database would run it now.

    ``prepared``: PostgreSQL's generic plan of the statement prepared once, which a
    driver that caches prepared statements (asyncpg) may be given after a few runs.
    SQLite has one plan either way.
    """
    compiled = statement.compile(
        dialect=platform.engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    values = compiled.construct_params()
    args = tuple(values[name] for name in compiled.positiontup or ())
    async with platform.engine.connect() as connection:
        if platform.engine.dialect.name == "sqlite":
            args = tuple(a.isoformat(" ") if isinstance(a, datetime) else a for a in args)
            found = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args)
            return [str(detail) for *_, detail in found]
        if not prepared:
            found = await connection.exec_driver_sql(f"EXPLAIN {compiled}", args)
            return [str(row[0]) for row in found]
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await connection.exec_driver_sql(f"PREPARE planned AS {compiled}")
        literals = ", ".join(
            f"'{a.isoformat()}'" if isinstance(a, datetime) else repr(a) for a in args
        )
        found = await connection.exec_driver_sql(f"EXPLAIN EXECUTE planned({literals})")
        plan = [str(row[0]) for row in found]
        await connection.exec_driver_sql("DEALLOCATE planned")
        return plan


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Each statement the driver is given while the block runs, in order: its text (as
    sent, lists expanded) and its parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    target = engine.sync_engine
    event.listen(target, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", record)


#: Ordinary answers the shipped screen's model flags, just over its threshold.
_TENTATIVE_CANDIDATES = (
    "Clean toilets and enough of them.",
    "I just want to go to sleep after this night shift",
    "The only thing I want to end is this waitlist. I'm perfectly fine in myself.",
    "Tonight's shift on the ward was short staffed again",
)


def tentative_flag() -> str:
    """A reply the shipped screen flags tentatively (the model alone, only just).

    Taken from a few candidates, so that retraining the model leaves the tests that need
    one a text to use; fails, naming the candidates, if none is tentative any more.
    """
    from consultations.screening import screen

    for text in _TENTATIVE_CANDIDATES:
        if screen(text).tentative:
            return text
    raise AssertionError(f"none of {_TENTATIVE_CANDIDATES} is flagged tentatively: add one")


@asynccontextmanager
async def preparing() -> AsyncIterator[Preparation]:
    """One worker process preparing texts, its models loaded; closed on the way out."""
    started = Preparation(analyse_at_intake, processes=1)
    started.start()
    try:

        async def ready() -> bool:
            return started.ready

        await wait_until(ready, within=60, what="the preparation process to load its models")
        yield started
    finally:
        await started.close()
