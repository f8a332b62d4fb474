"""Statements held for approval (``moderation: pre``): the CLI and the dashboard decide."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.platform import Platform, create_platform
from channels.events import CONSENT
from consultations import moderation
from storage.tables import AuditEvent, ModerationCase, OutboxEntry, Response, Statement
from tests.bot.test_dashboard import as_role
from tests.bot.test_dashboard_moderation import while_first_is_open
from tests.bot.test_queues import cli_env  # noqa: F401  (fixture)
from tests.fakes.channel import Person
from tests.helpers import engage, launch, statements_spec

IDEAS = ("Have a water fountain in the waiting room", "Play calm music in the waiting room")


async def _add_statements(platform: Platform, ideas: tuple[str, ...] = IDEAS) -> None:
    """Each idea added by a person of its own, under pre-moderation."""
    await launch(platform, statements_spec(moderation="pre"))
    for number, idea in enumerate(ideas):
        person = Person(f"90{number}")
        for event in (
            person.starts("new-clinic"),
            person.answers(CONSENT, "Yes, I agree"),
            person.says(idea),
        ):
            await platform.inbox.receive(event)
            await platform.inbox.process_pending()


async def _statuses(platform: Platform) -> dict[str, str]:
    async with platform.sessionmaker() as session:
        rows = await session.scalars(select(Statement).where(Statement.seed.is_(False)))
        return {s.text: s.status for s in rows}


def test_statements_are_approved_or_rejected_from_the_command_line(
    cli_env: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def added() -> None:
        platform = create_platform(cli_env)
        try:
            await _add_statements(platform)
        finally:
            await platform.aclose()

    async def statuses() -> dict[str, str]:
        platform = create_platform(cli_env)
        try:
            return await _statuses(platform)
        finally:
            await platform.aclose()

    asyncio.run(added())
    assert asyncio.run(statuses()) == dict.fromkeys(IDEAS, "pending")
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert code == 0
    cases = json.loads(out)
    assert [(c["reason"], c["text"], c["due_at"]) for c in cases] == [
        ("statement", idea, None) for idea in IDEAS
    ]
    water, music = (str(c["id"]) for c in cases)

    code, out, _ = engage(capsys, "moderation", "approve", water)
    assert code == 0 and "approved" in out
    code, out, _ = engage(capsys, "moderation", "reject", music, "--note", "off topic")
    assert code == 0
    assert asyncio.run(statuses()) == {IDEAS[0]: "shown", IDEAS[1]: "rejected"}
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    assert json.loads(out) == []
    code, _, err = engage(capsys, "moderation", "approve", music)
    assert code == 2 and "already resolved by cli:" in err
    assert "(the statement was rejected): nothing was changed" in err
    code, _, err = engage(capsys, "moderation", "approve", "nine")
    assert code == 2 and "not a case number" in err


async def test_a_moderator_approves_and_rejects_on_the_dashboard(
    platform: Platform, web_client: Any
) -> None:
    await _add_statements(platform)
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get("/dashboard/moderation")).text()
    assert all(idea in page for idea in IDEAS)
    ids = [int(n) for n in re.findall(r'action="/dashboard/moderation/(\d+)/approve"', page)]
    assert len(ids) == 2
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]

    done = await web_client.post(
        f"/dashboard/moderation/{ids[0]}/approve", data={"csrf": csrf}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"].endswith("done=approved")
    done = await web_client.post(
        f"/dashboard/moderation/{ids[1]}/reject", data={"csrf": csrf}, allow_redirects=False
    )
    assert done.headers["Location"].endswith("done=rejected")
    assert await _statuses(platform) == {IDEAS[0]: "shown", IDEAS[1]: "rejected"}
    async with platform.sessionmaker() as session:
        actions = [e.action for e in await session.scalars(select(AuditEvent))]
    assert "statement.approve" in actions and "statement.reject" in actions

    # A newcomer is now asked about the approved statement, never the rejected one.
    asked = []
    newcomer = Person("999")
    for event in (newcomer.starts("new-clinic"), newcomer.answers(CONSENT, "Yes, I agree")):
        await platform.inbox.receive(event)
        await platform.inbox.process_pending()
    for _ in range(4):
        async with platform.sessionmaker() as session:
            rows = await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id.desc()))
            asked.append(next(iter(rows)).payload["text"])
        await platform.inbox.receive(newcomer.says("pass"))
        await platform.inbox.process_pending()
    assert any(IDEAS[0] in text for text in asked)
    assert not any(IDEAS[1] in text for text in asked)


async def test_a_viewer_cannot_approve(platform: Platform, web_client: Any) -> None:
    await _add_statements(platform)
    await as_role(platform, web_client, "viewer")
    page = await (await web_client.get("/dashboard")).text()
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
    refused = await web_client.post(
        "/dashboard/moderation/1/approve", data={"csrf": csrf}, allow_redirects=False
    )
    assert refused.status == 403
    assert set((await _statuses(platform)).values()) == {"pending"}


async def _statement_cases(platform: Platform) -> list[int]:
    async with platform.sessionmaker() as session:
        return list(
            await session.scalars(
                select(ModerationCase.id)
                .where(ModerationCase.reason == moderation.STATEMENT)
                .order_by(ModerationCase.id)
            )
        )


@pytest.mark.parametrize("first_approves", [True, False])
async def test_two_decisions_at_once_decide_a_statement_once(
    platform: Platform, first_approves: bool
) -> None:
    """Approve and reject at the same moment: the second waits for the first to commit,
    then is told what was decided and by whom, and neither changes the statement nor
    writes an audit row."""
    await _add_statements(platform)
    case_id = (await _statement_cases(platform))[0]

    def deciding(who: str, approve: bool) -> Any:
        async def run(session: Any) -> object:
            return await moderation.decide_statement(session, case_id, who, approve=approve)

        return run

    _, refused = await while_first_is_open(
        platform,
        deciding("first@health.example", first_approves),
        deciding("second@health.example", not first_approves),
    )

    decided = "approved" if first_approves else "rejected"
    statuses = await _statuses(platform)
    assert statuses[IDEAS[0]] == ("shown" if first_approves else "rejected")
    assert statuses[IDEAS[1]] == "pending"
    async with platform.sessionmaker() as session:
        events = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.subject == f"case:{case_id}"))
        )
        case = await session.get(ModerationCase, case_id)
    assert [(e.actor, e.action) for e in events] == [
        ("first@health.example", "statement.approve" if first_approves else "statement.reject")
    ]
    assert case is not None and case.resolved_by == "first@health.example"
    assert isinstance(refused, moderation.AlreadyResolved), refused
    assert (refused.resolved_by, refused.outcome) == ("first@health.example", decided)
    assert f"(the statement was {decided}): nothing was changed" in str(refused)


async def test_a_double_clicked_decision_on_the_dashboard_is_taken_once(
    platform: Platform, web_client: Any
) -> None:
    await _add_statements(platform)
    case_id = (await _statement_cases(platform))[0]
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get("/dashboard/moderation")).text()
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
    first, second = await asyncio.gather(
        *(
            web_client.post(
                f"/dashboard/moderation/{case_id}/{action}",
                data={"csrf": csrf},
                allow_redirects=False,
            )
            for action in ("approve", "reject")
        )
    )
    places = sorted(r.headers["Location"] for r in (first, second))
    late = f"/dashboard/moderation?done=already-resolved&case={case_id}"
    assert late in places
    decided = next(p for p in places if p != late).rpartition("=")[2]
    assert decided in ("approved", "rejected")
    page = await (await web_client.get(late)).text()
    assert (
        f"Case {case_id} was already resolved by moderator@health.example at "
    ) in page and f"(the statement was {decided})" in page
    shown = await _statuses(platform)
    assert shown[IDEAS[0]] == ("shown" if decided == "approved" else "rejected")
    async with platform.sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.subject == f"case:{case_id}")
            )
        )
    assert actions == ["statement.approve" if decided == "approved" else "statement.reject"]


async def test_a_safety_case_takes_no_decision(platform: Platform, web_client: Any) -> None:
    await _add_statements(platform)
    async with platform.sessionmaker.begin() as session:
        case = moderation.open_case(
            session, consultation_id="new-clinic", response_id=None, reason="safety"
        )
        await session.flush()
        case_id = case.id
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get("/dashboard/moderation")).text()
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
    page = await (
        await web_client.post(f"/dashboard/moderation/{case_id}/approve", data={"csrf": csrf})
    ).text()
    assert "That action is not for this kind of case" in page
    async with platform.sessionmaker() as session:
        row = await session.get(ModerationCase, case_id)
    assert row is not None and row.status == "open"


def test_a_repeat_that_waited_beside_its_twin_is_not_approved(
    cli_env: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two people add the same idea while both wait for a moderator (neither may be
    compared with the other's unseen words on arrival). Approving the first shows it;
    approving the second is refused (exit 2, naming the shown statement), so the idea is
    never offered twice with its votes split; rejecting it works as ever."""

    async def added() -> None:
        platform = create_platform(cli_env)
        try:
            await _add_statements(
                platform, ("A hearing loop at the front desk", "a hearing loop at the front desk!")
            )
        finally:
            await platform.aclose()

    async def statuses() -> list[str]:
        platform = create_platform(cli_env)
        try:
            return list((await _statuses(platform)).values())
        finally:
            await platform.aclose()

    asyncio.run(added())
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    first, second = (str(c["id"]) for c in json.loads(out))
    assert engage(capsys, "moderation", "approve", first)[0] == 0
    code, _, err = engage(capsys, "moderation", "approve", second)
    assert code == 2
    assert "too like one already shown" in err and "A hearing loop at the front desk" in err
    assert sorted(asyncio.run(statuses())) == ["pending", "shown"]
    assert engage(capsys, "moderation", "reject", second, "--note", "a repeat")[0] == 0
    assert sorted(asyncio.run(statuses())) == ["rejected", "shown"]


