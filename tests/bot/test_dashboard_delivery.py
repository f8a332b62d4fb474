"""The dashboard's delivery page: messages left in doubt by a crash, shown to operators."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from bot.platform import Platform
from tests.bot.test_dashboard import add_user, log_in
from tests.bot.test_outbox import _killed_mid_send, _sender
from tests.bot.test_runtime import deliver
from tests.fakes.channel import FakeChannel, Person
from tests.helpers import launch, spec_data

Client = TestClient[Any, Any]


async def test_messages_of_unknown_delivery_are_listed_for_operators(
    platform: Platform, web_client: Client
) -> None:
    await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
    await deliver(platform, Person("d1").starts("outpatient-booking"))
    # The consent question is in doubt twice: asked again once, then left unknown.
    await _killed_mid_send(platform, concurrency=1)
    assert await _sender(platform, FakeChannel()).recover() == 1
    await _killed_mid_send(platform, concurrency=1)
    assert await _sender(platform, FakeChannel()).recover() == 1

    await add_user(platform, "lead@health.example", "lead")
    await log_in(web_client, "lead@health.example")
    home = await (await web_client.get("/dashboard")).text()
    assert '<a href="/dashboard/delivery">Delivery</a>' in home
    page = await (await web_client.get("/dashboard/delivery")).text()
    assert "1 message of unknown delivery, oldest first" in page
    assert "<td>telegram</td><td>question</td>" in page
    assert '<a href="/dashboard/c/outpatient-booking">outpatient-booking</a>' in page
    assert "ok?" not in page  # where and when only, never what was said
    assert "state-unknown" in page


async def test_the_delivery_page_is_for_leads_and_admins(
    platform: Platform, web_client: Client
) -> None:
    await add_user(platform, "viewer@health.example", "viewer")
    await log_in(web_client, "viewer@health.example")
    assert "/dashboard/delivery" not in await (await web_client.get("/dashboard")).text()
    assert (await web_client.get("/dashboard/delivery")).status == 403
