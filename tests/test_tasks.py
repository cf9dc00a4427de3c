"""Background work waits for the answers Slack is waiting for."""

from __future__ import annotations

import asyncio

from bot.tasks import Tasks


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
