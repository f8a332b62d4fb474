"""Closing the loop in a real browser: the person agrees to be contacted again on the page,
the lead drafts and launches the follow-up, the person sees the invitation and answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.platform import Platform
from tests.bot.test_dashboard import PASSWORD, add_user
from tests.bot.test_dashboard_browser import (
    CHROMIUM_ARGS,
    NO_CHROMIUM,
    chromium_executable,
    server,  # noqa: F401  (the fixture serving the whole app)
)
from tests.helpers import launch, spec_data

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_loop_is_closed_from_the_dashboard_back_to_the_person(
    platform: Platform,
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright, expect

    await launch(platform, spec_data(segments=[]))
    await add_user(platform, "lead@health.example", "lead")
    async with async_playwright() as playwright:
        executable = chromium_executable()
        if executable is None:
            pytest.fail(NO_CHROMIUM, pytrace=False)
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            person = await browser.new_context()
            page = await person.new_page()
            await page.goto(f"{server}/c/outpatient-booking")
            await page.get_by_label("Yes, you may contact me").check()
            await page.get_by_role("button", name="Yes, I agree").click()
            await page.get_by_label("Hard", exact=True).check()
            await page.get_by_role("button", name="Send my answers").click()

            lead = await browser.new_context(viewport={"width": 1100, "height": 900})
            desk = await lead.new_page()
            await desk.goto(f"{server}/dashboard/c/outpatient-booking")
            await desk.get_by_label("Email").fill("lead@health.example")
            await desk.get_by_label("Password").fill(PASSWORD)
            await desk.get_by_role("button", name="Log in").click()
            await desk.get_by_label("What we changed").fill("Text reminders the day before")
            await desk.get_by_role("button", name="Draft a closing-the-loop follow-up").click()
            await expect(
                desk.get_by_role(
                    "heading", level=1, name="You said, we did: Improving outpatient booking"
                )
            ).to_be_visible()
            preview = desk.get_by_role("table", name="Preview on telegram")
            await expect(
                preview.get_by_role("row").filter(has_text="Poll reaction")
            ).to_contain_text("300")
            await desk.get_by_role("button", name="Launch consultation").click()
            await expect(desk.get_by_text("Invited 1 on web.")).to_be_visible()
            reach = desk.get_by_role("table", name="Reach by channel")
            await expect(reach.get_by_role("row").filter(has_text="web")).to_contain_text("1")

            # The person comes back to the page they answered on: the invitation is there.
            await page.goto(f"{server}/c/outpatient-booking")
            await page.get_by_role("link", name="Take part").click()
            await page.get_by_role("button", name="Yes, I agree").click()
            await page.get_by_label("It helps a lot").check()
            await page.get_by_role("button", name="Send my answers").click()

            await desk.reload()
            row = (
                desk.get_by_role("table", name="Reach by channel")
                .get_by_role("row")
                .filter(has_text="web")
            )
            await expect(row.get_by_role("cell")).to_have_text(["1", "1", "1"])
            shot = tmp_path / "dashboard-loop.png"
            await desk.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            await browser.close()
