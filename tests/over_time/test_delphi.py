"""Delphi rounds in the core: invitations once, round-aware answers, export and report."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.outbox import OutboxSender
from bot.platform import Platform
from bot.timeline import Timeline
from channels.events import CONSENT
from consultations import records, reporting, service
from consultations.texts import texts_for
from storage.tables import OutboxEntry, PollTally, Response
from tests.bot.test_runtime import deliver, send_all
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import form_fields, launch
from tests.over_time.helpers import OPTIONS, after, delphi_spec, opened_at, rows, timed_spec

CID = "evening-clinics"


async def answer_round_one(platform: Platform, people: list[Person], choices: list[str]) -> None:
    for person, choice in zip(people, choices, strict=True):
        await deliver(platform, person.starts(CID))
        await deliver(platform, person.answers(CONSENT, "Yes, I agree"))
        await deliver(platform, person.answers("priority", choice))


async def launch_with_round_two_in_quiet_hours(platform: Platform) -> dict[str, str]:
    """Launch with quiet hours from an hour before round 2 opens (48 hours from now) to
    two hours after; returns them."""
    opens = datetime.now(UTC) + timedelta(hours=48)
    quiet = {
        "start": (opens - timedelta(hours=1)).strftime("%H:%M"),
        "end": (opens + timedelta(hours=2)).strftime("%H:%M"),
    }
    await launch(platform, delphi_spec(quiet_hours=quiet, timezone="UTC"))
    return quiet


async def export(platform: Platform) -> list[dict[str, Any]]:
    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, CID, out, "json")
    return list(json.loads(out.getvalue()))


async def test_round_two_goes_privately_to_round_one_respondents_once(
    platform: Platform,
) -> None:
    await launch(platform, delphi_spec())
    channel = FakeChannel()
    people = [Person(f"70{i}") for i in range(10)]
    await answer_round_one(platform, people, ["Important"] * 6 + ["Neutral"] * 4)
    late = Person("799")  # consents but never answers round 1
    await deliver(platform, late.starts(CID), late.answers(CONSENT, "Yes, I agree"))
    gone = Person("798")  # answers round 1, then leaves
    await answer_round_one(platform, [gone], ["Essential"])
    await deliver(platform, gone.says("STOP"))
    await send_all(platform, channel)
    channel.sent.clear()

    start = await opened_at(platform, CID)
    early = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 47)).tick()
    assert early.invited == {}  # the gap has not passed

    # Two workers tick at the same moment: the round opens once.
    workers = [
        Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 49)) for _ in range(2)
    ]
    ticks = await asyncio.gather(*(w.tick() for w in workers))
    assert sorted(t.invited.get(f"{CID}/priority/2", -1) for t in ticks) == [-1, 10]
    again = await workers[0].tick()
    assert again.invited == {}
    await send_all(platform, channel)

    invited = {address["chat"] for address, _ in channel.sent}
    assert invited == {p.platform_id for p in people}  # not the late one, not the leaver
    [message] = channel.to({"chat": "700"})
    assert message.question == "priority" and message.options == tuple(OPTIONS)
    assert "Round 2 of 2" in message.text
    assert "Important: 55%" in message.text and "Neutral: 36%" in message.text
    assert "Your answer was: Important." in message.text
    keys = [row.idempotency_key for row in await rows(platform, OutboxEntry)]
    assert len(keys) == len(set(keys))

    # Round 2: five move towards the first option, five keep their answer; one typed.
    for person in people[:5]:
        await deliver(platform, person.answers("priority", "Essential"))
    for person in people[5:9]:
        await deliver(
            platform,
            person.answers("priority", "Important" if person.platform_id == "705" else "Neutral"),
        )
    await deliver(platform, people[9].says("3"))  # Neutral, typed as the option's number
    # The late one is not on the panel: nothing stored for round 2.
    await deliver(platform, late.answers("priority", "Essential"))

    exported = [r for r in await export(platform) if r["item"] == "priority"]
    assert sorted((r["round"], r["choices"][0]) for r in exported).count((2, "Essential")) == 5
    assert {r["round"] for r in exported} == {1, 2}
    assert len([r for r in exported if r["round"] == 2]) == 10
    assert len([r for r in exported if r["round"] == 1]) == 11

    async with platform.sessionmaker() as session:
        report = await reporting.build(session, CID)
    [delphi] = report["delphi"]
    one, two = delphi["by_round"]
    assert (one["n"], two["n"]) == (11, 10)
    assert {o["label"]: o["count"] for o in two["options"]}["Essential"] == 5
    [move] = delphi["movement"]
    assert move == {
        "from_round": 1,
        "to_round": 2,
        "both": 10,
        "changed": 5,
        "unchanged": 5,
        "towards_first": 5,
        "towards_last": 0,
        "suppressed": False,
    }
    # Round 2: 5 Essential + 1 Important = 60% in the top pair, 4 Neutral: no consensus.
    assert delphi["consensus"]["round"] == 2 and not delphi["consensus"]["reached"]
    assert delphi["stability"] == {"rounds": [1, 2], "share_unchanged": 0.5, "stable": False}
    assert "70%" in delphi["rules"]["consensus"]


async def test_consensus_stability_and_small_movement_hidden(platform: Platform) -> None:
    await launch(platform, delphi_spec())
    people = [Person(f"71{i}") for i in range(8)]
    await answer_round_one(platform, people, ["Essential"] * 4 + ["Important"] * 3 + ["Not needed"])
    start = await opened_at(platform, CID)
    await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()
    for person in people[:7]:  # unchanged
        choice = "Essential" if int(person.platform_id[-1]) < 4 else "Important"
        await deliver(platform, person.answers("priority", choice))
    await deliver(platform, people[7].answers("priority", "Important"))  # one moves up

    async with platform.sessionmaker() as session:
        report = await reporting.build(session, CID)
    [delphi] = report["delphi"]
    assert delphi["by_round"][1]["consensus"] == {
        "reached": True,
        "share": 1.0,
        "options": ["Essential", "Important"],
    }
    [move] = delphi["movement"]
    assert move["both"] == 8 and move["suppressed"] is True
    assert move["changed"] is None and move["towards_first"] is None
    assert delphi["stability"]["stable"] is None  # not shown: its line is hidden
    hidden = [s for s in report["suppressed"] if s["section"] == "delphi.movement"]
    assert [(s["item"], s["round"]) for s in hidden] == [("priority", 2)]
    async with platform.sessionmaker() as session:
        markdown = await reporting.render(session, CID, fmt="md")
        html = await reporting.render(session, CID, fmt="html")
    assert "## Delphi rounds: How important are evening clinics to you?" in markdown
    assert "Consensus (rule: at least 70%" in markdown and "reached in round 2" in markdown
    # Answered, but hidden with its small counts: not "not known yet".
    assert "hidden with the small counts it rests on." in markdown
    assert "Delphi rounds: How important are evening clinics to you?" in html
    assert "Movement between rounds" in html


async def test_the_web_page_shows_the_new_round_when_the_person_returns(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    await launch(platform, delphi_spec(channels=["web"]))
    page = await (await web_client.get(f"/c/{CID}")).text()
    consent = form_fields(page, f"/c/{CID}/consent")
    page = await (
        await web_client.post(f"/c/{CID}/consent", data={**consent, "answer": "yes"})
    ).text()
    answers = form_fields(page, f"/c/{CID}/answers")
    page = await (
        await web_client.post(f"/c/{CID}/answers", data={**answers, "item:priority": "Neutral"})
    ).text()
    assert "Round 2" not in page

    start = await opened_at(platform, CID)
    tick = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()
    assert tick.invited == {f"{CID}/priority/2": 0}  # web people are asked when they return

    page = await (await web_client.get(f"/c/{CID}")).text()
    assert "Round 2 of 2" in page and "Your answer was: Neutral." in page
    assert "Neutral: 100%" in page
    answers = form_fields(page, f"/c/{CID}/answers")
    page = await (
        await web_client.post(f"/c/{CID}/answers", data={**answers, "item:priority": "Important"})
    ).text()
    assert "Round 2 of 2" not in page
    stored = await rows(platform, Response, Response.item_id == "priority")
    assert sorted((r.round, r.choices[0]) for r in stored) == [(1, "Neutral"), (2, "Important")]


async def test_the_web_page_shows_a_timed_question_only_from_its_time(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=15)  # Q1 is due, Q2 in five minutes
    await launch(platform, timed_spec(start, channels=["web"]))
    page = await (await web_client.get("/c/clinic-chat")).text()
    consent = form_fields(page, "/c/clinic-chat/consent")
    page = await (
        await web_client.post("/c/clinic-chat/consent", data={**consent, "answer": "yes"})
    ).text()
    assert "What is the waiting room like?" in page
    assert "How was parking?" not in page
    answers = form_fields(page, "/c/clinic-chat/answers")
    # A form edited by hand to answer Q2 before its time: Q1 is stored, Q2 is not.
    await web_client.post(
        "/c/clinic-chat/answers",
        data={**answers, "item:waiting": "Quiet and clean", "item:parking": "Early"},
    )
    [stored] = await rows(platform, Response)
    assert (stored.item_id, stored.text) == ("waiting", "Quiet and clean")


async def test_the_web_page_does_not_say_goodbye_while_a_timed_question_is_to_come(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=15)  # Q1 is due, Q2 in five minutes
    await launch(platform, timed_spec(start, channels=["web"], closing_message="Goodbye now."))
    page = await (await web_client.get("/c/clinic-chat")).text()
    consent = form_fields(page, "/c/clinic-chat/consent")
    page = await (
        await web_client.post("/c/clinic-chat/consent", data={**consent, "answer": "yes"})
    ).text()
    answers = form_fields(page, "/c/clinic-chat/answers")
    page = await (
        await web_client.post(
            "/c/clinic-chat/answers", data={**answers, "item:waiting": "Quiet and clean"}
        )
    ).text()
    assert "Quiet and clean" in page
    # Q2 comes in five minutes: the closing words would tell the person they are done.
    assert "Goodbye now." not in page
    assert "How was parking?" not in page
    # Instead the page says when the next question comes, in the consultation's time zone.
    parking = start + timedelta(minutes=20)
    assert f"The next question is shown here from {parking:%Y-%m-%d %H:%M} (UTC)." in page


async def test_the_web_page_says_when_the_next_timed_question_comes_in_its_zone_and_words(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    start = datetime(2026, 12, 5, 22, 0, tzinfo=UTC) - timedelta(days=3650)
    # Q1 long past; Q2 moved far ahead, at 09:30 on a Sydney morning (22:30 UTC the day before).
    data = timed_spec(start, channels=["web"], timezone="Australia/Sydney", language="cy")
    data["items"][1]["at"] = "2036-03-01T22:30:00+00:00"
    await launch(platform, data)
    page = await (await web_client.get("/c/clinic-chat")).text()
    consent = form_fields(page, "/c/clinic-chat/consent")
    page = await (
        await web_client.post("/c/clinic-chat/consent", data={**consent, "answer": "yes"})
    ).text()
    assert "Dangosir y cwestiwn nesaf yma o 2036-03-02 09:30 (Australia/Sydney)." in page


async def test_the_csv_export_has_a_round_column_for_delphi_consultations(
    platform: Platform,
) -> None:
    await launch(platform, delphi_spec())
    await answer_round_one(platform, [Person("760")], ["Neutral"])
    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, CID, out, "csv")
    header, row = out.getvalue().splitlines()
    assert header.split(",")[-1] == "round" and row.split(",")[-1] == "1"


async def test_nothing_is_asked_after_the_consultation_closes(platform: Platform) -> None:
    start = datetime.now(UTC)
    data = delphi_spec(closes_at=(start + timedelta(hours=24)).isoformat())
    await launch(platform, data)
    await answer_round_one(platform, [Person("770")], ["Neutral"])
    opened = await opened_at(platform, CID)
    tick = await Timeline(platform.sessionmaker, platform.keyring, clock=after(opened, 49)).tick()
    assert tick.invited == {}
    assert [r.round for r in await rows(platform, Response)] == [1]


async def test_round_three_goes_only_to_round_two_respondents(platform: Platform) -> None:
    await launch(platform, delphi_spec(rounds=3))
    channel = FakeChannel()
    ana, ben = Person("780"), Person("781")
    await answer_round_one(platform, [ana, ben], ["Neutral", "Important"])
    start = await opened_at(platform, CID)
    second = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()
    assert second.invited == {f"{CID}/priority/2": 2}
    await deliver(platform, ana.answers("priority", "Important"))  # Ben skips round 2
    third = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 96)).tick()
    assert third.invited == {f"{CID}/priority/3": 1}
    await send_all(platform, channel)
    [last] = [m for m in channel.to({"chat": "780"}) if "Round 3" in m.text]
    assert "Round 3 of 3" in last.text and "Your answer was: Important." in last.text
    assert not [m for m in channel.to({"chat": "781"}) if "Round 3" in m.text]
    await deliver(platform, ben.answers("priority", "Essential"))  # too late for round 2
    await deliver(platform, ana.answers("priority", "Essential"))
    stored = sorted((r.round, r.choices[0]) for r in await rows(platform, Response))
    assert stored == [(1, "Important"), (1, "Neutral"), (2, "Important"), (3, "Essential")]


async def test_a_round_opening_in_the_quiet_hours_is_asked_when_they_end(
    platform: Platform,
) -> None:
    quiet = await launch_with_round_two_in_quiet_hours(platform)
    channel = FakeChannel()
    await answer_round_one(platform, [Person("790")], ["Neutral"])
    await send_all(platform, channel)
    channel.sent.clear()

    start = await opened_at(platform, CID)
    tick = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()
    assert tick.invited == {f"{CID}/priority/2": 1}
    [row] = await rows(platform, OutboxEntry, OutboxEntry.idempotency_key.like("round:%"))
    assert row.quiet_hours == {**quiet, "timezone": "UTC"}
    quiet_end = datetime.combine(
        (start + timedelta(hours=48)).date(), time.fromisoformat(quiet["end"]), tzinfo=UTC
    )
    if quiet_end <= start + timedelta(hours=48):
        quiet_end += timedelta(days=1)
    assert row.next_attempt_at.replace(tzinfo=UTC) == quiet_end

    # A sender living in the quiet hours sends nothing, even once the row is claimed.
    moment = start + timedelta(hours=48, minutes=30)
    sender = OutboxSender(
        platform.sessionmaker, platform.keyring, {channel.name: channel}, clock=lambda: moment
    )
    assert await sender.run_once(channel.name) == 0
    assert channel.sent == []
    moment = quiet_end
    assert await sender.run_once(channel.name) == 1
    [message] = channel.to({"chat": "790"})
    assert "Round 2 of 2" in message.text


async def test_the_web_page_offers_no_change_in_a_round_the_person_is_not_part_of(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    await launch(platform, delphi_spec(rounds=3, channels=["web"]))
    english = texts_for("en")
    page = await (await web_client.get(f"/c/{CID}")).text()
    consent = form_fields(page, f"/c/{CID}/consent")
    page = await (
        await web_client.post(f"/c/{CID}/consent", data={**consent, "answer": "yes"})
    ).text()
    answers = form_fields(page, f"/c/{CID}/answers")
    await web_client.post(f"/c/{CID}/answers", data={**answers, "item:priority": "Neutral"})

    # Round 2 opens and passes unanswered; round 3 is only for round 2's respondents.
    start = await opened_at(platform, CID)
    for hours in (48, 96):
        await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, hours)).tick()
    page = await (await web_client.get(f"/c/{CID}")).text()
    closed = english("web_round_not_yours", number=3, rounds=3)
    assert html.escape(closed, quote=True) in page
    assert english("web_change_hint") not in page
    # The earlier answer is shown, but not to change: its controls are disabled.
    assert "<fieldset disabled>" in page
    assert re.search(r'value="Neutral" checked', page)

    # A change posted from a page opened earlier is not stored, and says why.
    answers = form_fields(page, f"/c/{CID}/answers")
    page = await (
        await web_client.post(f"/c/{CID}/answers", data={**answers, "item:priority": "Essential"})
    ).text()
    assert html.escape(closed, quote=True) in page
    assert english("thanks") not in page
    assert re.search(r'value="Neutral" checked', page)
    stored = await rows(platform, Response, Response.item_id == "priority")
    assert [(r.round, r.choices) for r in stored] == [(1, ["Neutral"])]


async def test_anonymous_votes_count_in_round_one_and_in_participation(
    platform: Platform,
) -> None:
    """The launch's anonymous polls (a Telegram group's, a Mastodon status's) are round 1's
    question on those channels: their votes count in round 1's n, its options and its
    consensus, and in the participation figures that say they include them."""
    await launch(platform, delphi_spec())
    people = [Person(f"72{i}") for i in range(3)]
    await answer_round_one(platform, people, ["Neutral", "Neutral", "Not needed"])
    async with platform.sessionmaker.begin() as session:
        counts = {"Essential": 6, "Important": 3, "Neutral": 0, "Unimportant": 0}
        session.add(
            PollTally(
                consultation_id=CID,
                item_id="priority",
                channel="mastodon",
                platform_ref="109",
                counts={**counts, "Not needed": 1},
            )
        )
    async with platform.sessionmaker() as session:
        report = await reporting.build(session, CID)
    [delphi] = report["delphi"]
    first, second = delphi["by_round"]
    assert (first["n"], first["per_person"], first["anonymous_votes"]) == (13, 3, 10)
    assert {o["label"]: o["count"] for o in first["options"]} == {
        "Essential": 6,
        "Important": 3,
        "Neutral": 2,
        "Unimportant": 0,
        "Not needed": 2,
    }
    assert first["consensus"] == {
        "reached": False,
        "share": round(9 / 13, 4),
        "options": ["Essential", "Important"],
    }
    assert (second["n"], second["anonymous_votes"]) == (0, 0)
    participation = report["participation"]
    assert (participation["responses"], participation["participants"]) == (3, 3)
    assert participation["anonymous_votes"] == 10
    assert participation["responses_with_anonymous_votes"] == 13
    assert "delphi.by_round.n" in participation["anonymous_votes_counted_in"]
    assert "participation.responses" not in participation["anonymous_votes_counted_in"]
    [poll] = report["polls"]
    assert poll["n"] == 13
    async with platform.sessionmaker() as session:
        markdown = await reporting.render(session, CID, fmt="md")
        page = await reporting.render(session, CID, fmt="html")
    note = "Also 10 votes in anonymous polls, known only as totals (13 responses with them)."
    assert note in markdown and note in page


async def tally(platform: Platform, counts: dict[str, int]) -> None:
    """A Mastodon status's anonymous totals for the launch's poll: round 1's."""
    async with platform.sessionmaker.begin() as session:
        session.add(
            PollTally(
                consultation_id=CID,
                item_id="priority",
                channel="mastodon",
                platform_ref="109",
                counts=counts,
            )
        )


