"""Answers stored per second through the web channel, beside a bare aiohttp handler.

Run by hand (needs `wrk`, Debian package `wrk`, and PostgreSQL on 127.0.0.1:5432):

    .venv/bin/python bench/web_throughput.py [--seconds 10] [--connections 32]

For each store (SQLite file, PostgreSQL) it starts the real web app in its own process,
has 200 people give consent over HTTP, then lets wrk post answers (a prompt answer per
request, each with its own submission id) for the given time, and counts the rows that
reached the store. The bare handler parses the same form and redirects, with no store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from common import fresh_pg_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

LUA = """
local people = {%s}
local counter = 0
local tag = ""
init = function(args)
  tag = tostring({}):sub(8)
end
request = function()
  counter = counter + 1
  local p = people[(counter %% #people) + 1]
  local body = "csrf=" .. p[2] .. "&nonce=" .. tag .. "x" .. counter ..
    "&item%%3Aone-thing=Booking+by+phone+took+too+long+and+nobody+called+back"
  return wrk.format("POST", "/c/bench/answers", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "engage_p=" .. p[1]}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("server exited before it was ready") from None
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_wrk(url: str, script: str, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"requests": requests, "errors": int(errors.group(1)) if errors else 0, "rps": rps}


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


async def count_responses(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.split("///", 1)[1]) as db:
            return int(db.execute("select count(*) from response").fetchone()[0])
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval("select count(*) from response"))
    finally:
        await connection.close()


def measure_engage(database_url: str, seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            PYTHON,
            os.environ.get("BENCH_SERVER", str(ROOT / "bench" / "web_server.py")),
            database_url,
            str(port),
        ],
        env=env,
        text=True,
    )
    try:
        wait_ready(server, port)
        people = asyncio.run(consent_people(port, 200))
        script = LUA % ",".join(f'{{"{t}","{c}"}}' for t, c in people)
        result = run_wrk(f"http://127.0.0.1:{port}", script, seconds, connections)
        stored = asyncio.run(count_responses(database_url))
    finally:
        server.terminate()
        server.wait(10)
    return {**result, "stored": stored, "answers_per_second": stored / seconds}


def measure_bare(seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen([PYTHON, str(ROOT / "bench" / "bare_server.py"), str(port)])
    try:
        wait_ready(server, port)
        script = LUA % '{"t","c"}'
        return run_wrk(f"http://127.0.0.1:{port}", script, seconds, connections)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    results: dict[str, object] = {"machine": f"{os.cpu_count()} cores"}
    bare = measure_bare(args.seconds, args.connections)
    results["bare_aiohttp_rps"] = bare["rps"]
    print(f"bare aiohttp handler: {bare['rps']:.0f} requests/s")
    with tempfile.TemporaryDirectory() as folder:
        for name, url in (
            ("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db"),
            ("postgresql", asyncio.run(fresh_pg_database("engage_bench"))),
        ):
            measured = measure_engage(url, args.seconds, args.connections)
            results[name] = measured
            share = measured["answers_per_second"] / bare["rps"]
            print(
                f"{name}: {measured['answers_per_second']:.0f} answers/s stored "
                f"({measured['stored']} rows, {measured['errors']} error responses; "
                f"{share:.0%} of the bare handler)"
            )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "web_throughput.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
