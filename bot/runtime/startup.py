"""Before serving: who Slack says we are, with which scopes, and whether Socket Mode may connect.

`auth.test` answers for the bot token, and lists the scopes it was granted in the
`x-oauth-scopes` header (as every Web API answer does); `apps.connections.open` answers for
the app-level token. A refusal (invalid_auth, a revoked token, a missing scope) is final: it
stops the start with one sentence. A network failure or a Slack outage is not: one log line,
then another try after a growing pause, until Slack answers or the process is stopped.

`python -m bot check` asks the same questions once each (`ask_identity`, `ask_app_token`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.i18n import t
from bot.slack.io import Identity

log = logging.getLogger(__name__)
T = TypeVar("T")

# manifest.yml's bot scopes (tests/slack/test_manifest.py keeps the two lists equal).
BOT_SCOPES = ("commands", "chat:write", "im:write", "usergroups:read", "files:write",
              "files:read", "channels:history", "groups:history", "channels:read",
              "groups:read")
# Seconds between tries while Slack cannot be reached; the last one repeats.
PAUSES_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
ASK_TIMEOUT_S = 10
# Slack's words for a token that was valid once and is no more.
_REVOKED = {"token_revoked", "account_inactive", "token_expired", "app_uninstalled",
            "team_disabled", "org_login_required", "ekm_access_denied"}
_BUSY = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
         "request_timeout"}


class Refused(Exception):
    """Slack refused a token: the start cannot go on. `sentence` says why and what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class Unreachable(Exception):
    """Slack could not be asked now (network, timeout, an outage): worth another try."""


def missing_scopes(identity: Identity) -> list[str]:
    scopes = identity.scopes
    return [] if scopes is None else [s for s in BOT_SCOPES if s not in scopes]


def _client(settings: Settings, token: str) -> AsyncWebClient:
    """One attempt per call (no retry handlers): the pauses between tries are ours."""
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=ASK_TIMEOUT_S,
                          retry_handlers=[])


async def _ask(call: Awaitable[T]) -> T:
    try:
        return await call
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if exc.response.status_code >= 500 or exc.response.status_code == 429 or error in _BUSY:
            raise Unreachable(f"HTTP {exc.response.status_code} {error}".strip()) from None
        raise


async def ask_identity(settings: Settings) -> Identity:
    """auth.test with SLACK_BOT_TOKEN, once. Raises Refused or Unreachable."""
    assert settings.slack_bot_token is not None
    lang = settings.language
    client = _client(settings, settings.slack_bot_token.get_secret_value())
    try:
        answer = await _ask(client.auth_test())
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "?")
        key = ("start.bot_token_revoked" if error in _REVOKED else
               "start.bot_token_refused" if error in ("invalid_auth", "not_authed") else
               "start.bot_token_not_bot" if error == "not_allowed_token_type" else
               "start.bot_token_error")
        raise Refused(t(key, lang, error=error)) from None
    header = answer.headers.get("x-oauth-scopes") or answer.headers.get("X-OAuth-Scopes")
    scopes = None if header is None else frozenset(
        s.strip() for s in str(header).split(",") if s.strip())
    return Identity.of(answer, scopes)


async def ask_app_token(settings: Settings) -> None:
    """apps.connections.open with SLACK_APP_TOKEN, once (the URL it gives is left unused:
    the Socket Mode client asks for its own). Raises Refused or Unreachable."""
    assert settings.slack_app_token is not None
    lang = settings.language
    client = _client(settings, settings.slack_app_token.get_secret_value())
    try:
        await _ask(client.apps_connections_open(
            app_token=settings.slack_app_token.get_secret_value()))
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "?")
        key = ("start.app_token_revoked" if error in _REVOKED else
               "start.app_token_refused" if error in ("invalid_auth", "not_authed") else
               "start.app_token_not_app" if error == "not_allowed_token_type" else
               "start.app_token_scope" if error == "missing_scope" else
               "start.app_token_error")
        raise Refused(t(key, lang, error=error)) from None


def scopes_sentence(identity: Identity, lang: str) -> str | None:
    missing = missing_scopes(identity)
    return t("start.scopes_missing", lang, scopes=", ".join(missing)) if missing else None


async def until_answered(ask: Callable[[], Awaitable[T]], what: str,
                         pauses: Sequence[float] = PAUSES_S) -> T:
    """`ask()` until it answers or refuses; one log line per failed try, pauses growing."""
    tries = 0
    while True:
        try:
            return await ask()
        except Unreachable as exc:
            pause = pauses[min(tries, len(pauses) - 1)]
            tries += 1
            log.warning("%s: Slack did not answer (%s); trying again in %g s", what, exc, pause)
            await asyncio.sleep(pause)


async def verify(settings: Settings) -> Identity:
    """What `run` checks before serving: the bot token and its scopes, and in Socket Mode
    the app-level token. Raises Refused with one sentence; waits out network failures."""
    identity = await until_answered(lambda: ask_identity(settings), "auth.test")
    if (sentence := scopes_sentence(identity, settings.language)) is not None:
        raise Refused(sentence)
    if identity.scopes is None:
        log.warning("Slack did not list the token's scopes (no x-oauth-scopes header); "
                    "they were not checked")
    if settings.socket_mode:
        await until_answered(lambda: ask_app_token(settings), "apps.connections.open")
    log.info("Slack knows the bot as %s in team %s", identity.bot_user_id, identity.team_id)
    await _warn_if_outside(settings)
    return identity


async def _warn_if_outside(settings: Settings) -> None:
    """Not fatal (someone may invite the bot in a minute), but said at once: a card posted
    to a channel the bot is not in is refused by Slack."""
    assert settings.slack_bot_token is not None
    client = _client(settings, settings.slack_bot_token.get_secret_value())
    for var, channel in (("APPROVALS_CHANNEL", settings.approvals_channel),
                         ("ADMIN_CHANNEL", settings.admin_channel)):
        if not channel:
            continue
        try:
            answer = await _ask(client.conversations_info(channel=channel))
        except (SlackApiError, Unreachable) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("%s %s: Slack answered %s; `python -m bot check` says what to do",
                        var, channel, error)
            continue
        if not (answer.get("channel") or {}).get("is_member"):
            log.warning("%s %s: the bot is not a member; type /invite @CFDI Bot in the "
                        "channel, or its messages there are refused", var, channel)
