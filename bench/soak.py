"""Soak: `engage run` under a steady mixed load for minutes, watching memory and latency.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 200] [--database-url URL]
        [--workers 1] [--warm-up 3] [--profile DIR] [--out FILE]

Starts the fake Telegram Bot API here and ``--workers`` real `engage run` processes (web
channel, Telegram in webhook mode against the fake; each on a port of its own, and each
person served by one of them in turn, as a proxy in front of them would spread the
connections), then offers ``--rate`` updates per second, half on the web page (each
person, as a browser: the page, the consent form, then the prompt's form from the page
the consent's redirect showed) and half as Telegram webhook posts (each person:
``/start``, "yes", then an answer, a second apart, so the outbox sends each their next
question in between). Every request's latency is kept.

Samples the servers' resident memory (RSS, summed) every 30 s and reports it after the
warm-up (``--warm-up`` minutes, 3 by default) and at the end, errors (non-2xx/3xx
answers, failed connections, and ERROR lines in the servers' logs), p50/p99 latency per
minute and per five minutes, the servers' CPU time per update offered and the load
average during the run (a figure a shared machine disturbs less than latency), and
checks at the end that every answer reached the store. ``--web-share`` sets the share of
the updates offered on the web page (half by default). ``--profile DIR`` runs each worker
under cProfile timed by CPU (``DIR/soak-N.prof``, see ``bench/cpu_profile.py``). The
result is written as JSON to ``--out`` (default ``bench/results/soak.json``).

On a PostgreSQL server whose ``autovacuum`` is off (this project's CI machine turns it off),
nothing would be analysed during the run and the workers' prepared statements would keep
the plans the empty tables gave them; the soak then runs ``ANALYZE`` every minute itself,
as autovacuum does on a production server, and says so in its result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import DATA, rss_kib  # noqa: E402

from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

ENGAGE = str(Path(sys.executable).parent / "engage")
KEY = "soak-key-0123456789-0123456789-0123456789"
SECRET = "soak-webhook-secret-0123456789"
# Seconds between samples of the server's memory.
RSS_EVERY = 30
# Seconds between the memory censuses of --trace-memory.
TRACE_EVERY = 120
# Seconds between the soak's own ANALYZE runs when the server's autovacuum is off.
ANALYSE_EVERY = 60
TOKEN = "777777:SOAK-TOKEN"
CID = "soak"
SPEC = {
    "id": CID,
    "title": "Soak test",
    "organisation": "Example Health Service",
    "model": "feedback-prompt",
    "qi": {"project": "Soak", "stage": "plan", "cycle": 1},
    "channels": ["web", "telegram"],
    "language": "en",
    "consent": {"text": "We listen. Reply STOP to leave.", "recontact": False},
    "items": [{"id": "story", "type": "prompt", "text": "What would make booking easier?"}],
    "closing_message": "Thank you.",
}
FIELDS = re.compile(r'name="(csrf|nonce)" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_sum(servers: list[asyncio.subprocess.Process]) -> int:
    """The servers' resident memory together, in KiB."""
    return sum(rss_kib(server.pid) for server in servers)


