"""Inbound updates per second, from the webhook to a stored response.

    .venv/bin/python bench/telegram_inbound.py [--people 2000] [--connections 40]
        [--database-url URL] [--profile FILE] [--messages-per-second 30] [--until-sent]
        [--client python|wrk] [--intake-processes N]

Every person has already consented and is at the consultation's prompt; each then sends
one answer. The updates are posted to the webhook over ``--connections`` connections at
once, each waiting for its 200 before the next, as Telegram does with ``max_connections``
(https://core.telegram.org/bots/api#setwebhook; 40 by default). Reports the webhook's
acceptance rate (updates committed to the inbox per second) and the end-to-end rate
(responses stored per second), and the CPU time the process spent per update, which
holds steadier than the rates on a shared machine. The fake Bot API takes what the bot
sends back.
``--client wrk`` posts the updates with ``wrk`` (Debian package ``wrk``) from a process
of its own instead of an aiohttp client in this one: Telegram's servers are not in the
platform's process, so the CPU per update is then the server's alone (webhook, inbox,
outbox sender and the small fake Bot API); wrk does not post a refused update again, so
the refusals are counted and must be 0 for the run to finish. ``--client python`` (the
default) keeps the figures comparable with earlier runs.
``--profile`` writes a cProfile of the measured part (posting to stored) to FILE.
``--until-sent`` measures until the bot's replies are sent as well (one an update), so
the CPU per update covers webhook, inbox and outbox sender, as in the soak; with
``--messages-per-second 1000`` (the soak's pace) the sender keeps up.

The code measured is that of the checkout this file is in, or of the one ``PYTHONPATH``
names (another checkout's code under the same measurement, for a before/after ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import unused_port
from sqlalchemy import func, select, text, update

ROOT = Path(__file__).resolve().parent.parent
# A checkout named by PYTHONPATH is the code measured; otherwise this one.
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))

from common import children_of, cpu_seconds_of  # noqa: E402

from adapters.telegram.adapter import SECRET_HEADER, WEBHOOK_PATH, TelegramAdapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.platform import create_platform, warm_up  # noqa: E402
from bot.preparation import Preparation  # noqa: E402
from bot.web.app import create_app  # noqa: E402
from channels.events import CONSENT, EventKind, InboundEvent  # noqa: E402
from consultations.dialogue import CONSENT_OPTIONS  # noqa: E402
from migrations import apply as migrate  # noqa: E402
from storage.channel_store import SqlChannelStore  # noqa: E402
from storage.tables import OutboxEntry, Response  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.helpers import launch, spec_data  # noqa: E402

KEY = "bench-pseudonym-key-0123456789-abcdefghijklmnop"
WRK_THREADS = 2
#: Each wrk thread posts its share of the people's updates, each once, in turn; a
#: request past its share asks for /healthz (no work) until the thread has stopped.
#: (Assumes more people than threads.)
WRK_LUA = """
local people = %(people)d
local threads = %(threads)d
local counter = 0
local first = 20000
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
-- wrk calls the first thread's request() once before the run to check the script,
-- and never sends what it gets back.
local checked = false
request = function()
  if tid == 0 and not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  local n = counter * threads + tid
  counter = counter + 1
  if n >= people then
    return wrk.format("GET", "/healthz")
  end
  local body = string.format(
    '{"update_id":%%d,"message":{"message_id":%%d,"date":%%d,' ..
    '"chat":{"id":%%d,"type":"private","first_name":"P"},' ..
    '"from":{"id":%%d,"is_bot":false,"first_name":"P"},' ..
    '"text":"Answer number %%d: the booking line was busy"}}',
    n + 1, n + 1, os.time(), first + n, first + n, n)
  return wrk.format("POST", "%(path)s",
    {["Content-Type"] = "application/json", ["%(header)s"] = "%(secret)s"}, body)
end
-- The webhook answers with an empty body, /healthz with {"status": "alive"}: the thread
-- stops once each of its own updates has its answer.
local answered = 0
response = function(status, headers, body)
  if not string.find(body, "alive", 1, true) then answered = answered + 1 end
  if answered >= math.floor((people - tid - 1) / threads) + 1 then wrk.thread:stop() end
