"""The bound on a large request's background work (bot/workflow/pace.py), with the runtime's
own Tasks telling when a Slack answer is in progress."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bot.runtime.tasks import Tasks
from bot.workflow.pace import QUICK_STEP_S, SHARE_WINDOW_S, SLICE, Gate, LoopShare, Pace

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


async def test_each_call_of_a_lookup_waits_for_the_answers_in_progress() -> None:
    """A lookup is two calls (the XML, then the SAT), each through the lane: an answer
    that arrives after the first waits behind that call only, never the second."""
    tasks = Tasks()
    pace = Pace(tasks.quiet, large_at=LARGE, at_once=1)
    calls: list[str] = []
    first_done = asyncio.Event()

    async def lookup(n: int, step: Gate) -> int:
        async with step():
            calls.append(f"xml {n}")
        if n == 0:
            first_done.set()
            await asyncio.sleep(0.05)  # an answer begins between the two calls ...
        async with step():
            calls.append(f"sat {n}")
        return n

    job = asyncio.ensure_future(pace.map_each_call(list(range(LARGE + 1)), lookup))
    await first_done.wait()
    with tasks.answering():
        await asyncio.sleep(0.1)
        assert calls == ["xml 0"]  # ... and the second call waits for it to be out
    assert await job == list(range(LARGE + 1))
    assert calls[:3] == ["xml 0", "sat 0", "xml 1"] and len(calls) == 2 * (LARGE + 1)


async def test_a_quick_lane_lets_others_in_when_a_step_turns_out_slow() -> None:
    """One step held up (a retry, a timeout) does not hold every other large step behind
    it: after QUICK_STEP_S the others go on."""
    pace = Pace(large_at=LARGE, at_once=3)
    release = asyncio.Event()
    done: list[int] = []

    async def step(n: int) -> int:
        if n == 0:
            await release.wait()
        done.append(n)
        return n

    job = asyncio.ensure_future(pace.map(list(range(LARGE + 1)), step))
    await asyncio.sleep(QUICK_STEP_S * 20)
    assert len(done) >= 2  # the others went on while the first was held
    release.set()
    assert await job == list(range(LARGE + 1))


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


async def _most_at_once(pace: Pace, seconds: float) -> int:
    """Two large jobs at once whose steps each take `seconds`: the most in flight."""
    running, most = 0, 0

    async def step(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(seconds)
        running -= 1
        return n

    first, second = await asyncio.gather(pace.map(list(range(LARGE + 1)), step),
                                         pace.map(list(range(LARGE + 2)), step))
    assert (first, second) == (list(range(LARGE + 1)), list(range(LARGE + 2)))
    return most


async def test_two_large_jobs_share_one_bound_while_their_steps_wait_on_the_network(
        ) -> None:
    pace = Pace(large_at=LARGE, at_once=3)
    assert await _most_at_once(pace, QUICK_STEP_S * 1.5) == 3
    assert pace.step_s >= QUICK_STEP_S


async def test_quick_steps_go_one_at_a_time() -> None:
    """Steps that answer in a few ms are CPU on the loop from start to end: more of them in
    flight would only make a Slack answer wait behind more, the work no faster."""
    pace = Pace(large_at=LARGE, at_once=3)
    assert await _most_at_once(pace, 0) == 1
    assert 0 < pace.step_s < QUICK_STEP_S


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
