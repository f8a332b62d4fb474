"""The queues operators work: events held aside after repeated failures, safety cases."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.platform import Platform, create_platform
from channels.events import EventKind
from storage.tables import (
    AuditEvent,
    Dialogue,
    InboxEntry,
    ModerationCase,
    OutboxEntry,
    Response,
)
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.channel import Person
from tests.helpers import BY_MODEL, BY_PHRASE, engage, launch, spec_data, tentative_flag

DISCLOSURE = "Honestly I want to kill myself after how I was treated"


@pytest.fixture
def cli_env(env: Path, database_url: str) -> Settings:
    """The settings the command line sees (see the ``env`` fixture)."""
    return Settings(database_url=database_url, secret_key=TEST_SECRET, pseudonym_key=TEST_KEY)


async def _poisoned_inbox(settings: Settings) -> tuple[int, int]:
    """One event that can never be read (sealed under another key), one good one behind it."""
    platform = create_platform(settings)
    try:
        await launch(platform, spec_data(channels=["web", "telegram"]))
        async with platform.sessionmaker.begin() as session:
            bad = InboxEntry(channel="telegram", event_id="poison", payload="not-sealed")
            session.add(bad)
        person = Person("4242")
        await platform.inbox.receive(person.event(EventKind.START, consultation_id=None))
        for _ in range(3):
            await platform.inbox.process_pending()
        async with platform.sessionmaker() as session:
            rows = {row.event_id: row for row in await session.scalars(select(InboxEntry))}
        good = next(row for key, row in rows.items() if key != "poison")
        assert good.processed_at is not None  # the event behind it was not held up
        held = rows["poison"]
        assert held.processed_at is None and held.failed_at is not None
        assert held.attempts == 3 and held.error and held.payload == "not-sealed"
        return held.id, good.id
    finally:
        await platform.aclose()


def test_an_event_that_keeps_failing_is_held_aside_listed_and_retried(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    held_id, _ = asyncio.run(_poisoned_inbox(cli_env))

    code, out, _ = engage(capsys, "inbox", "failed", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(row["id"], row["channel"], row["attempts"]) for row in listed] == [
        (held_id, "telegram", 3)
    ]
    assert listed[0]["error"]  # the failure is recorded for the operator

    code, out, _ = engage(capsys, "inbox", "failed")
    assert code == 0 and str(held_id) in out


def test_the_table_of_failed_events_shows_each_error_on_its_own_line(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    held_id, _ = asyncio.run(_poisoned_inbox(cli_env))
    error = (
        "(sqlite3.IntegrityError) UNIQUE constraint failed: response.id\n"
        "[SQL: INSERT INTO response (id) VALUES (?)]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )

    async def set_error() -> None:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker.begin() as session:
                entry = await session.get(InboxEntry, held_id)
                assert entry is not None
                entry.error = "  " + error + "\n"
        finally:
            await platform.aclose()

    asyncio.run(set_error())
    code, out, _ = engage(capsys, "inbox", "failed")
    assert code == 0
    header, row = out.rstrip("\n").split("\n")
    assert header.endswith("ERROR")
    assert row.startswith(f"{held_id:>8} telegram")
    assert row.endswith("(sqlite3.IntegrityError) UNIQUE constraint failed: response.id…")
    code, out, _ = engage(capsys, "inbox", "failed", "--json")
    assert json.loads(out)[0]["error"] == "  " + error + "\n"  # the whole message

    code, _, err = engage(capsys, "inbox", "retry", "999999")
    assert code == 2 and "no event 999999 is held aside" in err
    code, out, _ = engage(capsys, "inbox", "retry", str(held_id))
    assert code == 0

    async def state() -> InboxEntry | None:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                return await session.get(InboxEntry, held_id)
        finally:
            await platform.aclose()

    entry = asyncio.run(state())
    assert entry is not None and entry.failed_at is None and entry.attempts == 0
    code, out, _ = engage(capsys, "inbox", "failed", "--json")
    assert json.loads(out) == []


async def _disclose(settings: Settings, text: str = DISCLOSURE) -> None:
    await _disclose_each(settings, text)


def import_comments(capsys: pytest.CaptureFixture[str], path: Path) -> int:
    """``engage import`` of a CSV of comments into the demo's free-text question."""
    code, _, _ = engage(
        capsys,
        "import",
        "outpatient-booking",
        str(path),
        "--format",
        "csv",
        "--item",
        "one-thing",
        "--text-column",
        "comment",
    )
    return code


