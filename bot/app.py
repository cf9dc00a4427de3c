"""Assembling the bot: settings -> store, provider, Slack client, Bolt app, handlers.

`build` takes the provider ready-made: the real one from `connect_provider`, or the sandbox
that `bot.sandbox.stage` starts (the choice is made by the caller, so no production module
imports the sandbox). `Runtime.start_http()` serves `/slack/events` (and `/healthz`);
`bot.running.serve` runs it, or Socket Mode when SLACK_APP_TOKEN is set, with the watcher.

Nothing answered while Slack waits calls Slack: what those answers need from Slack (who the
bot is, the workspace URL, the members of user groups) is read at start, within
SLACK_START_WAIT_S, and again in the background; Bolt's `authorize` reads it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot import health
from bot.config import Settings
from bot.i18n import t
from bot.pac.client import PacClient, RetryPolicy
from bot.provider import Provider
from bot.reminders.runner import Reminders
from bot.sat.consulta.client import SatClient
from bot.services import Services
from bot.slack_io import Identity, SlackIO
from bot.tasks import Tasks
from bot.watcher import Watcher
from storage.checkpoints import Checkpoints
from storage.store import AuditStore

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
SLACK_START_WAIT_S = 2.0   # how long the start waits for Slack before serving anyway
SLACK_REFRESH_S = 300.0    # user groups and identity read again (a change takes effect)
SLACK_RETRY_S = 30.0       # ... or sooner while something could not be read
CHECKPOINT_EVERY_S = 1.0   # the audit file's WAL copied into it, in a worker thread
# Slack accepts about one message a second per channel and tens of calls a minute per
# method; more connections than this would only be refused with 429s.
SLACK_CONNECTIONS = 20


def slack_session() -> aiohttp.ClientSession:
    """One HTTP session for every Slack call, its connections kept alive between calls
    (without it, slack_sdk opens a session, and a connection, per call). Created on the
    running loop; closed by `Runtime.stop`."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS))


def slack_client(settings: Settings, session: aiohttp.ClientSession, *,
                 with_token: bool = True) -> AsyncWebClient:
    """The Web API client, waiting out 429s (Retry-After) and retrying 5xx and resets."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(token=token if with_token else None,
                          base_url=settings.slack_api_url, session=session, retry_handlers=[
                              AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                              AsyncServerErrorRetryHandler(max_retry_count=2),
                              AsyncConnectionErrorRetryHandler(max_retry_count=2),
                          ])


def authorizer(settings: Settings, io: SlackIO) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's authorization without a Slack call per request (its single-workspace default
    calls auth.test on the first one, and answers "reinstall" when Slack is down): the bot
    token, and who the bot is as last read in the background."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None

    async def authorize(enterprise_id: str | None, team_id: str | None,
                        user_id: str | None) -> AuthorizeResult:
        me = io.identity
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=(me and me.team_id) or team_id,
            url=me.url if me else None, bot_user_id=me.bot_user_id if me else None,
            bot_id=me.bot_id if me else None, bot_token=token, user_id=user_id)
    return authorize


def signed_requests(app: AsyncApp, signing_secret: str, tasks: Tasks) -> web.Application:
    """`/slack/events`: the signature is checked on the raw body before anything reads it
    (401, one line); a signed body Bolt cannot read is a 400 with one line. Bolt checks
    the signature again."""
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            signed = verifier.is_valid(body, request.headers.get("X-Slack-Request-Timestamp"),
                                       request.headers.get("X-Slack-Signature"))
        except (ValueError, TypeError):  # a timestamp that is no number, bytes not UTF-8
            signed = False
        if not signed:
            log.warning("refused a request to %s without a valid Slack signature (from %s)",
                        EVENTS_PATH, request.remote)
            return web.Response(status=401)
        try:
            bolt_request = AsyncBoltRequest(body=body.decode(), query=request.query_string,
                                            headers=request.headers)  # type: ignore[arg-type]
        except Exception as exc:  # only parsing runs here
            log.warning("refused a signed request Bolt cannot read: %s", type(exc).__name__)
            return web.Response(status=400)
        with tasks.answering():  # background work waits until this answer is ready
            return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application()
    web_app.add_routes([web.post(EVENTS_PATH, events)])
    return web_app


async def connect_provider(settings: Settings, endpoint: str | None = None) -> PacClient:
    """The provider client (WSDL parsed off the event loop), bound to `endpoint` or to
    CFDI_ENDPOINT."""
    return await PacClient.create(
        settings.cfdi_wsdl, endpoint or settings.cfdi_endpoint, usuario=settings.cfdi_usuario,
        password=settings.cfdi_password.get_secret_value(), timeout_s=settings.cfdi_timeout_s,
        batch_size=settings.cfdi_batch_size,
        retry=RetryPolicy(attempts=settings.cfdi_retry_attempts,
                          total_s=settings.cfdi_retry_max_s))


async def connect_sat(settings: Settings, address: str | None = None) -> SatClient:
    """The SAT's status service client (WSDL parsed off the event loop), bound to `address`
    or SAT_CONSULTA_URL, retried as the provider is."""
    return await SatClient.create(
        address or settings.sat_consulta_url, timeout_s=settings.sat_timeout_s,
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
    session: aiohttp.ClientSession | None = None
    sat: SatClient | None = None
    runner: web.AppRunner | None = None
    watching: asyncio.Task[None] | None = field(default=None, repr=False)
    checkpoints: Checkpoints | None = field(default=None, repr=False)
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
        if self.reminders is not None:  # reminders, escalation, digest (bot/reminders)
            self.tasks.every(self.reminders.periodic, "reminders")

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
    handlers.register(app, services)
    runtime = Runtime(settings, store, provider, app, services, Watcher(services), on_stop,
                      session, sat, reminders=Reminders(services))
    services.io.identity = identity
    runtime.checkpoint_in_background()
    await runtime.load_from_slack(slack_wait_s)
    return runtime
