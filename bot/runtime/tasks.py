"""Background work started after Slack has been answered, owned by the runtime's loop: work
started by a request (drained at stop) and periodic work (cancelled at stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)

# Work a request starts waits while Slack requests are still being answered (they share the
# loop's one core: a burst of 50 would otherwise queue its acks behind the first ones' work),
# but never longer than this, so background work is not starved under steady load.
ACKS_FIRST_MAX_S = 2.0
# ... and until no answer has been in progress for this long: a burst arrives in waves (each
# client sends its next request when its answer comes back), and work let loose in the gap
# between two waves would hold the next wave's acks.
QUIET_S = 0.02


class Tasks:
    """Background work owned by the runtime's loop: spawned after an ack, or periodic."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()
        self.periodic: set[asyncio.Task[None]] = set()
        self._answering = 0
        # Set once no answer has been prepared for QUIET_S. Waiters sleep on it rather than
        # poll: 50 tasks polling every 5 ms were a tenth of the loop's time during a burst.
        self._idle = asyncio.Event()
        self._idle.set()
        self._quiet: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request, until its answer is ready."""
        self._answering += 1
        self._idle.clear()
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        try:
            yield
        finally:
            self._answering -= 1
            if not self._answering:
                self._quiet = asyncio.get_running_loop().call_later(QUIET_S, self._idle.set)

    @property
    def answering_now(self) -> bool:
        """A Slack request is being answered at this moment."""
        return self._answering > 0

    async def quiet(self) -> None:
        """Returns once no Slack request has been answered for QUIET_S, or after
        ACKS_FIRST_MAX_S under steady load (background work is never starved)."""
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), ACKS_FIRST_MAX_S)

    async def _after_acks(self, work: Coroutine[Any, Any, Any]) -> Any:
        await self.quiet()
        return await work

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run slow work after the ack (and after the acks being prepared meanwhile); kept
        referenced so it is neither lost nor collected."""
        task = asyncio.create_task(self._after_acks(work))
        self.running.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def every(self, work: Callable[[], Awaitable[float]], name: str) -> asyncio.Task[None]:
        """Run `work` again and again until `stop_periodic`; each run returns how many
        seconds to wait before the next. A run that raises is logged and tried again."""
        async def loop() -> None:
            while True:
                try:
                    pause = await work()
                except Exception:
                    log.exception("periodic %s failed", name)
                    pause = 60.0
                await asyncio.sleep(pause)

        task = asyncio.create_task(loop(), name=name)
        self.periodic.add(task)
        task.add_done_callback(self.periodic.discard)
        return task

    async def stop_periodic(self) -> None:
        for task in list(self.periodic):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self) -> None:
        """Wait for the background work in flight (tests, shutdown)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    def cancel_all(self) -> None:
        for task in list(self.running):
            task.cancel()
