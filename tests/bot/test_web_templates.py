"""Pages come from autoescaped templates: text from specs and participants stays text.

SQLite only: the pages, not the store, are under test here.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.platform import Platform
from tests.bot.test_dashboard import as_role
from tests.helpers import form_fields, launch, spec_data

Client = TestClient[Any, Any]
SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_participant_pages_escape_spec_and_participant_text(
    platform: Platform, web_client: Client
) -> None:
    await launch(
        platform,
        spec_data(segments=[], title="Booking " + SCRIPT, organisation='Health "&" ' + SCRIPT),
    )
    index = await (await web_client.get("/")).text()
    page = await (await web_client.get("/c/outpatient-booking")).text()
    for html in (index, page):
        assert "<script" not in html
        assert "Booking " + ESCAPED in html
    assert "Health &#34;&amp;&#34; " + ESCAPED in page
    page = await (
        await web_client.post(
            "/c/outpatient-booking/consent",
            data={**form_fields(page, "/c/outpatient-booking/consent"), "answer": "yes"},
        )
    ).text()
    action = "/c/outpatient-booking/threads/reminder"
    response = await web_client.post(
        action, data={**form_fields(page, action), "text": "Say " + SCRIPT + ' "quoted"'}
    )
    page = await response.text()
    assert "<script" not in page
    assert "Say " + ESCAPED + " &#34;quoted&#34;" in page
    assert page.count("<title>Your views – Booking " + ESCAPED + "</title>") == 1


async def test_dashboard_pages_escape_consultation_titles(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(title="Booking " + SCRIPT))
    await as_role(platform, web_client, "admin")
    for path in ("/dashboard", "/dashboard/c/outpatient-booking"):
        page = await (await web_client.get(path)).text()
        assert "<script" not in page, path
        assert "Booking " + ESCAPED in page, path


async def test_dashboard_report_escapes_the_title(platform: Platform, web_client: Client) -> None:
    pytest.importorskip("consultations.reporting")
    await launch(platform, spec_data(segments=[], title="Booking " + SCRIPT))
    await as_role(platform, web_client, "viewer")
    response = await web_client.get("/dashboard/c/outpatient-booking/report")
    assert response.status == 200
    page = await response.text()
    assert "<script" not in page
    assert "<h1>Booking " + ESCAPED + "</h1>" in page
