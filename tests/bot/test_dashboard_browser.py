"""The dashboard in a real browser: headless Chromium against a real server on 127.0.0.1.

A participant answers on the web channel, then a lead logs in, opens the consultation,
reads its counts and takes a screenshot. SQLite only: the HTTP tests cover both stores.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import Settings
from bot.platform import Platform
from bot.web.app import create_app
from tests.bot.test_dashboard import PASSWORD, add_user
from tests.helpers import launch, spec_data

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
NO_CHROMIUM = (
    "no Chromium for the browser tests: install the 'chromium' package, or run "
    "`.venv/bin/playwright install --only-shell chromium`, or set ENGAGE_TEST_CHROMIUM"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def chromium_executable() -> str | None:
    """ENGAGE_TEST_CHROMIUM, else the system's Chromium; None leaves it to Playwright's own.

    A missing browser fails the test rather than skipping it, so a run that never
    opened the dashboard can't pass for one that did.
    """
    wanted = os.environ.get("ENGAGE_TEST_CHROMIUM")
    if wanted:
        if shutil.which(wanted) is None:
            pytest.fail(f"ENGAGE_TEST_CHROMIUM={wanted} is no executable; {NO_CHROMIUM}", False)
        return wanted
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture
async def server(settings: Settings, platform: Platform) -> AsyncIterator[str]:
    """The whole web app served on an ephemeral port; yields its base URL."""
    app = create_app(settings, platform=platform, background=False)
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_lead_logs_in_and_reads_the_counts(
    platform: Platform, server: str, tmp_path: Path
) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright, expect

    await launch(platform, spec_data(segments=[]))
    await add_user(platform, "lead@health.example", "lead")

    async with async_playwright() as playwright:
        executable = chromium_executable()
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
        except PlaywrightError as exc:
            if executable is not None or "Executable doesn't exist" not in str(exc):
                raise
            browser = None
        if browser is None:  # outside the handler, so the failure is the one line alone
            pytest.fail(NO_CHROMIUM, pytrace=False)
        try:
            # A participant answers on the public page, in a context of their own.
            participant = await browser.new_context()
            page = await participant.new_page()
            await page.goto(f"{server}/c/outpatient-booking")
            await page.get_by_role("button", name="Yes, I agree").click()
            await page.get_by_label("Hard", exact=True).check()
            await page.get_by_label("What one thing would make booking easier?").fill(
                "Evening appointments"
            )
            await page.get_by_role("button", name="Send my answers").click()
            await expect(
                page.get_by_text("Thank you. We will share what we change.")
            ).to_be_visible()
            await participant.close()

            # The lead goes to the consultation, is sent to log in, and comes back to it.
            lead = await browser.new_context(viewport={"width": 1100, "height": 900})
            page = await lead.new_page()
            await page.goto(f"{server}/dashboard/c/outpatient-booking")
            await expect(
                page.get_by_role("heading", name="Log in to the dashboard")
            ).to_be_visible()
            await page.get_by_label("Email").fill("lead@health.example")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()

            await expect(
                page.get_by_role("heading", level=1, name="Improving outpatient booking")
            ).to_be_visible()
            assert page.url == f"{server}/dashboard/c/outpatient-booking"
            await expect(page.get_by_text("2 responses from 1 participant.")).to_be_visible()
            table = page.get_by_role("table", name="Responses by question")
            ease = table.get_by_role("row").filter(has_text="How easy was it to book")
            await expect(ease.get_by_role("cell").last).to_have_text("1")
            await expect(page.get_by_role("button", name="Close consultation")).to_be_visible()

            shot = tmp_path / "dashboard-consultation.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            await page.get_by_role("link", name="Consultations").click()
            row = page.get_by_role("row").filter(has_text="Improving outpatient booking")
            await expect(row.get_by_role("cell").nth(3)).to_have_text("1")
            await page.get_by_role("button", name="Log out").click()
            await expect(page.get_by_role("heading", name="Logged out")).to_be_visible()
            await lead.close()
        finally:
            await browser.close()
