"""What /metrics says while Telegram refuses and rate-limits the bot's messages."""

from __future__ import annotations

from aiohttp import ClientSession

from bot.platform import Platform
from consultations import moderation
from tests.adapters.telegram.conftest import start, stop
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import launch


def _value(body: str, sample: str) -> float | None:
    """The value of one sample line (name with its labels), if the page has it."""
    for line in body.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_send_errors_and_429s_are_counted_by_channel(
    fake: FakeTelegram, platform: Platform
) -> None:
    await launch(platform)
    async with platform.sessionmaker.begin() as session:
        moderation.open_case(
            session, consultation_id="outpatient-booking", response_id=None, reason="review"
        )
    running = await start(fake, platform, "polling")
    try:
        fake.inject_error(500, "Internal Server Error", methods=["sendMessage"])
        fake.inject_429(retry_after=1, methods=["sendMessage"])
        alice = fake.user(1001, "Alice")
        fake.send_command(alice, "/start", "outpatient-booking")
        await running.said(alice, 1)  # the consent question, on the third try
        url = f"http://127.0.0.1:{running.server.port}/metrics"
        async with ClientSession() as http:

            async def scraped() -> str:
                async with http.get(url) as response:
                    assert response.status == 200
                    return await response.text()

            body = await scraped()
            for _ in range(3):
                await scraped()  # more samples for the latency histogram
            body = await scraped()
    finally:
        await stop(running)
    assert _value(body, 'engage_send_errors_total{channel="telegram"}') == 2
    assert _value(body, 'engage_send_rate_limited_total{channel="telegram"}') == 1
    assert _value(body, 'engage_outbox_rows{channel="telegram",status="sent"}') == 1
    assert _value(body, "engage_inbox_depth") == 0
    assert _value(body, "engage_inbox_lag_seconds") == 0
    assert _value(body, "engage_safety_cases_open") == 1
    oldest = _value(body, "engage_safety_case_oldest_seconds")
    assert oldest is not None and oldest > 0
    scrapes = _value(body, 'engage_request_seconds_count{method="GET",route="/metrics"}')
    assert scrapes is not None and scrapes >= 4
    [bucket] = [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("engage_request_seconds_bucket{")
        and 'route="/metrics"' in line
        and 'le="+Inf"' in line
    ]
    assert bucket == scrapes
    assert "# TYPE engage_send_errors_total counter" in body
    assert "# TYPE engage_request_seconds histogram" in body