PARKING = "Plus de places de parking pour les patients"  # French: the screen cannot read it
WAITING = "Moins d'attente aux urgences pour les enfants"  # a tentative flag
DISCLOSURE = "I want to kill myself, nobody at the clinic listens"


def test_a_statement_sent_to_review_waits_for_approval_and_a_disclosure_never_shows(
    cli_env: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Under moderation: post, a statement the screen could not read or only tentatively
    flagged waits on its case to be approved (shown) or rejected; one flagged as a
    disclosure is withheld whatever a moderator does."""

    async def added() -> list[str]:
        platform = create_platform(cli_env)
        try:
            data = statements_spec()
            data["language"] = "fr"
            await launch(platform, data)
            for number, idea in enumerate((PARKING, WAITING, DISCLOSURE)):
                person = Person(f"95{number}")
                for event in (
                    person.starts("new-clinic"),
                    person.answers(CONSENT, "Yes, I agree"),
                    person.says(idea),
                ):
                    await platform.inbox.receive(event)
                    await platform.inbox.process_pending()
            async with platform.sessionmaker() as session:
                rows = await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))
                return [row.payload["text"] for row in rows]
        finally:
            await platform.aclose()

    async def statuses() -> dict[str, tuple[str, list[str]]]:
        platform = create_platform(cli_env)
        try:
            async with platform.sessionmaker() as session:
                rows = await session.execute(
                    select(Statement.text, Statement.status, Response.flags).join(
                        Response, Response.id == Statement.response_id
                    )
                )
                return {text: (status, sorted(flags or ())) for text, status, flags in rows}
        finally:
            await platform.aclose()

    said = asyncio.run(added())
    assert (
        said.count(
            "Thank you. A person will read your statement before anything more happens with it."
        )
        == 1
    )  # the French one; the other two got the helplines
    assert asyncio.run(statuses()) == {
        PARKING: ("pending", ["review"]),
        WAITING: ("pending", ["safety"]),
        DISCLOSURE: ("withheld", ["safety"]),
    }
    code, out, _ = engage(capsys, "moderation", "list", "--json")
    cases = {c["text"]: c for c in json.loads(out)}
    assert {text: (c["reason"], c["awaiting_approval"]) for text, c in cases.items()} == {
        PARKING: ("review", True),
        WAITING: ("safety", True),
        DISCLOSURE: ("safety", False),
    }
    # A person must still read each in time: they keep their due time.
    assert all(c["due_at"] is not None for c in cases.values())
    parking, waiting, disclosure = (str(cases[t]["id"]) for t in (PARKING, WAITING, DISCLOSURE))
    code, out, _ = engage(capsys, "moderation", "list")
    assert "approve or reject" in out

    code, _, err = engage(
        capsys, "moderation", "resolve", parking, "--note", "fine", "--not-a-disclosure"
    )
    assert code == 2 and "waiting for approval: approve it" in err
    assert engage(capsys, "moderation", "approve", parking)[0] == 0
    assert engage(capsys, "moderation", "resolve", waiting, "--note", "asked a nurse")[0] == 0
    code, _, err = engage(capsys, "moderation", "approve", disclosure)
    assert code == 2 and "not a statement waiting for approval" in err
    code, _, _ = engage(
        capsys, "moderation", "resolve", disclosure, "--note", "called", "--not-a-disclosure"
    )
    assert code == 0
    assert asyncio.run(statuses()) == {
        PARKING: ("shown", ["released"]),
        WAITING: ("rejected", ["safety"]),
        DISCLOSURE: ("withheld", ["released"]),
    }


async def test_a_statement_sent_to_review_is_approved_on_the_dashboard(
    platform: Platform, web_client: Any
) -> None:
    data = statements_spec()
    data["language"] = "fr"
    await launch(platform, data)
    person = Person("960")
    for event in (
        person.starts("new-clinic"),
        person.answers(CONSENT, "Yes, I agree"),
        person.says(PARKING),
    ):
        await platform.inbox.receive(event)
        await platform.inbox.process_pending()
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get("/dashboard/moderation")).text()
    assert "A statement waiting for approval" in page
    (case_id,) = re.findall(r'action="/dashboard/moderation/(\d+)/approve"', page)
    assert f'action="/dashboard/moderation/{case_id}/acknowledge"' in page
    csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
    done = await web_client.post(
        f"/dashboard/moderation/{case_id}/approve", data={"csrf": csrf}, allow_redirects=False
    )
    assert done.headers["Location"].endswith("done=approved")
    assert await _statuses(platform) == {PARKING: "shown"}
