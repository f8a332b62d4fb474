"""The outbox claim at a backlog, with its index (``ix_outbox_claim``) and without it.

    .venv/bin/python bench/outbox_claim.py [--pending 20000] [--sent 20000] [--rounds 6]
        [--claims 30] [--only postgresql|sqlite]

A fresh store holds ``--pending`` rows waiting on one channel (a quarter of them bulk
invitations, one in a hundred a safety reply, one in ten not due yet), a tenth as many on
another channel, and ``--sent`` rows already sent. The claim statement the sender runs
(``bot.outbox.claim_statement``, a batch of 200) is run ``--claims`` times in each
round, each claim rolled back so the backlog stays as it was. Rounds alternate between
the store as migrated and the store with the claim index dropped (as it was before
migration 0013; made again after the round), so both are measured under the same load
of a shared machine. Reported: the median time of a claim seen by the client, and on
PostgreSQL the median execution time the server reports (``EXPLAIN ANALYZE``), for
each, their ratio, and the load average. JSON to ``bench/results/outbox_claim.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_pg_database  # noqa: E402
from bot.outbox import claim_statement  # noqa: E402
from migrations import apply as migrate  # noqa: E402
from storage import queries  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.tables import OutboxEntry, utcnow  # noqa: E402

BATCH = 200
# As migration 0013 makes it.
CLAIM_INDEX = (
    "CREATE INDEX ix_outbox_claim ON outbox (channel, bulk, urgent DESC, id, next_attempt_at) "
    "WHERE status = 'pending'"
)


def _rows(pending: int, sent: int) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for n in range(pending + pending // 10 + sent):
        row = queries.outbox_row(
            channel="mastodon" if pending <= n < pending + pending // 10 else "telegram",
            key=f"bench-{n}",
            payload={"text": "What one thing would make booking easier?", "kind": "question"},
            address="sealed-address-placeholder",
            due=now + timedelta(hours=2) if n % 10 == 9 else now - timedelta(minutes=1),
            bulk=n % 4 == 3,
            now=now,
        )
        row["urgent"] = n % 100 == 7
        if n >= pending + pending // 10:
            row["status"] = "sent"
        rows.append(row)
    return rows


async def _fill(url: str, pending: int, sent: int) -> None:
    await migrate.upgrade_async(url)
    engine = create_engine(url)
    try:
        rows = _rows(pending, sent)
        async with engine.begin() as connection:
            for start in range(0, len(rows), 5_000):
                await connection.execute(insert(OutboxEntry), rows[start : start + 5_000])
        async with engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()
    finally:
        await engine.dispose()


async def _server_time(connection: AsyncConnection, statement: Any) -> float:
    """The execution time PostgreSQL reports for one claim, in milliseconds."""
    compiled = statement.compile(dialect=connection.dialect)
    values = compiled.construct_params()
    args = tuple(values[name] for name in compiled.positiontup or ())
    result = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", args)
    plan = result.scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Execution Time"])


async def _round(url: str, *, indexed: bool, claims: int) -> tuple[list[float], list[float]]:
    """Client times (ms) and server times (ms, PostgreSQL) of ``claims`` claims."""
    engine = create_engine(url)
    client: list[float] = []
    server: list[float] = []
    try:
        async with engine.connect() as connection:
            dialect = connection.dialect.name
            if not indexed:
                await connection.exec_driver_sql("DROP INDEX ix_outbox_claim")
                await connection.commit()
            transaction = await connection.begin()
            for _ in range(claims):
                statement = claim_statement("telegram", utcnow(), BATCH, dialect)
                nested = await connection.begin_nested()
                started = time.perf_counter()
                claimed = (await connection.execute(statement)).all()
                client.append((time.perf_counter() - started) * 1000)
                await nested.rollback()
                assert len(claimed) == BATCH, len(claimed)
                if dialect == "postgresql":
                    nested = await connection.begin_nested()
                    server.append(await _server_time(connection, statement))
                    await nested.rollback()
            await transaction.rollback()
            if not indexed:
                await connection.exec_driver_sql(CLAIM_INDEX)
                await connection.exec_driver_sql("ANALYZE outbox")
                await connection.commit()
    finally:
        await engine.dispose()
    return client, server


async def measure(url: str, rounds: int, claims: int) -> dict[str, Any]:
    times: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for n in range(rounds):
        # Alternate which goes first, so neither always meets a warmer cache.
        for indexed in (True, False) if n % 2 == 0 else (False, True):
            client, server = await _round(url, indexed=indexed, claims=claims)
            times[indexed][0].extend(client)
            times[indexed][1].extend(server)
    result: dict[str, Any] = {}
    for label, index in (("client_ms", 0), ("server_ms", 1)):
        if not times[True][index]:
            continue
        before = statistics.median(times[False][index])
        after = statistics.median(times[True][index])
        result[label] = {
            "without_index": round(before, 3),
            "with_index": round(after, 3),
            "ratio": round(before / after, 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=20_000)
    parser.add_argument("--sent", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--claims", type=int, default=30)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    results: dict[str, Any] = {
        "pending": args.pending,
        "sent": args.sent,
        "batch": BATCH,
    }
    with tempfile.TemporaryDirectory() as folder:
        stores: dict[str, Callable[[], str]] = {
            "postgresql": lambda: asyncio.run(fresh_pg_database("bench_outbox_claim")),
            "sqlite": lambda: f"sqlite+aiosqlite:///{Path(folder) / 'engage.db'}",
        }
        for name, make in stores.items():
            if args.only and args.only != name:
                continue
            url = make()
            asyncio.run(_fill(url, args.pending, args.sent))
            results[name] = asyncio.run(measure(url, args.rounds, args.claims))
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "outbox_claim.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
