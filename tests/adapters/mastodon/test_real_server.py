"""A server stricter than Mastodon, as an independently written one was (issue 13).

Its routes answer 404 to a trailing slash (Mastodon.py asks ``/api/v2/instance/``), it
may enforce a lower status limit than it advertises and count links at their real length.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from adapters.mastodon import limits
from bot import publishing
from bot.cli import main
from bot.config import load_settings
from bot.platform import Platform
from channels.adapter import Undeliverable
from channels.events import OutboundMessage
from consultations import screening
from consultations.spec import parse_spec
from storage.db import create_engine, create_sessionmaker
from storage.tables import Consent, Consultation, Publication, Response
from tests.adapters.mastodon.conftest import FIVE_OPTIONS, TEST_BUDGET, World, make_adapter
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.mastodon_server import InstanceLimits, MastodonServer
from tests.helpers import launch, spec_data
from tests.waiting import wait_until

ADDRESS = {"acct": "carol", "reply_to": None, "visibility": "direct"}


@pytest.fixture(autouse=True)
def _forget_lookups() -> Iterator[None]:
    limits._looked_up.clear()
    yield
    limits._looked_up.clear()


# -- 1. instance limits --------------------------------------------------------------


def test_limits_are_read_without_the_trailing_slash() -> None:
    strict = InstanceLimits(max_characters=300, max_options=6)
    with MastodonServer(limits=strict, strict_slash=True) as server:
        found = limits.instance_limits(server.base_url, server.bot_token)
        again = limits.instance_limits(server.base_url, server.bot_token)
        assert server.instance_lookups == 1
    assert (found.text_max, found.poll_options_max) == (300, 6)
    assert again == found


def test_an_unknown_instance_is_asked_once_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with MastodonServer(instance=False) as server, caplog.at_level(logging.WARNING):
        for _ in range(3):
            found = limits.instance_limits(server.base_url, server.bot_token)
        lookups = server.instance_lookups
    assert found == limits.MASTODON_DEFAULT_LIMITS
    # Every form tried once (v2, v1, with and without the slash), then never again.
    assert lookups == 4
    assert caplog.text.count("could not read the limits") == 1


async def test_the_adapter_never_asks_again_per_message(platform: Platform) -> None:
    async with MastodonServer(instance=False, strict_slash=True) as server:
        await asyncio.to_thread(server.account_id, "carol")
        adapter = make_adapter(server, platform)
        for number in range(5):
            await adapter.send(ADDRESS, OutboundMessage(text=f"Hello {number}"), key=f"k{number}")
        await adapter.account.connect(refresh=True)
        assert server.instance_lookups == 4
        assert adapter.account.limits_known is False
        await adapter.stop()


def test_validate_says_once_that_limits_are_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spec.yaml"
    data = spec_data()
    data["items"][0]["options"] = data["items"][0]["options"][:4]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    with MastodonServer(instance=False) as server, caplog.at_level(logging.WARNING):
        monkeypatch.setenv("MASTODON_API_BASE_URL", server.base_url)
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", server.bot_token)
        assert main(["consultation", "validate", str(path)]) == 0
        assert server.instance_lookups == 4
    assert caplog.text.count("could not read the limits") == 1


# -- 2. a launch the server refuses --------------------------------------------------


@pytest.fixture
def cli_server(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> Iterator[MastodonServer]:
    with MastodonServer(limits=FIVE_OPTIONS, strict_slash=True) as running:
        monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
        monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
        monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        monkeypatch.setenv("MASTODON_API_BASE_URL", running.base_url)
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", running.bot_token)
        monkeypatch.chdir(tmp_path)
        yield running


async def _rows(table: type[object]) -> list[object]:
    engine = create_engine(load_settings().database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.scalars(select(table))).all())
    finally:
        await engine.dispose()


def test_a_refused_launch_stays_a_draft_with_one_line(
    cli_server: MastodonServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(channels=["mastodon"]), sort_keys=False))
    assert main(["consultation", "create", str(spec)]) == 0
    capsys.readouterr()
    cli_server.fail_next(
        422, path="/api/v1/statuses", methods=["POST"], times=None, error="Validation failed: no"
    )
    assert main(["consultation", "launch", "outpatient-booking"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line == (
        "outpatient-booking: not launched: mastodon: the introduction: "
        "Mastodon refused the post: Validation failed: no"
    )
    [row] = asyncio.run(_rows(Consultation))
    assert row.state == "draft"  # type: ignore[attr-defined]
    kinds = [p.kind for p in asyncio.run(_rows(Publication))]  # type: ignore[attr-defined]
    assert kinds == ["unpublished"]

    cli_server.clear_faults()
    assert main(["consultation", "launch", "outpatient-booking"]) == 0
    assert "mastodon: 4 posts published" in capsys.readouterr().out
    kinds = sorted(p.kind for p in asyncio.run(_rows(Publication)))  # type: ignore[attr-defined]
    assert kinds == ["intro", "item", "item", "item", "poll"]


async def test_not_offered_where_it_is_not_published(world: World) -> None:
    spec = await launch(world.platform, spec_data(channels=["web", "mastodon"]))
    await publishing.mark_unpublished(world.platform.sessionmaker, "mastodon", spec.id)
    await world.start()
    await world.act(world.server.dm, "carol", "Hello")
    [offer] = await world.received("carol", 1)
    assert "no consultations open" in offer["content"]
    await world.act(world.server.dm, "carol", "start outpatient-booking")
    refused = (await world.received("carol", 2))[-1]
    assert "not taking answers on mastodon" in refused["content"]
    assert await world.rows(Consent) == []


# -- 3. and 4. statuses refused as too long; safety messages -------------------------


async def test_a_status_refused_as_too_long_is_split_smaller(platform: Platform) -> None:
    # Advertises 500, enforces 200 and counts links at their real length.
    tight = InstanceLimits(enforced_characters=200, url_length=None)
    async with MastodonServer(limits=tight, ratelimit=TEST_BUDGET) as server:
        await asyncio.to_thread(server.account_id, "carol")
        adapter = make_adapter(server, platform)
        link = "https://example.org/" + "booking/" * 12
        text = f"Read more at {link} before you answer. " + "Words about booking. " * 12
        delivery = await adapter.send(ADDRESS, OutboundMessage(text=text), key="long")
        got = await asyncio.to_thread(server.received, "carol")
        assert len(got) >= 2
        assert str(got[-1]["id"]) == delivery.platform_ref
        assert adapter.account.links_at_real_length
        # Later messages are cut counting links at their real length from the start.
        await adapter.send(ADDRESS, OutboundMessage(text=text), key="long-2")
        await adapter.stop()


async def test_a_refused_safety_message_falls_back_to_the_helplines(platform: Platform) -> None:
    spec = parse_spec(spec_data())
    text = screening.safety_message(spec.safety, spec.organisation)
    async with MastodonServer(ratelimit=TEST_BUDGET) as server:
        await asyncio.to_thread(server.account_id, "carol")
        adapter = make_adapter(server, platform)
        # The full text and the plain form are refused for a reason other than length.
        server.fail_next(422, path="/api/v1/statuses", methods=["POST"], times=2, error="Nope")
        message = OutboundMessage(text=text, kind="safety")
        await adapter.send(ADDRESS, message, key="safety-1")
        [status] = await asyncio.to_thread(server.received, "carol")
        assert "Help now:" in status["content"]
        assert status["visibility"] == "direct"
        await adapter.stop()


async def test_an_undelivered_safety_message_is_loud(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    async with MastodonServer(ratelimit=TEST_BUDGET) as server:
        await asyncio.to_thread(server.account_id, "carol")
        adapter = make_adapter(server, platform)
        server.fail_next(422, path="/api/v1/statuses", methods=["POST"], times=None, error="No")
        message = OutboundMessage(text="Please call:\n- Lifeline: 13 11 14", kind="safety")
        with caplog.at_level(logging.ERROR), pytest.raises(Undeliverable, match="moderator"):
            await adapter.send(ADDRESS, message, key="safety-2")
        assert "SAFETY MESSAGE NOT DELIVERED" in caplog.text
        await adapter.stop()


# -- 6. consent in the first direct message ------------------------------------------


async def test_a_public_replier_sees_the_consent_text_in_their_first_dm(world: World) -> None:
    await world.launch()
    await world.start()
    prompt = await world.post_of("one-thing")
    await world.act(world.server.reply, "alice", prompt, "Fewer phone queues")

    async def stored() -> list[Response]:
        return await world.rows(Response)

    await wait_until(stored, what="the public reply")
    await world.act(world.server.dm, "alice", "start outpatient-booking")
    [first] = await world.received("alice", 1)
    assert "We use your answers" in first["content"]
    assert "1. Yes, I agree" in first["content"]
    await world.act(world.server.dm, "alice", "1", in_reply_to_id=first["id"])
    recontact = (await world.received("alice", 2))[-1]
    assert "contact you again" in recontact["content"]
    methods = {c.purpose: c.method for c in await world.rows(Consent)}
    assert methods == {"consultation": "explicit"}


def test_launch_says_once_that_limits_are_unknown(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = spec_data(channels=["mastodon"])
    data["items"][0]["options"] = data["items"][0]["options"][:4]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    with (
        MastodonServer(instance=False, strict_slash=True) as server,
        caplog.at_level(logging.WARNING),
    ):
        monkeypatch.setenv("ENGAGE_DATABASE_URL", database_url)
        monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
        monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
        monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
        monkeypatch.setenv("MASTODON_API_BASE_URL", server.base_url)
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", server.bot_token)
        monkeypatch.chdir(tmp_path)
        assert main(["consultation", "create", str(spec)]) == 0
        assert caplog.text.count("could not read the limits") == 1
        limits._looked_up.clear()  # as a new process would
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main(["consultation", "launch", "outpatient-booking"]) == 0
        assert server.instance_lookups == 8  # four forms, once per command
    assert caplog.text.count("could not read the limits") == 1
