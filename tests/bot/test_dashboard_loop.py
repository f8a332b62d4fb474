"""Closing the loop on the dashboard over HTTP: draft, preview per channel, launch, reach."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from bot.platform import Platform
from consultations import service
from tests.bot.test_dashboard import as_role, audit_trail, csrf_of
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]


async def _agree_on_the_web(client: Client, *, recontact: str, answer: bool = True) -> None:
    page = await (await client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    page = await (
        await client.post(
            "/c/outpatient-booking/consent",
            data={**fields, "answer": "yes", "recontact": recontact},
        )
    ).text()
    if answer:
        fields = form_fields(page, "/c/outpatient-booking/answers")
        await client.post("/c/outpatient-booking/answers", data={**fields, "item:ease": "Hard"})


async def _stored(platform: Platform) -> list[str]:
    async with platform.sessionmaker() as session:
        return [s.id for s in await service.summaries(session)]


async def _draft(client: Client, changed: str | None) -> str:
    """Press "Draft a closing-the-loop follow-up" (with what was changed, if any): where
    the dashboard sends the lead next."""
    csrf = await csrf_of(client, "/dashboard/c/outpatient-booking")
    data = {"csrf": csrf} if changed is None else {"csrf": csrf, "changed": changed}
    response = await client.post(
        "/dashboard/c/outpatient-booking/draft-loop", data=data, allow_redirects=False
    )
    assert response.status == 303
    return response.headers["Location"]


async def test_a_lead_drafts_previews_and_launches_a_follow_up_and_sees_its_reach(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(channels=["web", "telegram", "mastodon"], segments=[]))
    await _agree_on_the_web(web_client, recontact="yes")
    await as_role(platform, web_client, "lead")

    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert "Draft a closing-the-loop follow-up" in page
    assert '<label for="changed">What we changed</label>' in page
    location = await _draft(web_client, "Text reminders the day before")
    assert location == "/dashboard/c/outpatient-booking-loop?done=drafted"
    drafted = [row for row in await audit_trail(platform) if row[1] == "consultation.draft-loop"]
    assert drafted == [
        (
            "lead@health.example",
            "consultation.draft-loop",
            "consultation:outpatient-booking-loop",
            {"source": "outpatient-booking"},
        )
    ]

    page = await (await web_client.get("/dashboard/c/outpatient-booking-loop?done=drafted")).text()
    assert "A closing-the-loop follow-up was drafted" in page
    assert "We did: Text reminders the day before." in page
    assert "[what we changed]" not in page and "Not ready" not in page
    for channel in ("web", "telegram", "mastodon"):
        assert f"Preview on {channel}" in page
    # Each text with its length and the channel's limit: a poll question on Telegram
    # takes 300 characters, a Mastodon status 500 (the default instance), the web none.
    telegram = page.split("<caption>Preview on telegram")[1].split("</table>")[0]
    assert re.search(
        r"Poll reaction</th><td>[^<]+</td><td class=\"num\">\d+</td>"
        r"<td class=\"num\">300</td>",
        telegram,
    )
    mastodon = page.split("<caption>Preview on mastodon")[1].split("</table>")[0]
    assert '<td class="num">500</td>' in mastodon
    assert "said we could contact you again" in telegram  # the invitation itself
    assert "No one has been invited yet." in page

    csrf = await csrf_of(web_client, "/dashboard/c/outpatient-booking-loop")
    response = await web_client.post(
        "/dashboard/c/outpatient-booking-loop/launch", data={"csrf": csrf}, allow_redirects=False
    )
    location = response.headers["Location"]
    assert "done=launched" in location and "invited=web:1" in location
    page = await (await web_client.get(location)).text()
    assert "Invited 1 on web." in page
    reach = page.split("<caption>Reach by channel")[1].split("</table>")[0]
    assert re.search(
        r'<th scope="row">web</th><td class="num">1</td><td class="num">0</td>'
        r'<td class="num">0</td>',
        reach,
    )

    # The person comes back to the earlier page, sees the invitation, and answers.
    earlier = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/outpatient-booking-loop"' in earlier
    loop_page = await (await web_client.get("/c/outpatient-booking-loop")).text()
    fields = form_fields(loop_page, "/c/outpatient-booking-loop/consent")
    loop_page = await (
        await web_client.post(
            "/c/outpatient-booking-loop/consent", data={**fields, "answer": "yes"}
        )
    ).text()
    fields = form_fields(loop_page, "/c/outpatient-booking-loop/answers")
    await web_client.post(
        "/c/outpatient-booking-loop/answers",
        data={**fields, "item:reaction": "It helps a lot"},
    )
    # Answered: the earlier page no longer invites them to it.
    earlier = await (await web_client.get("/c/outpatient-booking")).text()
    assert 'href="/c/outpatient-booking-loop"' not in earlier
    page = await (await web_client.get("/dashboard/c/outpatient-booking-loop")).text()
    reach = page.split("<caption>Reach by channel")[1].split("</table>")[0]
    assert re.search(
        r'<th scope="row">web</th><td class="num">1</td><td class="num">1</td>'
        r'<td class="num">1</td>',
        reach,
    )


async def test_a_viewer_cannot_draft_a_follow_up(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    await as_role(platform, web_client, "viewer")
    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert "Draft a closing-the-loop follow-up" not in page
    csrf = await csrf_of(web_client, "/dashboard/c/outpatient-booking")
    response = await web_client.post(
        "/dashboard/c/outpatient-booking/draft-loop", data={"csrf": csrf}, allow_redirects=False
    )
    assert response.status == 403
    async with platform.sessionmaker() as session:
        assert [s.id for s in await service.summaries(session)] == ["outpatient-booking"]


async def test_a_draft_needs_what_was_changed_and_nothing_is_stored_without_it(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    await _agree_on_the_web(web_client, recontact="yes")
    await as_role(platform, web_client, "lead")
    for changed in (None, "", "  \x00 ", "x" * 161):
        location = await _draft(web_client, changed)
        assert location.startswith("/dashboard/c/outpatient-booking?done=loop-"), changed
        page = await (await web_client.get(location)).text()
        assert "Nothing was drafted." in page, changed
        assert await _stored(platform) == ["outpatient-booking"]
    page = await (await web_client.get(await _draft(web_client, ""))).text()
    assert "Say what was changed before drafting the follow-up" in page
    page = await (await web_client.get(await _draft(web_client, "x" * 161))).text()
    assert "at most 160 characters" in page


async def test_no_draft_for_a_consultation_without_responses_or_never_launched(
    platform: Platform, web_client: Client
) -> None:
    from consultations.spec import parse_spec

    await launch(platform, spec_data(segments=[]))
    # Agreed to take part and to be contacted again, but answered nothing: no responses.
    await _agree_on_the_web(web_client, recontact="yes", answer=False)
    await as_role(platform, web_client, "lead")
    page = await (await web_client.get(await _draft(web_client, "Text reminders"))).text()
    assert "has no responses yet, so there is nothing to say back to anyone" in page
    assert "Nothing was drafted." in page
    assert await _stored(platform) == ["outpatient-booking"]

    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(spec_data(id="not-yet")), source="test")
    csrf = await csrf_of(web_client, "/dashboard/c/not-yet")
    response = await web_client.post(
        "/dashboard/c/not-yet/draft-loop", data={"csrf": csrf, "changed": "Texts"}
    )
    page = await response.text()
    assert "was never launched, so there is no one to close the loop with" in page
    assert sorted(await _stored(platform)) == ["not-yet", "outpatient-booking"]


async def test_a_spec_that_still_holds_the_placeholder_is_not_launched(
    platform: Platform, web_client: Client
) -> None:
    from consultations.spec import parse_spec

    unfinished = spec_data(
        id="booking-loop",
        channels=["web"],
        segments=[],
        closing_message="Thank you. We did: [what we changed].",
    )
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(unfinished), source="an earlier dashboard")
    await as_role(platform, web_client, "lead")
    page = await (await web_client.get("/dashboard/c/booking-loop")).text()
    assert "Not ready: closing_message: still says [what we changed]" in page
    csrf = await csrf_of(web_client, "/dashboard/c/booking-loop")
    response = await web_client.post(
        "/dashboard/c/booking-loop/launch", data={"csrf": csrf}, allow_redirects=False
    )
    assert response.headers["Location"] == "/dashboard/c/booking-loop?done=unfinished"
    page = await (await web_client.get(response.headers["Location"])).text()
    assert "Not launched: a text still holds a placeholder" in page
    assert "Not ready: closing_message: still says [what we changed]" in page
    async with platform.sessionmaker() as session:
        row = await service.require(session, "booking-loop")
        assert (row.state, row.opened_at) == (service.DRAFT, None)
    # Nothing of it is on the web page either.
    assert (await web_client.get("/c/booking-loop")).status == 404


async def test_a_returning_web_visitor_sees_what_changed_without_being_invited(
    platform: Platform, web_client: Client
) -> None:
    """Someone who did not agree to be contacted again is invited to nothing, but the
    closed page they come back to says what they said and what was done, once the
    closing-the-loop follow-up is launched (public words: anyone sees them there)."""
    await launch(platform, spec_data(channels=["web"], segments=[]))
    await _agree_on_the_web(web_client, recontact="no")
    await as_role(platform, web_client, "lead")
    csrf = await csrf_of(web_client, "/dashboard/c/outpatient-booking")
    await web_client.post("/dashboard/c/outpatient-booking/close", data={"csrf": csrf})
    assert await _draft(web_client, "Text reminders the day before") == (
        "/dashboard/c/outpatient-booking-loop?done=drafted"
    )

    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "This consultation has closed" in page
    assert "You said, we did" not in page  # drafted, not yet launched: nothing public

    csrf = await csrf_of(web_client, "/dashboard/c/outpatient-booking-loop")
    response = await web_client.post(
        "/dashboard/c/outpatient-booking-loop/launch", data={"csrf": csrf}, allow_redirects=False
    )
    assert "done=launched" in response.headers["Location"]
    assert "invited=web:0" in response.headers["Location"]  # they said no: not invited

    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "This consultation has closed" in page
    assert '<h2 id="loops">You said, we did</h2>' in page
    said = page.split('<h2 id="loops">')[1].split("</section>")[0]
    assert "We did: Text reminders the day before." in said
    assert '<p class="loop" lang="en">' in said  # in the follow-up's language
    assert "How do you feel about this change?" not in said
    assert 'href="/c/outpatient-booking-loop"' not in page  # no invitation to take part

    # Public words: a visitor the page does not know sees them too.
    web_client.session.cookie_jar.clear()
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert "We did: Text reminders the day before." in page


async def test_an_invitation_in_another_language_is_marked_with_it(
    platform: Platform, web_client: Client
) -> None:
    """The earlier page is in its language; a follow-up's words on it are in the
    follow-up's, and say so (WCAG 3.1.2), so a screen reader reads them in that voice
    ("you said, we did" on a closed page alike: its paragraph has the loop's lang)."""
    from bot import followups

    await launch(platform, spec_data(channels=["web"], segments=[]))
    await _agree_on_the_web(web_client, recontact="yes")
    follow_up = await launch(
        platform,
        spec_data(
            id="booking-es",
            title="Lo que cambiamos en las citas",
            language="es",
            channels=["web"],
            segments=[],
            follow_up={"of": ["outpatient-booking"], "invite": "recontact"},
        ),
    )
    async with platform.sessionmaker.begin() as session:
        await followups.invite(session, platform.keyring, follow_up)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    assert '<html lang="en" dir="ltr">' in page
    assert re.search(
        r'<div class="notice invitation" role="status"><span lang="es">Usted dijo', page
    ), page
    # The English "Take part" beside it is the page's own.
    assert '</span> <a href="/c/booking-es">Take part</a>' in page


async def test_a_follow_up_of_a_draft_is_not_launched_from_the_dashboard(
    platform: Platform, web_client: Client
) -> None:
    """As `engage consultation launch` refuses it: nobody has taken part in a draft, so
    the follow-up would open and invite no one. It stays a draft and the page says why."""
    from consultations.spec import parse_spec

    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(spec_data(segments=[])), source="test")
        follow_up = {"of": ["outpatient-booking"], "invite": "recontact"}
        data = spec_data(id="booking-loop", channels=["web"], follow_up=follow_up)
        await service.create(session, parse_spec(data), source="test")
    await as_role(platform, web_client, "lead")
    csrf = await csrf_of(web_client, "/dashboard/c/booking-loop")
    response = await web_client.post(
        "/dashboard/c/booking-loop/launch", data={"csrf": csrf}, allow_redirects=False
    )
    location = response.headers["Location"]
    assert "done=follows-draft" in location
    page = await (await web_client.get(location)).text()
    assert "Not launched: a consultation it follows up is still a draft" in page
    assert "follow_up.of[0]:" in page and "outpatient-booking" in page
    async with platform.sessionmaker() as session:
        states = {s.id: s.state for s in await service.summaries(session)}
    assert states == {"outpatient-booking": "draft", "booking-loop": "draft"}
