"""Assembling the bot: settings -> store, provider, Slack client, Bolt app, handlers.

`build` takes the provider ready-made: the real one from `connect_provider`, or the sandbox
that `bot.sandbox.stage` starts (the choice is made by the caller, so no production module
imports the sandbox). `Runtime.start_http()` serves `/slack/events` (and `/healthz`);
`bot.running.serve` runs it, or Socket Mode when SLACK_APP_TOKEN is set, with the watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot import health
from bot.config import Settings
from bot.pac.client import PacClient, RetryPolicy
from bot.provider import Provider
from bot.services import Services
from bot.tasks import Tasks
from bot.watcher import Watcher
from storage.store import AuditStore

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


def slack_client(settings: Settings) -> AsyncWebClient:
    """The Web API client, waiting out 429s (Retry-After) and retrying 5xx and resets."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, retry_handlers=[
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ])


async def connect_provider(settings: Settings, endpoint: str | None = None) -> PacClient:
    """The provider client (WSDL parsed off the event loop), bound to `endpoint` or to
    CFDI_ENDPOINT."""
    return await PacClient.create(
        settings.cfdi_wsdl, endpoint or settings.cfdi_endpoint, usuario=settings.cfdi_usuario,
        password=settings.cfdi_password.get_secret_value(), timeout_s=settings.cfdi_timeout_s,
        batch_size=settings.cfdi_batch_size,
        retry=RetryPolicy(attempts=settings.cfdi_retry_attempts,
                          total_s=settings.cfdi_retry_max_s))


@dataclass
class Runtime:
    settings: Settings
    store: AuditStore
    provider: Provider
    app: AsyncApp
    services: Services
    watcher: Watcher
    on_stop: Sequence[Callable[[], None]] = ()
    runner: web.AppRunner | None = None
    watching: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def tasks(self) -> Tasks:
        return self.services.tasks

    async def start_http(self, host: str = "0.0.0.0", port: int | None = None) -> int:
        """Serve /slack/events and /healthz; returns the port (pass 0 for a free one)."""
        web_app = self.app.web_app(path=EVENTS_PATH)
        web_app.router.add_get(health.PATH, health.handler(self))
        # A stop waits this long for requests in flight (an ack takes milliseconds).
        self.runner = web.AppRunner(web_app, shutdown_timeout=3.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, self.settings.port if port is None else port)
        await site.start()
        return int(self.runner.addresses[0][1])

    def start_watching(self) -> None:
        self.watching = asyncio.create_task(self.watcher.run(), name="watcher")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop serving; background work in flight is finished (or, with drain=False,
        cancelled: what it wrote is in the audit log, and `resume` picks it up at start)."""
        if self.watching is not None:
            self.watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watching
        if not drain:
            self.tasks.cancel_all()
        await self.tasks.drain()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.provider.aclose()
        for stop in self.on_stop:
            stop()
        self.store.close()


async def build(settings: Settings, provider: Provider,
                on_stop: Sequence[Callable[[], None]] = ()) -> Runtime:
    store = AuditStore.open(settings.audit_db, secrets=settings.secrets())
    client = slack_client(settings)
    signing = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=signing.get_secret_value() if signing else None,
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,  # ack first; the listener goes on after the answer
    )
    services = Services.assemble(settings, store, provider, client, Tasks())
    handlers.register(app, services)
    return Runtime(settings, store, provider, app, services, Watcher(services), on_stop)
