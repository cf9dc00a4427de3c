"""The request card and its thread: replies owed by transitions, posted exactly once.

Every transition queues its reply in the outbox in the same transaction. `flush` posts
what is owed (one message per request), marks it posted with Slack's ts, and brings the
card up to date. A reply is marked "attempted" before posting and carries the outbox ids in
its metadata, so after a crash the thread is read first and nothing is posted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot import blocks
from bot.actors import SYSTEM
from bot.config import Settings
from bot.faults import crash_point
from bot.i18n import code_text, t
from bot.mrkdwn import escape
from bot.slack_io import SlackIO
from storage import queries
from storage.domain import Row
from storage.states import ReplyKind as Reply
from storage.store import AuditStore

log = logging.getLogger(__name__)

REPLY_EVENT = "cfdi_bot_reply"  # message metadata naming the outbox entries of a reply
_ALERT_CLASSES = {"credentials", "configuration"}


class Outbox:
    def __init__(self, settings: Settings, store: AuditStore, io: SlackIO) -> None:
        self.settings = settings
        self.store = store
        self.io = io
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self.client = io.client
        self._flush_lock = asyncio.Lock()
        # Called after replies were posted (the App Homes follow the changes).
        self.after_posting: Callable[[], Awaitable[None]] | None = None

    async def flush(self) -> None:
        """Post the thread replies owed (queued with their transitions), one message per
        request, and bring the cards up to date. Never two flushes at once."""
        async with self._flush_lock:
            for request in queries.cards_missing(self.store):
                await self.post_card(request["id"])  # Slack refused it before: try again
            owed: dict[int, list[Row]] = {}
            for entry in queries.unposted(self.store):
                owed.setdefault(entry["request_id"], []).append(entry)
            for request_id, entries in owed.items():
                try:
                    await self._post_owed(request_id, entries)
                    await self.update_card(request_id)
                except Exception:  # one bad request must not hold back the others' replies
                    log.exception("could not post the replies owed to request %d", request_id)
        if owed and self.after_posting is not None:
            await self.after_posting()

    async def _post_owed(self, request_id: int, entries: list[Row]) -> None:
        request = queries.get_request(self.store, request_id)
        if not request["thread_ts"]:
            request = await self.post_card(request_id)  # the card failed before: try again
            if not request["thread_ts"]:
                return
        if any(e["attempted_at"] for e in entries):
            # A previous process may have posted these and died before recording it.
            found = await self._already_posted(request, [e["id"] for e in entries])
            for ts, ids in found.items():
                self._mark_posted(request, [e for e in entries if e["id"] in ids], ts)
            entries = [e for e in entries if not any(e["id"] in ids for ids in found.values())]
            if not entries:
                return
        ids = [e["id"] for e in entries]
        with self.store.transaction() as tx:
            tx.outbox_attempted(ids)
        kinds = [(e["kind"], json.loads(e["payload"])) for e in entries]
        payload = blocks.thread_reply(request, kinds, lang=self.lang, sandbox=self.sandbox)
        posted = await self.io.call(
            "chat.postMessage", self.client.chat_postMessage, request_id,
            channel=request["approvals_channel"], thread_ts=request["thread_ts"],
            metadata={"event_type": REPLY_EVENT, "event_payload": {"outbox": ids}}, **payload)
        if posted is None:
            return  # Slack refused or is down: still owed, tried again at the next flush
        crash_point("after_post")
        self._mark_posted(request, entries, str(posted["ts"]))
        for kind, data in kinds:
            if kind == Reply.OUTCOMES:
                await self.upload_acuses(request)
            if kind == Reply.FAILED and data.get("class") in _ALERT_CLASSES:
                code = data.get("code") or "?"
                await self.io.alert_admin(code, request_id, t(
                    "admin.alert", self.lang, code=escape(code), id=request_id,
                    text=code_text(data.get("code"), self.lang, data.get("message"))))

    def _mark_posted(self, request: Row, entries: list[Row], ts: str) -> None:
        ids = [e["id"] for e in entries]
        with self.store.transaction() as tx:
            tx.outbox_posted(ids, ts)
            tx.record(SYSTEM, "thread_reply", request_id=request["id"], details={
                "ts": ts, "kinds": [e["kind"] for e in entries], "outbox": ids})

    async def _already_posted(self, request: Row, ids: list[int]) -> dict[str, set[int]]:
        """Our replies in the thread that carry any of these outbox ids: {ts: ids}."""
        found: dict[str, set[int]] = {}
        cursor = None
        while True:
            page = await self.io.call(
                "conversations.replies", self.client.conversations_replies, request["id"],
                channel=request["approvals_channel"], ts=request["thread_ts"],
                include_all_metadata=True, limit=200, cursor=cursor)
            if page is None:
                return found
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == REPLY_EVENT:
                    mine = set(metadata.get("event_payload", {}).get("outbox", [])) & set(ids)
                    if mine:
                        found[message["ts"]] = mine
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    # -- the request card ----------------------------------------------------------------

    def card(self, request_id: int) -> tuple[Row, dict[str, Any]]:
        request = queries.get_request(self.store, request_id)
        assert request is not None
        invoices = queries.request_invoices(self.store, request_id)
        decisions = queries.decisions(self.store, request_id)
        return request, blocks.request_card(request, invoices, decisions, lang=self.lang,
                                            sandbox=self.sandbox,
                                            ttl_h=self.settings.approval_ttl_h)

    async def post_card(self, request_id: int) -> Row:
        request, payload = self.card(request_id)
        posted = await self.io.call("chat.postMessage", self.client.chat_postMessage,
                                    request_id, channel=request["approvals_channel"], **payload)
        if posted is not None:
            with self.store.transaction() as tx:
                tx.set_fields("request", request_id, {"thread_ts": posted["ts"]})
                tx.record(SYSTEM, "card_posted", request_id=request_id,
                          details={"channel": request["approvals_channel"], "ts": posted["ts"]})
        return queries.get_request(self.store, request_id) or request

    async def update_card(self, request_id: int) -> None:
        request, payload = self.card(request_id)
        if request["thread_ts"]:
            await self.io.call("chat.update", self.client.chat_update, request_id,
                               channel=request["approvals_channel"], ts=request["thread_ts"],
                               **payload)

    async def upload_acuses(self, request: Row) -> None:
        invoices = queries.request_invoices(self.store, request["id"])
        acuses = list(dict.fromkeys(i["acuse"] for i in invoices if i["acuse"]))
        for number, acuse in enumerate(acuses, start=1):
            suffix = f"-{number}" if len(acuses) > 1 else ""
            uploaded = await self.io.call(
                "files.uploadV2", self.client.files_upload_v2, request["id"],
                channel=request["approvals_channel"], thread_ts=request["thread_ts"],
                content=acuse, filename=f"acuse-solicitud-{request['id']}{suffix}.xml",
                title=t("reply.acuse", self.lang, id=request["id"]))
            if uploaded is not None:
                self.store.record(SYSTEM, "acuse_uploaded", request_id=request["id"],
                                  details={"file": (uploaded.get("file") or {}).get("id")})
