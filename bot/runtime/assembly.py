"""Assembling the bot: settings -> store, provider, Slack client, Bolt app, handlers.

`build` takes the provider ready-made: the real one from the package
`bot.providers.registry.package(settings)` names (its `connect`), or the sandbox that
`bot.sandbox.stage` starts (the choice is made by the caller, so no production module imports
the sandbox). `Runtime.start_http()` serves `/slack/events` (and `/healthz`);
`bot.runtime.serving.serve` runs it, or Socket Mode when SLACK_APP_TOKEN is set, with the
watcher.

Nothing answered while Slack waits calls Slack: what those answers need from Slack (who the
bot is, the workspace URL, the members of user groups) is read at start, within
SLACK_START_WAIT_S, and again in the background; Bolt's `authorize` reads it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp

import handlers
from bot.config import Settings
from bot.evidence.running import Checkpointing
from bot.i18n import t
from bot.providers.contract import Provider
from bot.retries import RetryPolicy
from bot.runtime import health
from bot.runtime.http import answering, authorizer, signed_requests, slack_client, slack_session
from bot.runtime.services import Services
from bot.runtime.tasks import Tasks
from bot.sat.consulta.client import SatClient
from bot.slack.io import Identity
from bot.watching.reminders import Reminders
from bot.watching.watcher import Watcher
from storage.checkpoints import Checkpoints
from storage.store import AuditStore

log = logging.getLogger(__name__)


SLACK_START_WAIT_S = 2.0   # how long the start waits for Slack before serving anyway


SLACK_REFRESH_S = 300.0    # user groups and identity read again (a change takes effect)


SLACK_RETRY_S = 30.0       # ... or sooner while something could not be read


CHECKPOINT_EVERY_S = 1.0   # the audit file's WAL copied into it, in a worker thread


async def connect_sat(settings: Settings, address: str | None = None) -> SatClient:
    """The SAT's status service client (WSDL parsed off the event loop), bound to `address`
    or SAT_CONSULTA_URL, retried as the provider is."""
    return await SatClient.create(
        address or settings.sat_consulta_url, timeout_s=settings.sat_timeout_s,
        retry=RetryPolicy(attempts=settings.cfdi_retry_attempts,
                          total_s=settings.cfdi_retry_max_s))


@dataclass
class Runtime:
    """The running bot: its parts, its HTTP server, its background work, and its stop."""

    settings: Settings
    store: AuditStore
    provider: Provider
    app: AsyncApp
    services: Services
    watcher: Watcher
    on_stop: Sequence[Callable[[], None]] = ()
    session: aiohttp.ClientSession | None = None
    sat: SatClient | None = None
    runner: web.AppRunner | None = None
    watching: asyncio.Task[None] | None = field(default=None, repr=False)
    checkpoints: Checkpoints | None = field(default=None, repr=False)
    evidence: Checkpointing | None = field(default=None, repr=False)  # signed checkpoints
    reminders: Reminders | None = field(default=None, repr=False)

    @property
    def tasks(self) -> Tasks:
        return self.services.tasks

    async def start_http(self, host: str = "0.0.0.0", port: int | None = None) -> int:
        """Serve /slack/events and /healthz; returns the port (pass 0 for a free one)."""
        signing = self.settings.slack_signing_secret
        assert signing is not None, "HTTP mode needs SLACK_SIGNING_SECRET"
        web_app = signed_requests(self.app, signing.get_secret_value(), self.tasks)
        web_app.router.add_get(health.PATH, health.handler(self))
        # A stop waits this long for requests in flight (an ack takes milliseconds).
        self.runner = web.AppRunner(web_app, shutdown_timeout=3.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, self.settings.port if port is None else port)
        await site.start()
        return int(self.runner.addresses[0][1])

    async def load_from_slack(self, wait_s: float = SLACK_START_WAIT_S) -> None:
        """Read what the ack path needs from Slack, waiting at most `wait_s` (Slack slow
        or down does not hold the start), and keep it fresh in the background."""
        first = asyncio.Event()
        io, policy = self.services.io, self.services.policy

        known = io.identity is not None  # read by the start's own check: not asked twice

        async def identity() -> bool:
            nonlocal known
            if known:
                known = False
                return True
            return await io.refresh_identity()

        async def refresh() -> float:
            try:
                fresh = await asyncio.gather(identity(), policy.refresh())
            finally:
                first.set()
            return SLACK_REFRESH_S if all(fresh) else SLACK_RETRY_S

        self.tasks.every(refresh, "slack-refresh")
        try:
            await asyncio.wait_for(first.wait(), wait_s)
        except TimeoutError:
            log.warning("Slack did not answer within %.0f s at start; serving anyway and "
                        "reading it again in the background", wait_s)

    def checkpoint_in_background(self) -> None:
        """Commits on the loop no longer copy the WAL into the file and sync it (5-9 ms
        every hundred commits or so): a worker thread does, every CHECKPOINT_EVERY_S."""
        checkpoints = self.checkpoints = self.store.defer_checkpoints()

        async def checkpoint() -> float:
            await asyncio.to_thread(checkpoints.run)
            return CHECKPOINT_EVERY_S

        self.tasks.every(checkpoint, "wal-checkpoint")

    def start_watching(self) -> None:
        self.watching = asyncio.create_task(self.watcher.run(), name="watcher")
        self.tasks.every(self.watcher.reconciler.daily, "reconcile")  # at RECONCILE_HOUR
        if self.reminders is not None:  # reminders, escalation, digest (bot/watching/reminders.py)
            self.tasks.every(self.reminders.periodic, "reminders")
        # The monthly report: at start, a missed one; then the month's first business day.
        self.tasks.every(self.services.reports.scheduled, "monthly-report")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop serving; background work in flight is finished (or, with drain=False,
        cancelled: what it wrote is in the audit log, and `resume` picks it up at start)."""
        await self.tasks.stop_periodic()
        if self.watching is not None:
            self.watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watching
        if not drain:
            self.tasks.cancel_all()
        await self.tasks.drain()
        if self.evidence is not None:
            await self.evidence.at_stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.provider.aclose()
        if self.session is not None:
            await self.session.close()
        if self.sat is not None:
            await self.sat.aclose()
        for stop in self.on_stop:
            stop()
        if self.checkpoints is not None:
            self.checkpoints.close()
        self.store.close()  # the last connection out checkpoints what is left


