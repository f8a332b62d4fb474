"""Answers stored per second through the web channel, beside a bare aiohttp handler.

Run by hand (needs `wrk`, Debian package `wrk`, and PostgreSQL on 127.0.0.1:5432):

    .venv/bin/python bench/web_throughput.py [--seconds 10] [--connections 32]
        [--workers 2] [--only sqlite|postgresql] [--profile DIR] [--spy DIR] [--code DIR]
        [--port N]

For each store (SQLite file with one worker; PostgreSQL with ``--workers`` processes
sharing one port, as workers behind a proxy) it starts the real web app, has 200 people
give consent over HTTP, then lets wrk post answers to the consultation's prompt (a new
text each time, so each is stored; a person's later answer replaces the earlier one)
for the given time, and counts the answers that reached the store (rows in ``inbox``,
committed with each response). The bare handler parses the same form and redirects,
with no store, measured in the same run: figures are read as a share of it on a shared
machine.

Every form post needs a nonce the server issued (bot/web/guards.py). A person would
fetch the page first; here the nonces are signed with the server's key before the clock
starts and handed to wrk's script, so the timed part is the answer alone (its claim of
the nonce included, as for any post).

Then latency: wrk again at half the measured peak (each connection pauses between its
requests), reporting p50 and p99. ``--profile DIR`` runs the servers under cProfile and
prints the top functions by own time. ``--spy DIR`` samples the servers with py-spy
(``pip install py-spy``) during the peak only, where cProfile's cost would not distort
the figures, and prints the top functions by own and by total samples, per thread
(idle samples included: the event loop's ``select`` is its time spent waiting).

Beside each rate it prints the servers' CPU time per answer stored (from /proc), which
a busy shared machine disturbs far less than the rate, split into the servers' own
processes and their helper processes. ``--code DIR`` measures the server of another
checkout (``git worktree add``) with this script: run it alternately with and without
to compare two versions in the same period.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import children_of, cpu_seconds_of, fresh_pg_database  # noqa: E402
from bot.web.guards import FormNonces  # noqa: E402

PYTHON = sys.executable
# py-spy as installed beside this Python (pip), else from PATH.
PY_SPY = next((str(p) for p in [Path(PYTHON).parent / "py-spy"] if p.exists()), "py-spy")
KEY = "bench-key-0123456789-0123456789-0123456789"
THREADS = 2
# Nonces issued per wrk thread and run: more than any machine here can use in a second.
NONCES_PER_SECOND = 4000

LUA = """
local people = {%(people)s}
local nonces = {%(nonces)s}
local counter = 0
local pause = %(pause)d
request = function()
  counter = counter + 1
  -- The threads take turns through the people, so no two requests of one person are
  -- in flight at once (a person answers one form at a time).
  local p = people[((counter * %(threads)d + tid) %% #people) + 1]
  local mine = nonces[tid + 1]
  local body = "csrf=" .. p[2] .. "&nonce=" .. mine[((counter - 1) %% #mine) + 1] ..
    "&item%%3Aone-thing=Booking+by+phone+took+too+long+and+nobody+called+back+" .. counter
  return wrk.format("POST", "/c/bench/answers", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "engage_p=" .. p[1]}, body)
end
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
if pause > 0 then
  delay = function() return pause end
end
"""


def signed_nonces(per_thread: int) -> str:
    """Nonces for the Lua script's ``nonces``, signed as the server's pages sign them
    (bot/web/guards.py), ``per_thread`` for each wrk thread, each used once."""
    issuer = FormNonces(cast(Any, None), KEY)
    return ",".join(
        "{" + ",".join(f'"{issuer.issue()}"' for _ in range(per_thread)) + "}"
        for _ in range(THREADS)
    )


#: The port the servers listen on (``--port``); a free one when 0.
PORT = 0


def free_port() -> int:
    if PORT:
        return PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(processes: list[subprocess.Popen[str]], port: int) -> None:
    deadline = time.monotonic() + 120
    ready = 0
    while time.monotonic() < deadline and ready < len(processes):
        ready = 0
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError("a server exited before it was ready")
        # Each server prints "ready" once listening; count them through the port.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            ready = len(processes)
        time.sleep(0.2)
    if ready < len(processes):
        raise RuntimeError("servers did not start")


def run_wrk(
    url: str, script: str, seconds: int, connections: int, *, latency: bool = False
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "-s", handle.name]
    if latency:
        command.append("--latency")
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    result = {"requests": requests, "errors": int(errors.group(1)) if errors else 0, "rps": rps}
    if latency:
        for label in ("50", "99"):
            found = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", out)
            if found:
                value, unit = float(found.group(1)), found.group(2)
                result[f"p{label}_ms"] = value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return result


async def consent_people(port: int, count: int) -> list[tuple[str, str]]:
    people = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(count):
            http.cookie_jar.clear()
            page = await (await http.get(f"http://127.0.0.1:{port}/c/bench")).text()
            fields = dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', page))
            await http.post(
                f"http://127.0.0.1:{port}/c/bench/consent", data={**fields, "answer": "yes"}
            )
            token = next(c.value for c in http.cookie_jar if c.key == "engage_p")
            people.append((token, fields["csrf"]))
    return people


COUNT_ANSWERS = "select count(*) from inbox where channel = 'web'"


async def web_events(database_url: str) -> int:
    """Web events handled so far: each answer's inbox row commits with its response.

    Rows of ``response`` cannot be counted: a person's later answer replaces the earlier.
    """
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.split("///", 1)[1]) as db:
            return int(db.execute(COUNT_ANSWERS).fetchone()[0])
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval(COUNT_ANSWERS))
    finally:
        await connection.close()


def cpu_seconds(servers: list[subprocess.Popen[str]]) -> tuple[float, float]:
    """CPU time used so far by the servers' own threads, and by their child processes.

    Read from /proc (Linux): utime and stime.
    """
    own = sum(cpu_seconds_of(server.pid) for server in servers)
    helpers = sum(cpu_seconds_of(child) for server in servers for child in children_of(server.pid))
    return own, helpers


def start_spies(
    servers: list[subprocess.Popen[str]], folder: Path | None, name: str, seconds: int
) -> list[subprocess.Popen[str]]:
    """py-spy sampling each server for ``seconds`` (none without a folder)."""
    if folder is None:
        return []
    spies = []
    for number, server in enumerate(servers):
        out = folder / f"{name}-{number}.txt"
        command = [PY_SPY, "record", "-p", str(server.pid), "-d", str(seconds)]
        command += ["-f", "raw", "--nolineno", "-t", "--idle", "-o", str(out)]
        spies.append(
            subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True
            )
        )
    return spies


def print_spied(folder: Path, lines: int = 25) -> None:
    """Top functions by own and by total samples in py-spy's raw files, per thread.

    The event loop's thread is ``MainThread`` (SQLAlchemy's greenlets run in it too);
    other threads are grouped by name without their numbers (aiosqlite's, the pool's).
    """
    own: dict[str, dict[str, int]] = {}
    total: dict[str, dict[str, int]] = {}
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text().splitlines():
            stack, _, counted = line.rpartition(" ")
            frames = stack.split(";")
            if not counted.isdigit() or len(frames) < 2 or not frames[0].startswith("thread"):
                continue
            name = re.sub(r"[-\d]+", "", frames[0].partition(": ")[2]) or "?"
            calls = frames[1:]
            samples = int(counted)
            mine_own = own.setdefault(name, {})
            mine_total = total.setdefault(name, {})
            mine_own[calls[-1]] = mine_own.get(calls[-1], 0) + samples
            for frame in set(calls):
                mine_total[frame] = mine_total.get(frame, 0) + samples
    for name in sorted(own, key=lambda k: (k != "MainThread", -sum(own[k].values())))[:3]:
        every = sum(own[name].values())
        print(f"\npy-spy, thread {name}: {every} samples; top {lines} by own samples:")
        for frame, samples in sorted(own[name].items(), key=lambda x: -x[1])[:lines]:
            print(f"  {samples / every:6.1%}  {frame}")
        print(f"top {lines} by total samples:")
        for frame, samples in sorted(total[name].items(), key=lambda x: -x[1])[:lines]:
            print(f"  {samples / every:6.1%}  {frame}")


def measure_engage(
    code: Path,
    database_url: str,
    workers: int,
    seconds: int,
    connections: int,
    profile: Path | None,
    spy: Path | None = None,
) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    program = code / "bench" / "web_server.py"
    subprocess.run([PYTHON, str(program), "setup", database_url], env=env, check=True)
    port = free_port()
    servers = []
    for number in range(workers):
        server_env = dict(env)
        if profile is not None:
            server_env["BENCH_PROFILE"] = str(profile / f"{database_url[:6]}-{number}.prof")
        servers.append(
            subprocess.Popen(
                [PYTHON, str(program), "serve", database_url, str(port)], env=server_env, text=True
            )
        )
    try:
        wait_ready(servers, port)
        time.sleep(2.0 * workers)  # every worker has loaded its text analysis
        people = asyncio.run(consent_people(port, 200))
        listed = ",".join(f'{{"{t}","{c}"}}' for t, c in people)
        per_thread = NONCES_PER_SECOND * seconds // THREADS
        peak_nonces, half_nonces = signed_nonces(per_thread), signed_nonces(per_thread)
        before = asyncio.run(web_events(database_url))
        url = f"http://127.0.0.1:{port}"
        spies = start_spies(servers, spy, database_url[:6], seconds)
        cpu_before = cpu_seconds(servers)
        started = time.perf_counter()
        peak = run_wrk(
            url,
            LUA % {"people": listed, "nonces": peak_nonces, "pause": 0, "threads": THREADS},
            seconds,
            connections,
        )
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(servers)
        for spying in spies:
            spying.wait(60)
        stored = asyncio.run(web_events(database_url)) - before
        rate = stored / elapsed
        # Half the peak: each connection waits between requests so that together they
        # offer about half the rate (closed loop: wrk's figures, not an open-loop load).
        half_connections = max(4, connections // 2)
        pause_ms = max(1, int(1000 * half_connections / max(rate / 2, 1)))
        half = run_wrk(
            url,
            LUA % {"people": listed, "nonces": half_nonces, "pause": pause_ms, "threads": THREADS},
            seconds,
            half_connections,
            latency=True,
        )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)
    return {
        **peak,
        # CPU per answer stored, load-independent where the rate is not: the servers'
        # own processes, and their helper processes (text preparation).
        "cpu_us_per_answer": 1e6 * (cpu_after[0] - cpu_before[0]) / max(stored, 1),
        "helper_cpu_us_per_answer": 1e6 * (cpu_after[1] - cpu_before[1]) / max(stored, 1),
        "stored": stored,
        "answers_per_second": rate,
        "half_rate_rps": half["rps"],
        "p50_ms": half.get("p50_ms", float("nan")),
        "p99_ms": half.get("p99_ms", float("nan")),
    }


def measure_bare(seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, str(ROOT / "bench" / "bare_server.py"), str(port)], text=True
    )
    try:
        wait_ready([server], port)
        script = LUA % {
            "people": '{"t","c"}',
            "nonces": '{"n"},{"n"}',
            "pause": 0,
            "threads": THREADS,
        }
        return run_wrk(f"http://127.0.0.1:{port}", script, seconds, connections)
    finally:
        server.terminate()
        server.wait(10)


def print_profile(folder: Path, lines: int = 25) -> None:
    files = sorted(str(p) for p in folder.glob("*.prof"))
    if not files:
        return
    stats = pstats.Stats(*files)
    print(f"\nprofile ({len(files)} servers), top {lines} by own time:")
    stats.sort_stats("tottime").print_stats(lines)
    print(f"top {lines} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="PostgreSQL worker processes")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", type=Path, help="run the servers under cProfile here")
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose server is measured"
    )
    parser.add_argument("--spy", type=Path, help="sample the peak with py-spy into this folder")
    parser.add_argument("--port", type=int, default=0, help="listen here (default: a free port)")
    args = parser.parse_args()
    global PORT
    PORT = args.port
    load = os.getloadavg()
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores",
        "load_before": [round(x, 2) for x in load],
    }
    print(f"machine: {os.cpu_count()} cores, load average before: {load[0]:.2f}")
    bare = measure_bare(args.seconds, args.connections)
    results["bare_aiohttp_rps"] = bare["rps"]
    print(f"bare aiohttp handler: {bare['rps']:.0f} requests/s")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        for old in args.profile.glob("*.prof"):
            old.unlink()
    if args.spy is not None:
        args.spy.mkdir(parents=True, exist_ok=True)
        for old in args.spy.glob("*.txt"):
            old.unlink()
    with tempfile.TemporaryDirectory() as folder:
        stores = [
            ("sqlite", 1, f"sqlite+aiosqlite:///{folder}/bench.db"),
            ("postgresql", args.workers, ""),
        ]
        for name, workers, url in stores:
            if args.only and name != args.only:
                continue
            url = url or asyncio.run(fresh_pg_database("engage_bench"))
            measured = measure_engage(
                args.code.resolve(),
                url,
                workers,
                args.seconds,
                args.connections,
                args.profile,
                args.spy,
            )
            results[name] = {**measured, "workers": workers}
            share = measured["answers_per_second"] / bare["rps"]
            print(
                f"{name} ({workers} worker{'s' if workers > 1 else ''}): "
                f"{measured['answers_per_second']:.0f} answers/s stored "
                f"({measured['stored']:.0f} rows, {measured['errors']:.0f} error responses; "
                f"{share:.0%} of the bare handler); at half that rate "
                f"({measured['half_rate_rps']:.0f}/s) p50 {measured['p50_ms']:.1f} ms, "
                f"p99 {measured['p99_ms']:.1f} ms; server CPU per answer "
                f"{measured['cpu_us_per_answer']:.0f} us "
                f"(+{measured['helper_cpu_us_per_answer']:.0f} us in helper processes)"
            )
    load = os.getloadavg()
    results["load_after"] = [round(x, 2) for x in load]
    print(f"load average after: {load[0]:.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "web_throughput.json").write_text(json.dumps(results, indent=2))
    if args.profile is not None:
        print_profile(args.profile)
    if args.spy is not None:
        print_spied(args.spy)


if __name__ == "__main__":
    main()
