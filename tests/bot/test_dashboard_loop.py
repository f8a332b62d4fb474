"""Closing the loop on the dashboard over HTTP: draft, preview per channel, launch, reach."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from bot.platform import Platform
from consultations import service
from tests.bot.test_dashboard import as_role, csrf_of
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]


async def _agree_on_the_web(client: Client, *, recontact: str) -> None:
    page = await (await client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    await client.post(
        "/c/outpatient-booking/consent", data={**fields, "answer": "yes", "recontact": recontact}
    )


async def test_a_lead_drafts_previews_and_launches_a_follow_up_and_sees_its_reach(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(channels=["web", "telegram", "mastodon"], segments=[]))
    await _agree_on_the_web(web_client, recontact="yes")
    await as_role(platform, web_client, "lead")

    page = await (await web_client.get("/dashboard/c/outpatient-booking")).text()
    assert "Draft a closing-the-loop follow-up" in page
    csrf = await csrf_of(web_client, "/dashboard/c/outpatient-booking")
    response = await web_client.post(
        "/dashboard/c/outpatient-booking/draft-loop", data={"csrf": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard/c/outpatient-booking-loop?done=drafted"

    page = await (await web_client.get("/dashboard/c/outpatient-booking-loop?done=drafted")).text()
    assert "A closing-the-loop follow-up was drafted" in page
    for channel in ("web", "telegram", "mastodon"):
        assert f"Preview on {channel}" in page
    # Each text with its length and the channel's limit: a poll question on Telegram
    # takes 300 characters, a Mastodon status 500 (the default instance), the web none.
    telegram = page.split("Preview on telegram")[1].split("</table>")[0]
    assert re.search(
        r"Poll reaction</th><td>[^<]+</td><td class=\"num\">\d+</td>"
        r"<td class=\"num\">300</td>",
        telegram,
    )
    mastodon = page.split("Preview on mastodon")[1].split("</table>")[0]
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
    reach = page.split("Reach by channel")[1].split("</table>")[0]
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
    page = await (await web_client.get("/dashboard/c/outpatient-booking-loop")).text()
    reach = page.split("Reach by channel")[1].split("</table>")[0]
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
