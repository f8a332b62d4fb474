"""`engage run` as operators start and stop it: a real process, real HTTP, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.platform import create_platform
from channels.events import CONSENT
from migrations import apply as migrate
from storage.db import autovacuum_off, create_engine, create_sessionmaker
from storage.tables import Consent, InboxEntry, OutboxEntry, Response
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.fakes.channel import Person
from tests.helpers import launch, spec_data
from tests.processes import ENGAGE, ended, engage, engage_env, free_port, open_consultation
from tests.waiting import wait_until

DEMO = Path(__file__).resolve().parents[2] / "examples" / "outpatient-booking.yaml"
DEMO_SPEC = yaml.safe_load(DEMO.read_text(encoding="utf-8"))


async def _engage(env: dict[str, str], *args: str) -> tuple[int, str]:
    return await engage(env, *args, within=60)


async def _opened(database_url: str, *, open_: bool = True) -> None:
    """The demo consultation stored, and opened unless ``open_`` is false, in this
    process (the command line's own tests start it; here a start costs seconds, many
    more on a busy machine)."""
    await migrate.upgrade_async(database_url)
    await open_consultation(database_url, DEMO_SPEC, open_=open_)


# Two `engage` processes start in turn (run, export), each importing the whole platform:
# under a second of CPU each, but `engage --help` took 7-9 s of wall time at load 10 on
# two cores, and `engage run` more than 30 s to answer at load 13-16; 60 s is too little
# for both.
@pytest.mark.timeout(180)
async def test_run_serves_answers_and_stops_gracefully_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_HTTP_PORT": str(port),
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        env.pop(name, None)
    await _opened(database_url)

    # Its output goes to a file, not a pipe: nothing reads a pipe while it runs, and a
    # full one would stop the server mid-write.
    log = tmp_path / "engage.log"
    with log.open("wb") as handle:
        server = await asyncio.create_subprocess_exec(
            ENGAGE, "run", env=env, cwd=tmp_path, stdout=handle, stderr=handle
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

            await wait_until(healthy, within=60, every=0.1, what="the server to be healthy")
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
            await server.wait()
    finally:
        await ended(server)
    output = log.read_text()
    assert server.returncode == 0, output
    assert "stopping: finishing accepted work" in output
    # This machine's PostgreSQL runs without autovacuum (its CI configuration).
    engine = create_engine(database_url)
    try:
        off = await autovacuum_off(engine)
    finally:
        await engine.dispose()
    assert ("PostgreSQL's autovacuum is off" in output) is off, output

    code, exported = await _engage(env, "export", "outpatient-booking", "--format", "csv")
    assert code == 0
    assert "outpatient-booking,role,segment,web," in exported


async def _inbox_counts(database_url: str, engine: AsyncEngine | None = None) -> tuple[int, int]:
    """Inbox rows handled, and rows still waiting (held-aside rows are neither); through
    ``engine`` if given (a poll that connects each time can be slower, on a loaded
    machine, than the handling it watches)."""
    own = engine is None
    engine = engine or create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(InboxEntry.processed_at.is_not(None), func.count())
                .where(InboxEntry.failed_at.is_(None))
                .group_by(InboxEntry.processed_at.is_not(None))
            )
            counts = {bool(done): int(n) for done, n in rows}
    finally:
        if own:
            await engine.dispose()
    return counts.get(True, 0), counts.get(False, 0)


# CPU-heavy: two `engage run` processes start and handle 6,000 inbox events between them.
# The test's own deadlines (60 s to begin, 60 s to stop, 180 s for the backlog) say
# what was too slow; the suite's 60 s would cut them short on a loaded machine.
@pytest.mark.timeout(420)
async def test_sigterm_with_an_inbox_backlog_stops_promptly_and_loses_nothing(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    # In the soak, `engage run` handled its whole inbox backlog before it would stop,
    # which took minutes. Stopping finishes the batch in hand and leaves the rest
    # stored for the next start.
    people = [Person(f"backlog-{n}") for n in range(2_000)]
    platform = create_platform(settings)
    try:
        await launch(platform, spec_data(segments=[], consent={"text": "ok?"}))
        events = [
            event
            for person in people
            for event in (
                person.starts("outpatient-booking"),
                person.answers(CONSENT, "yes"),
                person.answers("ease", "Hard"),
            )
        ]
        for start in range(0, len(events), 500):
            await platform.inbox.receive_many(events[start : start + 500])
    finally:
        await platform.aclose()
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_HTTP_PORT": str(free_port()),
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        env.pop(name, None)
    log = tmp_path / "engage.log"

    async def start() -> asyncio.subprocess.Process:
        with log.open("ab") as handle:
            return await asyncio.create_subprocess_exec(
                ENGAGE, "run", env=env, cwd=tmp_path, stdout=handle, stderr=handle
            )

    server = await start()
    try:
        watching = create_engine(database_url)

        async def begun() -> bool:
            assert server.returncode is None, log.read_text()[-3000:]
            return (await _inbox_counts(database_url, watching))[0] > 0

        try:
            await wait_until(begun, within=60, every=0.05, what="the inbox to be handled")
            server.send_signal(signal.SIGTERM)
        finally:
            await watching.dispose()
        asked = time.monotonic()
        async with asyncio.timeout(60):
            await server.wait()
        took = time.monotonic() - asked
        assert server.returncode == 0, log.read_text()[-3000:]
        # Generous: the point is seconds, not the minutes a backlog takes.
        assert took < 20, f"stopping took {took:.1f} s"
        handled, waiting = await _inbox_counts(database_url)
        assert waiting > 0, "the backlog was handled before stopping"
        assert handled + waiting == len(events)

        server = await start()

        async def all_handled() -> bool:
            assert server.returncode is None, log.read_text()[-3000:]
            return await _inbox_counts(database_url) == (len(events), 0)

        await wait_until(all_handled, within=180, every=0.2, what="the backlog to be handled")
        server.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await server.wait()
        assert server.returncode == 0, log.read_text()[-3000:]
    finally:
        await ended(server)

    # Every event handled exactly once: one answer each, one consent each, and the same
    # questions queued for every person, none twice.
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            answers = Counter(
                await session.scalars(
                    select(Response.participant_id).where(Response.item_id == "ease")
                )
            )
            consents = Counter(await session.scalars(select(Consent.participant_id)))
            queued = Counter(
                (row.participant_id, row.payload.get("question"))
                for row in await session.scalars(select(OutboxEntry))
            )
    finally:
        await engine.dispose()
    assert len(answers) == len(people) and set(answers.values()) == {1}
    assert len(consents) == len(people) and set(consents.values()) == {1}
    assert set(queued.values()) == {1}
    per_person = Counter(participant for participant, _ in queued)
    assert len(per_person) == len(people) and len(set(per_person.values())) == 1


@pytest.mark.timeout(240)
async def test_sigterm_with_a_request_blocked_on_the_database_stops_within_the_grace(
    tmp_path: Path,
) -> None:
    # A request waiting for SQLite's write lock (held by another process here) waits up
    # to the busy timeout (30 s); aiohttp's default kept a stopping process for 60 s.
    # The stop ends within ENGAGE_STOP_GRACE all the same.
    path = tmp_path / "engage.db"
    port = free_port()
    # Shorter than the default 10 s, and far shorter than the busy timeout (30 s) the
    # request would otherwise wait out.
    grace = 2.0
    env = engage_env(f"sqlite+aiosqlite:///{path}", port, ENGAGE_STOP_GRACE=f"{grace:g}")
    await _opened(env["ENGAGE_DATABASE_URL"])
    log = tmp_path / "engage.log"
    with log.open("wb") as handle:
        server = await asyncio.create_subprocess_exec(
            ENGAGE, "run", env=env, cwd=tmp_path, stdout=handle, stderr=handle
        )
    holder = sqlite3.connect(path, isolation_level=None)
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

            await wait_until(healthy, within=60, every=0.1, what="the server to be healthy")
            page = await (await http.get(f"{base}/c/outpatient-booking")).text()
            fields = dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', page))
            holder.execute("BEGIN EXCLUSIVE")
            blocked = asyncio.create_task(
                http.post(f"{base}/c/outpatient-booking/consent", data={**fields, "answer": "yes"})
            )
            await asyncio.sleep(1.5)
            assert not blocked.done()  # waiting for the lock
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await server.wait()
            took = time.monotonic() - started
            with contextlib.suppress(aiohttp.ClientError):
                await blocked
    finally:
        holder.close()
        await ended(server)
    assert server.returncode == 0, log.read_text()
    assert took < grace + 5, took


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_second_run_on_one_sqlite_file_is_refused_until_the_first_ends(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        env.pop(name, None)

    async def started() -> tuple[asyncio.subprocess.Process, str]:
        port = free_port()
        with (tmp_path / f"engage-{port}.log").open("wb") as handle:
            server = await asyncio.create_subprocess_exec(
                ENGAGE, "run", env={**env, "ENGAGE_HTTP_PORT": str(port)},
                cwd=tmp_path, stdout=handle, stderr=handle,
            )  # fmt: skip
        return server, f"http://127.0.0.1:{port}"

    async def serving(server: asyncio.subprocess.Process, base: str, what: str) -> None:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                assert server.returncode is None
                try:
                    async with http.get(f"{base}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await wait_until(healthy, within=60, every=0.1, what=what)

    first, base = await started()
    try:
        await serving(first, base, "the first to serve")
        code, out = await _engage({**env, "ENGAGE_HTTP_PORT": str(free_port())}, "run")
        assert code == 2
        assert out.strip().splitlines() == [
            f"engage: ENGAGE_DATABASE_URL: another `engage run` is using "
            f"{database_url.removeprefix('sqlite+aiosqlite:///')}; one process serves a "
            "SQLite file (several workers need PostgreSQL)"
        ]
        first.kill()  # the lock goes with the process, however it ends
        await first.wait()
        second, base = await started()
        try:
            await serving(second, base, "the second to serve")
        finally:
            await ended(second)
    finally:
        await ended(first)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@pytest.mark.timeout(240)
@pytest.mark.skipif(sys.platform != "linux", reason="the forked second process is Linux's")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_import_killed_takes_its_second_process_with_it(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
    }
    await _opened(database_url, open_=False)
    rows = "".join(f"r{i},Comment {i} on the booking line\n" for i in range(20_000))
    (tmp_path / "big.csv").write_text("id,comment\n" + rows)
    importing = await asyncio.create_subprocess_exec(
        ENGAGE, "import", "outpatient-booking", str(tmp_path / "big.csv"), "--format", "csv",
        "--item", "one-thing", "--text-column", "comment", "--participant-column", "id",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def forked() -> list[int]:
            assert importing.returncode is None
            return _children(importing.pid)

        second = await wait_until(forked, within=180, every=0.1, what="the second process")
    finally:
        await ended(importing)

    def running(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"  # ended, not yet reaped by whoever adopted it

    async def gone() -> bool:
        return not any(running(pid) for pid in second)

    try:
        await wait_until(gone, within=10, every=0.1, what="the second process to end")
    finally:
        for pid in second:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