def cpu_seconds(servers: list[asyncio.subprocess.Process]) -> float:
    """The servers' CPU time so far (user and system), in seconds."""
    ticks = 0
    for server in servers:
        try:
            with open(f"/proc/{server.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue  # it exited: counted as an error by the caller
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Recorder:
    """Latencies per minute and errors."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.latencies: dict[int, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.sent = 0

    def minute(self) -> int:
        return int((time.monotonic() - self.started) // 60)

    async def timed(self, what: str, request: Awaitable[int]) -> None:
        began = time.monotonic()
        try:
            status = await request
        except Exception as exc:
            self.errors[f"{what}: {type(exc).__name__}"] += 1
            return
        self.latencies[self.minute()].append(time.monotonic() - began)
        if not 200 <= status < 400:
            self.errors[f"{what}: HTTP {status}"] += 1


def numbered_reply(channel: str, n: int) -> str:
    """A reply of its own for person ``n``: every one brings a word no other reply has."""
    if channel == "telegram":
        return f"Telegram soak answer {n}"
    return f"Soak answer {n}: the phone line was busy"


class RealReplies:
    """Replies made of real comments' sentences: two sentences, each from a comment picked
    by the person's number, so nearly every reply differs while its words are real ones
    (the intake's stores of words then fill as with real people, not with a new number
    per reply)."""

    def __init__(self, path: Path) -> None:
        from consultations.insights.training import read_pxtextmining

        self.sentences = sorted(
            {
                sentence.strip()
                for comment in read_pxtextmining(path)
                for sentence in re.split(r"(?<=[.!?])\s+", comment.text)
                if 3 <= len(sentence.split()) <= 40
            }
        )

    def __call__(self, channel: str, n: int) -> str:
        first, second = random.Random(f"{channel} {n}").sample(self.sentences, 2)
        return f"{first} {second}"


async def web_person(
    http: aiohttp.ClientSession,
    base: str,
    n: int,
    rec: Recorder,
    reply: Callable[[str, int], str] = numbered_reply,
) -> None:
    """The page, consent, then an answer to the prompt: two form posts."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        cookie_jar=jar, connector=http.connector, connector_owner=False, timeout=http.timeout
    ) as own:
        # As a browser: the page, then each form posted from the page the last post's
        # redirect showed (its fresh nonce in the form).
        fields: dict[str, str] = {}

        async def page() -> int:
            async with own.get(f"{base}/c/{CID}") as shown:
                fields.update(FIELDS.findall(await shown.text()))
                return shown.status

        async def post(path: str, data: dict[str, str]) -> int:
            async with own.post(f"{base}{path}", data={**fields, **data}) as response:
                fields.update(FIELDS.findall(await response.text()))
                return response.status

        await rec.timed("web page", page())
        await rec.timed("web consent", post(f"/c/{CID}/consent", {"answer": "yes"}))
        await rec.timed(
            "web answer",
            post(f"/c/{CID}/answers", {"item:story": reply("web", n)}),
        )


