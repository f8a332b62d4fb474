"""The report's statement-voting section, from votes stored as the runtime stores them."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from bot.platform import Platform
from consultations import reporting, statement_groups
from storage.tables import Consultation, Participant, Response, Statement, utcnow
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


ADDED = (
    "Café with seats for wheelchairs",
    "A quiet room for children",
    "Parking close to the door",
    "Evening appointments for workers",
)


async def store_small_vote(platform: Platform) -> dict[str, tuple[int, int, int]]:
    """11 people, 66 votes on 7 statements (3 seeded, 4 added), and one flagged statement.

    Each person votes on 6 of the 7, so nobody is placed on the opinion map. Returns the
    expected (agree, disagree, pass) of each statement's text.
    """
    await launch(platform, statements_spec())
    async with platform.sessionmaker.begin() as session:
        people = [Participant(channel="web", pseudonym=f"p{n:02d}") for n in range(11)]
        session.add_all(people)
        await session.flush()
        for text in ADDED:
            session.add(
                Statement(
                    consultation_id="new-clinic",
                    item_id="ideas",
                    participant_id=people[0].id,
                    text=text,
                    created_at=utcnow(),
                )
            )
        flagged = Statement(
            consultation_id="new-clinic",
            item_id="ideas",
            participant_id=people[1].id,
            text="Words of a disclosure",
            status="withheld",
            created_at=utcnow(),
        )
        session.add(flagged)
        await session.flush()
        statements = list(
            await session.scalars(select(Statement).where(Statement.status == "shown"))
        )
        assert len(statements) == 7
        expected = {s.text: [0, 0, 0] for s in statements}
        for n, person in enumerate(people):
            for k, statement in enumerate(statements):
                if k == n % 7:
                    continue  # everyone skips one statement: 6 votes each
                vote = (1, 1, -1, 0)[(n + k) % 4] if k else 1
                expected[statement.text][(1, -1, 0).index(vote)] += 1
                session.add(
                    Response(
                        consultation_id="new-clinic",
                        item_id="ideas",
                        item_type="vote",
                        participant_id=person.id,
                        channel="web",
                        choices=[WORDS[vote]],
                        in_reply_to=f"statement:{statement.id}",
                    )
                )
            session.add(
                Response(
                    consultation_id="new-clinic",
                    item_id="ideas",
                    item_type="vote",
                    participant_id=person.id,
                    channel="web",
                    choices=["agree"],
                    in_reply_to=f"statement:{flagged.id}",
                )
            )
    return {text: (a, d, p) for text, (a, d, p) in expected.items()}


async def test_every_statement_is_tallied_when_there_are_too_few_voters_for_groups(
    platform: Platform,
) -> None:
    expected = await store_small_vote(platform)
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "new-clinic", fmt="json"))
        markdown = await reporting.render(session, "new-clinic", fmt="md")
        page = await reporting.render(session, "new-clinic", fmt="html")

    assert report["opinion_groups"] == [] and report["opinions"]["reason"]
    tally = report["statement_votes"]
    assert (tally["voters"], tally["votes"]) == (11, 66)
    assert tally["added_by_participants"] == 4
    assert tally["flagged"] == 1 and tally["not_shown"]["withheld"] == 1
    got = {s["text"]: (s["agree"], s["disagree"], s["pass"]) for s in tally["statements"]}
    assert got == expected
    by_text = {s["text"]: s for s in tally["statements"]}
    assert {t for t, s in by_text.items() if s["added_by"] == "participant"} == set(ADDED)
    first = tally["statements"][0]
    assert first["agree_share"] == round(first["agree"] / first["votes"], 4)
    shares = [s["agree_share"] for s in tally["statements"]]
    assert shares == sorted(shares, reverse=True)
    # Nothing names who added a statement, and the flagged one is never shown.
    assert all(set(s) >= {"statement", "text", "added_by"} for s in tally["statements"])
    assert not any(f"p{n:02d}" in json.dumps(tally) for n in range(11))
    for text in (markdown, page, json.dumps(report, ensure_ascii=False)):
        assert "Words of a disclosure" not in text

    assert "## Statement votes" in markdown
    assert "66 votes from 11 participants on 7 statements (4 added by participants)" in markdown
    assert "1 statement flagged for safety follow-up is counted here and never shown" in markdown
    a, d, p = expected["Parking close to the door"]
    n = a + d + p
    row = (
        f"| Parking close to the door | a participant | {n} | {a} ({a / n:.0%}) "
        f"| {d} ({d / n:.0%}) | {p} ({p / n:.0%}) |"
    )
    assert row in markdown
    assert "<h2>Statement votes</h2>" in page
    assert "<td>Café with seats for wheelchairs</td><td>a participant</td>" in page


async def test_the_plan_summary_lists_the_statements_most_agreed_with(
    platform: Platform,
) -> None:
    expected = await store_small_vote(platform)
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "new-clinic", fmt="json", stage="plan"))
        markdown = await reporting.render(session, "new-clinic", fmt="md", stage="plan")
    share = {
        text: round(a / (a + d + p), 4)
        for text, (a, d, p) in expected.items()
        if a + d + p >= 5 and a > d
    }
    agreed = report["stage_summary"]["plan"]["agreed_statements"]
    # The five best agree shares, most agreed first (ties in any order), each right.
    assert [s["agree_share"] for s in agreed] == sorted(share.values(), reverse=True)[:5]
    assert all(share[s["text"]] == s["agree_share"] for s in agreed)
    assert all(s["votes"] >= 5 for s in agreed)
    assert "### Statements most agreed with" in markdown
    first = agreed[0]
    assert f"- {first['text']} ({first['agree_share']:.0%} of {first['votes']} agree" in markdown
    assert "Words of a disclosure" not in json.dumps(agreed)


async def test_statements_in_the_html_report_are_marked_with_the_consultations_language(
    platform: Platform,
) -> None:
    """The statements are the consultation's own words: on the English report a Welsh
    consultation's are marked as Welsh; the rest of each row stays English."""
    await store_small_vote(platform)
    async with platform.sessionmaker.begin() as session:
        row = await session.get(Consultation, "new-clinic")
        assert row is not None
        row.spec = {**row.spec, "language": "cy"}
    async with platform.sessionmaker() as session:
        page = await reporting.render(session, "new-clinic", fmt="html")
    assert '<td lang="cy">Café with seats for wheelchairs</td><td>a participant</td>' in page
