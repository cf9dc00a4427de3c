"""The request card and its thread: replies, card updates and acuse uploads owed by
transitions, each done until Slack accepts it, and replies and uploads exactly once.

Every transition queues its reply in the outbox and marks the card changed in the same
transaction. `flush` posts what is owed (one reply per request, in as many messages as
Slack's 50 blocks need), marks it posted with Slack's ts, uploads the acuses owed, and
updates every card that changed. A reply (or an upload) is marked "attempted" before it is
sent, and carries the outbox ids and its part number in its metadata (an upload, its file
name), so after a crash the thread is read first and nothing is posted twice. A card is
re-rendered from the database, so updating it again is harmless: a refused chat.update
stays owed until a later flush is accepted.

Why this module is long: replies, their parts, uploads and the card each need the same
"attempt, look in the thread after a crash, record once" steps, kept side by side here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.actors import SYSTEM
from bot.config import Settings
from bot.i18n import code_text, t
from bot.runtime.faults import crash_point
from bot.slack.io import SlackIO
from bot.slack.mrkdwn import escape
from bot.slack.render import card, large, replies
from storage import queries
from storage.domain import Row
from storage.states import ReplyKind as Reply
from storage.store import AuditStore
from storage.tx import Tx

log = logging.getLogger(__name__)

REPLY_EVENT = "cfdi_bot_reply"  # message metadata naming the outbox entries of a reply
_ALERT_CLASSES = {"credentials", "configuration"}
HEAVY_PAYLOAD_CHARS = 100_000  # a reply's stored lines (an OUTCOMES of ~500 invoices)


class Outbox:
    """Posts what transitions owe Slack (card, thread replies, acuses) exactly once."""

    def __init__(self, settings: Settings, store: AuditStore, io: SlackIO,
                 after_posting: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.io = io
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self.client = io.client
        self._flush_lock = asyncio.Lock()
        self.after_posting = after_posting  # the App Homes follow the changes

    async def flush(self) -> None:
        """Post the thread replies owed (queued with their transitions), one reply per
        request, upload the acuses owed, and bring every changed card up to date. Never two
        flushes at once; what Slack refuses stays owed for the next flush."""
        async with self._flush_lock:
            for request in queries.cards_missing(self.store):
                await self._post_card(request["id"])  # Slack refused it before: try again
            owed: dict[int, list[Row]] = {}
            for entry in await queries.unposted_off_loop(self.store):
                owed.setdefault(entry["request_id"], []).append(entry)
            for request_id, entries in owed.items():
                await self._guarded("post the replies owed to", request_id,
                                    self._post_owed(request_id, entries))
            for request_id in queries.requests_with_uploads_owed(self.store):
                await self._guarded("upload the acuses owed to", request_id,
                                    self._upload_owed(request_id))
            for request in queries.cards_owed(self.store):
                await self._guarded("update the card of", request["id"],
                                    self.update_card(request["id"]))
        if owed and self.after_posting is not None:
            await self.after_posting()

    async def _guarded(self, what: str, request_id: int, work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception:  # one bad request must not hold back the others
            log.exception("could not %s request %d", what, request_id)

    async def _post_owed(self, request_id: int, entries: list[Row]) -> None:
        request = queries.get_request(self.store, request_id)
        if not request["thread_ts"]:
            request = await self._post_card(request_id)  # the card failed before: try again
            if not request["thread_ts"]:
                return
        if any(e["attempted_at"] for e in entries):
            # A previous process (or flush) may have posted these, or some of their parts.
            found = await self._already_posted(request, [e["id"] for e in entries])
            if found is None:
                return  # the thread cannot be read now: still owed, looked at next time
            for (ids, parts), posted in found.items():
                group = [e for e in entries if e["id"] in ids]
                if len(posted) >= parts:
                    await self._mark_posted(request, group, [posted[n] for n in sorted(posted)])
                else:
                    await self._post_parts(request, group, posted)
            done = {i for ids, _ in found for i in ids}
            entries = [e for e in entries if e["id"] not in done]
        if entries:
            await self._post_parts(request, entries, {})

    async def _post_parts(self, request: Row, entries: list[Row], posted: dict[int, str]
                          ) -> None:
        """Post the parts of one reply not yet in the thread; mark the entries posted once
        every part is out."""
        ids = [e["id"] for e in entries]
        await self.store.write(lambda tx: tx.outbox_attempted(ids), off_loop=self._heavy(entries))
        def render() -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
            kinds = _kinds(entries)
            return kinds, replies.thread_reply(
                request, kinds, lang=self.lang, sandbox=self.sandbox,
                provider=self.settings.cfdi_provider, large_at=self.settings.large_request_at)

        # A large request's replies (thousands of lines to read and count) are made in a
        # worker thread: on the loop they held everyone's answers ~100 ms.
        kinds, payloads = await asyncio.to_thread(render) if self._heavy(entries) else render()
        parts = dict(posted)
        for number, payload in enumerate(payloads, start=1):
            if number in parts:
                continue
            answer = await self.io.call(
                "chat.postMessage", self.client.chat_postMessage, request["id"],
                channel=request["approvals_channel"], thread_ts=request["thread_ts"],
                metadata={"event_type": REPLY_EVENT, "event_payload": {
                    "outbox": ids, "part": number, "parts": len(payloads)}}, **payload)
            if answer is None:
                return  # Slack refused or is down: still owed, the rest at the next flush
            parts[number] = str(answer["ts"])
            if number < len(payloads):
                crash_point("between_parts")
        crash_point("after_post")
        await self._mark_posted(request, entries, [parts[n] for n in sorted(parts)], kinds)
        for kind, data in kinds:
            if kind == Reply.FAILED and data.get("class") in _ALERT_CLASSES:
                code = data.get("code") or "?"
                await self.io.alert_admin(code, request["id"], t(
                    "admin.alert", self.lang, code=escape(code), id=request["id"],
                    text=code_text(data.get("code"), self.lang, data.get("message"),
                                   self.settings.cfdi_provider)))

    async def _mark_posted(self, request: Row, entries: list[Row], parts: list[str],
                           kinds: list[tuple[str, Any]] | None = None) -> None:
        """Record the reply as posted (its first message's ts); a reply of outcomes or changes
        makes the request's new acuses owed to the thread, in the same transaction."""
        ids = [e["id"] for e in entries]
        changes = await self._changes_csv(request, entries, kinds)
        def write(tx: Tx) -> None:
            tx.outbox_posted(ids, parts[0])
            if changes is not None:  # the reply summarised them: their CSV is owed with it
                tx.owe_file(request["id"], large.changes_filename(request["id"], min(ids)),
                            changes, t("large.changes_title", self.lang, id=request["id"]))
            details: dict[str, Any] = {"ts": parts[0], "kinds": [e["kind"] for e in entries],
                                       "outbox": ids}
            if len(parts) > 1:
                details["parts"] = parts
            tx.record(SYSTEM, "thread_reply", request_id=request["id"], details=details)
            # An acuse may first come with the watcher's answer (a cancellation the
            # receiver accepted later): a reply of changes owes it as well.
            if any(e["kind"] in (Reply.OUTCOMES, Reply.RESOLVED) for e in entries):
                tx.owe_acuses(request["id"])

        # A large reply's thousands of ids and its CSV are written off the loop.
        await self.store.write(write, off_loop=self._heavy(entries))

    async def _changes_csv(self, request: Row, entries: list[Row],
                           kinds: list[tuple[str, Any]] | None) -> str | None:
        """The CSV of the invoices a summarised reply is about (None: it lists them all),
        written in a worker thread (thousands of rows). `kinds`: the entries as the reply
        read them (None: read here)."""
        def changed() -> list[Any]:
            return replies.changed_lines(kinds if kinds is not None else _kinds(entries))

        lines = await asyncio.to_thread(changed) if self._heavy(entries) else changed()
        if not large.is_large(len(lines), self.settings.large_request_at):
            return None
        invoices = await queries.request_invoices_off_loop(self.store, request["id"])
        return await asyncio.to_thread(large.changes_csv, request, lines, invoices,
                                       self.lang)

    def _heavy(self, entries: list[Row]) -> bool:
        """Replies about a large request's invoices: read in a worker thread."""
        return len(entries) >= self.settings.large_request_at or \
            sum(len(e["payload"] or "") for e in entries) > HEAVY_PAYLOAD_CHARS

    async def share_list(self, request_id: int) -> None:
        """A large request's full list, as a CSV in its thread, once (after its facts were
        looked up, so that it says who, how much and what the SAT says)."""
        request = queries.get_request(self.store, request_id)
        name = large.list_filename(request_id)
        if request is None or queries.has_upload(self.store, request_id, name):
            return
        invoices = await queries.request_invoices_off_loop(self.store, request_id)
        if not large.is_large(len(invoices), self.settings.large_request_at):
            return
        content = await asyncio.to_thread(large.invoices_csv, request, invoices, self.lang)
        async with self.store.writing() as tx:
            tx.owe_file(request_id, name, content,
                        t("large.list_title", self.lang, id=request_id))
        async with self._flush_lock:
            await self._guarded("upload the list of", request_id,
                                self._upload_owed(request_id))

    async def _thread(self, request: Row) -> list[dict[str, Any]] | None:
        """Every message of the request's thread with its metadata, or None when Slack
        could not be read."""
        messages: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.io.call(
                "conversations.replies", self.client.conversations_replies, request["id"],
                channel=request["approvals_channel"], ts=request["thread_ts"],
                include_all_metadata=True, limit=200, cursor=cursor)
            if page is None:
                return None
            messages += page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return messages

    async def _already_posted(self, request: Row, ids: list[int]
                              ) -> dict[tuple[frozenset[int], int], dict[int, str]] | None:
        """Our reply messages in the thread that carry any of these outbox ids, by reply
        (its outbox ids, how many parts): {part number: ts}. None: the thread is unreadable."""
        messages = await self._thread(request)
        if messages is None:
            return None
        found: dict[tuple[frozenset[int], int], dict[int, str]] = {}
        for message in messages:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") != REPLY_EVENT:
                continue
            payload = metadata.get("event_payload") or {}
            theirs = frozenset(int(i) for i in payload.get("outbox", []))
            if theirs & set(ids):
                parts = found.setdefault((theirs, int(payload.get("parts", 1))), {})
                parts.setdefault(int(payload.get("part", 1)), str(message["ts"]))
        return found

    # -- the acuses ----------------------------------------------------------------------

    async def _upload_owed(self, request_id: int) -> None:
        """Share each acuse owed to the thread, once: one attempted before (a crash, or an
        answer lost) is looked for in the thread first."""
        request = queries.get_request(self.store, request_id)
        if request is None or not request["thread_ts"]:
            return
        for upload in await queries.uploads_owed_off_loop(self.store, request_id):
            if upload["attempted_at"]:
                messages = await self._thread(request)
                if messages is None:
                    return  # cannot tell whether it is there: still owed
                file_id = next((f.get("id") for m in messages for f in m.get("files") or []
                                if f.get("name") == upload["filename"]), None)
                if file_id:
                    await self._mark_uploaded(request, upload, str(file_id),
                                              found=True)
                    continue
            async with self.store.writing() as tx:
                tx.upload_attempted(upload["id"])
            uploaded = await self.io.call(
                "files.uploadV2", self.client.files_upload_v2, request_id,
                channel=request["approvals_channel"], thread_ts=request["thread_ts"],
                content=upload["acuse"], filename=upload["filename"],
                title=upload["title"] or t("reply.acuse", self.lang, id=request_id))
            if uploaded is None:
                return  # still owed: uploaded at a later flush
            crash_point("after_upload")
            await self._mark_uploaded(request, upload,
                                str((uploaded.get("file") or {}).get("id") or ""))

    async def _mark_uploaded(self, request: Row, upload: Row, file_id: str, *,
                       found: bool = False) -> None:
        async with self.store.writing() as tx:
            tx.upload_done(upload["id"], file_id)
            details = {"file": file_id, "filename": upload["filename"]}
            action = "acuse_uploaded" if upload.get("content") is None else "csv_uploaded"
            tx.record(SYSTEM, action, request_id=request["id"],
                      details={**details, "found_in_thread": True} if found else details)

    # -- the request card ----------------------------------------------------------------

    async def card(self, request_id: int) -> tuple[Row, dict[str, Any]]:
        """The card rendered from the database. A large request's (thousands of invoices to
        count and add up: tens of ms) is rendered in a worker thread, so the loop keeps
        answering Slack meanwhile; its rows are read in a worker thread too."""
        request = queries.get_request(self.store, request_id)
        assert request is not None
        invoices = await queries.request_invoices_off_loop(self.store, request_id)
        decisions = queries.decisions(self.store, request_id)
        render = functools.partial(
            card.request_card, request, invoices, decisions, lang=self.lang,
            sandbox=self.sandbox, ttl_h=self.settings.approval_ttl_h,
            deadline=self.settings.cancel_deadline, zone=self.settings.zone,
            large_at=self.settings.large_request_at)
        if large.is_large(len(invoices), self.settings.large_request_at):
            return request, await asyncio.to_thread(render)
        return request, render()

    async def post_card(self, request_id: int) -> Row:
        """Post a new request's card. Under the flush lock: a flush running meanwhile would
        otherwise see the card missing and post it a second time."""
        async with self._flush_lock:
            return await self._post_card(request_id)

    async def _post_card(self, request_id: int) -> Row:
        request, payload = await self.card(request_id)
        if request["thread_ts"]:
            return request  # posted meanwhile
        posted = await self.io.call("chat.postMessage", self.client.chat_postMessage,
                                    request_id, channel=request["approvals_channel"], **payload)
        if posted is not None:
            async with self.store.writing() as tx:
                tx.set_fields("request", request_id, {"thread_ts": posted["ts"]})
                tx.card_shown(request_id, request["card_version"])
                tx.record(SYSTEM, "card_posted", request_id=request_id,
                          details={"channel": request["approvals_channel"], "ts": posted["ts"]})
        return queries.get_request(self.store, request_id) or request

    async def update_card(self, request_id: int) -> None:
        """Render the card again from the database; owed again if Slack refuses it."""
        request, payload = await self.card(request_id)  # the version is read before the rest
        if request["thread_ts"]:
            updated = await self.io.call("chat.update", self.client.chat_update, request_id,
                                         channel=request["approvals_channel"],
                                         ts=request["thread_ts"], **payload)
            if updated is not None:
                async with self.store.writing() as tx:
                    tx.card_shown(request_id, request["card_version"])


def _kinds(entries: list[Row]) -> list[tuple[str, Any]]:
    """Outbox entries as the renderer reads them: (kind, payload)."""
    return [(e["kind"], json.loads(e["payload"])) for e in entries]