async def _disclose_each(settings: Settings, *texts: str) -> None:
    """Each text written by a person of its own, with an answer before it."""
    platform = create_platform(settings)
    try:
        await launch(platform, spec_data(channels=["web", "telegram"]))
        for n, text in enumerate(texts):
            person = Person(f"80{n}")
            for event in (
                person.starts("outpatient-booking"),
                person.answers("@consent", "Yes, I agree"),
                person.answers("@recontact", "No, please don't"),
                person.answers("role", "Patient"),
                person.answers("ease", "Hard"),
                person.says(text),
            ):
                await platform.inbox.receive(event)
                await platform.inbox.process_pending()
    finally:
        await platform.aclose()


def test_the_listing_shows_a_case_on_one_line_whatever_its_words_hold(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # A line break would start a line that looks like a case of its own, and a
    # right-to-left override would show the rest of the listing reversed.
    asyncio.run(_disclose(cli_env, "I want to die\n 99  0m open  fake-case\u202e tonight"))
    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3, out  # the heading, the case, its words
    assert "\u202e" not in out
    assert "I want to die / 99  0m open  fake-case tonight" in lines[2]


async def _past_due(settings: Settings, status: str) -> None:
    """Every case due an hour ago, with ``status``."""
    from datetime import timedelta

    from sqlalchemy import update

    from storage.tables import utcnow

    platform = create_platform(settings)
    try:
        async with platform.sessionmaker.begin() as session:
            await session.execute(
                update(ModerationCase).values(due_at=utcnow() - timedelta(hours=1), status=status)
            )
    finally:
        await platform.aclose()


def test_only_a_case_nobody_acknowledged_is_overdue_as_on_the_dashboard(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # Overdue is "still not acknowledged past its response-time target": a case a
    # moderator acknowledged is being seen to, whatever its age.
    asyncio.run(_disclose(cli_env))
    asyncio.run(_past_due(cli_env, "open"))
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert [case["overdue"] for case in json.loads(out)] == [True]
    assert "OVERDUE" in engage(capsys, "moderation", "list")[1]
    asyncio.run(_past_due(cli_env, "acknowledged"))
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert [(c["status"], c["overdue"]) for c in json.loads(out)] == [("acknowledged", False)]
    assert "OVERDUE" not in engage(capsys, "moderation", "list")[1]


def test_moderators_list_and_resolve_cases_from_the_command_line(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_disclose(cli_env))
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert code == 0
    cases = json.loads(out)
    assert len(cases) == 1
    case = cases[0]
    assert case["consultation"] == "outpatient-booking" and case["status"] == "open"
    assert case["text"] == DISCLOSURE and case["age_seconds"] >= 0 and not case["overdue"]

    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0 and str(case["id"]) in out

    code, _, err = engage(capsys, "moderation", "resolve", str(case["id"]), "--note", "  ")
    assert code == 2 and "note" in err
    code, _, err = engage(capsys, "moderation", "resolve", "12345", "--note", "called")
    assert code == 2 and "no moderation case 12345" in err
    code, out, _ = engage(
        capsys, "moderation", "resolve", str(case["id"]), "--note", "Called them back; safe."
    )
    assert code == 0
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert json.loads(out) == []
    # What moderators recorded is the person's to see too (subject access).
    code, out, _ = engage(
        capsys, "participant", "export", "--channel", "telegram", "--platform-id", "800"
    )
    [held] = json.loads(out)["safety_cases"]
    assert held["status"] == "resolved" and held["note"] == "Called them back; safe."
    assert held["consultation"] == "outpatient-booking" and held["categories"]
    code, _, err = engage(capsys, "moderation", "resolve", str(case["id"]), "--note", "again")
    assert code == 2
    assert f"moderation case {case['id']} was already resolved by cli:" in err
    assert "nothing was changed" in err

    async def stored() -> tuple[ModerationCase | None, list[str]]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                found = await session.get(ModerationCase, case["id"])
                actions = list(await session.scalars(select(AuditEvent.action)))
                return found, actions
        finally:
            await platform.aclose()

    found, actions = asyncio.run(stored())
    assert found is not None and found.status == "resolved"
    assert found.note == "Called them back; safe." and (found.resolved_by or "").startswith("cli")
    assert actions.count("cases.list") == 3 and actions.count("case.resolve") == 1


def test_the_listing_says_whether_a_listed_phrase_or_the_model_alone_flagged_each_case(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_disclose_each(cli_env, BY_PHRASE, BY_MODEL))
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert code == 0
    cases = json.loads(out)
    assert [(c["text"], c["flagged_by"]) for c in cases] == [
        (BY_PHRASE, "phrase"),
        (BY_MODEL, "model"),
    ]
    # Extended, never changed: every key the listing gave before is still there.
    assert {
        "id",
        "consultation",
        "title",
        "item",
        "reason",
        "categories",
        "urgent",
        "status",
        "text",
        "created_at",
        "age_seconds",
        "due_at",
        "overdue",
        "acknowledged_by",
        "erased_at",
    } < set(cases[0])

    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5, out  # the heading, then each case and its words
    phrase, model = lines[1], lines[3]
    assert phrase.startswith(f"{cases[0]['id']:>6} ") and phrase.endswith(
        "plan-means URGENT, phrase, sent held"
    )
    assert model.startswith(f"{cases[1]['id']:>6} ") and model.endswith(
        "suicidal-passive, model, sent held"
    )
    assert "stockpiling my tablets" not in phrase  # the kind, not the phrase that matched


def test_the_listing_says_what_each_person_was_sent(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Held (waiting for someone) after a disclosure; a check-in after a tentative flag,
    the dialogue gone on; nothing for an imported comment, which has no way back."""
    checked_in = tentative_flag()
    asyncio.run(_disclose_each(cli_env, BY_PHRASE, checked_in))
    path = tmp_path / "comments.csv"
    path.write_text("comment\nI've been thinking about ending my life\n", encoding="utf-8")
    assert import_comments(capsys, path) == 0
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert code == 0
    sent = {c["text"]: c["person_sent"] for c in json.loads(out)}
    assert sent == {
        BY_PHRASE: "held",
        checked_in: "check-in",
        "I've been thinking about ending my life": "nothing",
    }
    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0
    lines = out.splitlines()[1::2]
    assert [line.rsplit(", ", 1)[-1] for line in lines] == [
        "sent held",
        "sent check-in",
        "sent nothing",
    ]


def test_the_listing_says_when_the_person_behind_a_case_was_erased(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case outlives its person's erasure without their words; the listing says so,
    so that a moderator knows why there is nothing to read and nobody to contact."""
    asyncio.run(_disclose_each(cli_env, BY_PHRASE, DISCLOSURE))
    code, out, _ = engage(
        capsys, "participant", "erase", "--channel", "telegram", "--platform-id", "800"
    )
    assert code == 0
    code, out, _ = engage(capsys, "moderation", "list")
    assert code == 0
    rows = [line for line in out.splitlines()[1:] if line.split()[0].isdigit()]
    assert len(rows) == 2
    assert rows[0].endswith(", person erased") and not rows[1].endswith(", person erased")
    assert BY_PHRASE not in out and DISCLOSURE in out


def test_a_case_resolved_as_not_a_disclosure_from_the_command_line(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_disclose(cli_env))
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    case_id = str(json.loads(out)[0]["id"])
    code, out, _ = engage(
        capsys,
        "moderation",
        "resolve",
        case_id,
        "--note",
        "Quoting a film; checked.",
        "--not-a-disclosure",
    )
    assert code == 0 and "not a disclosure" in out

    async def stored() -> tuple[list[list[str]], list[str], list[str]]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                flags = list(
                    await session.scalars(
                        select(Response.flags).where(Response.item_id == "one-thing")
                    )
                )
                actions = list(await session.scalars(select(AuditEvent.action)))
                states = list(await session.scalars(select(Dialogue.state)))
                return flags, actions, states
        finally:
            await platform.aclose()

    flags, actions, states = asyncio.run(stored())
    assert flags == [["released"]]
    assert actions.count("case.release") == 1 and actions.count("case.resolve") == 1
    assert states == ["active"]


def test_an_imported_disclosure_opens_a_case(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def prepare() -> None:
        platform = create_platform(cli_env)
        try:
            await launch(platform, spec_data(channels=["web"]))
        finally:
            await platform.aclose()

    asyncio.run(prepare())
    comments = tmp_path / "comments.csv"
    comments.write_text(
        "comment\nThe parking was hard &amp; expensive\n"
        f"{DISCLOSURE}\nStaff were kind&nbsp;and quick\n",
        encoding="utf-8",
    )
    assert import_comments(capsys, comments) == 0
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    cases = json.loads(out)
    assert [(c["consultation"], c["item"]) for c in cases] == [("outpatient-booking", "one-thing")]
    assert cases[0]["flagged_by"] == "phrase"  # "kill myself" is a listed phrase

    async def texts() -> list[str]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                return sorted(t or "" for t in await session.scalars(select(Response.text)))
        finally:
            await platform.aclose()

    stored = asyncio.run(texts())
    assert "The parking was hard & expensive" in stored
    assert "Staff were kind and quick" in stored


async def test_a_disclosure_typed_at_the_consent_question_reaches_a_moderator(
    platform: Platform,
) -> None:
    from channels.events import OutboundMessage
    from consultations import moderation as cases
    from storage import queries

    await launch(platform, spec_data(channels=["web", "telegram"]))
    person = Person("8080")
    for event in (person.starts("outpatient-booking"), person.says(DISCLOSURE)):
        await platform.inbox.receive(event)
        await platform.inbox.process_pending()
    async with platform.sessionmaker() as session:
        found = await cases.open_cases(session)
        stored = list(await session.scalars(select(Response)))
        payloads = [
            OutboundMessage.from_json(p) for p in await session.scalars(select(OutboxEntry.payload))
        ]
    assert [(c.text, c.reason, c.person_sent) for c in found] == [(DISCLOSURE, "safety", "held")]
    assert stored == []  # not an answer: nothing stored before consent
    assert [m.kind for m in payloads][-1] == "safety"
    async with platform.sessionmaker.begin() as session:
        participant = await queries.find_participant(
            session, "telegram", platform.keyring.pseudonym("telegram", "8080")
        )
        assert participant is not None
        await queries.erase_participant(session, participant.id, actor="cli", channel="telegram")
    async with platform.sessionmaker() as session:
        # The case stays for the moderators, without the person or their words.
        [kept] = await cases.open_cases(session)
    assert (kept.id, kept.text, kept.reason) == (found[0].id, None, "safety")
    assert kept.erased_at is not None


def test_a_resolve_from_the_command_line_while_another_is_under_way_changes_nothing(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A moderator resolves the case on the dashboard while another runs ``engage
    moderation resolve``: the command waits for the first to commit, then says by whom
    it was resolved (exit 2) and stores neither its note nor an audit row."""
    from consultations import moderation
    from tests.waiting import scale

    asyncio.run(_disclose(cli_env))

    async def at_once() -> tuple[int, str, str]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                case_id = await session.scalar(select(ModerationCase.id))
            assert case_id is not None
            async with platform.sessionmaker.begin() as session:
                await moderation.resolve(session, case_id, "mo@health.example", "Called; safe.")
                await session.flush()
                command = asyncio.create_task(
                    asyncio.to_thread(
                        engage, capsys, "moderation", "resolve", str(case_id), "--note", "Later."
                    )
                )
                await asyncio.sleep(0.5 * scale())  # it has read, or is waiting, by now
                assert not command.done()
            return await command
        finally:
            await platform.aclose()

    code, _, err = asyncio.run(at_once())
    assert code == 2
    assert "was already resolved by mo@health.example at " in err

    async def stored() -> tuple[list[ModerationCase], list[str]]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                cases = list(await session.scalars(select(ModerationCase)))
                actions = list(await session.scalars(select(AuditEvent.action)))
                return cases, actions
        finally:
            await platform.aclose()

    cases, actions = asyncio.run(stored())
    assert [(c.status, c.resolved_by, c.note) for c in cases] == [
        ("resolved", "mo@health.example", "Called; safe.")
    ]
    assert actions.count("case.resolve") == 1


def test_launching_and_closing_from_the_command_line_are_audited(
    cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Who opened or closed a consultation, and where it was published, is in the audit
    trail as the moderators' actions are."""
    import getpass

    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(channels=["web", "telegram"])), encoding="utf-8")
    assert engage(capsys, "consultation", "create", str(spec))[0] == 0
    assert engage(capsys, "consultation", "launch", "outpatient-booking")[0] == 0
    assert engage(capsys, "consultation", "close", "outpatient-booking")[0] == 0

    async def trail() -> list[tuple[str, str, str | None, object]]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                rows = await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action.like("consultation.%"))
                    .order_by(AuditEvent.id)
                )
                return [(r.actor, r.action, r.subject, r.detail) for r in rows]
        finally:
            await platform.aclose()

    actor = f"cli:{getpass.getuser()}"
    subject = "consultation:outpatient-booking"
    assert asyncio.run(trail()) == [
        (
            actor,
            "consultation.launch",
            subject,
            {"published": ["web"], "failed": [], "undone": False},
        ),
        (actor, "consultation.close", subject, None),
    ]
