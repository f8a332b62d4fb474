"""Reports read from the store: channels merged, cycles compared, small cells hidden."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime

from sqlalchemy import select, update

from bot.platform import Platform
from channels.events import CONSENT, EventKind, InboundEvent
from consultations import reporting, service
from consultations.insights import build_report
from storage.tables import PollTally, Response
from tests.helpers import launch, spec_data


def _answer(person: str, consultation: str, n: int, **values: object) -> InboundEvent:
    return InboundEvent(
        channel="web",
        event_id=f"{consultation}-{person}-{n}",
        sender=person,
        kind=EventKind.ANSWER,
        consultation_id=consultation,
        **values,  # type: ignore[arg-type]
    )


async def _people_answer(
    platform: Platform, consultation: str, answers: list[tuple[str, str, str]]
) -> None:
    """Each (role, ease, comment) is one person giving consent and answering."""
    for index, (role, ease, comment) in enumerate(answers):
        person = f"{consultation}-p{index}"
        await platform.runtime.handle_now(
            _answer(person, consultation, 0, item_id=CONSENT, choices=("yes",)),
            _answer(person, consultation, 1, item_id="role", choices=(role,)),
            _answer(person, consultation, 2, item_id="ease", choices=(ease,)),
            _answer(person, consultation, 3, item_id="one-thing", text=comment),
        )


def _cycle(consultation: str, cycle: int) -> dict[str, object]:
    return spec_data(
        id=consultation,
        channels=["web", "mastodon"],
        qi={"project": "Outpatient booking redesign", "stage": "study", "cycle": cycle},
    )


async def test_study_report_merges_channels_compares_cycles_and_suppresses(
    platform: Platform,
) -> None:
    await launch(platform, _cycle("booking-c1", 1))
    await _people_answer(
        platform,
        "booking-c1",
        [("Patient", "Hard", "Nobody answered the phone for an hour")] * 6
        + [("Carer", "Easy", "The online form was quick")] * 2,
    )
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "booking-c1")

    await launch(platform, _cycle("booking-c2", 2))
    await _people_answer(
        platform,
        "booking-c2",
        [("Patient", "Easy", "Booking online took two minutes, great")] * 6
        + [("Staff", "Hard", "The phone line is still always busy")] * 3,
    )
    async with platform.sessionmaker.begin() as session:
        session.add(
            PollTally(
                consultation_id="booking-c2",
                item_id="ease",
                channel="mastodon",
                platform_ref="109",
                counts={"Very easy": 4, "Easy": 5, "Neither": 0, "Hard": 1, "Very hard": 0},
                final=False,
                taken_at=datetime.now(UTC),
            )
        )

    async with platform.sessionmaker() as session:
        text = await reporting.render(
            session,
            "booking-c2",
            fmt="json",
            changes=reporting.parse_changes([f"{date.today().isoformat()}=Online booking"]),
        )
    report = json.loads(text)

    assert report["stage"] == "study"
    ease = next(p for p in report["polls"] if p["item"] == "ease")
    counts = {o["label"]: o["count"] for o in ease["options"]}
    assert counts == {"Very easy": 4, "Easy": 11, "Neither": 0, "Hard": 4, "Very hard": 0}
    assert ease["n"] == 19
    for option in ease["options"]:
        assert 0 <= option["ci_low"] <= option["share"] <= option["ci_high"] <= 1

    # the Staff group (3 people) is too small to show in segment breakdowns
    assert report["suppressed"]
    assert report["participation"]["by_channel"]["web"]["participants"] == 9

    assert [c["cycle"] for c in report["comparison"]["cycles"]] == [1, 2]
    assert report["comparison"]["baseline_cycle"] == 1
    # Cycle 1 has no baseline: a later cycle is not one (it said "change since cycle 2").
    async with platform.sessionmaker() as session:
        first = json.loads(await reporting.render(session, "booking-c1", fmt="json"))
    assert first["comparison"]["cycles"] == []
    assert "baseline_cycle" not in first["comparison"]
    assert report["run_charts"]
    assert report["run_charts"][0]["changes"] == [
        {"date": date.today().isoformat(), "label": "Online booking"}
    ]


async def test_safety_flagged_text_is_counted_never_quoted(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[]))
    disclosure = "Some days I want to die, the waiting is unbearable"
    for index in range(6):
        await platform.runtime.handle_now(
            _answer(f"q{index}", "outpatient-booking", 0, item_id=CONSENT, choices=("yes",)),
            _answer(
                f"q{index}",
                "outpatient-booking",
                1,
                item_id="one-thing",
                text=disclosure if index == 0 else f"Shorter waits please, number {index}",
            ),
        )
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
        csv_text = await reporting.render(session, "outpatient-booking", fmt="csv")
    assert report["safety"]["flagged"] == 1
    quotes = [q for theme in report["themes"] for q in theme["quotes"]]
    assert quotes
    assert all("want to die" not in json.dumps(q) for q in quotes)
    assert "want to die" not in csv_text


async def test_bad_change_marker_names_the_option() -> None:
    import pytest

    with pytest.raises(reporting.ReportError, match="--change"):
        reporting.parse_changes(["yesterday=New letter"])
    with pytest.raises(reporting.ReportError, match="DATE=LABEL"):
        reporting.parse_changes(["2026-12-01"])


async def test_columns_read_from_the_store_give_the_report_records_give(
    platform: Platform,
) -> None:
    """The report streams free text into columns; read as records, the same report."""
    await launch(platform, _cycle("booking-c3", 1))
    await _people_answer(
        platform,
        "booking-c3",
        [("Patient", "Hard", "Nobody answered the phone for an hour")] * 6
        + [("Carer", "Easy", "The online form was quick, please keep it")] * 5
        + [("Staff", "Neither", "Some days I want to die, the waiting is unbearable")],
    )
    at = datetime(2026, 12, 20, tzinfo=UTC)
    async with platform.sessionmaker() as session:
        spec = service.spec_of(await service.require(session, "booking-c3"))
        records = await reporting.load_rows(session, "booking-c3")
        columns = await reporting.load_responses(session, "booking-c3", names=True)
        funnel = await reporting.load_funnel(session, "booking-c3", columns)
        assert funnel == await reporting.load_funnel(session, "booking-c3", records)

    # Free text went to columns (with the writers' pseudonyms), the rest stayed records.
    assert len(columns.texts) == 12
    assert {r.item_id for r in columns.rows} == {"role", "ease"}
    writers = {r.participant for r in records if r.item_id == "one-thing"}
    assert set(columns.texts.names.values()) == writers
    assert int(columns.texts.safety_flagged.sum()) == 1

    from_records = build_report(
        spec, records, funnel=funnel, generated_at=at, include_responses=True
    )
    from_columns = build_report(
        spec, columns, funnel=funnel, generated_at=at, include_responses=True
    )
    assert from_columns == from_records
    assert from_columns["participation"]["participants"] == 12
    assert from_columns["participation"]["by_segment"]["role"]["options"]["Patient"] == 6
    assert from_columns["safety"]["flagged"] == 1
    assert from_columns["sentiment"]["n"] == 12
    assert len(from_columns["responses"]) == 12


async def test_a_theme_without_keywords_says_none_rather_than_an_empty_list(
    platform: Platform,
) -> None:
    """One flagged reply alone: its theme has no words to show, and the text no gap."""
    await launch(platform, spec_data(segments=[]))
    await platform.runtime.handle_now(
        _answer("r0", "outpatient-booking", 0, item_id=CONSENT, choices=("yes",)),
        _answer(
            "r0",
            "outpatient-booking",
            1,
            item_id="one-thing",
            text="everyone would be better off if i wasn't around anymore, the wait is too long",
        ),
    )
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
        markdown = await reporting.render(session, "outpatient-booking", fmt="md")
        page = await reporting.render(session, "outpatient-booking", fmt="html")
    assert report["safety"]["flagged"] == 1
    assert [theme["keywords"] for theme in report["themes"]] == [[]]
    assert "1 reply (100%); 0% positive" in markdown
    assert "keywords: ;" not in markdown and "Keywords: ." not in page
    assert "### Ideas (1 reply asks for a change)\n\n- none that can be quoted" in markdown
    # A heading after a list starts a block of its own: a blank line between them.
    assert "flagged for safety follow-up)\n\n## Safety" in markdown
    assert "better off" not in markdown and "better off" not in page


async def test_counts_of_one_are_written_in_the_singular_in_every_format(
    platform: Platform,
) -> None:
    await launch(platform, spec_data(segments=[]))
    await platform.runtime.handle_now(
        _answer("r0", "outpatient-booking", 0, item_id=CONSENT, choices=("yes",)),
        _answer(
            "r0",
            "outpatient-booking",
            1,
            item_id="one-thing",
            text="everyone would be better off if i wasn't around anymore, the wait is too long",
        ),
    )
    async with platform.sessionmaker() as session:
        markdown = await reporting.render(session, "outpatient-booking", fmt="md")
        page = await reporting.render(session, "outpatient-booking", fmt="html")
        rows = list(
            csv.reader(
                io.StringIO(await reporting.render(session, "outpatient-booking", fmt="csv"))
            )
        )
    flagged = "1 reply was flagged for safety follow-up; it is counted above and never quoted."
    assert flagged in markdown and flagged in page
    assert "1 free-text reply: " in markdown and "1 free-text reply: " in page
    assert "<p>1 reply (100%)." in page
    for text in (markdown, page):
        assert not re.search(r"\b1 (replies|answers|cells|participants|statements|people)\b", text)
    # The csv row of a withheld reply says nothing read from its words.
    assert rows[1][2:] == ["[withheld: safety flag]", "", ""]


async def test_quotes_of_replies_stored_unscreened_are_redacted_as_the_consultation_reads(
    platform: Platform,
) -> None:
    # Replies imported before the screen existed were stored as written: the report's
    # second redaction reads them with the Spanish consultation's regions and writes its
    # placeholders, as its screen does at intake.
    await launch(platform, spec_data(language="es", segments=[]))
    for index in range(6):
        await platform.runtime.handle_now(
            _answer(f"q{index}", "outpatient-booking", 0, item_id=CONSENT, choices=("yes",)),
            _answer(f"q{index}", "outpatient-booking", 1, item_id="one-thing", text="Gracias"),
        )
    async with platform.sessionmaker.begin() as session:
        ids = (await session.scalars(select(Response.id).where(Response.text.is_not(None)))).all()
        assert len(ids) == 6
        for index, response in enumerate(ids):
            await session.execute(
                update(Response)
                .where(Response.id == response)
                .values(
                    text=f"Llámenme al 612 34 56 7{index} por las tardes, el teléfono de citas "
                    f"no contesta nunca ({index})"
                )
            )
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
    quotes = [q for theme in report["themes"] for q in theme["quotes"]]
    quotes += [q for category in report["codebook"]["categories"] for q in category["quotes"]]
    assert quotes
    assert all("Llámenme al [teléfono] por las tardes" in q for q in quotes), quotes
    assert "612 34" not in json.dumps(report)


async def test_the_csv_never_prints_a_reply_kept_off_public_pages(platform: Platform) -> None:
    # A reply the screen could not read (it may be a disclosure) and one a moderator
    # released as no disclosure keep their rows, as every reply does, but not their words.
    from consultations import moderation
    from storage.tables import ModerationCase

    await launch(platform, spec_data(segments=[]))
    said = {
        "r0": "Je veux mourir, je n'en peux plus",
        "r1": "I am going to hang myself tonight after this appointment",
        "r2": "The parking was hard to find",
    }
    for n, (who, text) in enumerate(said.items()):
        await platform.runtime.handle_now(
            _answer(who, "outpatient-booking", 2 * n, item_id=CONSENT, choices=("yes",)),
            _answer(who, "outpatient-booking", 2 * n + 1, item_id="one-thing", text=text),
        )
    async with platform.sessionmaker.begin() as session:
        cases = (await session.scalars(select(ModerationCase).order_by(ModerationCase.id))).all()
        assert [c.reason for c in cases] == ["review", "safety"]
        await moderation.release(session, cases[1].id, "test", "ticked by mistake")
    async with platform.sessionmaker() as session:
        rows = list(
            csv.reader(
                io.StringIO(await reporting.render(session, "outpatient-booking", fmt="csv"))
            )
        )
    printed = "\n".join(",".join(row) for row in rows)
    assert said["r2"] in printed
    assert "mourir" not in printed and "hang myself" not in printed
    assert sorted(row[2] for row in rows[1:]) == sorted(
        [said["r2"], "[withheld: kept for a moderator]", "[withheld: kept for a moderator]"]
    )


async def test_a_closing_the_loop_follow_up_is_no_cycle_of_its_project(platform: Platform) -> None:
    """Reactions to a change are not measurements: a follow-up drafted for cycle 1 (same
    project, same cycle number) neither joins cycle 1 in cycle 2's comparison nor gets a
    comparison of its own."""
    await launch(platform, _cycle("booking-c1", 1))
    await _people_answer(platform, "booking-c1", [("Patient", "Hard", "Phone always busy")] * 6)
    loop = _cycle("booking-c1-loop", 1)
    loop["model"] = "closing-the-loop"
    await launch(platform, loop)
    await _people_answer(platform, "booking-c1-loop", [("Patient", "Easy", "Much better now")] * 5)
    await launch(platform, _cycle("booking-c2", 2))
    await _people_answer(platform, "booking-c2", [("Patient", "Easy", "Booked online")] * 6)
    async with platform.sessionmaker() as session:
        second = json.loads(await reporting.render(session, "booking-c2", fmt="json"))
        follow_up = json.loads(await reporting.render(session, "booking-c1-loop", fmt="json"))
    ease = next(p for p in second["comparison"]["polls"] if p["item"] == "ease")
    first = next(row for row in ease["cycles"] if row["cycle"] == 1)
    assert (first["consultation"], first["n"]) == ("booking-c1", 6)
    assert follow_up["comparison"]["cycles"] == []


async def test_list_show_and_the_report_count_the_same_responses_and_people(
    platform: Platform,
) -> None:
    """Self-descriptions (segment answers) are not responses to the consultation's items
    in either place: someone who only said who they are is not counted as taking part."""
    from storage.tables import Participant

    await launch(platform, spec_data())
    async with platform.sessionmaker.begin() as session:
        people = [Participant(channel="web", pseudonym=f"count-{n}") for n in range(3)]
        session.add_all(people)
        await session.flush()
        for person in people:
            session.add(
                Response(
                    consultation_id="outpatient-booking",
                    item_id="role",
                    item_type="segment",
                    participant_id=person.id,
                    channel="web",
                    choices=["Patient"],
                )
            )
        for person in people[:2]:
            session.add(
                Response(
                    consultation_id="outpatient-booking",
                    item_id="ease",
                    item_type="poll",
                    participant_id=person.id,
                    channel="web",
                    choices=["Easy"],
                )
            )
    async with platform.sessionmaker() as session:
        summary = await service.summary(session, "outpatient-booking")
        [listed] = await service.summaries(session)
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
    counted = report["participation"]
    assert (summary.responses, summary.participants) == (2, 2)
    assert (listed.responses, listed.participants) == (2, 2)
    assert (counted["responses"], counted["participants"]) == (2, 2)


async def test_a_several_answer_group_poll_counts_its_voters_not_its_votes(
    platform: Platform,
) -> None:
    """An anonymous Telegram group poll with several choices each: seven people, eight
    votes; n is the seven people who answered."""
    import telegram

    from adapters.telegram.convert import poll_counts

    days = {
        "id": "days",
        "type": "poll",
        "multiple": True,
        "text": "Which days suit you?",
        "options": ["Monday", "Saturday"],
    }
    await launch(platform, spec_data(segments=[], items=[days]))
    poll = telegram.Poll(
        id="77",
        question="Which days suit you?",
        options=[
            telegram.PollOption(text="Monday", voter_count=5, persistent_id="a"),
            telegram.PollOption(text="Saturday", voter_count=3, persistent_id="b"),
        ],
        total_voter_count=7,
        is_closed=False,
        is_anonymous=True,
        type=telegram.Poll.REGULAR,
        allows_multiple_answers=True,
        allows_revoting=True,
        members_only=False,
    )
    async with platform.sessionmaker.begin() as session:
        session.add(
            PollTally(
                consultation_id="outpatient-booking",
                item_id="days",
                channel="telegram",
                platform_ref="poll:77",
                counts=poll_counts(poll),
                final=False,
                taken_at=datetime.now(UTC),
            )
        )
    async with platform.sessionmaker() as session:
        report = json.loads(await reporting.render(session, "outpatient-booking", fmt="json"))
    [days_poll] = report["polls"]
    assert days_poll["n"] == 7
    assert {o["label"]: o["count"] for o in days_poll["options"]} == {"Monday": 5, "Saturday": 3}