async def test_round_two_shows_round_one_as_the_report_counts_it(platform: Platform) -> None:
    """What round 2 shows of how the group answered last round counts the anonymous
    polls' votes, as the report's round 1 does: the same people, the same shares."""
    await launch(platform, delphi_spec())
    channel = FakeChannel()
    people = [Person(f"73{i}") for i in range(3)]
    await answer_round_one(platform, people, ["Neutral", "Neutral", "Not needed"])
    await tally(platform, {"Essential": 6, "Important": 3, "Not needed": 1})
    await send_all(platform, channel)
    channel.sent.clear()

    start = await opened_at(platform, CID)
    await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 49)).tick()
    await send_all(platform, channel)
    [message] = channel.to({"chat": "730"})
    async with platform.sessionmaker() as session:
        report = await reporting.build(session, CID)
    first = report["delphi"][0]["by_round"][0]
    assert first["n"] == 13
    assert "Last round, 13 people answered:" in message.text
    for option in first["options"]:
        assert f"- {option['label']}: {round(100 * option['share'])}%" in message.text
    assert "Essential: 46%" in message.text and "Neutral: 15%" in message.text
    assert "Your answer was: Neutral." in message.text


async def test_the_web_page_shows_round_one_as_the_report_counts_it(
    platform: Platform, web_client: TestClient[Any, Any]
) -> None:
    await launch(platform, delphi_spec(channels=["web"]))
    page = await (await web_client.get(f"/c/{CID}")).text()
    consent = form_fields(page, f"/c/{CID}/consent")
    page = await (
        await web_client.post(f"/c/{CID}/consent", data={**consent, "answer": "yes"})
    ).text()
    answers = form_fields(page, f"/c/{CID}/answers")
    await web_client.post(f"/c/{CID}/answers", data={**answers, "item:priority": "Neutral"})
    await tally(platform, {"Essential": 3})
    start = await opened_at(platform, CID)
    await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()

    page = html.unescape(await (await web_client.get(f"/c/{CID}")).text())
    assert "Last round, 4 people answered:" in page
    assert "Essential: 75%" in page and "Neutral: 25%" in page


