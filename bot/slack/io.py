"""Every Slack call the bot makes after the ack: posting, ephemeral with DM fallback,
permalinks, operator alerts.

A failed call is logged and audited instead of raised: the database already holds the
truth, and a missed post is visible in the audit log. Setup errors (token, scopes,
membership) also reach the operators, at most hourly per error.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actors import SYSTEM, Actor
from bot.config import Settings
from bot.i18n import t
from bot.slack.mrkdwn import escape
from bot.slack.render import kit
from storage.domain import Row
from storage.store import AuditStore

log = logging.getLogger(__name__)

ADMIN_ALERT_EVERY_S = 3600
# Slack answers that mean the app's setup is wrong (token, scopes, channel membership).
SLACK_SETUP_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                      "missing_scope", "channel_not_found", "not_in_channel", "is_archived"}
Link = Callable[[Row], str]
DOWNLOAD_TIMEOUT_S = 30.0
DOWNLOAD_REDIRECTS = 3
_HTML_STARTS = (b"<!doctype html", b"<html")


class DownloadError(Exception):
    """A file Slack did not hand over. `kind`: `refused` (Slack answered a sign-in page or
    401/403: the token cannot read files), `too_large`, `not_slack` (an address outside
    Slack, never sent the token), `unreachable` (network, timeout, another status)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True)
class Identity:
    """Who the bot is in which workspace: auth.test's answer (the start's check also reads
    the scopes Slack lists beside it)."""
    team_id: str
    url: str
    bot_user_id: str
    bot_id: str | None
    team: str | None = None
    scopes: frozenset[str] | None = None   # None: not read, or Slack did not list them

    @classmethod
    def of(cls, answer: Any, scopes: frozenset[str] | None = None) -> Identity:
        return cls(team_id=str(answer.get("team_id") or ""), url=str(answer.get("url") or ""),
                   bot_user_id=str(answer.get("user_id") or ""), bot_id=answer.get("bot_id"),
                   team=answer.get("team"), scopes=scopes)


