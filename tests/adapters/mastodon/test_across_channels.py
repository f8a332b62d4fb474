"""One consultation on the web, Telegram and Mastodon at once: the report merges the polls."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from consultations import reporting
from storage.tables import PollTally, Response
from tests.adapters.mastodon.conftest import World
from tests.adapters.telegram.conftest import make_adapter as telegram_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import form_fields, spec_data
from tests.waiting import wait_until

Client = TestClient[Any, Any]


async def _answer_on_the_web(client: Client, choice: str) -> None:
    page = await (await client.get("/c/outpatient-booking")).text()
    for action, data in (
        ("/c/outpatient-booking/consent", {"answer": "yes"}),
        ("/c/outpatient-booking/answers", {"segment:role": "Patient"}),
        ("/c/outpatient-booking/answers", {"item:ease": choice}),
    ):
        fields = form_fields(page, action)
        response = await client.post(action, data={**fields, **data})
        page = await response.text()


async def test_poll_answers_from_every_channel_are_merged(world: World, web_client: Client) -> None:
    async with FakeTelegram(token="123456:TEST-TOKEN") as fake:
        telegram = telegram_adapter(fake, world.platform)
        await world.launch(spec_data(channels=["web", "telegram", "mastodon"]))
        await world.start(extra={"telegram": telegram})

        # The web page: one person says Hard.
        await _answer_on_the_web(web_client, "Hard")

        # Telegram, in a private chat: one person says Very easy.
        alice = fake.user(1001, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        consent = await fake.wait_for_sent(1, chat=alice)
        fake.press_button(alice, consent[0], consent[0].callback_data[0])  # agree
        recontact = await fake.wait_for_sent(2, chat=alice)
        fake.press_button(alice, recontact[1], recontact[1].callback_data[1])  # no
        segment = await fake.wait_for_sent(3, chat=alice)
        fake.press_button(alice, segment[2], segment[2].callback_data[0])  # Patient
        poll = await fake.wait_for_sent(4, chat=alice)
        fake.vote(alice, poll[3], [0])  # Very easy

        # Mastodon: three people vote on the native poll, anonymously.
        server = world.server
        status = await world.act(server.bot().status, await world.post_of("ease"))
        for person, choice in (("bob", 3), ("carol", 3), ("dan", 1)):
            await world.act(server.vote, person, status["poll"]["id"], choice)

        async def tallied() -> bool:
            rows = await world.rows(PollTally)
            return any(sum(r.counts.values()) == 3 for r in rows)

        await wait_until(tallied, what="the Mastodon tally")

        async def telegram_vote() -> bool:
            rows = await world.rows(Response, Response.channel == "telegram")
            return any(r.item_id == "ease" for r in rows)

        await wait_until(telegram_vote, what="the Telegram vote")

        async with world.platform.sessionmaker() as session:
            report = await reporting.build(session, "outpatient-booking")
        await world.stop()

    [ease] = [p for p in report["polls"] if p["item"] == "ease"]
    counts = {o["label"]: o["count"] for o in ease["options"]}
    assert counts == {"Very easy": 1, "Easy": 1, "Neither": 0, "Hard": 3, "Very hard": 0}
    assert ease["n"] == 5
    by_channel = report["participation"]["by_channel"]
    assert {"web", "telegram", "mastodon"} <= set(by_channel)
