"""The report's statement-voting section, from votes stored as the runtime stores them."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from bot.platform import Platform
from consultations import reporting, statement_groups
from storage.tables import Participant, Response, Statement, utcnow
from tests.helpers import launch, statements_spec
from tests.insights.opinion_fixture import planted_votes

WORDS = {1: "agree", -1: "disagree", 0: "pass"}


async def store_votes(platform: Platform) -> dict[str, int]:
    """Planted groups of 30, 30 and 3 voting on 20 seeded statements; returns truth."""
    planted = planted_votes(group_sizes=(30, 30, 3), statements=20, consensus=3, seed=4)
    seed = tuple(planted.texts[s] for s in sorted(planted.texts))
    await launch(platform, statements_spec(seed=seed))
    async with platform.sessionmaker.begin() as session:
        rows = await session.scalars(select(Statement))
        by_text = {s.text: s.id for s in rows}
        hidden = Statement(
            consultation_id="new-clinic",
            item_id="ideas",
            text="A statement nobody was shown",
            status="rejected",
            created_at=utcnow(),
        )
        session.add(hidden)
        people = {pid: Participant(channel="web", pseudonym=pid) for pid in planted.truth}
        session.add_all(people.values())
        await session.flush()
        for pid, statement, vote in planted.votes:
            session.add(
                Response(
                    consultation_id="new-clinic",
                    item_id="ideas",
                    item_type="vote",
                    participant_id=people[pid].id,
                    channel="web",
                    choices=[WORDS[vote]],
                    in_reply_to=f"statement:{by_text[planted.texts[statement]]}",
                )
            )
        for person in list(people.values())[:10]:
            session.add(
                Response(
                    consultation_id="new-clinic",
                    item_id="ideas",
                    item_type="vote",
                    participant_id=person.id,
                    channel="web",
                    choices=["agree"],
                    in_reply_to=f"statement:{hidden.id}",
                )
            )
    return planted.truth


async def test_groups_consensus_and_others_in_every_format(platform: Platform) -> None:
    truth = await store_votes(platform)
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "new-clinic", fmt="json"))
        markdown = await reporting.render(session, "new-clinic", fmt="md")
        page = await reporting.render(session, "new-clinic", fmt="html")

    groups = report["opinion_groups"]
    assert len(groups) == 2
    for group in groups:
        assert group["size"] == len(group["participants"]) >= 5
        planted = [truth[p] for p in group["participants"]]
        assert max(planted.count(g) for g in (0, 1)) >= 30  # each is one planted group
        assert group["representative"]
    # The three are never a group of their own: in a big group's edge, or "others".
    others = report["opinions"]["others"]
    assert sum(g["size"] for g in groups) + others == 63
    consensus = {c["text"] for c in report["consensus"]}
    assert {"Statement s000", "Statement s001", "Statement s002"} <= consensus
    assert "A statement nobody was shown" not in json.dumps(report)
    assert report["opinions"]["statements"] == 20

    assert "## Opinion groups" in markdown
    assert f"### Group A: {groups[0]['size']} participants" in markdown
    assert ("in no group of at least 5" in markdown) == (others > 0)
    assert "What every group agrees with" in markdown

    assert "<h2>Opinion groups</h2>" in page
    svg = re.search(r"<svg .*?</svg>", page, re.S)
    assert svg is not None and "<script" not in page
    assert svg.group(0).count('fill="#0072B2"') + svg.group(0).count('fill="#D55E00"') >= 60
    assert not any(pid in svg.group(0) for pid in truth)  # nobody named on the map


async def test_a_report_without_statements_has_empty_lists_and_no_section(
    platform: Platform,
) -> None:
    await launch(platform)
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
        markdown = await reporting.render(session, "outpatient-booking", fmt="md")
    assert report["opinion_groups"] == [] and report["consensus"] == []
    assert "opinions" not in report and "Opinion groups" not in markdown


async def test_too_few_votes_say_why_there_are_no_groups(platform: Platform) -> None:
    await launch(platform, statements_spec())
    async with platform.sessionmaker() as session:
        markdown = await reporting.render(session, "new-clinic", fmt="md")
        page = await reporting.render(session, "new-clinic", fmt="html")
    assert "No opinion groups: No votes yet." in markdown
    assert "Not enough votes for a map" in page


async def test_the_background_refresh_stores_how_groups_split_each_statement(
    platform: Platform,
) -> None:
    await store_votes(platform)
    updated = await statement_groups.refresh_open(platform.sessionmaker)
    assert updated == 20
    async with platform.sessionmaker() as session:
        splits = {
            s.text: s.split for s in await session.scalars(select(Statement)) if s.split is not None
        }
    consensus = [splits[f"Statement s00{n}"] for n in range(3)]
    divisive = sorted(
        v for t, v in splits.items() if t not in {f"Statement s00{n}" for n in range(3)}
    )
    # Planted consensus statements hardly split the groups; the most divisive split them well.
    assert max(consensus) < 0.2 < 0.5 < divisive[-1]
