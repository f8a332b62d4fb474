"""CPU per Bot API call: PTB's own HTTPXRequest against ours over aiohttp, alternately.

    .venv/bin/python bench/telegram_request.py [--calls 2000] [--rounds 3] [--concurrency 16]

The real ``telegram.Bot`` sends ``--calls`` messages with an inline keyboard (as the
outbox's questions are) to the fake Bot API, ``--concurrency`` at a time, once through
each request class per round. The fake runs in a process of its own, so the CPU this
process spends (``time.process_time``, all its threads) is the client's: building the
call, the HTTP request and reading the answer into a ``telegram.Message``. Reports CPU
milliseconds per call for each, per round, and the ratio; on a shared machine the CPU
per call holds steadier than the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing import queues, synchronize
from pathlib import Path

import telegram
from telegram.request import BaseRequest, HTTPXRequest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.telegram.request import AiohttpRequest  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

PEOPLE = 500
FIRST = 50_000


def serve(ready: queues.Queue[str], done: synchronize.Event) -> None:
    """The fake Bot API, in a process of its own."""

    async def run() -> None:
        async with FakeTelegram() as fake:
            for n in range(PEOPLE):
                fake.user(FIRST + n, f"P{n}")
            ready.put(fake.base_url)
            while not done.is_set():
                await asyncio.sleep(0.1)
                fake.sent.clear()
                fake.calls.clear()

    asyncio.run(run())


async def calls(base_url: str, request: BaseRequest, count: int, concurrency: int) -> float:
    """CPU seconds of this process for ``count`` sendMessage calls."""
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton(f"Option {n}", callback_data=f"q:{n}")] for n in range(4)]
    )
    async with telegram.Bot("123456:TEST-TOKEN", base_url=base_url, request=request) as bot:
        left = list(range(min(count, 200)))

        async def worker() -> None:
            while left:
                n = left.pop()
                await bot.send_message(
                    FIRST + n % PEOPLE, f"Question {n}: how was it?", reply_markup=keyboard
                )

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm
        left = list(range(count))
        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    ready: queues.Queue[str] = multiprocessing.Queue()
    done = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(ready, done))
    server.start()
    try:
        base_url = ready.get(timeout=30)
        ratios = []
        for round_ in range(1, args.rounds + 1):
            cpu = {}
            for name, request in (("httpx", HTTPXRequest()), ("aiohttp", AiohttpRequest())):
                seconds = asyncio.run(calls(base_url, request, args.calls, args.concurrency))
                cpu[name] = 1000 * seconds / args.calls
            ratios.append(cpu["aiohttp"] / cpu["httpx"])
            print(
                f"round {round_}: httpx {cpu['httpx']:.3f} ms/call, "
                f"aiohttp {cpu['aiohttp']:.3f} ms/call, ratio {ratios[-1]:.2f}",
                flush=True,
            )
        print(f"aiohttp / httpx CPU per call: {min(ratios):.2f} to {max(ratios):.2f}")
    finally:
        done.set()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
