"""The bound on a large request's background work (bot/workflow/pace.py), with the runtime's
own Tasks telling when a Slack answer is in progress."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bot.runtime.tasks import Tasks
from bot.workflow.pace import SHARE_WINDOW_S, SLICE, LoopShare, Pace

LARGE = 40


async def test_a_large_job_waits_while_a_slack_answer_is_in_progress() -> None:
    tasks = Tasks()
    pace = Pace(tasks.quiet, large_at=LARGE)
    started: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        return n * 2

    with tasks.answering():
        job = asyncio.ensure_future(pace.map(list(range(100)), work))
        await asyncio.sleep(0.1)  # well within ACKS_FIRST_MAX_S: the answer goes first
        assert started == []
    assert await job == [n * 2 for n in range(100)]  # in order, once the answer is out
    assert sorted(started) == list(range(100))


async def test_a_small_job_is_not_queued_behind_a_large_one() -> None:
    pace = Pace(large_at=LARGE, at_once=2)
    release = asyncio.Event()

    async def held(n: int) -> int:
        await release.wait()
        return n

    large = asyncio.ensure_future(pace.map(list(range(LARGE + 1)), held))
    await asyncio.sleep(0.01)  # the lane is full of the large job's held steps
    assert await asyncio.wait_for(pace.map([1, 2, 3], lambda n: asyncio.sleep(0, n)),
                                  5) == [1, 2, 3]
    assert not large.done()
    release.set()
    assert await large == list(range(LARGE + 1))


async def test_two_large_jobs_share_one_bound() -> None:
    pace = Pace(large_at=LARGE, at_once=3)
    running, most = 0, 0

    async def step(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001)
        running -= 1
        return n

    first, second = await asyncio.gather(pace.map(list(range(60)), step),
                                         pace.map(list(range(50)), step))
    assert (first, second) == (list(range(60)), list(range(50)))
    assert most == 3


@pytest.mark.parametrize("quiet", [True, False], ids=["no answer in progress", "answering"])
async def test_a_pass_over_many_rows_lets_the_loop_run_between_slices(quiet: bool) -> None:
    """`turn` always hands the loop over, even when nothing waits for an answer: a pass that
    only waited for quiet held the loop 1-2 s over 5,000 rows."""
    tasks = Tasks()
    pace = Pace(tasks.quiet, large_at=LARGE)
    ticks: list[int] = []
    seen: list[int] = []

    def look(n: int) -> int:
        seen.append(len(ticks))
        return n

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    other = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    if quiet:
        done = await pace.spread(list(range(SLICE * 5)), look)
    else:
        with tasks.answering():
            job = asyncio.ensure_future(pace.spread(list(range(SLICE * 5)), look))
            await asyncio.sleep(0.05)
        done = await job
    other.cancel()
    assert done == list(range(SLICE * 5))
    # Within a slice nothing else runs; between slices the other task does.
    per_slice = [seen[n * SLICE:(n + 1) * SLICE] for n in range(5)]
    assert all(len(set(s)) == 1 for s in per_slice)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(per_slice))


async def test_large_work_waits_while_the_loop_is_busier_than_its_share() -> None:
    """Another task keeps the loop thread ~80% busy: a large job's steps wait (up to
    SHARE_WAIT_MAX_S) until the loop has time to spare, then all run."""
    pace = Pace(large_at=1, share=0.3)
    busy = True

    async def burner() -> None:
        while busy:
            until = time.thread_time() + 0.004
            while time.thread_time() < until:
                pass
            await asyncio.sleep(0.001)

    started: list[int] = []

    async def step(n: int) -> int:
        started.append(n)
        return n

    other = asyncio.ensure_future(burner())
    await asyncio.sleep(2 * SHARE_WINDOW_S)  # a full window of it
    job = asyncio.ensure_future(pace.map([1, 2, 3], step))
    await asyncio.sleep(0.5)  # well within SHARE_WAIT_MAX_S
    assert started == []
    busy = False
    await other
    assert await asyncio.wait_for(job, 5) == [1, 2, 3]


async def test_the_loop_share_is_the_loop_threads_cpu_over_a_window() -> None:
    share = LoopShare(window_s=0.1)
    until = time.thread_time() + 0.15
    while time.thread_time() < until:
        pass
    assert share.read() > 0.5
    await asyncio.sleep(0.15)
    share.read()  # the window that ends now was mostly asleep
    await asyncio.sleep(0.15)
    assert share.read() < 0.3