async def build(settings: Settings, provider: Provider,
                on_stop: Sequence[Callable[[], None]] = (), sat: SatClient | None = None,
                slack_wait_s: float = SLACK_START_WAIT_S, identity: Identity | None = None
                ) -> Runtime:
    """The bot assembled; `identity`, when the start already asked Slack who the bot is, is
    used as it is rather than asked again."""
    store = AuditStore.open(settings.audit_db, secrets=settings.secrets())
    session = slack_session()
    client = slack_client(settings, session)
    signing = settings.slack_signing_secret
    services = Services.assemble(settings, store, provider, client, Tasks(), sat)
    app = AsyncApp(
        # Bolt's own client carries no token (the token comes from `authorize`); it shares
        # the session.
        client=slack_client(settings, session, with_token=False),
        authorize=authorizer(settings, services.io),
        user_facing_authorize_error_message=t("error.unexpected", settings.language),
        signing_secret=signing.get_secret_value() if signing else None,
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,  # ack first; the listener goes on after the answer
    )
    app.use(answering(services.tasks))  # acks first in Socket Mode as over HTTP
    handlers.register(app, services)
    runtime = Runtime(settings, store, provider, app, services, Watcher(services), on_stop,
                      session, sat, reminders=Reminders(services))
    services.io.identity = identity
    runtime.checkpoint_in_background()
    try:
        runtime.evidence = Checkpointing.start(settings, store, services.io)
    except BaseException:
        await runtime.stop()
        raise
    if runtime.evidence is not None:
        runtime.tasks.every(runtime.evidence.periodic, "audit-checkpoints")
    await runtime.load_from_slack(slack_wait_s)
    return runtime
