"""The moderation queue on the dashboard: order, ages, acknowledge, resolve, audit, roles."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.platform import Platform
from consultations import moderation
from storage.tables import AuditEvent, ModerationCase, Response, utcnow
from tests.bot.test_dashboard import DISCLOSURE, as_role, csrf_of, disclose
from tests.helpers import BY_MODEL, BY_PHRASE, form_fields, launch, spec_data
from tests.waiting import scale

CID = "outpatient-booking"
QUEUE = "/dashboard/moderation"


async def add_case(platform: Platform, *, age: timedelta, urgent: bool = False) -> int:
    """A case without a stored text, opened ``age`` ago with the default 24 h target."""
    async with platform.sessionmaker.begin() as session:
        case = moderation.open_case(
            session,
            consultation_id=CID,
            response_id=None,
            reason="safety",
            categories=("self-harm",),
            urgent=urgent,
        )
        case.created_at = utcnow() - age
        case.due_at = moderation.due_at(case.created_at, None)
        await session.flush()
        return case.id


async def audit_log(platform: Platform) -> list[tuple[str, str, str | None]]:
    async with platform.sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.actor, e.action, e.subject) for e in rows]


async def case_row(platform: Platform, case_id: int) -> ModerationCase:
    async with platform.sessionmaker() as session:
        row = await session.get(ModerationCase, case_id)
        assert row is not None
        return row


def case_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<h2 id="case-(\d+)">', page)]


async def test_queue_lists_cases_oldest_first_with_age_and_marks(
    platform: Platform, web_client: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    recent = await add_case(platform, age=timedelta(minutes=30), urgent=True)
    oldest = await add_case(platform, age=timedelta(days=2, hours=3))
    middle = await add_case(platform, age=timedelta(hours=5, minutes=10))
    await as_role(platform, web_client, "moderator")

    page = await (await web_client.get(QUEUE)).text()

    assert case_ids(page) == [oldest, middle, recent]
    articles = dict(zip(case_ids(page), page.split("<article")[1:], strict=True))
    assert 'waiting <span class="age">2 d 3 h</span>' in articles[oldest]
    assert "overdue" in articles[oldest] and "urgent" not in articles[oldest]
    assert 'waiting <span class="age">5 h 10 min</span>' in articles[middle]
    assert "overdue" not in articles[middle]
    assert "urgent" in articles[recent]
    assert "categories: self-harm" in articles[recent]


async def test_each_case_says_whether_a_listed_phrase_or_the_model_alone_flagged_it(
    platform: Platform, web_client: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client, BY_PHRASE)
    web_client.session.cookie_jar.clear()  # another person
    await disclose(web_client, BY_MODEL)
    web_client.session.cookie_jar.clear()
    # A case opened before how it was flagged was recorded: the queue says nothing of it.
    older = await add_case(platform, age=timedelta(minutes=1))
    await as_role(platform, web_client, "moderator")

    page = html.unescape(await (await web_client.get(QUEUE)).text())

    articles = dict(zip(case_ids(page), page.split("<article")[1:], strict=True))
    by_text = {
        text: next(a for a in articles.values() if text in a) for text in (BY_PHRASE, BY_MODEL)
    }
    assert "Flagged by a listed phrase." in by_text[BY_PHRASE]
    assert "model only" not in by_text[BY_PHRASE]
    assert "Flagged by the screen's model only (more often a false alarm)." in by_text[BY_MODEL]
    assert "listed phrase" not in by_text[BY_MODEL]
    assert "Flagged by" not in articles[older]
    # Both were held: each waits for someone. Of the case opened before, nothing is said.
    for text in (BY_PHRASE, BY_MODEL):
        assert "sent the safety reply and asked nothing more" in by_text[text]
    assert "was sent" not in articles[older]
    # The kind, never the phrase that matched, beyond the person's own words.
    assert page.count("stockpiling my tablets") == 1


async def test_acknowledge_then_resolve_with_a_note_all_audited(
    platform: Platform, web_client: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    await as_role(platform, web_client, "moderator")
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
    page = await (await web_client.get(QUEUE)).text()
    assert DISCLOSURE in page

    acknowledge = f"{QUEUE}/{case.id}/acknowledge"
    page = await (await web_client.post(acknowledge, data=form_fields(page, acknowledge))).text()
    assert "The case is acknowledged" in page
    assert acknowledge not in page  # taken: only the resolve form is left
    row = await case_row(platform, case.id)
    assert row.status == "acknowledged"
    assert row.acknowledged_by == "moderator@health.example"

    resolve = f"{QUEUE}/{case.id}/resolve"
    for note in ("", "   "):
        page = await (
            await web_client.post(resolve, data={**form_fields(page, resolve), "note": note})
        ).text()
        assert "Say what was done in the note" in page
        assert (await case_row(platform, case.id)).status == "acknowledged"
    page = await (
        await web_client.post(
            resolve, data={**form_fields(page, resolve), "note": "Phoned back; GP informed."}
        )
    ).text()
    assert "The case is marked resolved." in page
    assert "No open cases." in page
    row = await case_row(platform, case.id)
    assert (row.status, row.resolved_by, row.note) == (
        "resolved",
        "moderator@health.example",
        "Phoned back; GP informed.",
    )

    who = "moderator@health.example"
    subject = f"case:{case.id}"
    assert [entry for entry in await audit_log(platform) if entry[0] == who] == [
        (who, "queue.view", "moderation"),
        (who, "case.acknowledge", subject),
        (who, "queue.view", "moderation"),
        (who, "queue.view", "moderation"),
        (who, "queue.view", "moderation"),
        (who, "case.resolve", subject),
        (who, "queue.view", "moderation"),
    ]


async def test_resolving_twice_changes_nothing(platform: Platform, web_client: Any) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "admin")
    csrf = await csrf_of(web_client)
    resolve = f"{QUEUE}/{case_id}/resolve"
    await web_client.post(resolve, data={"csrf": csrf, "note": "First note."})
    second = await web_client.post(
        resolve, data={"csrf": csrf, "note": "Other."}, allow_redirects=False
    )
    assert second.headers["Location"] == f"{QUEUE}?done=already-resolved&case={case_id}"
    page = await (await web_client.get(second.headers["Location"])).text()
    assert f"Case {case_id} was already resolved by admin@health.example at " in page
    assert "Nothing you sent was recorded, nor any note with it." in page
    assert (await case_row(platform, case_id)).note == "First note."
    assert [a for _, a, s in await audit_log(platform) if s == f"case:{case_id}"] == [
        "case.resolve"
    ]
    # Only the number comes from the address: an open or unknown case says nothing more.
    for case in (str(await add_case(platform, age=timedelta(hours=1))), "999", "x", "1" * 30):
        page = await (await web_client.get(f"{QUEUE}?done=already-resolved&case={case}")).text()
        assert "That case was already resolved." in page
        assert "was already resolved by" not in page


async def test_a_double_clicked_resolve_keeps_one_note(platform: Platform, web_client: Any) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get(QUEUE)).text()
    resolve = f"{QUEUE}/{case_id}/resolve"
    fields = form_fields(page, resolve)
    notes = ("Phoned back; GP informed.", "Phoned back; GP informed (and texted).")
    first, second = await asyncio.gather(
        *(
            web_client.post(resolve, data={**fields, "note": note}, allow_redirects=False)
            for note in notes
        )
    )
    answered = zip((first, second), notes, strict=True)
    done = {response.headers["Location"]: note for response, note in answered}
    assert sorted(done) == [
        f"{QUEUE}?done=already-resolved&case={case_id}",
        f"{QUEUE}?done=resolved",
    ]
    row = await case_row(platform, case_id)
    assert (row.status, row.note) == ("resolved", done[f"{QUEUE}?done=resolved"])
    assert [a for _, a, s in await audit_log(platform) if s == f"case:{case_id}"] == [
        "case.resolve"
    ]


async def while_first_is_open(
    platform: Platform, first: Any, second: Any
) -> tuple[object, object | BaseException]:
    """Run ``first`` in a transaction held open while ``second`` runs in another: the
    second must wait for the first to commit (it does not finish meanwhile), and then
    finds what the first did. What each returned (or raised, for the second)."""

    async def then() -> object:
        async with platform.sessionmaker.begin() as session:
            return await second(session)

    async with platform.sessionmaker.begin() as session:
        done = await first(session)
        await session.flush()
        other = asyncio.create_task(then())
        await asyncio.sleep(0.5 * scale())  # the second has read, or is waiting, by now
        assert not other.done()
    try:
        return done, await other
    except moderation.CaseError as exc:
        return done, exc


def _resolving(how: str, case_id: int, who: str, note: str) -> Any:
    """A run of ``resolve`` or ``release`` (not a disclosure) for :func:`while_first_is_open`."""
    close = moderation.release if how == "release" else moderation.resolve

    async def run(session: Any) -> object:
        return await close(session, case_id, who, note)

    return run


@pytest.mark.parametrize(
    ("first_how", "second_how"),
    [("resolve", "resolve"), ("release", "resolve"), ("resolve", "release")],
)
async def test_two_moderators_resolving_at_once_resolve_the_case_once(
    platform: Platform, first_how: str, second_how: str
) -> None:
    """The second waits for the first's transaction and then finds the case resolved: one
    audit row, the first note, and the second told by whom (the check and the change are
    one statement, not a read and a later write)."""
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    first = _resolving(first_how, case_id, "first@health.example", "Called; safe at home.")
    second = _resolving(second_how, case_id, "second@health.example", "Called; GP told.")

    _, refused = await while_first_is_open(platform, first, second)

    row = await case_row(platform, case_id)
    assert (row.status, row.resolved_by, row.acknowledged_by, row.note) == (
        "resolved",
        "first@health.example",
        "first@health.example",
        "Called; safe at home.",
    )
    released = ["case.release"] if first_how == "release" else []
    assert [(actor, a) for actor, a, s in await audit_log(platform) if s == f"case:{case_id}"] == [
        ("first@health.example", a) for a in ["case.resolve", *released]
    ]
    assert isinstance(refused, moderation.AlreadyResolved), refused
    assert (refused.resolved_by, refused.outcome) == ("first@health.example", "resolved")
    assert f"moderation case {case_id} was already resolved by first@health.example" in str(refused)


async def test_resolving_keeps_who_acknowledged_the_case(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[]))
    taken = await add_case(platform, age=timedelta(hours=1))
    untaken = await add_case(platform, age=timedelta(hours=1))
    async with platform.sessionmaker.begin() as session:
        await moderation.acknowledge(session, taken, "first@health.example")
    async with platform.sessionmaker.begin() as session:
        for case_id in (taken, untaken):
            await moderation.resolve(session, case_id, "second@health.example", "Done.")
    for case_id, acknowledged in ((taken, "first@health.example"), (untaken, None)):
        row = await case_row(platform, case_id)
        assert row.resolved_by == "second@health.example"
        assert row.acknowledged_by == (acknowledged or "second@health.example")
        assert row.acknowledged_at is not None and row.resolved_at is not None


async def test_a_double_clicked_acknowledge_takes_the_case_once(
    platform: Platform, web_client: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "moderator")
    page = await (await web_client.get(QUEUE)).text()
    acknowledge = f"{QUEUE}/{case_id}/acknowledge"
    fields = form_fields(page, acknowledge)
    # Both clicks' requests at once, as a browser sends a double click.
    first, second = await asyncio.gather(
        web_client.post(acknowledge, data=fields, allow_redirects=False),
        web_client.post(acknowledge, data=fields, allow_redirects=False),
    )
    locations = sorted([first.headers["Location"], second.headers["Location"]])
    assert locations == [
        f"{QUEUE}?done=acknowledged",
        f"{QUEUE}?done=already-acknowledged",
    ]
    who = "moderator@health.example"
    assert [a for _, a, s in await audit_log(platform) if s == f"case:{case_id}"] == [
        "case.acknowledge"
    ]
    page = await (await web_client.get(f"{QUEUE}?done=already-acknowledged")).text()
    assert "That case was already acknowledged: the queue shows by whom." in page
    assert f"acknowledged by {who}" in page
    assert acknowledge not in page  # taken: only the resolve form is left
    row = await case_row(platform, case_id)
    assert (row.status, row.acknowledged_by) == ("acknowledged", who)


async def test_two_moderators_acknowledging_at_once_take_the_case_once(
    platform: Platform,
) -> None:
    """The second waits for the first's transaction and then finds the case taken: one
    audit row, and the case stays with the first (the check and the change are one
    statement, not a read and a later write)."""
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))

    async def second() -> object:
        async with platform.sessionmaker.begin() as session:
            return await moderation.acknowledge(session, case_id, "second@health.example")

    async with platform.sessionmaker.begin() as session:
        took = await moderation.acknowledge(session, case_id, "first@health.example")
        await session.flush()
        other = asyncio.create_task(second())
        await asyncio.sleep(0.5 * scale())  # the second has read, or is waiting, by now
        assert not other.done()
    took_too = await other
    assert [a for _, a, s in await audit_log(platform) if s == f"case:{case_id}"] == [
        "case.acknowledge"
    ]
    row = await case_row(platform, case_id)
    assert (row.status, row.acknowledged_by) == ("acknowledged", "first@health.example")
    assert (took, took_too) == (True, False)


async def test_a_note_with_a_nul_is_stored_without_it(platform: Platform, web_client: Any) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "moderator")
    csrf = await csrf_of(web_client)
    response = await web_client.post(
        f"{QUEUE}/{case_id}/resolve", data={"csrf": csrf, "note": "Phoned\x00 back;\x1b GP told."}
    )
    assert response.status == 200
    assert "The case is marked resolved." in await response.text()
    assert (await case_row(platform, case_id)).note == "Phoned back; GP told."


async def test_a_viewer_cannot_see_or_act_on_the_queue(platform: Platform, web_client: Any) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "viewer")

    response = await web_client.get(QUEUE)
    assert response.status == 403
    assert DISCLOSURE not in await response.text()
    csrf = await csrf_of(web_client)
    for action in ("acknowledge", "resolve"):
        response = await web_client.post(
            f"{QUEUE}/{case_id}/{action}", data={"csrf": csrf, "note": "x"}
        )
        assert response.status == 403
    assert (await case_row(platform, case_id)).status == "open"
    # Nothing was done; each refusal is on the record.
    viewer = "viewer@health.example"
    assert await audit_log(platform) == [
        (viewer, "access.denied", QUEUE),
        (viewer, "access.denied", f"{QUEUE}/{case_id}/acknowledge"),
        (viewer, "access.denied", f"{QUEUE}/{case_id}/resolve"),
    ]


async def test_actions_need_the_csrf_token(platform: Platform, web_client: Any) -> None:
    await launch(platform, spec_data(segments=[]))
    case_id = await add_case(platform, age=timedelta(hours=1))
    await as_role(platform, web_client, "moderator")
    for action in ("acknowledge", "resolve"):
        response = await web_client.post(f"{QUEUE}/{case_id}/{action}", data={"note": "x"})
        assert response.status == 403
        assert "This form has expired" in await response.text()
    assert (await case_row(platform, case_id)).status == "open"


async def test_unknown_cases_are_not_found(platform: Platform, web_client: Any) -> None:
    await as_role(platform, web_client, "moderator")
    csrf = await csrf_of(web_client)
    for path in (
        f"{QUEUE}/999/acknowledge",
        f"{QUEUE}/abc/acknowledge",
        f"{QUEUE}/9/resolve",
        f"{QUEUE}/99999999999999999999/resolve",  # past a 64-bit id
        f"{QUEUE}/%C2%B2/acknowledge",  # a superscript two: a digit, but not a number
    ):
        response = await web_client.post(path, data={"csrf": csrf, "note": "x"})
        assert response.status == 404, path


async def test_not_a_disclosure_counts_the_reply_and_lets_the_person_carry_on(
    platform: Platform, web_client: Any
) -> None:
    await launch(platform, spec_data(segments=[]))
    await disclose(web_client)
    page = await (await web_client.get(f"/c/{CID}")).text()
    assert "Lifeline" in page  # held: the safety page, no questions
    assert "How easy was it" not in page
    await as_role(platform, web_client, "moderator")
    async with platform.sessionmaker() as session:
        case = await session.scalar(select(ModerationCase))
        assert case is not None
    page = await (await web_client.get(QUEUE)).text()
    assert "Not a disclosure: the screen was wrong" in page

    resolve = f"{QUEUE}/{case.id}/resolve"
    fields = {**form_fields(page, resolve), "note": "Song lyrics; checked with them."}
    page = await (await web_client.post(resolve, data={**fields, "not_a_disclosure": "yes"})).text()
    assert "resolved as not a disclosure" in page
    row = await case_row(platform, case.id)
    assert (row.status, row.note) == ("resolved", "Song lyrics; checked with them.")
    async with platform.sessionmaker() as session:
        reply = await session.scalar(select(Response).where(Response.item_id == "one-thing"))
        assert reply is not None
    assert reply.flags == ["released"]
    who = "moderator@health.example"
    actions = [a for actor, a, s in await audit_log(platform) if actor == who and s != "moderation"]
    assert actions == ["case.resolve", "case.release"]

    page = await (await web_client.get(f"/c/{CID}")).text()
    assert "Lifeline" not in page
    assert "How easy was it to book your last appointment?" in page


async def test_a_statement_case_cannot_be_released(platform: Platform) -> None:
    await launch(platform, spec_data(segments=[]))
    async with platform.sessionmaker.begin() as session:
        case = moderation.open_case(
            session,
            consultation_id=CID,
            response_id=None,
            reason=moderation.STATEMENT,
            categories=(),
            urgent=False,
        )
        await session.flush()
        case_id = case.id
    async with platform.sessionmaker.begin() as session:
        with pytest.raises(moderation.CaseError, match="approve or reject it instead"):
            await moderation.release(session, case_id, "mo@health.example", "fine")
