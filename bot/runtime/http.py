"""The bot's HTTP side toward Slack: the shared client session, the Web API client, Bolt's
`authorize` (read from memory, never a Slack call per request), and `/slack/events` with
the signature checked on the raw body before anything parses it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.runtime.tasks import Tasks
from bot.slack.io import SlackIO

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
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


def answering(tasks: Tasks) -> Callable[..., Awaitable[BoltResponse]]:
    """Bolt middleware: a request counts as an answer in progress until its listener has
    acked (with process_before_response off, Bolt's `next` returns then), so background work
    waits for it, over HTTP and in Socket Mode alike (Bolt's Socket Mode handler dispatches
    without `/slack/events`)."""
    async def middleware(next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse:
        with tasks.answering():
            return await next()
    return middleware


def well_formed(body: dict[str, Any]) -> bool:
    """Whether a signed body has the shape Bolt's routing reads without failing: the objects
    it looks into are objects (a signed `"view": 3` made Bolt's middleware answer 500)."""
    payload = body.get("payload", body) if isinstance(body.get("payload"), dict) else body
    for key in ("view", "user", "team", "channel", "container", "message", "event",
                "enterprise"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return False
    kind = payload.get("type")
    actions = payload.get("actions")
    if (actions is not None or kind == "block_actions") and not (
            isinstance(actions, list) and actions and all(
                isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)):
        return False  # Slack sends each click with at least one action, each with its id
    view = payload.get("view")
    if kind in ("view_submission", "view_closed") and not isinstance(view, dict):
        return False
    if isinstance(view, dict):
        state = view.get("state", {})
        if not isinstance(view.get("type"), str) or not (
                isinstance(state, dict) and isinstance(state.get("values", {}), dict)):
            return False
    return all(isinstance(payload.get(key), str | None)
               for key in ("type", "command", "callback_id", "trigger_id", "text"))


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
        if not well_formed(bolt_request.body):
            log.warning("refused a signed request whose payload has the wrong shape")
            return web.Response(status=400)
        with tasks.answering():  # background work waits until this answer is ready
            return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application()
    web_app.add_routes([web.post(EVENTS_PATH, events)])
    return web_app
