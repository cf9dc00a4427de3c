"""What the Slack stand-in keeps and answers with: its names, the calls it recorded, the
messages it holds, the errors it answers (as Slack spells them)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

BOT_USER = "U0BOTSANDBOX"
TEAM = "T0SANDBOX"
TRIGGER_TTL_S = 3.0
HISTORY_MAX = 999  # conversations.history's largest `limit`
# The bot scope each method needs (Slack's method reference), by the conversation's kind
# where it depends on it: C… public, G… private, D… direct.
SCOPE_OF: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",), "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",), "conversations.open": ("im:write",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "conversations.replies": ("channels:history", "groups:history", "im:history"),
    "conversations.history": ("channels:history", "groups:history", "im:history"),
    "conversations.info": ("channels:read", "groups:read", "im:read"),
    # Not a method: a file's url_private, downloaded with the token (the file object's docs).
    "url_private": ("files:read",),
}


APP_TOKEN_METHODS = {"apps.connections.open"}
FILES_PATH = "/files-pri/"
# What Slack answers a file download without a valid token, or with one lacking files:read:
# its sign-in page, with 200 (not 401), so a client must notice it got no file.
SIGN_IN_PAGE = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Slack</title></head><body>"
                b"<h1>Sign in to your workspace</h1></body></html>")


def form_fields(encoded: str) -> dict[str, Any]:
    """Form or query parameters, one value each (as Slack's Web API reads them)."""
    return {key: values[-1] for key, values in parse_qs(encoded).items()}


class SlackError(Exception):
    """An error the Slack stand-in answers, as Slack spells it."""

    def __init__(self, error: str, status: int = 200, retry_after: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.retry_after = error, status, retry_after
        self.extra = extra or {}


@dataclass
class Call:
    """One Web API call the Slack stand-in received, and the error it answered, if any."""

    method: str
    params: dict[str, Any]
    at: float
    error: str | None = None


@dataclass
class Message:
    """A message the Slack stand-in holds: channel, ts, text, blocks, thread."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER
    edits: int = 0
    metadata: dict[str, Any] | None = None


@dataclass
class Injected:
    """A failure a test asked the Slack stand-in to answer the next times a method is called."""

    error: str
    status: int
    retry_after: int | None
    times: int


class StandInHost:
    """What the Slack stand-in's method groups (ViewsApi, FilesApi) use of SlackStandIn: its
    state and its helpers, which SlackStandIn defines."""

    views: dict[str, dict[str, Any]]
    homes: dict[str, dict[str, Any]]
    uploads: dict[str, dict[str, Any]]
    shared: dict[str, tuple[dict[str, Any], bytes]]
    closed: set[str]
    users: dict[str, str]
    calls: list[Call]
    token: str
    scopes: list[str]
    file_delay_s: float
    base_url: str
    _triggers: dict[str, float]
    _ids: itertools.count[int]
    _lock: threading.RLock

    def _check(self, problems: list[str], error: str = "invalid_blocks") -> None: ...
    def _member_of(self, params: dict[str, Any], key: str = "channel") -> str: ...
    def _ts(self) -> str: ...