end
"""
COUNT_UPDATES = "select count(*) from inbox where channel = 'telegram'"


async def run(
    people: int,
    connections: int,
    database_url: str,
    profile: str | None = None,
    *,
    messages_per_second: float = 30.0,
    until_sent: bool = False,
    client: str = "python",
    intake_processes: int = 0,
) -> None:
    settings = Settings(database_url=database_url, secret_key=KEY, pseudonym_key=KEY)
    platform = create_platform(settings)
    spec = await launch(
        platform,
        spec_data(
            segments=[],
            consent={"text": "We listen.", "recontact": False},
            items=[{"id": "story", "type": "prompt", "text": "What happened?"}],
        ),
    )
    # Everyone consents first, straight through the runtime, a hundred people a
    # transaction (not what is measured).
    groups = [
        (
            InboundEvent(
                "telegram",
                f"setup:{n}:1",
                str(20_000 + n),
                EventKind.START,
                {"chat": 20_000 + n},
                spec.id,
            ),
            InboundEvent(
                "telegram",
                f"setup:{n}:2",
                str(20_000 + n),
                EventKind.ANSWER,
                {"chat": 20_000 + n},
                spec.id,
                item_id=CONSENT,
                choices=(CONSENT_OPTIONS[0],),
            ),
        )
        for n in range(people)
    ]
    for first in range(0, people, 100):
        for outcome in await platform.runtime.handle_groups(groups[first : first + 100]):
            if isinstance(outcome, Exception):
                raise outcome
    async with platform.sessionmaker.begin() as session:
        await session.execute(update(OutboxEntry).values(status="sent"))
    # The text analysis and the safety screen load their models on first use: before the
    # clock, as `engage run` does at start-up.
    warm_up()

    async with FakeTelegram() as fake:
        users = [fake.user(20_000 + n, f"P{n}") for n in range(people)]
        port = unused_port()
        adapter = TelegramAdapter(
            fake.token,
            store=SqlChannelStore(platform.sessionmaker, platform.keyring),
            base_url=fake.base_url,
            mode="webhook",
            webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            messages_per_second=messages_per_second,
        )
        app = create_app(
            settings,
            platform=platform,
            adapters=lambda p: {"telegram": adapter},
            intake_processes=intake_processes,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            bodies = [
                {
                    "update_id": n + 1,
                    "message": {
                        "message_id": n + 1,
                        "date": int(time.time()),
                        "chat": {"id": user.id, "type": "private", "first_name": "P"},
                        "from": {"id": user.id, "is_bot": False, "first_name": "P"},
                        "text": f"Answer number {n}: the booking line was busy",
                    },
                }
                for n, user in enumerate(users)
            ]
            hook = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
            headers = {SECRET_HEADER: adapter.webhook_secret}
            failures = 0

            async def connection(http: aiohttp.ClientSession) -> None:
                nonlocal failures
                while bodies:
                    body = bodies.pop()
                    for _ in range(20):  # like Telegram: again until it is taken
                        async with http.post(hook, json=body, headers=headers) as response:
                            await response.read()
                            if response.status == 200:
                                break
                            failures += 1

            async def accepted_so_far() -> int:
                async with platform.sessionmaker() as session:
                    return int((await session.execute(text(COUNT_UPDATES))).scalar_one())

            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            preparing = platform.runtime.preparation
            if preparing is not None:
                await wait_ready(preparing)  # the helper processes load their models first
            helpers_started = helper_cpu()
            print("posting", flush=True)  # a sampling profiler can start here
            started = time.perf_counter()
            cpu_started = time.process_time()
            if client == "wrk":
                # The set-up's events are in the inbox already.
                wanted = await accepted_so_far() + people
                poster = start_wrk(hook, people, connections, adapter.webhook_secret)
                try:
                    last, moved = 0, time.monotonic()
                    while (seen := await accepted_so_far()) < wanted:
                        if seen > last:
                            last, moved = seen, time.monotonic()
                        elif time.monotonic() - moved > 30:
                            break  # refused updates are not posted again: stop waiting
                        await asyncio.sleep(0.02)
                finally:
                    failures = await asyncio.to_thread(stop_wrk, poster)
                if seen < wanted:
                    raise SystemExit(f"{failures} updates refused: {wanted - seen} not taken")
            else:
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=connections)
                ) as http:
                    await asyncio.gather(*(connection(http) for _ in range(connections)))
            accepted = time.perf_counter() - started
            while True:
                async with platform.sessionmaker() as session:
                    stored = await session.scalar(select(func.count()).select_from(Response))
                if stored == people:
                    break
                await asyncio.sleep(0.05)
            while until_sent:
                async with platform.sessionmaker() as session:
                    unsent = await session.scalar(
                        select(func.count())
                        .select_from(OutboxEntry)
                        .where(OutboxEntry.status.in_(["pending", "claimed", "sending"]))
                    )
                if unsent == 0:
                    break
                await asyncio.sleep(0.05)
            finished = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            helpers = helper_cpu() - helpers_started
            calls = fake.calls_to("sendMessage")
            sent_meanwhile = sum(1 for c in calls if c.status == 200)
            print("stored", flush=True)  # and stop here
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)
        finally:
            await runner.cleanup()
    print(f"updates:             {people} over {connections} connections")
    print(f"refused, retried:    {failures}")
    print(f"database:            {database_url.split(':')[0]}")
    print(f"webhook accepted:    {people / accepted:.0f} updates/s ({accepted:.1f} s)")
    what = "and replies sent" if until_sent else "per s end to end"
    print(f"responses stored:    {people / finished:.0f} {what} ({finished:.1f} s)")
    refused = len(calls) - sent_meanwhile
    print(f"bot's messages:      {sent_meanwhile} sent meanwhile, {refused} refused")
    # On a machine others share, the rates follow their load; the CPU this process spent
    # (all its threads: server, posting client and fake Bot API, not the database's own
    # server) follows the code.
    print(
        f"process CPU:         {1000 * cpu / people:.2f} ms per update ({people / cpu:.0f}/CPU-s)"
    )
    if intake_processes:
        print(f"helper processes:    {1000 * helpers / people:.2f} ms per update more")
    print(f"load average:        {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def wait_ready(preparation: Preparation) -> None:
    """Until the preparation processes have loaded their models (a few seconds)."""
    for _ in range(600):
        if preparation.ready:
            return
        await asyncio.sleep(0.1)
    raise SystemExit("the text preparation processes did not start")


def helper_cpu() -> float:
    """CPU seconds so far of this process's text preparation processes (``spawn``)."""
    total = 0.0
    for pid in children_of(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone
        if b"spawn_main" in command and b"resource_tracker" not in command:
            total += cpu_seconds_of(pid)
    return total


def start_wrk(url: str, people: int, connections: int, secret: str) -> subprocess.Popen[str]:
    """wrk posting each person's update once over ``connections`` connections."""
    if shutil.which("wrk") is None:
        raise SystemExit("--client wrk needs wrk (Debian package wrk)")
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    script = WRK_LUA % {
        "people": people,
        "threads": WRK_THREADS,
        "path": "/" + path,
        "header": SECRET_HEADER,
        "secret": secret,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    base = url.split("/" + path)[0]
    # Longer than any run: stopped once every update is in the inbox.
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", "-d600s", "-s", handle.name, base]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_wrk(poster: subprocess.Popen[str]) -> int:
    """Stop wrk (SIGINT: it prints its summary); the updates it saw refused."""
    poster.send_signal(signal.SIGINT)
    out, _ = poster.communicate(timeout=30)
    Path(poster.args[-2]).unlink(missing_ok=True)  # the script written for it
    if os.environ.get("BENCH_SHOW_WRK"):
        print(out)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out or "")
    return int(refused.group(1)) if refused else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--profile", help="write a cProfile of the measured part here")
    parser.add_argument("--messages-per-second", type=float, default=30.0)
    parser.add_argument(
        "--until-sent", action="store_true", help="measure until every reply is sent too"
    )
    parser.add_argument(
        "--client",
        choices=["python", "wrk"],
        default="python",
        help="who posts the updates: an aiohttp client in this process, or wrk in its own",
    )
    parser.add_argument(
        "--intake-processes",
        type=int,
        default=0,
        help="text preparation processes (engage run starts one on four cores or more)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        migrate.upgrade(url)
        asyncio.run(
            run(
                args.people,
                args.connections,
                url,
                args.profile,
                messages_per_second=args.messages_per_second,
                until_sent=args.until_sent,
                client=args.client,
                intake_processes=args.intake_processes,
            )
        )


if __name__ == "__main__":
    main()
