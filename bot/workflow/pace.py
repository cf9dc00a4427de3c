"""The bound on a large request's background work, so that everyone else's answers stay at
the floor.

A request of thousands of invoices means thousands of facts lookups, SAT confirmations and
written answers. They share the event loop with every Slack request the bot answers, and
each SOAP call costs the loop a millisecond or two (httpx, zeep): eight lookups at once kept
the loop busy nine tenths of the time and other people's acks waited behind them (p99 8-17x
the bare Bolt app's, docs/benchmarks.md "large"). So the steps of large work (one lookup,
one provider call, one written batch) go through one lane shared by every request: at most
PACE_AT_ONCE at once, each begun only once no Slack request is being answered and while the
loop thread has been busy less than PACE_SHARE of the time. A small request (LARGE_REQUEST_AT
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

PACE_AT_ONCE = 4   # large work's steps in flight at once, across every request
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

    def large(self, count: int) -> bool:
        """A job over more than LARGE_REQUEST_AT invoices: as a large request's card."""
        return is_large(count, self.large_at)

    @contextlib.asynccontextmanager
    async def _step(self) -> AsyncIterator[None]:
        async with self._lane:
            await self._quiet()
            await self._within_share()
            yield

    async def _within_share(self) -> None:
        """Wait while the loop has been busier than `share` (at most SHARE_WAIT_MAX_S)."""
        waited = 0.0
        while self.share is not None and self._loop_share.read() > self.share and \
                waited < SHARE_WAIT_MAX_S:
            await asyncio.sleep(SHARE_PAUSE_S)
            waited += SHARE_PAUSE_S

    def gate(self, count: int) -> Callable[[], AbstractAsyncContextManager[None]]:
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
        results: dict[int, U] = {}
        pending = iter(enumerate(items))

        async def worker() -> None:
            for index, item in pending:
                async with step():
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