class SlackIO:
    """Every Slack call after the ack: failures logged, audited and alerted, never raised."""

    def __init__(self, settings: Settings, store: AuditStore, client: AsyncWebClient) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self._alerted: dict[str, float] = {}
        self.identity: Identity | None = None  # from auth.test (refresh_identity)

    async def call(self, method: str, call: Callable[..., Awaitable[Any]],
                   request_id: int | None = None, **kwargs: Any) -> Any:
        """The answer, or None when Slack refused or could not be reached (audited)."""
        try:
            return await call(**kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") or "no_error_given"
        except Exception as exc:  # network errors are not SlackApiError
            error = type(exc).__name__
        log.warning("Slack %s failed: %s", method, error)
        await self.audit(SYSTEM, "slack_error", request_id=request_id,
                         details={"method": method, "error": error})
        if error in SLACK_SETUP_ERRORS and method != "chat.postMessage:admin":
            await self.alert_admin(f"slack:{error}", request_id, t(
                "admin.slack_setup", self.lang, method=method, error=escape(error)))
        return None

    async def can_write_to(self, user_id: str) -> bool:
        """Whether the bot can write to this person (conversations.open, with the im:write
        scope it has): Slack refuses someone it does not know, a deactivated person and a
        bot (user_not_found, user_disabled, cannot_dm_bot). Asked after the ack; quiet (a
        typo is no Slack failure to audit)."""
        try:
            await self.client.conversations_open(users=user_id)
        except SlackApiError as exc:
            log.info("the bot cannot write to %s: %s", user_id, exc.response.get("error"))
            return False
        except Exception as exc:  # Slack unreachable: not confirmed
            log.warning("could not ask Slack about %s: %s", user_id, type(exc).__name__)
            return False
        return True

    async def audit(self, actor: Actor, action: str, **options: Any) -> None:
        """Record what happened with Slack; when the audit log cannot be written (locked past
        its bound, disk full) the fact is logged instead: it changed no request."""
        try:
            await self.store.append(actor, action, **options)
        except sqlite3.Error as exc:
            log.error("could not record %s in the audit log: %s", action, exc)

    def msg(self, text: str) -> dict[str, Any]:
        return kit.message(text, sandbox=self.sandbox, lang=self.lang)

    async def ephemeral(self, channel: str | None, user: str, text: str) -> None:
        """Only `user` sees it, where they are (in as many messages as Slack's 50 blocks
        need); what the bot cannot post there goes by DM."""
        parts = kit.messages(text, sandbox=self.sandbox, lang=self.lang)
        for number, payload in enumerate(parts):
            shown = channel and await self.call(
                "chat.postEphemeral", self.client.chat_postEphemeral, channel=channel,
                user=user, **payload)
            if not shown:
                await self._direct(user, parts[number:])
                return

    async def direct(self, user: str, text: str, request_id: int | None = None) -> None:
        await self._direct(user, kit.messages(text, sandbox=self.sandbox, lang=self.lang),
                           request_id)

    async def direct_messages(self, user: str, parts: list[dict[str, Any]],
                              request_id: int | None = None) -> bool:
        """A DM of messages built beforehand (a reminder with its buttons); False when
        Slack did not take all of it."""
        return await self._direct(user, parts, request_id)

    async def _direct(self, user: str, parts: list[dict[str, Any]],
                      request_id: int | None = None) -> bool:
        opened = await self.call("conversations.open", self.client.conversations_open,
                                 request_id, users=user)
        for payload in parts if opened else []:
            if not await self.call("chat.postMessage", self.client.chat_postMessage,
                                   request_id, channel=opened["channel"]["id"], **payload):
                return False
        return bool(opened)

    async def send_file(self, user: str, filename: str, content: bytes, comment: str) -> bool:
        """A file to one person, by DM, with a comment (Slack's getUploadURLExternal, the
        upload, completeUploadExternal); False when Slack refused or was not reached."""
        opened = await self.call("conversations.open", self.client.conversations_open,
                                 users=user)
        return bool(opened) and await self.call(
            "files.uploadV2", self.client.files_upload_v2, channel=opened["channel"]["id"],
            content=content, filename=filename, initial_comment=comment) is not None

    async def open_view(self, trigger_id: str, view: dict[str, Any],
                        request_id: int | None = None) -> bool:
        return await self.call("views.open", self.client.views_open, request_id,
                               trigger_id=trigger_id, view=view) is not None

    async def update_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace an open modal. No `hash`: the only version the bot could name is the one
        it answered the submission with, whose hash Slack never tells it."""
        return await self.call("views.update", self.client.views_update, view_id=view_id,
                               view=view) is not None

    def _slack_host(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        api_host = (urlsplit(self.settings.slack_api_url).hostname or "").lower()
        return host in ("slack.com", api_host) or host.endswith(".slack.com")

    async def download(self, url: str, limit: int) -> bytes:
        """A file people shared (its url_private), with the bot's token, at most `limit`
        bytes, through the shared session. The token goes to Slack's hosts only; a
        redirect elsewhere (a CDN) is followed without it. Slack answers a request it will
        not serve with its sign-in page and 200: that is `refused`, never the file."""
        if not self._slack_host(url):
            raise DownloadError("not_slack")
        session = self.client.session
        assert session is not None, "the bot's Slack client has the shared session"
        token = self.client.token or ""
        try:
            for _ in range(DOWNLOAD_REDIRECTS + 1):
                headers = {"Authorization": f"Bearer {token}"} if self._slack_host(url) else {}
                async with session.get(url, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
                                       ) as answer:
                    if answer.status in (301, 302, 303, 307, 308) and answer.headers.get(
                            "Location"):
                        url = urljoin(url, answer.headers["Location"])
                        continue
                    if answer.status in (401, 403):
                        raise DownloadError("refused", str(answer.status))
                    if answer.status != 200:
                        raise DownloadError("unreachable", str(answer.status))
                    if (answer.content_length or 0) > limit:
                        raise DownloadError("too_large")
                    body = bytearray()
                    async for chunk in answer.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > limit:  # a length not announced, or a wrong one
                            raise DownloadError("too_large")
                    if answer.content_type == "text/html" or body.lstrip()[:14].lower() \
                            .startswith(_HTML_STARTS):
                        raise DownloadError("refused", "sign-in page")
                    return bytes(body)
            raise DownloadError("unreachable", "too many redirects")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DownloadError("unreachable", type(exc).__name__) from None

    async def permalink(self, request: Row) -> str:
        answer = await self.call("chat.getPermalink", self.client.chat_getPermalink,
                                 request["id"], channel=request["approvals_channel"],
                                 message_ts=request["thread_ts"])
        return answer["permalink"] if answer else f"<#{request['approvals_channel']}>"

    async def refresh_identity(self) -> bool:
        """auth.test, in the background (at start, and again until it answers): who the
        bot is and the workspace URL, so nothing answered while Slack waits calls Slack."""
        answer = await self.call("auth.test", self.client.auth_test)
        if answer is None:
            return self.identity is not None
        self.identity = Identity.of(answer)
        return True

    async def linker(self) -> Link:
        """Thread links built from the workspace URL known from auth.test; without it
        (Slack not reached yet), the channel. Never calls Slack: it serves the ack path."""
        base = self.identity.url if self.identity else ""
        word = t("history.thread", self.lang)

        def link(request: Row) -> str:
            channel, ts = request.get("approvals_channel"), request.get("thread_ts")
            if base and channel and ts:
                return f"<{base}archives/{channel}/p{ts.replace('.', '')}|{word}>"
            return f"<#{channel}>" if channel else "—"
        return link

    async def tell_admins(self, text: str, action: str | None = None) -> None:
        """A message to ADMIN_CHANNEL (when set); `action` also records it in the audit log."""
        if action:
            await self.audit(SYSTEM, action, details={"text": text})
        if self.settings.admin_channel:
            await self.call("chat.postMessage:admin", self.client.chat_postMessage,
                            channel=self.settings.admin_channel, **self.msg(text))

    async def alert_admin(self, code: str, request_id: int | None, text: str) -> None:
        """Credential, contract and Slack setup problems reach the operators, at most
        hourly per code."""
        channel = self.settings.admin_channel
        last = self._alerted.get(code)
        if not channel or (last is not None and time.monotonic() - last < ADMIN_ALERT_EVERY_S):
            return
        self._alerted[code] = time.monotonic()
        await self.audit(SYSTEM, "admin_alerted", request_id=request_id, details={"code": code})
        await self.tell_admins(text)
