"""A stand-in for Slack's Web API: a real HTTP server that records every call, checks it
against Slack's documented limits, and answers errors or 429 on demand.

It knows the channels, users and user groups it was given, issues trigger ids (usable once,
within 3 s), keeps messages with their threads, opened views and uploaded files, so that
tests and the demo can read back what each person would see.

Why this module is long: it imitates every Web API method the bot calls, each checked
against Slack's own limits.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from bot.runtime.startup import BOT_SCOPES
from bot.sandbox.block_kit import MESSAGE_TEXT, message_problems
from bot.sandbox.serving import BackgroundServer, QuietHandler
from bot.sandbox.slack_files import FilesApi
from bot.sandbox.slack_records import (
    APP_TOKEN_METHODS,
    BOT_USER,
    FILES_PATH,
    HISTORY_MAX,
    SCOPE_OF,
    TEAM,
    Call,
    Injected,
    Message,
    SlackError,
    form_fields,
)
from bot.sandbox.slack_views import ViewsApi

log = logging.getLogger(__name__)


class SlackStandIn(ViewsApi, FilesApi, BackgroundServer):
    """Slack's Web API as the bot meets it: every method it calls, with Slack's answers."""

    def __init__(self, *, token: str, channels: dict[str, str], users: dict[str, str],
                 groups: dict[str, list[str]] | None = None, host: str = "127.0.0.1",
                 port: int = 0, app_token: str | None = None,
                 scopes: Sequence[str] = BOT_SCOPES, outside: Sequence[str] = (),
                 paid_plan: bool = True, socket_url: str = "wss://127.0.0.1:9/link") -> None:
        self.token = token
        self.app_token = app_token              # xapp-…: Socket Mode's apps.connections.open
        self.scopes = list(scopes)              # granted at install: x-oauth-scopes
        self.channels = dict(channels)          # id -> name
        self.outside = set(outside)             # channels that exist without the bot in them
        self.users = dict(users)                # id -> display name
        self.groups = dict(groups or {})        # S… -> member ids
        self.paid_plan = paid_plan              # user groups need a paid plan
        self.socket_url = socket_url
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}     # user -> the Home tab last published
        self.uploads: dict[str, dict[str, Any]] = {}
        self.shared: dict[str, tuple[dict[str, Any], bytes]] = {}  # files people attached
        self.closed: set[str] = set()           # views the person's answer closed
        self.file_delay_s = 0.0                 # a slow file download (tests)
        self._triggers: dict[str, float] = {}
        self._failures: dict[str, Injected] = {}
        self.connections = 0                    # TCP connections opened by clients
        self._ids = itertools.count(1)
        self._clock = time.time()
        self._lock = threading.RLock()
        super().__init__(self._handler(), host, port)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    # -- what tests and the driver use ----------------------------------------------------

    def issue_trigger(self) -> str:
        with self._lock:
            trigger = f"{next(self._ids)}.{int(time.time())}.sandbox"
            self._triggers[trigger] = time.monotonic()
            return trigger

    def fail(self, method: str, error: str, *, status: int = 200, retry_after: int | None = None,
             times: int = 1) -> None:
        """The next `times` calls of `method` answer `error` (429 with Retry-After for
        `ratelimited`)."""
        if error == "ratelimited":
            status = 429
        self._failures[method] = Injected(error, status, retry_after, times)

    def connections_per_call(self) -> float:
        """TCP connections clients opened, per Web API call answered."""
        with self._lock:
            return self.connections / max(len(self.calls), 1)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message:
        return next(m for m in self.messages if m.channel == channel and m.ts == ts)

    def dms(self, user: str) -> list[Message]:
        return [m for m in self.messages if m.channel == f"D{user}"]

    # -- the API ---------------------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        with self._lock:
            call = Call(method, params, time.time())
            self.calls.append(call)
            try:
                injected = self._failures.get(method)
                if injected and injected.times > 0:
                    injected.times -= 1
                    raise SlackError(injected.error, injected.status, injected.retry_after)
                answer = getattr(self, "_" + method.replace(".", "_"), None)
                if answer is None:
                    raise SlackError("unknown_method")
                self._authorize(method, params, token)
                return {"ok": True, **answer(params)}
            except SlackError as exc:
                call.error = exc.error
                raise

    def _authorize(self, method: str, params: dict[str, Any], token: str | None) -> None:
        """As Slack does: the right kind of token, then the scope the method needs."""
        if method in APP_TOKEN_METHODS:
            if token == self.token:
                raise SlackError("not_allowed_token_type")
            if not token or token != self.app_token:
                raise SlackError("invalid_auth")
            return
        if token == self.app_token and token:
            raise SlackError("not_allowed_token_type")
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")
        needed = SCOPE_OF.get(method, ())
        if len(needed) > 1:  # by the conversation's kind: C…, G…, D…
            kind = str(params.get("channel") or "C")[:1]
            needed = (needed[{"C": 0, "G": 1, "D": 2}.get(kind, 0)],)
        missing = [scope for scope in needed if scope not in self.scopes]
        if missing:
            raise SlackError("missing_scope", extra={"needed": ",".join(missing),
                                                     "provided": ",".join(self.scopes)})

    def _ts(self) -> str:
        self._clock = max(self._clock + 0.000100, time.time())
        return f"{self._clock:.6f}"

    def _channel(self, params: dict[str, Any], key: str = "channel") -> str:
        channel = params.get(key)
        if not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("D") and channel[1:] in self.users:
            return str(channel)
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        return str(channel)

    def _member_of(self, params: dict[str, Any], key: str = "channel") -> str:
        """A channel the bot may write in: a private one it is not in does not exist for it."""
        channel = self._channel(params, key)
        if channel in self.outside:
            raise SlackError("channel_not_found" if channel.startswith("G") else
                             "not_in_channel")
        return channel

    def _check(self, problems: list[str], error: str = "invalid_blocks") -> None:
        """Refused as Slack refuses what breaks its Block Kit limits (bot.sandbox.block_kit)."""
        if problems:
            log.warning("slack stand-in: %s: %s", error, "; ".join(problems[:5]))
            raise SlackError(error)

    def _blocks(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        text = params.get("text") or ""
        if len(text) > MESSAGE_TEXT or (not text and not blocks):
            raise SlackError("no_text" if not text else "msg_too_long")
        self._check(message_problems({"text": text, "blocks": blocks}))
        return list(blocks)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": BOT_USER, "team_id": TEAM, "bot_id": "B0BOTSANDBOX",
                "url": "https://sandbox.slack.example/"}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_of(params)
        blocks = self._blocks(params)
        thread_ts = params.get("thread_ts")
        if thread_ts and not any(m.channel == channel and m.ts == thread_ts
                                 for m in self.messages):
            raise SlackError("thread_not_found")
        metadata = params.get("metadata")
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        message = Message(channel, self._ts(), params.get("text") or "", blocks, thread_ts,
                          metadata=metadata)
        self.messages.append(message)
        return {"channel": channel, "ts": message.ts,
                "message": {"text": message.text, "ts": message.ts}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_of(params)
        blocks = self._blocks(params)
        try:
            message = self.message(channel, params.get("ts", ""))
        except StopIteration:
            raise SlackError("message_not_found") from None
        message.text, message.blocks, message.edits = params.get("text") or "", blocks, \
            message.edits + 1
        return {"channel": channel, "ts": message.ts}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_of(params)
        self._blocks(params)
        if params.get("user") not in self.users:
            raise SlackError("user_not_found")
        self.ephemerals.append({**params, "channel": channel})
        return {"message_ts": self._ts()}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        ts = str(params.get("message_ts", ""))
        return {"channel": channel, "permalink":
                f"https://sandbox.slack.example/archives/{channel}/p{ts.replace('.', '')}"}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """The thread root and its replies, oldest first; metadata only when asked for."""
        channel = self._channel(params)
        root = str(params.get("ts", ""))
        if not any(m.channel == channel and m.ts == root for m in self.messages):
            raise SlackError("thread_not_found")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        thread = [m for m in self.messages if m.channel == channel and
                  (m.ts == root or m.thread_ts == root)]
        messages = [
            {"ts": m.ts, "text": m.text, "thread_ts": root, "user": m.user,
             **({"metadata": m.metadata} if with_metadata and m.metadata else {})}
            for m in thread]
        # A file shared in the thread is a message of the thread carrying the file.
        messages += [{"ts": u["ts"], "text": "", "thread_ts": root, "user": BOT_USER,
                      "upload": True, "files": [{"id": file_id, "name": u["filename"],
                                                 "title": u.get("title")}]}
                     for file_id, u in self.uploads.items()
                     if u.get("channel") == channel and u.get("thread_ts") == root]
        messages.sort(key=lambda m: float(m["ts"]))
        return {"messages": messages, "has_more": False,
                "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """A channel's messages, newest first, without thread replies; `limit` per page
        (Slack: at most 999), the next page named by an opaque cursor (`next_ts:<ts>` in
        base64, as Slack's are); metadata only when asked for. The bot must be a member."""
        channel = self._member_of(params)
        limit = max(1, min(int(params.get("limit") or 100), HISTORY_MAX))
        start = None
        if params.get("cursor"):
            try:
                start = base64.b64decode(str(params["cursor"])).decode().removeprefix("next_ts:")
                float(start)
            except (ValueError, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = sorted((m for m in self.messages if m.channel == channel and m.thread_ts is None
                        and (start is None or float(m.ts) <= float(start))),
                       key=lambda m: float(m.ts), reverse=True)
        page, rest = shown[:limit], shown[limit:]
        messages = [{"type": "message", "user": m.user, "text": m.text, "ts": m.ts,
                     **({"bot_id": "B0BOTSANDBOX"} if m.user == BOT_USER else {}),
                     **({"metadata": m.metadata} if with_metadata and m.metadata else {})}
                    for m in page]
        cursor = base64.b64encode(f"next_ts:{rest[0].ts}".encode()).decode() if rest else ""
        return {"messages": messages, "has_more": bool(rest), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("users", ""))
        if user not in self.users:
            raise SlackError("user_not_found")
        return {"channel": {"id": f"D{user}"}}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.socket_url}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """The conversation object, with `is_member` for the calling bot; a private channel
        the bot is not in is `channel_not_found`, as in Slack."""
        channel = self._channel(params)
        if channel.startswith("G") and channel in self.outside:
            raise SlackError("channel_not_found")
        return {"channel": {"id": channel, "name": self.channels.get(channel, channel),
                            "is_channel": channel.startswith("C"),
                            "is_private": channel.startswith("G"),
                            "is_archived": False, "is_member": channel not in self.outside}}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.paid_plan:
            raise SlackError("plan_upgrade_required")
        group = params.get("usergroup")
        if group not in self.groups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.groups[group])}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user")
        if user not in self.users:
            raise SlackError("user_not_found")
        return {"user": {"id": user, "name": self.users[user],
                         "profile": {"display_name": self.users[user]}}}


    # -- HTTP ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class SlackStandInHandler(QuietHandler):
            """The Slack stand-in's HTTP handler: Web API methods and file downloads."""

            def setup(self) -> None:
                # One handler per connection (kept alive across its requests): counted, to
                # tell connection reuse from a new connection per call.
                super().setup()
                with stand_in._lock:
                    stand_in.connections += 1

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path.startswith(FILES_PATH):
                    auth = self.headers.get("Authorization") or ""
                    token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") \
                        else None
                    self.reply(*stand_in.download(path, token))
                    return
                self._api(form_fields(urlsplit(self.path).query))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                if path.startswith("/upload/"):
                    upload = stand_in.uploads.get(path.rsplit("/", 1)[-1])
                    if upload is not None:
                        upload["content"] = body
                    self._send(200 if upload is not None else 404, {"ok": upload is not None})
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(body or b"{}")
                else:
                    params = form_fields(body.decode())
                self._api({**form_fields(urlsplit(self.path).query), **params})

            def _api(self, params: dict[str, Any]) -> None:
                method = urlsplit(self.path).path.removeprefix("/api/")
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ") or params.pop("token", None)
                # Every Web API answer lists the scopes the token was granted.
                scopes = {"x-oauth-scopes": ",".join(stand_in.scopes)} \
                    if token == stand_in.token else {}
                try:
                    self._send(200, stand_in.handle(method, params, token), scopes)
                except SlackError as exc:
                    headers = {"Retry-After": str(exc.retry_after or 1)} \
                        if exc.status == 429 else {}
                    self._send(exc.status, {"ok": False, "error": exc.error, **exc.extra},
                               {**headers, **scopes})

            def _send(self, status: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                self.reply(status, "application/json; charset=utf-8",
                           json.dumps(payload).encode(), headers)

        return SlackStandInHandler
