"""CPU time per web participant, in one process, compared between two checkouts.

    .venv/bin/python bench/web_person_cpu.py [--people 400] [--rounds 3]
        [--store sqlite|postgresql] [--against DIR]

Each run starts the real web app (with its background work: the inbox and the group
commit) on a new store with the soak's consultation, and has people go through it as a
browser would, several at once: the page, consent, the prompt's answer, each post
followed by its redirect (five requests a person). It reports the process's CPU time per
person after a warm-up, client included (the same in both checkouts). A busy shared
machine disturbs CPU time far less than a rate; the figure is still the least of
``--rounds`` runs, and with ``--against DIR`` (another checkout, e.g. ``git worktree
add``) the two are run alternately, each in a process of its own, and their ratio given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import KEY, ROOT, alternate, run_checkout

FIELDS = re.compile(r'name="(csrf|nonce)" value="([^"]+)"')


async def _run(database_url: str, people: int, warm_up: int, concurrency: int) -> float:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import event

    from bench.soak import CID, SPEC
    from bot.config import Settings
    from bot.platform import configured_adapters, create_platform
    from bot.web.app import create_app
    from consultations import service
    from consultations.spec import parse_spec
    from migrations import apply as migrate

    await migrate.downgrade_async(database_url, "base")
    await migrate.upgrade_async(database_url)
    settings = Settings(
        database_url=database_url,
        public_url="http://127.0.0.1:8080",
        secret_key=KEY,
        pseudonym_key=KEY,
        web_new_participants_per_minute=0,
    )
    platform = create_platform(settings)
    spec = parse_spec({**SPEC, "channels": ["web"]})
    async with platform.sessionmaker.begin() as session:
        await service.create(session, spec, source="bench")
        await service.open_(session, spec.id)
    app = create_app(settings, platform=platform, adapters=configured_adapters)
    app.cleanup_ctx.clear()

    async def person(client: TestClient[web.Request, web.Application], n: int) -> None:
        client_session = client.session
        jar_cookies: dict[str, str] = {}
        fields: dict[str, str] = {}

        async def go(method: str, path: str, data: dict[str, str] | None = None) -> None:
            async with client_session.request(
                method,
                client.make_url(path),
                data=None if data is None else {**fields, **data},
                cookies=jar_cookies,
            ) as response:
                assert response.status == 200, (path, response.status)
                for history in (*response.history, response):
                    for name, morsel in history.cookies.items():
                        jar_cookies[name] = morsel.value
                fields.update(FIELDS.findall(await response.text()))

        await go("GET", f"/c/{CID}")
        await go("POST", f"/c/{CID}/consent", {"answer": "yes"})
        await go("POST", f"/c/{CID}/answers", {"item:story": f"Answer {n}: the line was busy"})

    async def crowd(
        client: TestClient[web.Request, web.Application], first: int, count: int
    ) -> None:
        queue = iter(range(first, first + count))

        async def one_after_another() -> None:
            for n in queue:
                await person(client, n)

        await asyncio.gather(*(one_after_another() for _ in range(concurrency)))

    statements: Counter[str] = Counter()

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1

    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.clear()
        await crowd(client, 0, warm_up)
        event.listen(platform.engine.sync_engine, "before_cursor_execute", count)
        started = time.process_time()
        await crowd(client, warm_up, people)
        spent = time.process_time() - started
        event.remove(platform.engine.sync_engine, "before_cursor_execute", count)
    await platform.aclose()
    per_person = {kind: round(n / people, 2) for kind, n in statements.most_common()}
    print(json.dumps({"statements_per_person": per_person}), file=sys.stderr)
    return 1000 * spent / people


def _one(code: Path, store: str, people: int) -> float:
    """One run in a new process with ``code`` first on the path; ms of CPU per person."""
    found = run_checkout(
        Path(__file__).resolve(), code, store, "bench_person", "--people", str(people)
    )
    return float(found["ms_per_person"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # The checkout measured comes first on the path (PYTHONPATH), this script's own
        # checkout only after it.
        sys.path.append(str(ROOT))
        ms = asyncio.run(_run(args.child, args.people, warm_up=60, concurrency=8))
        print(json.dumps({"ms_per_person": ms}))
        return

    def measure(code: Path) -> tuple[float, str]:
        ms = _one(code, args.store, args.people)
        return ms, f"{ms:.2f} ms per person"

    alternate(
        args.against,
        args.rounds,
        measure,
        lambda ms: f"{ms:.2f} ms of CPU per person ({args.store})",
    )


if __name__ == "__main__":
    main()
