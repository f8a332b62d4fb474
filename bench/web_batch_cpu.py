"""CPU time per web answer in the group commit alone, compared between two checkouts.

    .venv/bin/python bench/web_batch_cpu.py [--batches 100] [--size 25] [--rounds 3]
        [--store sqlite|postgresql] [--against DIR]

The web answers' group commit (bot/inbox.py, GroupCommit) without HTTP: each run sets
up the benchmark's consultation (bench/web_server.py) on a new store, has 200 people
give consent, then hands batches of ``--size`` prompt answers from as many people, each
with a nonce issued beforehand, to ``Runtime.handle_groups`` with the nonces' claim, as
a group commit does under load. The texts are screened and analysed before the clock
(as requests do while the batch before theirs is in the database), so the figure is
the store's part: the consultation read, the nonce claim, the inbox rows, the answers'
rows and the dialogue, the commit. It reports the process's CPU time per answer (the
least of ``--rounds`` runs, each in a process of its own) and the statements per batch;
with ``--against DIR`` (another checkout, e.g. ``git worktree add``) the two are run
alternately and their ratio given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, alternate, run_checkout

PEOPLE = 200
WARM_UP = 5


async def _run(database_url: str, batches: int, size: int) -> dict[str, Any]:
    from sqlalchemy import event

    from bench.web_server import settings, setup
    from bot.platform import analyse_at_intake, create_platform
    from bot.web.participant import WebChannel
    from channels.events import CONSENT, EventKind, InboundEvent
    from consultations import screening
    from storage.db import statements_on_loop

    await setup(database_url)
    configured = settings(database_url)
    platform = create_platform(configured)
    analyse_at_intake("Loading the text analysis before the first answer.")
    screening.screen("Loading the safety screen before the first answer.")
    channel = WebChannel(
        platform.runtime, platform.sessionmaker, platform.keyring, configured.secret_key
    )
    runtime = platform.runtime
    people = [f"bench-person-{n:04d}-token" for n in range(PEOPLE)]
    for token in people:
        nonce = channel.nonces.issue()
        await channel.intake.submit(
            InboundEvent("web", f"{nonce}:start", token, EventKind.START, consultation_id="bench"),
            InboundEvent(
                "web",
                f"{nonce}:consent",
                token,
                EventKind.ANSWER,
                consultation_id="bench",
                item_id=CONSENT,
                choices=("yes",),
            ),
            ticket=nonce,
        )
    statements: Counter[str] = Counter()

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1

    counter = 0

    async def batch() -> float:
        nonlocal counter
        groups: list[list[InboundEvent]] = []
        tickets: list[str | None] = []
        for _ in range(size):
            counter += 1
            nonce = channel.nonces.issue()
            text = f"Booking by phone took too long and nobody called back {counter}"
            groups.append(
                [
                    InboundEvent(
                        "web",
                        f"{nonce}:item:one-thing",
                        people[counter % PEOPLE],
                        EventKind.ANSWER,
                        consultation_id="bench",
                        item_id="one-thing",
                        text=text,
                    )
                ]
            )
            tickets.append(nonce)
        runtime.prepare(e.text for g in groups for e in g if e.text)
        # As GroupCommit._commit: its statements run on the loop on SQLite.
        statements_on_loop()
        event.listen(platform.engine.sync_engine, "before_cursor_execute", count)
        started = time.process_time()
        outcomes = await runtime.handle_groups(groups, tickets=tickets, admit=channel.nonces.admit)
        spent = time.process_time() - started
        event.remove(platform.engine.sync_engine, "before_cursor_execute", count)
        for outcome in outcomes:
            assert not isinstance(outcome, Exception) and outcome.stored, outcome
        return spent

    for _ in range(WARM_UP):
        await batch()
    statements.clear()
    spent = sum([await batch() for _ in range(batches)])
    await channel.intake.aclose()
    await platform.aclose()
    return {
        "us_per_answer": 1e6 * spent / (batches * size),
        "statements_per_batch": {k: round(n / batches, 2) for k, n in statements.most_common()},
    }


def _one(code: Path, store: str, batches: int, size: int) -> dict[str, Any]:
    """One run in a new process with ``code`` first on the path."""
    found: dict[str, Any] = run_checkout(
        Path(__file__).resolve(),
        code,
        store,
        "bench_batch",
        *("--batches", str(batches), "--size", str(size)),
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # The checkout measured comes first on the path (PYTHONPATH), this script's own
        # checkout only after it.
        sys.path.append(str(ROOT))
        print(json.dumps(asyncio.run(_run(args.child, args.batches, args.size))))
        return

    def measure(code: Path) -> tuple[float, str]:
        found = _one(code, args.store, args.batches, args.size)
        us = float(found["us_per_answer"])
        return us, (f"{us:.0f} us per answer, statements per batch {found['statements_per_batch']}")

    alternate(
        args.against,
        args.rounds,
        measure,
        lambda us: f"{us:.0f} us of CPU per answer ({args.store})",
    )


if __name__ == "__main__":
    main()