def update(update_id: int, user: int, text: str) -> dict[str, object]:
    message: dict[str, object] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "P"},
        "from": {"id": user, "is_bot": False, "first_name": "P"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def telegram_person(
    http: aiohttp.ClientSession,
    fake: FakeTelegram,
    hook: str,
    n: int,
    ids: list[int],
    rec: Recorder,
    reply: Callable[[str, int], str] = numbered_reply,
) -> None:
    """``/start``, "yes", an answer: three webhook posts a second apart."""
    user = 10_000_000 + n
    fake.user(user, "P")  # the fake Bot API knows the person's private chat
    for step, text in enumerate((f"/start {CID}", "yes", reply("telegram", n))):
        if step:
            await asyncio.sleep(1.0)
        ids[0] += 1

        async def post(body: dict[str, object]) -> int:
            async with http.post(
                hook, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as response:
                await response.read()
                return response.status

        await rec.timed("telegram", post(update(ids[0], user, text)))


async def _rows(database_url: str, query: str) -> list[Any]:
    """The rows of one query, on a connection of its own."""
    from sqlalchemy import text as sql

    from storage.db import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(sql(query)))
    finally:
        await engine.dispose()


async def count_stored(database_url: str) -> dict[str, int]:
    rows = await _rows(database_url, "SELECT channel, count(*) FROM response GROUP BY channel")
    return {channel: int(count) for channel, count in rows}


async def count_outbox(database_url: str) -> dict[str, int]:
    rows = await _rows(database_url, "SELECT status, count(*) FROM outbox GROUP BY status")
    return {status: int(count) for status, count in rows}


async def autovacuum(database_url: str) -> str | None:
    """PostgreSQL's ``autovacuum`` setting (``None`` on SQLite).

    With it off nothing is ever analysed: the planner has no statistics, and the plans
    a worker's prepared statements were given on the empty tables (a sequential scan
    of the inbox for each waiting event, in the claim) are never made again. The run
    then measures that, not the code: on the 30-minute soak of 2 December latency grew
    from the first minute while the inbox was read whole 95,788 times.
    """
    if not database_url.startswith("postgresql"):
        return None
    from storage.db import autovacuum_off, create_engine

    engine = create_engine(database_url)
    try:
        return "off" if await autovacuum_off(engine) else "on"
    finally:
        await engine.dispose()


async def analyse_now_and_then(database_url: str, every: float, runs: list[int]) -> None:
    """``ANALYZE`` the whole database every ``every`` seconds, as autovacuum would on a
    production server (the queue tables' own settings ask for it after 1% of their rows
    change, migration 0012); counts the runs in ``runs``. Used when autovacuum is off."""
    from sqlalchemy import text as sql

    from storage.db import create_engine

    engine = create_engine(database_url)
    try:
        while True:
            await asyncio.sleep(every)
            async with engine.connect() as connection:
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(sql("ANALYZE"))
            runs[0] += 1
    finally:
        await engine.dispose()


async def soak(
    minutes: float,
    rate: float,
    database_url: str,
    folder: Path,
    warm_up: float = 3,
    workers: int = 1,
    profile: Path | None = None,
    web_share: float = 0.5,
    trace_memory: Path | None = None,
    trace_frames: int = 0,
    reply: Callable[[str, int], str] = numbered_reply,
) -> tuple[dict[str, object], str]:
    """The figures, and the servers' logs."""
    vacuuming = await autovacuum(database_url)
    if vacuuming == "off":
        print(
            "autovacuum is off on this server: the soak analyses the database every "
            f"{ANALYSE_EVERY} s itself, as autovacuum would on a production server",
            file=sys.stderr,
            flush=True,
        )
    spec = folder / "soak.json"
    spec.write_text(json.dumps(SPEC))
    ports = [free_port() for _ in range(workers)]
    port = ports[0]
    async with FakeTelegram(token=TOKEN) as fake:
        env = {
            **os.environ,
            "ENGAGE_DATABASE_URL": database_url,
            "ENGAGE_HTTP_PORT": str(port),
            "ENGAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ENGAGE_SECRET_KEY": KEY,
            "ENGAGE_PSEUDONYM_KEY": KEY,
            "ENGAGE_WEB_NEW_PARTICIPANTS_PER_MINUTE": "0",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            # Every Telegram update here is answered, at half the rate: more than the 30
            # messages a second of an ordinary bot, so the outbox would fall further behind
            # each minute. The pace of a bot allowed paid broadcasts
            # (https://core.telegram.org/bots/faq#broadcasting-to-users) keeps up.
            "TELEGRAM_MESSAGES_PER_SECOND": "1000",
            "PYTHONPATH": str(ROOT),
        }
        for command in (["db", "upgrade"], ["consultation", "create", str(spec)]):
            process = await asyncio.create_subprocess_exec(ENGAGE, *command, env=env, cwd=folder)
            await process.wait()
        process = await asyncio.create_subprocess_exec(
            ENGAGE, "consultation", "launch", CID, "--channel", "web", env=env, cwd=folder
        )
        await process.wait()
        logs = [(folder / f"server-{number}.log").open("wb") for number in range(workers)]
        servers = []
        for number, (own_port, log) in enumerate(zip(ports, logs, strict=True)):
            command = [ENGAGE, "run"]
            if profile is not None:
                out = profile / f"soak-{number}.prof"
                profiled = str(ROOT / "bench" / "cpu_profile.py")
                command = [sys.executable, profiled, str(out), *command]
            elif trace_memory is not None:
                traced = str(ROOT / "bench" / "memory_trace.py")
                command = [
                    sys.executable,
                    traced,
                    str(trace_memory),
                    str(TRACE_EVERY),
                    str(trace_frames),
                    *command,
                ]
            servers.append(
                await asyncio.create_subprocess_exec(
                    *command,
                    env={**env, "ENGAGE_HTTP_PORT": str(own_port)},
                    cwd=folder,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
        # Each person is served by one worker, the workers in turn, as a proxy in front
        # of them would spread the connections.
        bases = [f"http://127.0.0.1:{own_port}" for own_port in ports]
        rec = Recorder()
        analysed = [0]
        analyser = (
            asyncio.create_task(analyse_now_and_then(database_url, ANALYSE_EVERY, analysed))
            if vacuuming == "off"
            else None
        )
        memory: list[tuple[float, int]] = []
        loads: list[float] = []
        cpu_start = cpu_end = 0.0
        try:
            connector = aiohttp.TCPConnector(limit=200)
            # A request not answered within a minute counts as an error, not a hang.
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                for base in bases:
                    for _ in range(600):
                        with contextlib.suppress(aiohttp.ClientError):
                            async with http.get(f"{base}/readyz") as ready:
                                if ready.status == 200:
                                    break
                        await asyncio.sleep(0.2)
                rec = Recorder()
                cpu_start = cpu_seconds(servers)
                tasks: set[asyncio.Task[None]] = set()
                ids = [0]
                # Each web person makes 2 posts, each Telegram person 3 webhook posts.
                web_every = 2 / (rate * web_share) if web_share > 0 else math.inf
                telegram_every = 3 / (rate * (1 - web_share)) if web_share < 1 else math.inf
                end = time.monotonic() + minutes * 60
                next_web = next_tg = time.monotonic()
                web_people = telegram_people = 0
                last_sample = 0.0
                while time.monotonic() < end:
                    now = time.monotonic()
                    while next_web <= now:
                        base = bases[web_people % workers]
                        task = asyncio.create_task(web_person(http, base, web_people, rec, reply))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        web_people += 1
                        next_web += web_every
                    while next_tg <= now:
                        hook = f"{bases[telegram_people % workers]}/hooks/telegram"
                        task = asyncio.create_task(
                            telegram_person(http, fake, hook, telegram_people, ids, rec, reply)
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        telegram_people += 1
                        next_tg += telegram_every
                    if now - last_sample >= RSS_EVERY:
                        memory.append((now - rec.started, rss_sum(servers)))
                        loads.append(os.getloadavg()[0])
                        last_sample = now
                    await asyncio.sleep(0.01)
                # What is still in flight gets a minute more, then counts as unanswered.
                _, late = await asyncio.wait(tasks, timeout=60) if tasks else (set(), set())
                for task in late:
                    task.cancel()
                rec.errors["unanswered at the end"] += len(late)
                cpu_end = cpu_seconds(servers)
                memory.append((time.monotonic() - rec.started, rss_sum(servers)))
                # Let the outbox and inbox finish, then count what was stored.
                await asyncio.sleep(5)
        finally:
            if analyser is not None:
                analyser.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await analyser
            for number, server in enumerate(servers):
                if server.returncode is not None:
                    rec.errors[f"worker {number} exited ({server.returncode})"] += 1
                    continue
                with contextlib.suppress(ProcessLookupError):
                    server.terminate()
            for server in servers:
                await server.wait()
            for log in logs:
                log.close()
        stored = await count_stored(database_url)
        outbox = await count_outbox(database_url)
    logged = "".join((folder / f"server-{number}.log").read_text() for number in range(workers))
    server_errors = sum(1 for line in logged.splitlines() if " ERROR " in line)
    per_minute = {minute: _spread(values) for minute, values in sorted(rec.latencies.items())}
    windows: dict[str, list[float]] = defaultdict(list)
    for minute, values in rec.latencies.items():
        first = minute // 5 * 5
        windows[f"{first}-{first + 5}"].extend(values)
    per_five = {
        window: _spread(values)
        for window, values in sorted(windows.items(), key=lambda w: int(w[0].split("-")[0]))
    }
    # The updates offered: 2 web posts per web person, 3 webhook posts per Telegram person.
    posted = 2 * web_people + 3 * telegram_people
    warm = next((kib for at, kib in memory if at >= warm_up * 60), memory[0][1] if memory else 0)
    end_rss = memory[-1][1] if memory else 0
    figures: dict[str, object] = {
        "minutes": minutes,
        "rate": rate,
        "web_share": web_share,
        "workers": workers,
        "postgresql_autovacuum": vacuuming,
        "analysed_by_the_soak": analysed[0],
        "outbox": outbox,
        "web_people": web_people,
        "telegram_people": telegram_people,
        "stored": stored,
        "expected": {"web": web_people, "telegram": telegram_people},
        "warm_up_minutes": warm_up,
        "rss_after_warm_up_mib": round(warm / 1024, 1),
        "rss_at_end_mib": round(end_rss / 1024, 1),
        "rss_growth": round((end_rss - warm) / warm, 3) if warm else None,
        "client_errors": dict(rec.errors),
        "server_error_lines": server_errors,
        "errors": sum(rec.errors.values()) + server_errors,
        "per_five_minutes": per_five,
        "per_minute": per_minute,
        "rss_mib": [(round(at), round(kib / 1024, 1)) for at, kib in memory],
        "messages_sent_by_bot": len(fake.sent),
        "server_cpu_seconds": round(cpu_end - cpu_start, 1),
        "server_cpu_ms_per_update": round(1000 * (cpu_end - cpu_start) / max(1, posted), 2),
        "load_average_during": {
            "min": min(loads, default=0.0),
            "mean": round(sum(loads) / len(loads), 2) if loads else 0.0,
            "max": max(loads, default=0.0),
        },
        "load_average": os.getloadavg(),
    }
    return figures, logged


def _spread(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "requests": len(values),
        "p50_ms": round(1000 * values[len(values) // 2], 1),
        "p99_ms": round(1000 * values[int(len(values) * 0.99)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=200, help="updates per second")
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--warm-up", type=float, default=3, help="minutes before RSS counts")
    parser.add_argument("--workers", type=int, default=1, help="engage run processes")
    parser.add_argument(
        "--web-share",
        type=float,
        default=0.5,
        help="the share of the updates offered on the web page (the rest on Telegram)",
    )
    parser.add_argument("--profile", type=Path, help="run the servers under cProfile here")
    parser.add_argument(
        "--trace-memory",
        type=Path,
        help="count the servers' objects by type every 2 minutes, files here "
        "(bench/memory_trace.py)",
    )
    parser.add_argument(
        "--trace-frames",
        type=int,
        default=0,
        help="with --trace-memory: tracemalloc snapshots too, this many frames deep "
        "(slows the servers: lower the rate)",
    )
    parser.add_argument(
        "--real-replies",
        action="store_true",
        help="replies made of the pxtextmining comments' sentences (beside the checkout) "
        "instead of numbered ones, each with a new word",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = parser.parse_args()
    if args.profile is not None and args.trace_memory is not None:
        parser.error("--profile and --trace-memory: one at a time (each wraps the servers)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/soak.db"
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        try:
            result, logged = asyncio.run(
                soak(
                    args.minutes,
                    args.rate,
                    url,
                    Path(folder),
                    args.warm_up,
                    args.workers,
                    args.profile.resolve() if args.profile else None,
                    args.web_share,
                    args.trace_memory.resolve() if args.trace_memory else None,
                    args.trace_frames,
                    RealReplies(DATA) if args.real_replies else numbered_reply,
                )
            )
        finally:
            # Kept whatever happened: a worker that died says why here.
            for log in Path(folder).glob("server-*.log"):
                (args.out.parent / f"{args.out.stem}-{log.name}").write_bytes(log.read_bytes())
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_name(args.out.stem + "-server.log").write_text(logged)


if __name__ == "__main__":
    main()
