"""`GET /healthz` in HTTP mode, for load balancers and process managers.

200 when the audit file would take a write now, the provider client is built and the watcher
has finished a cycle recently; 503 otherwise. The small JSON body says which part failed.
The write probe has its own connection and waits at most PROBE_TIMEOUT_S on another writer's
lock (the bot's own writes take milliseconds), off the event loop, so it never delays Slack.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from storage import meta

if TYPE_CHECKING:
    from bot.runtime.assembly import Runtime

PATH = "/healthz"
PROBE_TIMEOUT_S = 0.5
# The watcher sleeps its delay between cycles (up to an hour while the provider is down), and
# a cycle may itself take minutes: late means more than twice the delay plus this margin.
WATCHER_MARGIN_S = 300.0


async def report(runtime: Runtime, started_at: float) -> tuple[int, dict[str, Any]]:
    problem = await asyncio.to_thread(meta.probe_write, runtime.settings.audit_db,
                                      PROBE_TIMEOUT_S)
    watcher = runtime.watcher
    age = time.monotonic() - (watcher.last_cycle_at or started_at)
    late = age > 2 * watcher.delay_s + WATCHER_MARGIN_S
    body: dict[str, Any] = {
        "database": "writable" if problem is None else problem,
        "provider": "ready" if runtime.provider is not None else "missing",
        "watcher_last_cycle_s": None if watcher.last_cycle_at is None else round(age, 1),
        "watcher": "late" if late else "ok",
    }
    healthy = problem is None and runtime.provider is not None and not late
    body = {"status": "ok" if healthy else "unhealthy", **body}
    return (200 if healthy else 503), body


def handler(runtime: Runtime) -> Callable[[web.Request], Awaitable[web.Response]]:
    started_at = time.monotonic()

    async def healthz(request: web.Request) -> web.Response:
        status, body = await report(runtime, started_at)
        return web.json_response(body, status=status)

    return healthz
