"""Free texts screened and analysed in worker processes, off the event loop.

Each new free-text answer is screened for a disclosure (and redacted) and analysed
before its batch stores it (:meth:`bot.runtime.Runtime.prepare_ahead`). That is pure
computation, a few hundred microseconds a text: done on the event loop it holds up
every other request of the worker. :class:`Preparation` sends it to a
:class:`~concurrent.futures.ProcessPoolExecutor` instead, the texts of all the requests
that arrive together in one call, so another core does the work while the loop parses
requests and writes batches.

It changes only where the work runs. The request still waits for its texts before its
answers go to the batch, so a disclosure still gets the safety page in the response;
and whatever the pool does not deliver (not started yet, broken, a text that failed) is
done by the batch itself as before.

The inbox (Telegram, Mastodon) sends its texts here too, as soon as they are stored and
without waiting (:meth:`bot.inbox.Inbox.receive_many`), so that the batch that handles
them a moment later finds them prepared (bench/README.md: a fifth less CPU an update on
the server's event loop).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from consultations import screening

log = logging.getLogger(__name__)

Analysis = tuple[float | None, dict[str, Any] | None]
Prepared = tuple[screening.Screened, Analysis]
TextAnalyser = Callable[[str], Analysis]
#: A text with the hints of the consultation it was written to.
Hinted = tuple[str, screening.Hints]

#: Texts sent to the pool in one call at most (a burst is split, so no call is long).
MOST_PER_CALL = 256
#: Texts sent in one call at most from those nobody waits for (:meth:`Preparation.run`
#: ``behind``): a request arriving while such a call is out waits for it, so it is short
#: (32 texts: about 15 ms of screening and analysis).
MOST_BEHIND = 32


def default_processes() -> int:
    """Worker processes for a server: one where this process may use four cores or more.

    Measured on two cores (bench/web_throughput.py), a helper process saved the event loop
    no CPU per answer: what it took off the loop, handing texts over and back cost again,
    and the second core was wanted by the database and the clients. With cores to spare
    the loop is left free to parse requests and write batches.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 1 if cores >= 4 else 0


def _warm(analyse: TextAnalyser) -> None:
    """Load the screen's and the analysis's models once, as the process starts."""
    screening.screen("Loading the safety screen before the first answer.")
    analyse("Loading the text analysis before the first answer.")


def _ready() -> bool:
    return True


def prepare_many(
    analyse: TextAnalyser, texts: Sequence[tuple[str, screening.Hints]]
) -> list[Prepared | None]:
    """Screen (with its consultation's hints) and analyse each text (in a worker
    process); ``None`` where it failed."""
    done: list[Prepared | None] = []
    for text, hints in texts:
        try:
            screened = screening.screen(text, hints)
            done.append((screened, analyse(screened.text)))
        except Exception:
            done.append(None)  # left to the batch, which fails the request as ever
    return done


class Preparation:
    """Screens and analyses free texts in worker processes, many requests' texts a call.

    Args:
        analyse: the intake analysis (a module-level function: it is sent by name).
        processes: worker processes; 0 sends nothing anywhere.
    """

    def __init__(self, analyse: TextAnalyser, processes: int) -> None:
        self.analyse = analyse
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._ready = False
        self._waiting: list[tuple[list[Hinted], asyncio.Future[list[Prepared | None] | None]]] = []
        # Texts nobody waits for (the inbox's): sent only when no request's texts wait.
        self._behind: list[tuple[list[Hinted], asyncio.Future[list[Prepared | None] | None]]] = []
        self._in_flight = 0

    def start(self) -> None:
        """Start the processes; they take texts once their models are loaded."""
        if self.processes <= 0 or self._pool is not None:
            return
        # A new interpreter, not a fork of this one with its threads and connections.
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm,
            initargs=(self.analyse,),
        )
        started = asyncio.get_running_loop().run_in_executor(self._pool, _ready)
        started.add_done_callback(self._started)

    @property
    def ready(self) -> bool:
        """Whether texts go to the processes now (started, models loaded, not broken)."""
        return self._ready

    def _started(self, future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None:
            log.warning("the text preparation processes did not start: texts are screened here")
            return
        self._ready = True

    async def close(self) -> None:
        """Stop the processes (what is still waiting is prepared by the batches)."""
        self._ready = False
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def run(
        self, texts: list[str], hints: screening.Hints = screening.NO_HINTS, *, behind: bool = False
    ) -> list[Prepared | None] | None:
        """Each text screened (with its consultation's ``hints``) and analysed, in order;
        ``None`` for all if not done here.

        Texts of requests arriving while a call is out wait for it, then go together.
        ``behind``: texts nobody is waiting for (the inbox's, prepared ahead of their
        batch), sent only when no request's texts wait, a few at a time, so that they
        never hold up a request for long.
        """
        if not self._ready or not texts:
            return None
        future: asyncio.Future[list[Prepared | None] | None]
        future = asyncio.get_running_loop().create_future()
        (self._behind if behind else self._waiting).append(
            ([(text, hints) for text in texts], future)
        )
        if self._in_flight < self.processes:
            self._send()
        return await future

    def drop_behind(self) -> None:
        """Let go of the texts nobody waits for that are not sent yet (after an erasure:
        they may be the person's words); each is left to its batch."""
        for _, future in self._behind:
            if not future.done():
                future.set_result(None)
        self._behind.clear()

    def _send(self) -> None:
        """One call to the pool with what is waiting (up to :data:`MOST_PER_CALL` texts),
        or if no request's texts wait, with texts nobody waits for (:data:`MOST_BEHIND`)."""
        queue, most = (self._waiting, MOST_PER_CALL)
        if not queue:
            queue, most = self._behind, MOST_BEHIND
        taken: list[tuple[list[Hinted], asyncio.Future[list[Prepared | None] | None]]] = []
        count = 0
        while queue and (not taken or count + len(queue[0][0]) <= most):
            texts, future = queue.pop(0)
            taken.append((texts, future))
            count += len(texts)
        if not taken:
            return
        if self._pool is None:
            for _, future in taken:
                if not future.done():
                    future.set_result(None)
            return
        sent = [text for texts, _ in taken for text in texts]
        self._in_flight += 1
        call = asyncio.get_running_loop().run_in_executor(
            self._pool, prepare_many, self.analyse, sent
        )
        call.add_done_callback(lambda done: self._returned(done, taken))

    def _returned(
        self,
        call: asyncio.Future[list[Prepared | None]],
        taken: list[tuple[list[Hinted], asyncio.Future[list[Prepared | None] | None]]],
    ) -> None:
        self._in_flight -= 1
        results: list[Prepared | None] | None = None
        if not call.cancelled():
            error = call.exception()
            if error is None:
                results = call.result()
            else:
                # A broken pool (a process killed) does not mend: screen here from now on.
                log.warning("text preparation failed (%s): texts are screened here", error)
                self._ready = False
        start = 0
        for texts, future in taken:
            if not future.done():
                future.set_result(None if results is None else results[start : start + len(texts)])
            start += len(texts)
        if self._waiting or self._behind:
            if self._ready:
                self._send()
            else:
                for queue in (self._waiting, self._behind):
                    for _, future in queue:
                        if not future.done():
                            future.set_result(None)
                    queue.clear()
