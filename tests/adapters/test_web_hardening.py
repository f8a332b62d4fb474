"""The web channel against stuffing and odd input: single-use nonces, limits, paging.

Each finding of the security review has a test here: server-issued single-use nonces,
a changed answer replacing the earlier one, new participants per address (and whose
``X-Forwarded-For`` is believed), thread posts per person, paged thread lists, and
malformed posts answered with a 4xx, never a 5xx.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from sqlalchemy import func, select

from bot.config import ConfigError, Settings, load_settings
from bot.platform import Platform, configured_adapters, create_platform
from bot.web.app import create_app
from bot.web.guards import ClientAddress, FormNonces, KeyedHash, RateWindows
from bot.web.templating import TEXT_MAX
from consultations import records, service
from storage.tables import FormNonce, Participant, RateWindow, Response, utcnow
from tests.helpers import form_fields, launch, spec_data, statements_sent, tentative_flag

Client = TestClient[Any, Any]
CID = "outpatient-booking"
PAGE = f"/c/{CID}"
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client_with(settings: Settings, platform: Platform) -> AsyncIterator[ClientFactory]:
    """Makes web clients over the shared platform with some settings changed."""
    clients: list[Client] = []

    async def make(**changes: Any) -> Client:
        changed = dataclasses.replace(settings, **changes)
        app = create_app(changed, platform=platform, adapters=configured_adapters, background=False)
        app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def _count(platform: Platform, column: Any) -> int:
    async with platform.sessionmaker() as session:
        return int(await session.scalar(select(func.count(column))) or 0)


async def _export(platform: Platform) -> list[dict[str, Any]]:
    import io

    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, CID, out, "json")
    return list(json.loads(out.getvalue()))


async def _consented(client: Client, **headers: str) -> tuple[int, str]:
    """A new person (fresh cookies) opens the page and agrees: the status and page."""
    client.session.cookie_jar.clear()
    page = await (await client.get(PAGE, headers=headers)).text()
    fields = form_fields(page, f"{PAGE}/consent")
    response = await client.post(
        f"{PAGE}/consent", data={**fields, "answer": "yes"}, headers=headers
    )
    return response.status, await response.text()


async def _start(client: Client) -> str:
    """One person past consent: the page with the questions."""
    status, page = await _consented(client)
    assert status == 200
    return page


# -- single-use nonces -------------------------------------------------------------


async def test_replayed_form_stores_nothing_more(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    first = await web_client.post(f"{PAGE}/answers", data={**fields, "item:ease": "Easy"})
    assert first.status == 200
    replay = await web_client.post(
        f"{PAGE}/answers", data={**fields, "item:ease": "Hard"}, allow_redirects=False
    )
    # A resubmitted form shows the current page: no error, and nothing stored.
    assert replay.status == 303 and replay.headers["Location"] == PAGE
    exported = await _export(platform)
    assert [r["choices"] for r in exported] == [["Easy"]]


async def test_client_invented_nonce_stores_nothing(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await (await web_client.get(PAGE)).text()
    fields = form_fields(page, f"{PAGE}/consent")
    for nonce in ("my-own-nonce-123", fields["nonce"] + "x", "A" * 64):
        response = await web_client.post(
            f"{PAGE}/consent", data={**fields, "nonce": nonce, "answer": "yes"}
        )
        assert response.status == 200
        assert "Before you start" in await response.text()
    assert await _count(platform, Participant.id) == 0
    assert await _count(platform, Response.id) == 0


async def test_a_non_ascii_nonce_gets_400_and_stores_nothing(
    platform: Platform, web_client: Client
) -> None:
    """CONTRACT.md: a non-ASCII token gets a 4xx. A nonce with characters no issued nonce
    has is a broken form (400), not a resubmitted one shown the page again (303)."""
    await launch(platform, spec_data(segments=[]))
    page = await (await web_client.get(PAGE)).text()
    fields = form_fields(page, f"{PAGE}/consent")
    for nonce in ("é" * 12, fields["nonce"][:-1] + "é", "\u2603" * 10, "nonce with spaces"):
        for path, extra in (
            ("consent", {"answer": "yes"}),
            ("answers", {"item:ease": "Easy"}),
            ("threads/reminder", {"text": "Text the day before"}),
            ("stop", {}),
            ("erase", {}),
        ):
            response = await web_client.post(
                f"{PAGE}/{path}",
                data={**fields, "nonce": nonce, **extra},
                allow_redirects=False,
            )
            assert response.status == 400, (nonce, path, response.status)
    assert await _count(platform, Participant.id) == 0
    assert await _count(platform, Response.id) == 0


async def test_form_nonce_table_keeps_hashes_only(platform: Platform, web_client: Client) -> None:
    await launch(platform)
    page = await (await web_client.get(PAGE)).text()
    nonce = form_fields(page, f"{PAGE}/consent")["nonce"]
    await web_client.post(
        f"{PAGE}/consent", data={**form_fields(page, f"{PAGE}/consent"), "answer": "yes"}
    )
    async with platform.sessionmaker() as session:
        ids = (await session.scalars(select(FormNonce.id))).all()
    assert len(ids) == 1 and nonce not in ids[0] and len(ids[0]) == 64


async def test_page_views_add_no_nonce_rows(
    platform: Platform, web_client: Client, settings: Settings
) -> None:
    """One client fetching the page in a loop, keeping its cookie or not, grows nothing."""
    await launch(platform, spec_data(segments=[]))
    before = await _count(platform, FormNonce.id)
    pages = []
    for number in range(200):
        if number % 2:
            web_client.session.cookie_jar.clear()  # a new visitor every other time
        response = await web_client.get(PAGE)
        assert response.status == 200
        pages.append(await response.text())
    assert before == 0
    assert await _count(platform, FormNonce.id) == 0
    # Every page's nonce still works once: the back button and a second tab lose nothing.
    page = await _start(web_client)
    first = form_fields(page, f"{PAGE}/answers")
    second = form_fields(await (await web_client.get(PAGE)).text(), f"{PAGE}/answers")
    assert first["nonce"] != second["nonce"]
    for fields, choice in ((second, "Hard"), (first, "Easy")):
        sent = await web_client.post(
            f"{PAGE}/answers", data={**fields, "item:ease": choice}, allow_redirects=False
        )
        assert sent.status == 303
    again = await web_client.post(
        f"{PAGE}/answers", data={**first, "item:ease": "Neither"}, allow_redirects=False
    )
    assert again.status == 303
    assert [r["choices"] for r in await _export(platform) if r["item"] == "ease"] == [["Easy"]]
    # One row per form taken (consent and the two answers), however many pages were shown.
    assert await _count(platform, FormNonce.id) == 3


async def test_two_workers_never_both_accept_one_nonce(platform: Platform) -> None:
    from tests.conftest import TEST_SECRET

    workers = [FormNonces(platform.sessionmaker, TEST_SECRET) for _ in range(4)]
    nonce = workers[0].issue()
    claims = await asyncio.gather(*(w.claim(nonce) for w in workers))
    assert sorted(claims) == [False, False, False, True]


async def test_nonces_are_issued_without_a_write_and_each_is_used_once(
    platform: Platform,
) -> None:
    from tests.conftest import TEST_SECRET

    nonces = FormNonces(platform.sessionmaker, TEST_SECRET)
    with statements_sent(platform.engine) as sent:
        issued = [nonces.issue() for _ in range(30)]
    assert not sent
    assert len(set(issued)) == 30 and all(len(n) <= 64 for n in issued)
    # Claimed together (as a group commit does): one statement, each taken once.
    async with platform.sessionmaker.begin() as session:
        first = await nonces.admit(session, [*issued, issued[0]])
    assert first == [True] * 30 + [False]
    again = await asyncio.gather(*(nonces.claim(n) for n in issued))
    assert not any(again)
    assert await _count(platform, FormNonce.id) == 30
    # Another key's nonce, a changed one, or one without a signature is refused.
    other = FormNonces(platform.sessionmaker, TEST_SECRET + "-other")
    issued_at, random, mac = nonces.issue().split(".")
    forged = [
        other.issue(),
        f"{int(issued_at) + 1}.{random}.{mac}",
        f"{issued_at}.{random}.{mac[:-1]}",
        f"{issued_at}.{random}",
        "not.a.nonce",
    ]
    assert not any(await asyncio.gather(*(nonces.claim(n) for n in forged)))
    assert await _count(platform, FormNonce.id) == 30


async def test_old_nonces_expire_and_are_pruned(platform: Platform) -> None:
    from tests.conftest import TEST_SECRET

    long_ago = utcnow() - timedelta(days=2)
    old = FormNonces(platform.sessionmaker, TEST_SECRET, clock=lambda: long_ago)
    assert await old.claim(old.issue())  # used two days ago: its row is stale now
    stale = old.issue()
    fresh = FormNonces(platform.sessionmaker, TEST_SECRET)
    assert await _count(platform, FormNonce.id) == 1
    assert not await fresh.claim(stale)
    # A worker's first claim prunes.
    assert await _count(platform, FormNonce.id) == 0
    assert await fresh.claim(fresh.issue())
    assert await _count(platform, FormNonce.id) == 1


async def test_a_page_shown_before_nonces_were_signed_still_takes_its_form(
    platform: Platform,
) -> None:
    """A nonce issued as before (a row written when the page was shown) is used once."""
    from tests.conftest import TEST_SECRET

    earlier = "A1b2C3d4E5f6G7h8I9j0_-Kl"
    digest = KeyedHash(TEST_SECRET, "engage web form nonce")(earlier)
    async with platform.sessionmaker.begin() as session:
        session.add(FormNonce(id=digest, issued_at=utcnow()))
    nonces = FormNonces(platform.sessionmaker, TEST_SECRET)
    assert await nonces.claim(earlier)
    assert not await nonces.claim(earlier)


# -- a changed answer replaces the earlier one ---------------------------------------


async def test_changed_poll_and_prompt_answers_replace_the_earlier(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    page = await (
        await web_client.post(
            f"{PAGE}/answers",
            data={**fields, "item:ease": "Hard", "item:one-thing": "Evening slots"},
        )
    ).text()
    assert "Thank you. We will share what we change." in page
    # The page shows the current answers, ready to change.
    assert re.search(r'value="Hard" checked>', page)
    assert ">Evening slots</textarea>" in page
    fields = form_fields(page, f"{PAGE}/answers")
    page = await (
        await web_client.post(
            f"{PAGE}/answers",
            data={**fields, "item:ease": "Easy", "item:one-thing": "Text reminders"},
        )
    ).text()
    assert re.search(r'value="Easy" checked>', page)
    assert ">Text reminders</textarea>" in page
    exported = await _export(platform)
    by_item = {r["item"]: r for r in exported}
    assert len(exported) == 2
    assert by_item["ease"]["choices"] == ["Easy"]
    assert by_item["one-thing"]["text"] == "Text reminders"


async def test_every_box_unticked_takes_back_a_multiple_choice_answer(
    platform: Platform, web_client: Client
) -> None:
    days = {
        "id": "days",
        "type": "poll",
        "multiple": True,
        "text": "Which days suit you?",
        "options": ["Monday", "Wednesday", "Saturday"],
    }
    await launch(platform, spec_data(segments=[], items=[days]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    page = await (
        await web_client.post(
            f"{PAGE}/answers",
            data=[*fields.items(), ("item:days", "Monday"), ("item:days", "Saturday")],
        )
    ).text()
    assert [r["choices"] for r in await _export(platform)] == [["Monday", "Saturday"]]
    # The page now shows the answer ticked; sent back with every box unticked.
    assert re.search(r'value="Saturday" checked>', page)
    fields = form_fields(page, f"{PAGE}/answers")
    page = await (await web_client.post(f"{PAGE}/answers", data=fields)).text()
    assert await _export(platform) == []
    assert "checked>" not in page
    # Ticked again later: one answer, the new one.
    fields = form_fields(page, f"{PAGE}/answers")
    await web_client.post(f"{PAGE}/answers", data=[*fields.items(), ("item:days", "Wednesday")])
    assert [r["choices"] for r in await _export(platform)] == [["Wednesday"]]


async def test_a_disclosure_replaced_by_a_later_answer_stays_with_its_case_only(
    platform: Platform, web_client: Client
) -> None:
    from consultations import moderation, reporting

    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    # Flagged tentatively: the helplines as a check-in, and the questions go on.
    disclosure = tentative_flag()
    await web_client.post(f"{PAGE}/answers", data={**fields, "item:one-thing": disclosure})
    page = await (await web_client.get(PAGE)).text()
    fields = form_fields(page, f"{PAGE}/answers")
    await web_client.post(f"{PAGE}/answers", data={**fields, "item:one-thing": "Evening slots"})
    # The item holds one answer, the later one, in the export and the item's count.
    exported = await _export(platform)
    assert [(r["item"], r["text"], r["flags"]) for r in exported] == [
        ("one-thing", "Evening slots", [])
    ]
    async with platform.sessionmaker() as session:
        summary = await service.summary(session, CID)
        cases = await moderation.open_cases(session, CID)
        report = json.loads(await reporting.render(session, CID, fmt="json"))
    assert summary.by_item.get("one-thing") == 1
    # The moderator still reads what was said, and the report still counts it.
    assert [c.text for c in cases] == [disclosure]
    assert report["safety"]["flagged"] == 1
    assert disclosure not in json.dumps(report)


async def test_a_participant_posting_after_the_close_gets_410_and_nothing_is_used(
    platform: Platform, web_client: Client, settings: Settings
) -> None:
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    page = await (
        await web_client.post(f"{PAGE}/answers", data={**fields, "item:ease": "Hard"})
    ).text()
    # A participant now, known to the page: the close is found where answers are stored.
    fields = form_fields(page, f"{PAGE}/answers")
    async with platform.sessionmaker.begin() as session:
        await service.close(session, CID)
    late = await web_client.post(
        f"{PAGE}/answers", data={**fields, "item:ease": "Easy"}, allow_redirects=False
    )
    assert late.status == 410
    assert "It no longer takes answers." in unescape(await late.text())
    exported = await _export(platform)
    assert [r["choices"] for r in exported if r["item"] == "ease"] == [["Hard"]]
    # The form's nonce was not used: nothing of the refused post was stored.
    digest = KeyedHash(settings.secret_key, "engage web form nonce")(fields["nonce"])
    async with platform.sessionmaker() as session:
        assert await session.get(FormNonce, digest) is None


async def test_a_thread_post_after_the_close_gets_410_before_counting_against_a_limit(
    platform: Platform, web_client: Client
) -> None:
    from consultations import service

    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/threads/reminder")
    page = await (
        await web_client.post(f"{PAGE}/threads/reminder", data={**fields, "text": "First idea"})
    ).text()
    async with platform.sessionmaker() as session:
        counted = await session.scalar(select(func.sum(RateWindow.count)))
    fields = form_fields(page, f"{PAGE}/threads/reminder")
    async with platform.sessionmaker.begin() as session:
        await service.close(session, CID)
    late = await web_client.post(
        f"{PAGE}/threads/reminder", data={**fields, "text": "Too late"}, allow_redirects=False
    )
    assert late.status == 410
    assert await _count(platform, Response.id) == 1
    async with platform.sessionmaker() as session:
        # Nothing was counted for the refused post.
        assert await session.scalar(select(func.sum(RateWindow.count))) == counted


async def test_thread_posts_are_not_replaced(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    for text in ("First idea", "Second idea"):
        fields = form_fields(page, f"{PAGE}/threads/reminder")
        page = await (
            await web_client.post(f"{PAGE}/threads/reminder", data={**fields, "text": text})
        ).text()
    assert "First idea" in page and "Second idea" in page
    assert await _count(platform, Response.id) == 2


async def test_a_free_text_longer_than_the_page_takes_is_refused_before_screening(
    platform: Platform, web_client: Client
) -> None:
    # Screening and analysis take time in proportion to a text's length: 256 KiB in one
    # answer took seconds of the server's time, again at each post from one cookie.
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    assert page.count(f'maxlength="{TEXT_MAX}"') == 2  # the prompt's box and the thread's
    too_long = "word " * (TEXT_MAX // 5) + "x"
    for action, field in (
        (f"{PAGE}/answers", "item:one-thing"),
        (f"{PAGE}/threads/reminder", "text"),
    ):
        fields = form_fields(await (await web_client.get(PAGE)).text(), action)
        refused = await web_client.post(action, data={**fields, field: too_long})
        assert refused.status == 400
        assert f"to {TEXT_MAX} characters or fewer; yours has {len(too_long)}" in unescape(
            await refused.text()
        )
    assert await _count(platform, Response.id) == 0
    # Up to the limit, a text is taken whole.
    whole = "word " * (TEXT_MAX // 5 - 1) + "last"
    fields = form_fields(await (await web_client.get(PAGE)).text(), f"{PAGE}/answers")
    await web_client.post(f"{PAGE}/answers", data={**fields, "item:one-thing": whole})
    assert [r["text"] for r in await _export(platform)] == [whole]


# -- new participants per client address ---------------------------------------------


async def test_31st_new_participant_from_one_address_gets_429(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    for _ in range(30):
        status, _ = await _consented(web_client)
        assert status == 200
    web_client.session.cookie_jar.clear()
    page = await (await web_client.get(PAGE)).text()
    fields = form_fields(page, f"{PAGE}/consent")
    response = await web_client.post(f"{PAGE}/consent", data={**fields, "answer": "yes"})
    assert response.status == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Please wait" in await response.text()
    # The page says when to try again, as Retry-After does (WCAG 2.2.1: the person knows).
    assert f"You can try again in {wait} second" in await response.text()
    assert "Content-Security-Policy" in response.headers
    assert await _count(platform, Participant.id) == 30
    # Known people go on as before.
    async with platform.sessionmaker() as session:
        keys = (await session.scalars(select(RateWindow.key))).all()
    assert keys and not any("127.0.0.1" in key for key in keys)


async def test_limit_zero_turns_it_off(platform: Platform, client_with: ClientFactory) -> None:
    await launch(platform, spec_data(segments=[]))
    client = await client_with(web_new_participants_per_minute=0)
    for _ in range(3):
        assert (await _consented(client))[0] == 200
    assert await _count(platform, RateWindow.key) == 0


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    platform: Platform, client_with: ClientFactory
) -> None:
    await launch(platform, spec_data(segments=[]))
    direct = await client_with(web_new_participants_per_minute=2)
    for address in ("203.0.113.1", "203.0.113.2"):
        assert (await _consented(direct, **{"X-Forwarded-For": address}))[0] == 200
    # Not from a trusted proxy: the header is ignored, and the peer has had its two.
    assert (await _consented(direct, **{"X-Forwarded-For": "203.0.113.3"}))[0] == 429

    proxied = await client_with(web_new_participants_per_minute=2, trusted_proxies=("127.0.0.0/8",))
    one = {"X-Forwarded-For": "198.51.100.7"}
    assert (await _consented(proxied, **one))[0] == 200
    assert (await _consented(proxied, **one))[0] == 200
    assert (await _consented(proxied, **one))[0] == 429
    # What the client wrote on the left is not believed: the right-most untrusted counts.
    spoofed = {"X-Forwarded-For": "192.0.2.50, 198.51.100.7"}
    assert (await _consented(proxied, **spoofed))[0] == 429
    other = {"X-Forwarded-For": "198.51.100.7, 198.51.100.8, 127.0.0.1"}
    assert (await _consented(proxied, **other))[0] == 200


def test_client_address_takes_the_right_most_untrusted() -> None:
    def request(peer: str, forwarded: str | None) -> web.Request:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        built = make_mocked_request("GET", "/", headers=headers)
        built._transport_peername = (peer, 1234)  # type: ignore[attr-defined]
        return built

    client = ClientAddress(["10.0.0.0/8", "2001:db8::1"])
    assert client.of(request("10.1.2.3", "1.2.3.4, 5.6.7.8, 10.9.9.9")) == "5.6.7.8"
    assert client.of(request("9.9.9.9", "1.2.3.4")) == "9.9.9.9"
    assert client.of(request("2001:db8::1", "10.0.0.1")) == "10.0.0.1"
    # An IPv6 client counts by its /64: one device's addresses are one client.
    assert client.of(request("2001:db8:1:2:aaaa::1", None)) == "2001:db8:1:2::/64"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (
            {"ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "lots"},
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE",
        ),
        (
            {"ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "-1"},
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE",
        ),
        ({"ENGAGE_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "ENGAGE_TRUSTED_PROXIES"),
        ({"ENGAGE_TRUSTED_PROXIES": "10.0.0.0/33"}, "ENGAGE_TRUSTED_PROXIES"),
        ({"ENGAGE_CHAT_MESSAGES_PER_MINUTE": "many"}, "ENGAGE_CHAT_MESSAGES_PER_MINUTE"),
        ({"ENGAGE_CHAT_MESSAGES_PER_MINUTE": "-5"}, "ENGAGE_CHAT_MESSAGES_PER_MINUTE"),
        ({"ENGAGE_INTAKE_PROCESSES": "two"}, "ENGAGE_INTAKE_PROCESSES"),
        ({"ENGAGE_INTAKE_PROCESSES": "65"}, "ENGAGE_INTAKE_PROCESSES"),
    ],
)
def test_invalid_web_limits_stop_start_up(value: dict[str, str], name: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(value, key_dir=tmp_path)
    message = str(raised.value)
    assert message.startswith(name) and "\n" not in message


def test_chat_messages_per_minute_setting(tmp_path: Any) -> None:
    assert load_settings({}, key_dir=tmp_path).chat_messages_per_minute == 0
    for text, limit in (("0", 0), ("120", 120), (" 12 ", 12)):
        loaded = load_settings({"ENGAGE_CHAT_MESSAGES_PER_MINUTE": text}, key_dir=tmp_path)
        assert loaded.chat_messages_per_minute == limit


async def test_the_chat_limit_reaches_the_runtime(settings: Settings) -> None:
    built = create_platform(dataclasses.replace(settings, chat_messages_per_minute=12))
    try:
        assert built.runtime.chat_messages_per_minute == 12
    finally:
        await built.aclose()


def test_intake_processes_are_the_machine_s_choice_unless_set(tmp_path: Any) -> None:
    assert load_settings({}, key_dir=tmp_path).intake_processes is None
    for text, processes in (("0", 0), ("2", 2), (" 1 ", 1)):
        loaded = load_settings({"ENGAGE_INTAKE_PROCESSES": text}, key_dir=tmp_path)
        assert loaded.intake_processes == processes


def test_web_limit_settings(tmp_path: Any) -> None:
    assert load_settings({}, key_dir=tmp_path).web_new_participants_per_minute == 30
    loaded = load_settings(
        {
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "0",
            "ENGAGE_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16,::1",
        },
        key_dir=tmp_path,
    )
    assert loaded.web_new_participants_per_minute == 0
    assert loaded.trusted_proxies == ("10.0.0.1/32", "192.168.0.0/16", "::1/128")


# -- thread posts per person, and pages of threads -----------------------------------


async def test_sixth_thread_post_in_a_minute_gets_429(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    for number in range(5):
        fields = form_fields(page, f"{PAGE}/threads/reminder")
        response = await web_client.post(
            f"{PAGE}/threads/reminder", data={**fields, "text": f"Idea {number}"}
        )
        assert response.status == 200
        page = await response.text()
    fields = form_fields(page, f"{PAGE}/threads/reminder")
    response = await web_client.post(
        f"{PAGE}/threads/reminder", data={**fields, "text": "One too many"}
    )
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert await _count(platform, Response.id) == 5


async def test_rate_window_starts_again_after_a_minute(platform: Platform) -> None:
    from tests.conftest import TEST_SECRET

    now = utcnow()
    clock = [now - timedelta(seconds=61)]
    windows = RateWindows(platform.sessionmaker, TEST_SECRET, clock=lambda: clock[0])
    assert await windows.hit("t", "someone", 1) is None
    assert await windows.hit("t", "someone", 1) is not None
    clock[0] = now
    assert await windows.hit("t", "someone", 1) is None
    assert await windows.hit("t", "someone else", 1) is None


async def test_thread_list_comes_a_page_at_a_time(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    await _start(web_client)
    async with platform.sessionmaker.begin() as session:
        person = await session.scalar(select(Participant.id))
        assert person is not None
        posts = [
            Response(
                consultation_id=CID,
                item_id="reminder",
                item_type="thread",
                participant_id=person,
                channel="web",
                text=f"Post number {n:02d}.",
                in_reply_to="item:reminder",
                public=True,
            )
            for n in range(1, 56)
        ]
        session.add_all(posts)
        await session.flush()
        session.add(
            Response(
                consultation_id=CID,
                item_id="reminder",
                item_type="thread",
                participant_id=person,
                channel="web",
                text="A reply to post 52.",
                in_reply_to=f"response:{posts[51].id}",
                public=True,
            )
        )
    first = await (await web_client.get(PAGE)).text()
    assert "Post number 01." in first and "Post number 50." in first
    assert "Post number 51." not in first and "A reply to post 52." not in first
    assert f'href="{PAGE}?page=2"' in first
    second = await (await web_client.get(f"{PAGE}?page=2")).text()
    assert "Post number 51." in second and "Post number 55." in second
    assert "A reply to post 52." in second and "Post number 50." not in second
    assert f'href="{PAGE}?page=1"' in second and "page=3" not in second
    for bad in ("0", "abc", "-1", "1e3", "99999999999", "２"):
        response = await web_client.get(PAGE, params={"page": bad})
        assert response.status == 400, bad


# -- malformed input -----------------------------------------------------------------


async def test_malformed_posts_get_a_4xx(platform: Platform, web_client: Client) -> None:
    await launch(platform, spec_data(segments=[]))
    await _start(web_client)

    async def fresh() -> dict[str, str]:
        text = await (await web_client.get(PAGE)).text()
        return form_fields(text, f"{PAGE}/answers")

    answers = f"{PAGE}/answers"
    thread = f"{PAGE}/threads/reminder"
    cases: list[tuple[str, str, Any, dict[str, str]]] = [
        ("missing nonce", answers, {"item:ease": "Easy"}, {}),
        ("unknown item", answers, {"item:no-such": "x"}, {}),
        ("thread as answer", answers, {"item:reminder": "x"}, {}),
        ("unknown segment", answers, {"segment:age": "x"}, {}),
        ("unknown thread", f"{PAGE}/threads/no-such", {"text": "hi"}, {}),
        ("unknown consultation", "/c/no-such/answers", {"item:ease": "Easy"}, {}),
        ("bad parent", thread, {"text": "hi", "parent": "response:x'--"}, {}),
        ("consent without answer", f"{PAGE}/consent", {}, {}),
        ("huge field", answers, {"item:one-thing": "x" * 400_000}, {}),
        ("odd path", "/c/%ff%fe/answers", {"item:ease": "Easy"}, {}),
    ]
    for name, action, extra, _ in cases:
        fields = await fresh()
        if name == "missing nonce":
            fields.pop("nonce")
        response = await web_client.post(action, data={**fields, **extra}, allow_redirects=False)
        assert 400 <= response.status < 500, (name, response.status)

    fields = await fresh()
    raw_bodies: list[tuple[bytes, str]] = [
        (
            f"csrf={fields['csrf']}&nonce={fields['nonce']}&item:one-thing=".encode() + b"\xff\xfe",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", "multipart/form-data"),
        (b"--b\r\nbroken", "multipart/form-data; boundary=b"),
        (b"\x00\x01\x02", "application/x-www-form-urlencoded"),
    ]
    for body, content_type in raw_bodies:
        response = await web_client.post(
            answers, data=body, headers={"Content-Type": content_type}, allow_redirects=False
        )
        assert 400 <= response.status < 500, (body[:20], response.status)

    # A cookie no page could have handed out (non-ASCII included) is no cookie at all.
    web_client.session.cookie_jar.clear()
    for cookie in ("héllo-wörld-0123456789", "\u2603" * 20, "a" * 500):
        raw = cookie.encode().decode("latin-1")  # the bytes a browser would send
        response = await web_client.post(
            answers,
            data={**fields, "item:ease": "Easy"},
            headers={"Cookie": f"engage_p={raw}"},
            allow_redirects=False,
        )
        assert 400 <= response.status < 500, (cookie, response.status)
        shown = await web_client.get(PAGE, headers={"Cookie": f"engage_p={raw}"})
        assert shown.status == 200
        assert "Before you start" in unescape(await shown.text())
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count(Response.id))) == 0


async def test_a_multipart_part_in_an_unknown_transfer_encoding_gets_400(
    platform: Platform, web_client: Client
) -> None:
    """CONTRACT.md: a broken multipart body gets a 4xx, never a 5xx. A part whose
    Content-Transfer-Encoding is none a form may have (aiohttp knows base64,
    quoted-printable, binary, 8bit and 7bit) is refused as a form that cannot be read."""
    await launch(platform, spec_data(segments=[]))
    await _start(web_client)
    before = await _count(platform, Response.id)
    for encoding in ("rot13", "x-unknown", "gzip", "uuencode"):
        fields = form_fields(await (await web_client.get(PAGE)).text(), f"{PAGE}/answers")
        parts = [
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        parts.append(
            '--b\r\nContent-Disposition: form-data; name="item:one-thing"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\nText me the day before\r\n--b--\r\n"
        )
        response = await web_client.post(
            f"{PAGE}/answers",
            data="".join(parts).encode(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            allow_redirects=False,
        )
        assert response.status == 400, (encoding, response.status)
        assert "could not be read" in await response.text()
    assert await _count(platform, Response.id) == before


async def test_control_characters_in_answers_are_dropped_and_the_answers_stored(
    platform: Platform, web_client: Client
) -> None:
    """docs/security.md: control characters are dropped at intake, tabs and line breaks
    kept; a NUL (which PostgreSQL will not store) is no reason to refuse the answer."""
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    response = await web_client.post(
        f"{PAGE}/answers",
        data={
            **fields,
            "item:ease": "Ea\x00sy",
            "item:one-thing": "Text\x00 me\x07 a\x1b reminder\tplease\nthe day\x0b before",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await web_client.get(PAGE)).text()
    thread = f"{PAGE}/threads/reminder"
    response = await web_client.post(
        thread,
        data={**form_fields(page, thread), "text": "Nul\x00 here\x01 too"},
        allow_redirects=False,
    )
    assert response.status == 303
    stored = {r["item"]: r for r in await _export(platform)}
    assert stored["ease"]["choices"] == ["Easy"]
    assert stored["one-thing"]["text"] == "Text me a reminder\tplease\nthe day before"
    assert stored["reminder"]["text"] == "Nul here too"


async def test_a_form_that_is_not_utf8_is_refused_by_name_and_stores_nothing(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[]))
    page = await _start(web_client)
    fields = form_fields(page, f"{PAGE}/answers")
    before = await _count(platform, Response.id)
    head = f"csrf={fields['csrf']}&nonce={fields['nonce']}&item:ease=Easy"
    bodies: list[tuple[bytes, str]] = [
        # What a page in Latin-1 would send for "café": escaped, but not UTF-8.
        ((head + "&item:one-thing=caf%E9").encode(), "application/x-www-form-urlencoded"),
        ((head + "&item%FF=x").encode(), "application/x-www-form-urlencoded"),
        (head.encode() + b"&item:one-thing=caf\xe9", "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
            + fields["csrf"].encode()
            + b'\r\n--b\r\nContent-Disposition: form-data; name="item:one-thing"\r\n\r\n'
            + b"caf\xe9\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ]
    for body, content_type in bodies:
        response = await web_client.post(
            f"{PAGE}/answers",
            data=body,
            headers={"Content-Type": content_type},
            allow_redirects=False,
        )
        assert response.status == 400, body
        assert "its text is not valid UTF-8" in await response.text(), body
    assert await _count(platform, Response.id) == before
    assert "\ufffd" not in json.dumps(await _export(platform))
    # The same form in UTF-8 is stored.
    response = await web_client.post(
        f"{PAGE}/answers",
        data=(head + "&item:one-thing=caf%C3%A9").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert {r["item"]: r["text"] for r in await _export(platform)}["one-thing"] == "café"


async def test_forms_to_unknown_draft_and_closed_consultations(
    platform: Platform, web_client: Client
) -> None:
    from consultations import service
    from consultations.spec import parse_spec

    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    fields = form_fields(page, "/c/outpatient-booking/consent")
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(spec_data(id="still-a-draft")), source="test")
    for cid in ("no-such-thing", "still-a-draft"):
        answer = await web_client.post(f"/c/{cid}/consent", data={**fields, "answer": "yes"})
        assert answer.status == 404
    async with platform.sessionmaker.begin() as session:
        await service.close(session, "outpatient-booking")
    closed = await web_client.post(
        "/c/outpatient-booking/consent", data={**fields, "answer": "yes"}
    )
    assert closed.status == 410
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Participant)) == 0


@pytest.mark.parametrize("cookie", [False, True], ids=["no cookie", "cookie, no token"])
async def test_bare_forms_to_unknown_draft_and_closed_consultations(
    platform: Platform, web_client: Client, cookie: bool
) -> None:
    """A form posted as an outside client would (curl, a test suite), without the page's
    token or even its cookie: 404 for an unknown consultation or a draft, 410 for a closed
    one (CONTRACT.md), not the 400 or 403 of a missing token; nothing is stored."""
    from consultations import service
    from consultations.spec import parse_spec

    await launch(platform)
    await launch(platform, spec_data(id="closed-already"))
    async with platform.sessionmaker.begin() as session:
        await service.create(session, parse_spec(spec_data(id="still-a-draft")), source="test")
        await service.close(session, "closed-already")
    if cookie:
        await web_client.get(PAGE)  # the cookie, but no form's token sent
    expected = {"no-such-thing": 404, "still-a-draft": 404, "closed-already": 410}
    for cid, status in expected.items():
        for path in ("consent", "answers", "threads/reminder", "stop", "erase"):
            answer = await web_client.post(
                f"/c/{cid}/{path}", data={"answer": "yes", "text": "Hello"}
            )
            assert answer.status == status, (cid, path)
    # The live consultation still asks for its token.
    live = await web_client.post(f"{PAGE}/consent", data={"answer": "yes"})
    assert live.status == (403 if cookie else 400)
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Participant)) == 0
        assert await session.scalar(select(func.count()).select_from(Response)) == 0
