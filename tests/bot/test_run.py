"""`engage run` as operators start and stop it: a real process, real HTTP, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.conftest import TEST_KEY, TEST_SECRET
from tests.waiting import wait_until

ENGAGE = str(Path(sys.executable).parent / "engage")
DEMO = str(Path(__file__).resolve().parents[2] / "examples" / "outpatient-booking.yaml")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _engage(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        ENGAGE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode()


async def test_run_serves_answers_and_stops_gracefully_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_HTTP_PORT": str(port),
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        env.pop(name, None)
    assert (await _engage(env, "consultation", "create", DEMO))[0] == 0
    assert (await _engage(env, "consultation", "launch", "outpatient-booking"))[0] == 0

    server = await asyncio.create_subprocess_exec(
        ENGAGE,
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(healthy, within=30, every=0.1, what="the server to be healthy")
            page = await (await http.get(f"{base}/c/outpatient-booking")).text()
            fields = dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', page))
            page = await (
                await http.post(
                    f"{base}/c/outpatient-booking/consent", data={**fields, "answer": "yes"}
                )
            ).text()
            fields = dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', page))
            await http.post(
                f"{base}/c/outpatient-booking/answers", data={**fields, "segment:role": "Staff"}
            )
        server.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await server.communicate()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert server.returncode == 0, output.decode()
    assert "stopping: finishing accepted work" in output.decode()

    code, exported = await _engage(env, "export", "outpatient-booking", "--format", "csv")
    assert code == 0
    assert "outpatient-booking,role,segment,web," in exported
