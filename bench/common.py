"""What the benchmarks share: a fresh PostgreSQL database on the local server."""

from __future__ import annotations

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def fresh_pg_database(name: str) -> str:
    """Drop and create database ``name``; returns its SQLAlchemy URL."""
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
