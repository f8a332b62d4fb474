"""The store unavailable for a reason an operator must act on: a full disk, a read-only
file, no connection free on the server. Each is an outage (the web page says to try again
in a moment, the inbox waits), named in words in the logs, and no statement's values (a
reply's text) appear in the error."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.platform import Platform
from storage.db import create_engine, is_unavailable, outage_reason
from storage.tables import Response
from tests.helpers import form_fields, launch

SECRET = "my neighbour Jane Citizen told me her password is hunter2"


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite store of the project's engine with one table, ``scratch (body)``."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE scratch (body TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def _fill(engine: AsyncEngine) -> DBAPIError:
    """Rows of the secret text in ``scratch``, one transaction each, until the store
    refuses one, in smaller rows each time, so that no room is left for a small row."""
    refused: DBAPIError | None = None
    for size in (200, 10, 1):
        for n in range(10_000):
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        text("INSERT INTO scratch (body) VALUES (:body)"),
                        {"body": f"{size}.{n} {SECRET * size}"},
                    )
            except DBAPIError as exc:
                refused = exc
                break
    assert refused is not None, "the store never filled"
    return refused


def _limit_pages(engine: AsyncEngine) -> Any:
    """Every new connection of ``engine`` may not grow the file (SQLite's page limit
    stands in for a full disk: the same error, SQLITE_FULL)."""

    def limit(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        (pages,) = cursor.fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(engine.sync_engine, "connect", limit)
    return limit


async def test_a_full_sqlite_disk_is_an_outage_named_without_the_values(
    scratch: AsyncEngine,
) -> None:
    async with scratch.begin() as connection:
        await connection.execute(text("INSERT INTO scratch VALUES ('kept')"))
    limit = _limit_pages(scratch)
    await scratch.dispose()
    error = await _fill(scratch)
    assert is_unavailable(error)
    assert outage_reason(error) == "the disk is full"
    assert "hunter2" not in str(error)
    assert "hunter2" not in repr(error)
    # Room again: the store takes writes, and what it held before is all there.
    event.remove(scratch.sync_engine, "connect", limit)
    await scratch.dispose()
    async with scratch.begin() as connection:
        await connection.execute(text("INSERT INTO scratch VALUES ('after')"))
        kept = await connection.scalar(
            text("SELECT count(*) FROM scratch WHERE body IN ('kept', 'after')")
        )
    assert kept == 2


async def _refused(engine: AsyncEngine, *pragmas: str) -> DBAPIError:
    """The error of inserting the secret text (again) after ``pragmas``."""
    async with engine.connect() as connection:
        for pragma in pragmas:
            await connection.execute(text(pragma))
        with pytest.raises(DBAPIError) as caught:
            await connection.execute(text("INSERT INTO scratch VALUES (:body)"), {"body": SECRET})
    return caught.value


async def test_a_read_only_sqlite_file_is_named(scratch: AsyncEngine) -> None:
    error = await _refused(scratch, "PRAGMA query_only = ON")
    assert is_unavailable(error)
    assert outage_reason(error) == "the database file is read-only"
    assert "hunter2" not in str(error)


async def test_a_statement_error_never_shows_its_values(scratch: AsyncEngine) -> None:
    async with scratch.begin() as connection:
        await connection.execute(text("INSERT INTO scratch VALUES (:body)"), {"body": SECRET})
    error = await _refused(scratch)
    # A bug, not an outage; its message names the statement but not the reply.
    assert not is_unavailable(error)
    assert "INSERT INTO scratch" in str(error)
    assert "hunter2" not in str(error)


async def test_no_connection_free_on_postgresql_is_an_outage(postgres_database: str) -> None:
    role = f"engage_limited_{uuid.uuid4().hex[:8]}"
    admin_url = postgres_database.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
        host, _, database = admin_url.rpartition("/")
        scheme, _, rest = host.partition("://")
        server = rest.rpartition("@")[2]
        limited = f"postgresql+asyncpg://{role}@{server}/{database}"
        holder = await asyncpg.connect(limited.replace("postgresql+asyncpg://", "postgresql://"))
        engine = create_engine(limited)
        try:
            with pytest.raises(DBAPIError) as caught:
                async with engine.connect() as connection:
                    await connection.execute(text("select 1"))
            assert is_unavailable(caught.value)
            assert outage_reason(caught.value) == "the database server has no connection free"
        finally:
            await engine.dispose()
            await holder.close()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_web_page_asks_to_try_again_while_the_file_cannot_be_written(
    platform: Platform, web_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await launch(platform)
    page = await (await web_client.get("/c/outpatient-booking")).text()
    action = "/c/outpatient-booking/consent"
    response = await web_client.post(action, data={**form_fields(page, action), "answer": "yes"})
    page = await response.text()
    assert "Which best describes you?" in page

    # Every connection from now on may read but not write, as when the file's permissions
    # were changed under the running process.
    def read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    event.listen(platform.engine.sync_engine, "connect", read_only)
    await platform.engine.dispose()
    action = "/c/outpatient-booking/answers"
    fields = form_fields(page, action)
    with caplog.at_level(logging.WARNING, logger="bot.web.operations"):
        response = await web_client.post(action, data={**fields, "segment:role": "Patient"})
    assert response.status == 503
    assert "try again in a moment" in await response.text()
    assert any("the database file is read-only" in r.getMessage() for r in caplog.records)

    # Writable again: the same person's answer goes through without a restart.
    event.remove(platform.engine.sync_engine, "connect", read_only)
    await platform.engine.dispose()
    response = await web_client.post(action, data={**fields, "segment:role": "Patient"})
    assert response.status == 200
    async with platform.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Response))
    assert stored == 1
