"""Alembic environment (async template): runs migrations on the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from migrations.apply import refuse_unknown
from storage.db import create_engine
from storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A migration that copies a table into a new one (SQLite's way to change it) drops
        # the old table, and with foreign keys on that deletes or empties every row that
        # references it. Off here, before the transaction (SQLite ignores the switch inside
        # one); checked after the migrations, so nothing dangling is committed.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    # Before Alembic looks for a way from the database's revision (and fails with its own
    # words) when that revision was made by a newer version.
    refuse_unknown(context.get_context().get_current_revision(), context.script)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise RuntimeError(f"a migration left rows whose reference is gone: {dangling[:5]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
