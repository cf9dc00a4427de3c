"""Background work waits for the answers Slack is waiting for."""

from __future__ import annotations

import asyncio

from bot.runtime.tasks import QUIET_S, Tasks


async def test_work_a_request_starts_waits_until_the_answers_in_progress_are_ready() -> None:
    tasks, started = Tasks(), []

    async def work() -> None:
        started.append("work")

    with tasks.answering():
        tasks.spawn(work())
        for _ in range(5):
            await asyncio.sleep(0)
        assert started == []  # the answer being prepared goes first
    await tasks.drain()
    assert started == ["work"]


async def test_work_is_not_starved_by_answers_that_never_end() -> None:
    tasks, started = Tasks(), []

    async def work() -> None:
        started.append("work")

    with tasks.answering():
        tasks.spawn(work())
        await tasks.drain()  # the bound lets it run although an answer is still open
    assert started == ["work"]


async def test_work_waits_through_the_gap_between_two_waves_of_answers() -> None:
    """A burst comes in waves; work let loose between two would hold the next wave's acks."""
    tasks, started = Tasks(), []

    async def work() -> None:
        started.append("work")

    with tasks.answering():
        tasks.spawn(work())
    await asyncio.sleep(QUIET_S / 4)  # the next wave arrives before the quiet period ends
    assert started == []
    with tasks.answering():
        await asyncio.sleep(QUIET_S * 2)
        assert started == []
    await asyncio.sleep(QUIET_S / 4)
    assert started == []  # the quiet period began again with the last answer
    await tasks.drain()
    assert started == ["work"]