async def test_a_rounds_questions_give_way_to_replies_and_are_dropped_when_it_closes(
    platform: Platform,
) -> None:
    # A round's question goes to many people on the service's initiative, as an
    # invitation does: replies to people go first, and closing the consultation cancels
    # the round's questions still waiting (here held by the quiet hours).
    await launch_with_round_two_in_quiet_hours(platform)
    channel = FakeChannel()
    people = [Person(f"60{i}") for i in range(3)]
    await answer_round_one(platform, people, ["Neutral", "Important", "Essential"])
    await send_all(platform, channel)
    channel.sent.clear()

    start = await opened_at(platform, CID)
    tick = await Timeline(platform.sessionmaker, platform.keyring, clock=after(start, 48)).tick()
    assert tick.invited == {f"{CID}/priority/2": 3}
    waiting = await rows(platform, OutboxEntry, OutboxEntry.idempotency_key.like("round:%"))
    assert len(waiting) == 3 and all(row.bulk for row in waiting)

    async with platform.sessionmaker.begin() as session:
        await service.close(session, CID)
    states = {
        r.status
        for r in await rows(platform, OutboxEntry, OutboxEntry.idempotency_key.like("round:%"))
    }
    assert states == {"cancelled"}
    await send_all(platform, channel)
    assert not [m for _, m in channel.sent if "Round 2" in m.text]
