"""WCAG 2.2 AA in a real browser: axe-core on every page and state, keyboard, reflow.

Headless Chromium (as in test_dashboard_browser.py) against the whole web app. axe-core
(npm package, fetched pinned by scripts/test-services into tests/vendor/, or named by
ENGAGE_TEST_AXE) is injected into each page and must find no violation of the WCAG 2.0,
2.1 and 2.2 A and AA rules. A person then completes a consultation with the keyboard
alone, the focus ring is checked, and pages are read at 320 CSS pixels and with text at
200% without sideways scrolling.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Settings
from bot.platform import Platform
from bot.web.app import create_app
from tests.bot.test_dashboard import PASSWORD, add_user
from tests.bot.test_dashboard_browser import CHROMIUM_ARGS, NO_CHROMIUM, chromium_executable
from tests.helpers import launch, spec_data

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
AXE_VERSION = "4.10.3"
THANKS = "Thank you. We will share what we change."
SAFETY_HEADING = "Thank you for telling us"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

SPEC = spec_data(
    items=[
        {
            "id": "ease",
            "type": "poll",
            "text": "How easy was it to book your last appointment?",
            "options": ["Very easy", "Easy", "Neither", "Hard", "Very hard"],
        },
        {
            "id": "ways",
            "type": "poll",
            "text": "How would you like to book?",
            "options": ["Online", "By phone", "In person"],
            "multiple": True,
        },
        {"id": "one-thing", "type": "prompt", "text": "What one thing would make booking easier?"},
        {"id": "reminder", "type": "thread", "text": "What should the reminder say?"},
    ],
)


def axe_source() -> str:
    """axe-core's script; the test fails saying how to get it when it is missing."""
    path = Path(
        os.environ.get("ENGAGE_TEST_AXE")
        or ROOT / "tests" / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    )
    if not path.is_file():
        pytest.fail(
            f"no axe-core at {path}: run the tests through scripts/test-services, which "
            f"fetches axe-core {AXE_VERSION} with npm, or set ENGAGE_TEST_AXE",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")


@pytest.fixture
async def server(settings: Settings, platform: Platform) -> AsyncIterator[str]:
    """The whole web app on an ephemeral port, new participants per minute kept low."""
    app = create_app(settings, platform=platform, background=False)
    app.cleanup_ctx.clear()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class Checker:
    """Runs axe on the page in view and keeps every violation, named by the state."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.violations: dict[str, list[str]] = {}
        self.states: list[str] = []

    async def check(self, page: Any, state: str) -> None:
        await page.evaluate(self.source)
        found = await page.evaluate(
            "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
            ".violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
            AXE_TAGS,
        )
        # Controls at least 24 by 24 CSS pixels (WCAG 2.5.8; axe checks only their spacing).
        found += await page.evaluate(
            "() => [...document.querySelectorAll("
            "'button, input:not([type=hidden]), select, textarea, summary')]"
            ".filter(e => { const r = e.getBoundingClientRect();"
            " return r.width > 0 && (r.width < 24 || r.height < 24); })"
            ".map(e => 'target-size-24: ' + (e.id || e.name || e.tagName))"
        )
        self.states.append(state)
        if found:
            self.violations[state] = list(found)


async def _reflows(page: Any) -> bool:
    """Whether the page needs no sideways scrolling at its current width."""
    return bool(
        await page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


async def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"() => document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_every_page_and_state_meets_wcag_aa(
    platform: Platform, server: str, settings: Settings
) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright, expect

    source = axe_source()
    await launch(platform, SPEC)
    await launch(platform, spec_data(id="arabic", language="ar", title="تحسين الحجز", segments=[]))
    await launch(platform, spec_data(id="welsh", language="cy", segments=[]))
    closed = spec_data(id="finished", segments=[])
    await launch(platform, closed)
    ideas = spec_data(
        id="ideas",
        model="idea-crowdsourcing",
        segments=[],
        items=[
            {
                "id": "clinic",
                "type": "statements",
                "text": "What would make the new clinic better?",
                "seed": ["Open on Saturdays", "More parking near the door"],
            }
        ],
    )
    await launch(platform, ideas)
    from consultations import service

    async with platform.sessionmaker.begin() as session:
        await service.close(session, "finished")
    await add_user(platform, "lead@health.example", "lead")
    await add_user(platform, "admin@health.example", "admin")
    axe = Checker(source)

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
        if browser is None:
            pytest.fail(NO_CHROMIUM, pytrace=False)
        try:
            # axe is injected past the pages' script-free Content-Security-Policy.
            context = await browser.new_context(bypass_csp=True)
            page = await context.new_page()
            # The checker finds what it should: an unlabelled box in a page with no language.
            await page.set_content("<html><body><main><input></main></body></html>")
            await axe.check(page, "a broken page")
            assert {v.split(":")[0] for v in axe.violations.pop("a broken page")} >= {
                "html-has-lang",
                "label",
            }
            axe.states.clear()
            await page.goto(f"{server}/")
            await axe.check(page, "index")
            await page.goto(f"{server}/c/outpatient-booking")
            await axe.check(page, "consent")
            await page.get_by_role("button", name="Yes, I agree").click()
            await expect(page.get_by_role("heading", name="About you")).to_be_visible()
            await axe.check(page, "segments")
            await page.get_by_label("Carer", exact=True).check()
            await page.get_by_role("button", name="Continue").click()
            await axe.check(page, "items: poll, several-choice poll, prompt, thread")
            await page.get_by_label("Hard", exact=True).check()
            await page.get_by_label("Online", exact=True).check()
            await page.get_by_label("What one thing would make booking easier?").fill("Texts")
            await page.get_by_role("button", name="Send my answers").click()
            await expect(
                page.get_by_text("Thank you. We will share what we change.")
            ).to_be_visible()
            await axe.check(page, "thank-you, answers to change")
            await page.get_by_label("Add your idea").fill("Say the clinic name")
            await page.get_by_role("button", name="Post", exact=True).click()
            await page.locator("summary", has_text="Reply").first.click()
            await axe.check(page, "thread with a post, reply open")
            await page.goto(f"{server}/c/outpatient-booking?missing=reminder")
            # The error is named at the top and has the focus; its link leads to the box.
            await expect(page.locator(".error-summary")).to_be_focused()
            await axe.check(page, "empty post: error tied to its field")
            await page.locator(".error-summary a").click()
            await expect(page.locator("#thread-reminder")).to_be_focused()
            await page.locator("summary", has_text="Reply").first.click()
            await page.get_by_label("Your reply").first.fill("   ")
            await page.get_by_role("button", name="Send reply").first.click()
            await expect(page.locator(".error-summary")).to_be_focused()
            await expect(page.get_by_label("Your reply").first).to_have_attribute(
                "aria-invalid", "true"
            )
            await axe.check(page, "empty reply: error tied to its field")
            # Someone else posts too often and is asked to wait.
            other = await browser.new_context(bypass_csp=True)
            busy = await other.new_page()
            await busy.goto(f"{server}/c/outpatient-booking")
            await busy.get_by_role("button", name="Yes, I agree").click()
            await busy.get_by_role("button", name="Continue").click()
            for number in range(6):  # five posts a minute, then a wait
                if not await busy.get_by_label("Add your idea").count():
                    break
                await busy.get_by_label("Add your idea").fill(f"Idea {number}")
                await busy.get_by_role("button", name="Post", exact=True).click()
            await expect(busy.get_by_role("heading", name="Please wait a moment")).to_be_visible()
            await axe.check(busy, "rate-limited (429)")
            await other.close()
            await page.goto(f"{server}/c/outpatient-booking")
            await page.get_by_label("Add your idea").fill("I want to kill myself")
            await page.get_by_role("button", name="Post", exact=True).click()
            await expect(
                page.get_by_role("heading", name="Thank you for telling us")
            ).to_be_visible()
            await axe.check(page, "safety message")
            await page.goto(f"{server}/c/finished")
            await axe.check(page, "closed")
            await page.goto(f"{server}/c/nothing-here")
            await axe.check(page, "not found (404)")
            await page.goto(f"{server}/c/arabic")
            await expect(page.locator("html")).to_have_attribute("dir", "rtl")
            await axe.check(page, "consent, Arabic, right to left")
            await page.goto(f"{server}/c/welsh")
            await page.evaluate("() => document.querySelector('button[value=yes]').value = 'maybe'")
            await page.get_by_role("button", name="Ydw, rwy'n cytuno").click()
            await expect(page.get_by_role("alert")).to_be_visible()
            await axe.check(page, "form error (400), Welsh")
            await page.goto(f"{server}/c/welsh")
            await page.get_by_role("button", name="Dim diolch").click()
            await axe.check(page, "declined consent")
            await page.goto(f"{server}/c/arabic")
            await page.get_by_role("button", name="Yes, I agree").click()
            await axe.check(page, "questions, right to left")
            await page.get_by_role("button", name="Leave this consultation").click()
            await axe.check(page, "left")
            await page.goto(f"{server}/c/ideas")
            await page.get_by_role("button", name="Yes, I agree").click()
            await expect(page.get_by_role("button", name="Agree", exact=True)).to_be_visible()
            await axe.check(page, "statement voting: a statement to vote on")
            await page.get_by_role("button", name="Agree", exact=True).click()
            await expect(page.get_by_text("your vote is counted")).to_be_visible()
            await axe.check(page, "statement voting: after a vote")
            await context.close()

            lead = await browser.new_context(bypass_csp=True)
            page = await lead.new_page()
            await page.goto(f"{server}/dashboard/login")
            await axe.check(page, "dashboard: log in")
            await page.get_by_label("Email").fill("lead@health.example")
            await page.get_by_label("Password").fill("not the password")
            await page.get_by_role("button", name="Log in").click()
            await axe.check(page, "dashboard: log in refused")
            await page.get_by_label("Email").fill("lead@health.example")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await axe.check(page, "dashboard: consultations")
            await page.goto(f"{server}/dashboard/c/outpatient-booking")
            await axe.check(page, "dashboard: consultation")
            await page.goto(f"{server}/dashboard/moderation")
            await axe.check(page, "dashboard: moderation queue")
            await page.goto(f"{server}/dashboard/delivery")
            await axe.check(page, "dashboard: delivery")
            await page.goto(f"{server}/dashboard/password")
            await axe.check(page, "dashboard: your password")
            await page.get_by_label("Current password").fill("not the password")
            await page.get_by_label("New password", exact=True).fill("a password of my own")
            await page.get_by_label("New password again").fill("a password of my own")
            await page.get_by_role("button", name="Change the password").click()
            await expect(page.get_by_role("alert")).to_be_visible()
            await axe.check(page, "dashboard: your password, refused")
            await page.get_by_role("button", name="Log out").click()
            await axe.check(page, "dashboard: logged out")
            await lead.close()

            admin = await browser.new_context(bypass_csp=True)
            page = await admin.new_page()
            await page.goto(f"{server}/dashboard/login")
            await page.get_by_label("Email").fill("admin@health.example")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.goto(f"{server}/dashboard/accounts")
            await axe.check(page, "dashboard: accounts")
            await page.locator("#add-email").fill("lead@health.example")
            await page.locator("#add-role").select_option("viewer")
            await page.get_by_role("button", name="Add the account").click()
            await expect(page.get_by_role("alert")).to_be_visible()
            await axe.check(page, "dashboard: accounts, an account not added")
            await page.locator("#add-email").fill("newcomer@health.example")
            await page.locator("#add-role").select_option("moderator")
            await page.get_by_role("button", name="Add the account").click()
            await expect(page.locator("code.secret")).to_be_visible()
            await axe.check(page, "dashboard: new account, its password shown once")
            await admin.close()
        finally:
            await browser.close()
    assert len(axe.states) >= 20
    assert axe.violations == {}


async def test_a_consultation_completed_with_the_keyboard_alone(
    platform: Platform, server: str
) -> None:
    from playwright.async_api import async_playwright, expect

    await launch(platform, SPEC)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{server}/c/outpatient-booking")
            # The skip link comes first and shows when focused, with a visible ring.
            await page.keyboard.press("Tab")
            assert await page.evaluate("() => document.activeElement.className") == "skip"
            ring = await page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
            )
            assert ring[0] != "none" and ring[1] >= 2
            await _tab_to(page, "button[value=yes]")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="About you")).to_be_visible()
            await _tab_to(page, "input[type=radio]")
            await page.keyboard.press("ArrowDown")  # the second option: Carer
            await _tab_to(page, "form[action$=answers] button")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="Your views")).to_be_visible()
            await _tab_to(page, "input[name='item:ease']")
            await page.keyboard.press("Space")
            await _tab_to(page, "input[name='item:ways']")
            await page.keyboard.press("Space")
            await _tab_to(page, "textarea[name='item:one-thing']")
            await page.keyboard.type("Evening slots")
            await _tab_to(page, "form[action$=answers] button")
            await page.keyboard.press("Enter")
            await expect(
                page.get_by_text("Thank you. We will share what we change.")
            ).to_be_visible()
            await expect(page.get_by_label("Very easy", exact=True)).to_be_checked()
            await expect(page.get_by_label("Online", exact=True)).to_be_checked()
            # A thread post, by keyboard: the box, then Post.
            await _tab_to(page, "textarea#thread-reminder")
            await page.keyboard.type("Say the time")
            await page.keyboard.press("Tab")
            await page.keyboard.press("Enter")
            await expect(page.get_by_text("Say the time", exact=True)).to_be_visible()
        finally:
            await browser.close()
    async with platform.sessionmaker() as session:
        from sqlalchemy import select

        from storage.tables import Response

        stored = {r.item_id: (r.choices, r.text) for r in await session.scalars(select(Response))}
    assert stored["ease"] == (["Very easy"], None)
    assert stored["ways"] == (["Online"], None)
    assert stored["one-thing"][1] == "Evening slots"
    assert stored["role"] == (["Carer"], None)
    assert stored["reminder"][1] == "Say the time"


@pytest.mark.parametrize(("width", "text_size"), [(320, "100%"), (640, "200%"), (1280, "200%")])
async def test_pages_reflow_without_sideways_scrolling(
    platform: Platform, server: str, width: int, text_size: str
) -> None:
    from playwright.async_api import async_playwright

    await launch(platform, SPEC)
    await add_user(platform, "admin@health.example", "admin")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": width, "height": 700})
            page = await context.new_page()
            grow = f"() => {{ document.documentElement.style.fontSize = '{text_size}'; }}"
            seen = []
            for step in ("consent", "segments", "items", "answered"):
                if step == "consent":
                    await page.goto(f"{server}/c/outpatient-booking")
                await page.evaluate(grow)
                seen.append((step, await _reflows(page)))
                if step == "consent":
                    await page.get_by_role("button", name="Yes, I agree").click()
                elif step == "segments":
                    await page.get_by_role("button", name="Continue").click()
                elif step == "items":
                    await page.get_by_label("What one thing would make booking easier?").fill(
                        "A_very_long_word_without_any_break_" * 4
                    )
                    await page.get_by_role("button", name="Send my answers").click()
            await page.goto(f"{server}/dashboard/login")
            await page.evaluate(grow)
            seen.append(("dashboard login", await _reflows(page)))
            # The dashboard's wide tables scroll in their own regions, not the page.
            await page.get_by_label("Email").fill("admin@health.example")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            for path in (
                "",
                "/c/outpatient-booking",
                "/c/outpatient-booking/report?stage=plan",
                "/accounts",
                "/delivery",
                "/moderation",
            ):
                await page.goto(f"{server}/dashboard{path}")
                await page.evaluate(grow)
                seen.append((f"dashboard{path}", await _reflows(page)))
        finally:
            await browser.close()
    assert seen == [(step, True) for step, _ in seen]


async def test_a_consultation_completed_with_javascript_off(
    platform: Platform, server: str
) -> None:
    from playwright.async_api import async_playwright, expect

    await launch(platform, SPEC)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(f"{server}/c/outpatient-booking")
            await page.get_by_role("button", name="Yes, I agree").click()
            await page.get_by_label("Patient", exact=True).check()
            await page.get_by_role("button", name="Continue").click()
            await page.get_by_label("Easy", exact=True).check()
            await page.get_by_label("By phone", exact=True).check()
            await page.get_by_label("What one thing would make booking easier?").fill("Calls")
            await page.get_by_role("button", name="Send my answers").click()
            await expect(page.get_by_text(THANKS)).to_be_visible()
            await page.get_by_label("Add your idea").fill("Name the clinic")
            await page.get_by_role("button", name="Post", exact=True).click()
            await expect(page.get_by_text("Name the clinic", exact=True)).to_be_visible()
        finally:
            await browser.close()
