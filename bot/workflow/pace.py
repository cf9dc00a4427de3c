"""The bound on a large request's background work, so that everyone else's answers stay at
the floor.

A request of thousands of invoices means thousands of facts lookups, SAT confirmations and
written answers. They share the event loop with every Slack request the bot answers, and
each SOAP call costs the loop a millisecond or two (httpx, zeep): eight lookups at once kept
the loop busy nine tenths of the time and other people's acks waited behind them (p99 8-17x
the bare Bolt app's, docs/benchmarks.md "large"). So the steps of large work (one call of a
lookup, one provider call, one SAT ask) go through one lane shared by every request: at most
PACE_AT_ONCE at once while they wait on the network, one at a time while they answer
quickly (QUICK_STEP_S), each begun only once no Slack request is being answered and while
the loop thread has been busy less than PACE_SHARE of the time. A small request (LARGE_REQUEST_AT
invoices or fewer) keeps its own few-at-once gate: it is never queued behind another
request's thousands. docs/architecture.md ("Others are not slowed") has the whole of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from bot.slack.render.large import is_large

T = TypeVar("T")
U = TypeVar("U")
# What each step of a job is run under (Pace.gate): `async with step(): ...`.
Gate = Callable[[], AbstractAsyncContextManager[None]]

PACE_AT_ONCE = 4   # large work's steps in flight at once, across every request ...
# ... while they take longer than this (a moving average); quicker ones go one at a time.
# A SOAP call costs the loop 1-2 ms: a step that answers within a few ms is CPU on the loop
# from start to end, and four in flight at once were four sets of callbacks ready whenever
# a Slack answer arrived, the work going no faster (a 5,000-invoice request took 82-105 s
# at four, 102-109 s at one; others' p99 1.48-1.77x the bare app's at four, 1.26-1.28x at
# one). A step that waits on the network (tens to hundreds of ms) leaves the loop idle
# meanwhile: there four at once make the work four times as fast and cost nobody anything.
QUICK_STEP_S = 0.01
STEP_AVERAGE_WEIGHT = 0.2  # of the newest step in the moving average
SMALL_AT_ONCE = 8  # a small request's lookups at once (its own gate)
SLICE = 25         # rows handled on the loop between two turns (a millisecond or so)
# Invoices written per transaction, then the acks go first: a checked transition with its
# hash-chained event and its reply costs about a millisecond (50 held the loop 50-60 ms).
WRITES = 10
# At most this share of the loop thread's time goes to large work: with a provider and a SAT
# that answer at once, lookups alone kept the loop nine tenths busy and every Slack answer
# waited behind them; with real ones (hundreds of ms each) the share is seldom reached.
PACE_SHARE = 0.3
SHARE_WINDOW_S = 0.2   # the share is measured over windows this long
SHARE_PAUSE_S = 0.02   # a step over the share waits this long before it looks again ...
SHARE_WAIT_MAX_S = 2.0  # ... and never longer than this in all: large work is not starved


async def _never_wait() -> None:
    return None


class LoopShare:
    """How busy the event loop's thread has been lately: its CPU time over the wall time of
    the last window, read on the loop where large work is about to take another step."""

    def __init__(self, window_s: float = SHARE_WINDOW_S) -> None:
        self.window_s = window_s
        self._mark = (time.perf_counter(), time.thread_time())
        self.busy = 0.0

    def read(self) -> float:
        wall, cpu = time.perf_counter(), time.thread_time()
        if (elapsed := wall - self._mark[0]) >= self.window_s:
            self.busy = (cpu - self._mark[1]) / elapsed
            self._mark = (wall, cpu)
        return self.busy


class Pace:
    """How background work over many invoices shares the loop with Slack's answers: one
    lane for every large job, each step begun after the answers in progress and while the
    loop has time to spare (`share`)."""

    def __init__(self, quiet: Callable[[], Awaitable[None]] = _never_wait, *,
                 large_at: int = 40, at_once: int = PACE_AT_ONCE,
                 share: float | None = None) -> None:
        self._quiet = quiet        # returns once no Slack request is being answered
        self.share = share         # of the loop thread's time, for large work (None: any)
        self._loop_share = LoopShare()
        self.large_at = large_at   # LARGE_REQUEST_AT: over this many invoices, a job is large
        self.at_once = at_once
        self._lane = asyncio.Semaphore(at_once)
        self._one_at_a_time = asyncio.Lock()  # taken too while the steps are quick
        self.step_s = 0.0  # the moving average of a step's wall time (0: none yet)

    def large(self, count: int) -> bool:
        """A job over more than LARGE_REQUEST_AT invoices: as a large request's card."""
        return is_large(count, self.large_at)

    @contextlib.asynccontextmanager
    async def _step(self) -> AsyncIterator[None]:
        async with self._lane:
            alone = self.step_s < QUICK_STEP_S
            if alone:
                await self._one_at_a_time.acquire()

            def let_others_in() -> None:  # this step turned out slow (a retry, a timeout)
                nonlocal alone
                if alone:
                    alone = False
                    self._one_at_a_time.release()

            timer = None
            try:
                await self._quiet()
                await self._within_share()
                begun = time.perf_counter()
                if alone:
                    timer = asyncio.get_running_loop().call_later(QUICK_STEP_S, let_others_in)
                try:
                    yield
                finally:
                    self._took(time.perf_counter() - begun)
            finally:
                if timer is not None:
                    timer.cancel()
                let_others_in()

    def _took(self, seconds: float) -> None:
        self.step_s = seconds if not self.step_s else \
            (1 - STEP_AVERAGE_WEIGHT) * self.step_s + STEP_AVERAGE_WEIGHT * seconds

    async def _within_share(self) -> None:
        """Wait while the loop has been busier than `share` (at most SHARE_WAIT_MAX_S)."""
        waited = 0.0
        while self.share is not None and self._loop_share.read() > self.share and \
                waited < SHARE_WAIT_MAX_S:
            await asyncio.sleep(SHARE_PAUSE_S)
            waited += SHARE_PAUSE_S

    def gate(self, count: int) -> Gate:
        """What each step of a job of `count` invoices is run under: the shared lane for
        a large job, the job's own few-at-once gate for a small one."""
        if self.large(count):
            return self._step
        own = asyncio.Semaphore(SMALL_AT_ONCE)

        @contextlib.asynccontextmanager
        async def small() -> AsyncIterator[None]:
            async with own:
                yield
        return small

    async def turn(self, count: int) -> None:
        """Between two written batches of a job of `count` invoices: a large job waits for
        the answers in progress, a small one lets the loop run what is ready."""
        await asyncio.sleep(0)  # always a turn: waiting for quiet may not wait at all
        if self.large(count):
            await self._quiet()
            await self._within_share()


    async def map(self, items: Sequence[T], work: Callable[[T], Awaitable[U]]) -> list[U]:
        """`work` on every item, each under the job's gate; the results in order. A few
        workers take the items in turn: thousands of tasks started at once would each take
        its first step on the loop in one go (a stretch of hundreds of ms)."""
        step = self.gate(len(items))

        async def gated(item: T) -> U:
            async with step():
                return await work(item)
        return await self._workers(items, gated)

    async def map_each_call(self, items: Sequence[T],
                            work: Callable[[T, Gate], Awaitable[U]]) -> list[U]:
        """As `map`, but `work` is handed the gate and takes it for each of its calls (a
        lookup is two: the XML, then the SAT): a Slack answer that arrives meanwhile waits
        behind at most one call per lane in flight, not a whole lookup."""
        step = self.gate(len(items))
        return await self._workers(items, lambda item: work(item, step))

    async def _workers(self, items: Sequence[T], work: Callable[[T], Awaitable[U]]
                       ) -> list[U]:
        results: dict[int, U] = {}
        pending = iter(enumerate(items))

        async def worker() -> None:
            for index, item in pending:
                results[index] = await work(item)

        width = self.at_once if self.large(len(items)) else SMALL_AT_ONCE
        await asyncio.gather(*(worker() for _ in range(min(width, len(items)))))
        return [results[index] for index in range(len(items))]

    async def spread(self, items: Sequence[T], work: Callable[[T], U]) -> list[U]:
        """`work` on every item, SLICE at a time, turning between slices: a pass over a
        large request's thousands of rows never holds the loop more than a slice."""
        done: list[U] = []
        for start in range(0, len(items), SLICE):
            if start:
                await self.turn(len(items))
            done.extend(work(item) for item in items[start:start + SLICE])
        return done
