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
from storage.tables import AuditEvent, OutboxEntry, Statement
from tests.bot.test_dashboard import as_role
from tests.bot.test_queues import cli_env  # noqa: F401  (fixture)
from tests.fakes.channel import Person
from tests.helpers import engage, launch, statements_spec

IDEAS = ("Have a water fountain in the waiting room", "Play calm music in the waiting room")


async def _add_statements(platform: Platform) -> None:
    await launch(platform, statements_spec(moderation="pre"))
    for number, idea in enumerate(IDEAS):
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
    assert code == 2 and "already resolved" in err
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
