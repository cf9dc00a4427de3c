"""`python -m bot run` from the first signal handler to the last line: serve until SIGINT or
SIGTERM, whenever it comes.

A stop is honoured at any moment: while Slack is being asked who we are (and waited for),
while the WSDL is read, while Socket Mode connects, and while serving. Work in flight gets
GRACE_S to finish; what is still running then is cancelled, and what it left is resumed at
the next start (every step is in the audit log). A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from bot.runtime.assembly import Runtime
from bot.runtime.http import EVENTS_PATH
from bot.runtime.logs import SOCKET_MODE_LOGGER

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

log = logging.getLogger(__name__)
T = TypeVar("T")
GRACE_S = 5.0


class Stopped(Exception):
    """A signal arrived before the work it interrupted was done."""


class Stop:
    """SIGINT and SIGTERM as an event, and work raced against it."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.again = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._signal, signum)

    def _signal(self, signum: int) -> None:
        if self.requested.is_set():
            self.again.set()
            return
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.requested.set()

    async def race(self, work: Awaitable[T], event: asyncio.Event | None = None) -> T:
        """`work`'s result, or Stopped (with `work` cancelled) if the event comes first."""
        event = event or self.requested
        task = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise Stopped


# How long a worker thread (a large request's CSV, its card) may hold the interpreter before
# the event loop gets it back. Python's 5 ms default cost the loop up to 5 ms each time it
# gave the interpreter up (every SQLite call, every socket read) while such a thread ran:
# a flush of 5,000 replies took 100 ms instead of a few (docs/benchmarks.md "large").
SWITCH_INTERVAL_S = 0.0005
# A full garbage collection after 1,000 middle ones rather than Python's 10: while a large
# request ran, full collections came every few seconds and each held the loop 20-110 ms;
# with 1,000, one in 80 s (docs/benchmarks.md "large"). The young generations keep Python's
# sizes (larger ones paused longer: 50,000 objects took 50-150 ms a collection here).
GC_THRESHOLDS = (700, 10, 1000)


# What httpx (the provider's and the SAT's clients) imports at its first call, not before:
# imported at the first lookups, while everyone's answers waited (40 ms, once a process).
LAZY_IMPORTS = ("anyio._backends._asyncio", "anyio.streams.memory", "anyio.streams.stapled",
                "anyio.streams.tls", "anyio.to_thread")


def _freeze_what_the_start_built() -> None:
    """What the start built lives until the stop (the parsed WSDLs, Bolt, the catalogues):
    kept out of the garbage collector's full passes, which otherwise walk all of it. Those
    passes paused the event loop 43-56 ms each under load, every Slack answer waiting; with
    the start's objects frozen they take 3-13 ms (docs/benchmarks.md)."""
    for name in LAZY_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.collect()
    gc.freeze()
    log.debug("%d objects made at start kept out of full garbage collections",
              gc.get_freeze_count())


async def serve(runtime: Runtime, stop: Stop) -> None:
    """Serve Slack (Socket Mode when SLACK_APP_TOKEN is set, else HTTP) and the watcher until
    `stop`; then a stop bounded by GRACE_S."""
    settings = runtime.settings
    socket_handler: AsyncSocketModeHandler | None = None
    _freeze_what_the_start_built()
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # restored at the stop (tests serve in process)
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            socket_handler = AsyncSocketModeHandler(
                runtime.app, settings.slack_app_token.get_secret_value(),
                logger=logging.getLogger(SOCKET_MODE_LOGGER))
            await stop.race(socket_handler.connect_async())
            log.info("ready: connected to Slack in Socket Mode")
        else:
            port = await runtime.start_http()
            log.info("ready: listening for Slack on port %d at %s", port, EVENTS_PATH)
        # Slack is served first; what a crash or a stop interrupted is finished alongside.
        runtime.tasks.spawn(runtime.services.submissions.resume())
        runtime.start_watching()
        await stop.requested.wait()
    finally:
        await _shutdown(runtime, stop, socket_handler)
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)


async def _shutdown(runtime: Runtime, stop: Stop,
                    socket_handler: AsyncSocketModeHandler | None) -> None:
    if socket_handler is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket_handler.close_async(), GRACE_S)
    drained = False
    with contextlib.suppress(Stopped, TimeoutError):
        await stop.race(asyncio.wait_for(asyncio.shield(runtime.tasks.drain()), GRACE_S),
                        stop.again)
        drained = True
    if not drained:
        log.warning("stopping with %d task(s) in flight: what they wrote is in the audit log "
                    "and the next start resumes them", len(runtime.tasks.running))
    await runtime.stop(drain=drained)
    log.info("stopped")
