"""The bound on a large request's background work, so that everyone else's answers stay at
the floor.

A request of thousands of invoices means thousands of facts lookups, SAT confirmations and
written answers. They share the event loop with every Slack request the bot answers, and
each SOAP call costs the loop a millisecond or two (httpx, zeep): eight lookups at once kept
the loop busy nine tenths of the time and other people's acks waited behind them (p99 8-17x
the bare Bolt app's, docs/benchmarks.md "large"). So the steps of large work (one lookup,
one provider call, one written batch) go through one lane shared by every request: at most
PACE_AT_ONCE at once, and each begins only once no Slack request is being answered. A small
request (fewer invoices than LARGE_REQUEST_AT) keeps its own few-at-once gate: it is never
queued behind another request's thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")

PACE_AT_ONCE = 8   # large work's steps in flight at once, across every request
SMALL_AT_ONCE = 8  # a small request's lookups at once (its own gate)
SLICE = 100        # rows handled on the loop between two turns (about a millisecond or two)
# Invoices written per transaction, then the acks go first: a checked transition with its
# hash-chained event and its reply costs about a millisecond (50 held the loop 50-60 ms).
WRITES = 10


async def _never_wait() -> None:
    return None


class Pace:
    """How background work over many invoices shares the loop with Slack's answers: one
    lane for every large job, each step begun after the answers in progress."""

    def __init__(self, quiet: Callable[[], Awaitable[None]] = _never_wait, *,
                 large_at: int = 40, at_once: int = PACE_AT_ONCE) -> None:
        self._quiet = quiet        # returns once no Slack request is being answered
        self.large_at = large_at   # LARGE_REQUEST_AT: from this many invoices, a job is large
        self.at_once = at_once
        self._lane = asyncio.Semaphore(at_once)

    def large(self, count: int) -> bool:
        return count >= self.large_at

    @contextlib.asynccontextmanager
    async def _step(self) -> AsyncIterator[None]:
        async with self._lane:
            await self._quiet()
            yield

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
