"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def json_text(value: Any) -> str:
    """A value as the JSON text JSON columns store (the engines' serializer)."""
    return orjson.dumps(value).decode()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout.

    JSON columns use orjson: reports read hundreds of thousands of them.
    """
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        _create_private_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets the web app read while a writer commits; NORMAL is durable in WAL mode
            # against process crashes (https://www.sqlite.org/wal.html).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _create_private_file(url: str) -> None:
    """Create a new SQLite file readable by its owner only (SQLite's own default is 644).

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    prefix = "sqlite+aiosqlite:///"
    path = url[len(prefix) :].split("?", 1)[0] if url.startswith(prefix) else ""
    if path in ("", ":memory:") or os.path.exists(path):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The one session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset (ConnectionError), the host unreachable
    TimeoutError,
    sa_exc.OperationalError,  # includes SQLite's "database is locked"
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # Class 57: the server is shutting down, starting up or was told to stop.
    asyncpg.exceptions.OperatorInterventionError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the store cannot be reached now (an outage), not a bug.

    Drivers' errors arrive wrapped (SQLAlchemy keeps the driver's as ``orig``, asyncpg's
    adaptation as ``__cause__``), so the whole chain is looked at.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        orig = getattr(current, "orig", None)
        pending += [
            orig if isinstance(orig, BaseException) else None,
            current.__cause__,
        ]
    return False
