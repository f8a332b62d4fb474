"""``engage`` as a process of its own: its environment, a command run to its end, and
``engage run`` started, stopped and reaped; shared by the tests that kill, restart or cut
the database from under a real server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from consultations import service
from consultations.spec import parse_spec
from storage.db import create_engine, create_sessionmaker
from storage.tables import OutboxEntry
from tests.conftest import TEST_KEY, TEST_SECRET

ENGAGE = str(Path(sys.executable).parent / "engage")
TOKEN = "123456:TEST-TOKEN"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def engage_env(database_url: str, port: int, **settings: str) -> dict[str, str]:
    """This environment without its Telegram and Mastodon settings, and what ``engage``
    needs to serve ``database_url`` on 127.0.0.1:``port``; then ``settings``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MASTODON_", "TELEGRAM_"))},
        "ENGAGE_DATABASE_URL": database_url,
        "ENGAGE_HTTP_PORT": str(port),
        "ENGAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ENGAGE_SECRET_KEY": TEST_SECRET,
        "ENGAGE_PSEUDONYM_KEY": TEST_KEY,
        **settings,
    }


async def ended(process: asyncio.subprocess.Process) -> None:
    """Kill ``process`` if it still runs, and reap it.

    In a ``finally``: a test cut short (by one of its deadlines, or by the suite's
    per-test timeout, which cancels what the test was awaiting) leaves no ``engage``
    running, nor its pipes open, for the tests after it.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def engage(env: dict[str, str], *args: str, within: float = 120) -> tuple[int, str]:
    """Run an ``engage`` command to its end: its exit code, and its output and errors."""
    process = await asyncio.create_subprocess_exec(
        ENGAGE, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(within):
            out, _ = await process.communicate()
    finally:
        await ended(process)
    return int(process.returncode or 0), out.decode()


async def start(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """``engage run``, in ``log``'s folder, its output added to ``log`` (a file, not a
    pipe: nothing reads a pipe while it runs, and a full one would stop it mid-write)."""
    with log.open("ab") as handle:
        return await asyncio.create_subprocess_exec(
            ENGAGE, "run", env=env, cwd=log.parent, stdout=handle, stderr=handle
        )


async def stop(process: asyncio.subprocess.Process, within: float = 30) -> None:
    """SIGTERM, as an operator stops it, and wait; killed if it is still running then."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                await process.wait()
        except TimeoutError:
            await ended(process)


async def outbox_counts(database_url: str, key_like: str | None = None) -> dict[str, int]:
    """The outbox's rows by status: all, or those whose idempotency key is ``LIKE``
    ``key_like``."""
    query = select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
    if key_like is not None:
        query = query.where(OutboxEntry.idempotency_key.like(key_like))
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return {status: int(n) for status, n in await session.execute(query)}
    finally:
        await engine.dispose()


async def open_consultation(database_url: str, data: dict[str, Any], *, open_: bool = True) -> None:
    """Store a consultation and open it (unless ``open_`` is false), in this process: a
    command's start costs seconds, many more on a busy machine."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            spec = parse_spec(data)
            await service.create(session, spec, source="test")
            if open_:
                await service.open_(session, spec.id)
    finally:
        await engine.dispose()
