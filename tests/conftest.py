"""Shared fixtures: real SQLite and PostgreSQL stores, migrated by the real migrations.

Every test that takes ``database_url`` (directly or through ``settings`` and
``platform``) runs twice: once on a SQLite file, once on PostgreSQL. PostgreSQL gets a
database of its own per test run, so separate runs on one machine don't collide.
``ENGAGE_TEST_DATABASE_URL`` (formerly ``ENGAGE_TEST_POSTGRES_URL``) points at the
server; ``scripts/test-services``, which ``make test`` runs the suite under, sets it to
the machine's server or a throwaway one. Default: the local server on port 5432.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.platform import Platform, create_platform
from bot.web.app import create_app
from migrations import apply as migrate
from storage.tables import Base
from tests.waiting import scale

POSTGRES_ADMIN_URL = (
    os.environ.get("ENGAGE_TEST_DATABASE_URL")
    or os.environ.get("ENGAGE_TEST_POSTGRES_URL")
    or "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_KEY = "test-pseudonym-key-0123456789-abcdefghijklmnop"
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrst"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Each test's limit (pytest-timeout's ini ``timeout``) grows with the waits' scale.

    ``--timeout`` and ``PYTEST_TIMEOUT`` are taken as given.
    """
    ini = config.getini("timeout")
    if config.getoption("timeout", None) is None and "PYTEST_TIMEOUT" not in os.environ and ini:
        config.option.timeout = float(ini) * scale()


def _sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "engage.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own, dropped at the end."""
    name = f"engage_test_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is needed for these tests and is not reachable at "
            f"{POSTGRES_ADMIN_URL} ({exc}); run the suite with `make test` (which starts "
            "one) or set ENGAGE_TEST_DATABASE_URL"
        )
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    url = _sqlalchemy_url(f"{base}/{name}")
    migrate.upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "engage.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://127.0.0.1:8080",
        secret_key=TEST_SECRET,
        pseudonym_key=TEST_KEY,
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    built = create_platform(settings)
    yield built
    await built.aclose()


@pytest.fixture
async def web_client(
    settings: Settings, platform: Platform
) -> AsyncIterator[TestClient[object, object]]:
    """An HTTP client for the web app (web channel only; no background work)."""
    from bot.platform import configured_adapters

    app = create_app(settings, platform=platform, adapters=configured_adapters, background=False)
    app.cleanup_ctx.clear()  # the platform fixture disposes of the engine
    async with TestClient(TestServer(app)) as client:
        yield client
