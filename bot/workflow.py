"""What the bot does in Slack around the use cases: cards, thread replies, DMs, alerts.

Handlers call these after they have acknowledged Slack; slow work (the provider) runs in
background tasks started here. Every Slack call goes through `_slack`, which logs and
audits a failure instead of raising: the database already holds the truth, and a missed
post is visible in the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, reports
from bot.approvers import Directory
from bot.cancellation import (
    approve,
    create_cancel_request,
    create_send_request,
    expire_overdue,
    outcome_line,
    reject,
    run_submission,
    submit,
)
from bot.config import Settings
from bot.faults import crash_point
from bot.i18n import code_text, t
from bot.mrkdwn import escape, mention
from bot.pac.client import PacClient
from bot.pac.models import SendRequest
from bot.validation import CancelForm, parse_line
from storage import queries
from storage.store import SYSTEM, Actor, AuditStore, DuplicateRequest, Row, StaleState

log = logging.getLogger(__name__)

ADMIN_ALERT_EVERY_S = 3600
REPLY_EVENT = "cfdi_bot_reply"  # message metadata naming the outbox entries of a reply
# Slack answers that mean the app's setup is wrong (token, scopes, channel membership).
SLACK_SETUP_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                      "missing_scope", "channel_not_found", "not_in_channel", "is_archived"}
_ALERT_CLASSES = {"credentials", "configuration"}


class Workflow:
    def __init__(self, settings: Settings, store: AuditStore, pac: PacClient,
                 client: AsyncWebClient) -> None:
        self.settings = settings
        self.store = store
        self.pac = pac
        self.client = client
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self.approvers = Directory(client, settings.approvers)
        self.requesters = Directory(client, settings.requesters)
        self.tasks: set[asyncio.Task[Any]] = set()
        self._alerted: dict[str, float] = {}
        self._flush_lock = asyncio.Lock()
        self._team_url: str | None = None
        self.home_viewers: set[str] = set()

    # -- background work -----------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run slow work after the ack; kept referenced so it is neither lost nor collected."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the background work in flight (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    # -- Slack calls ---------------------------------------------------------------------

    async def _slack(self, method: str, call: Callable[..., Awaitable[Any]], request_id: int |
                     None = None, **kwargs: Any) -> Any:
        try:
            return await call(**kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
        except Exception as exc:  # network errors are not SlackApiError
            error = type(exc).__name__
        log.warning("Slack %s failed: %s", method, error)
        self.store.record(SYSTEM, "slack_error", request_id=request_id,
                          details={"method": method, "error": error})
        if error in SLACK_SETUP_ERRORS and method != "chat.postMessage:admin":
            await self.alert_admin(f"slack:{error}", request_id, t(
                "admin.slack_setup", self.lang, method=method, error=error))
        return None

    def _msg(self, text: str) -> dict[str, Any]:
        return blocks.message(text, sandbox=self.sandbox, lang=self.lang)

    async def ephemeral(self, channel: str | None, user: str, text: str) -> None:
        """Only `user` sees it, where they are; a DM when the bot cannot post there."""
        shown = channel and await self._slack(
            "chat.postEphemeral", self.client.chat_postEphemeral, channel=channel, user=user,
            **self._msg(text))
        if not shown:
            await self.direct(user, text)

    async def direct(self, user: str, text: str, request_id: int | None = None) -> None:
        opened = await self._slack("conversations.open", self.client.conversations_open,
                                   request_id, users=user)
        if opened:
            await self._slack("chat.postMessage", self.client.chat_postMessage, request_id,
                              channel=opened["channel"]["id"],
                              **self._msg(text))

    # -- the outbox: thread replies, exactly once ----------------------------------------

    async def flush(self) -> None:
        """Post the thread replies owed (queued with their transitions), one message per
        request, and bring the cards up to date. Never two flushes at once."""
        async with self._flush_lock:
            for request in queries.cards_missing(self.store.db):
                await self.post_card(request["id"])  # Slack refused it before: try again
            owed: dict[int, list[Row]] = {}
            for entry in queries.unposted(self.store.db):
                owed.setdefault(entry["request_id"], []).append(entry)
            for request_id, entries in owed.items():
                try:
                    await self._post_owed(request_id, entries)
                    await self.update_card(request_id)
                except Exception:  # one bad request must not hold back the others' replies
                    log.exception("could not post the replies owed to request %d", request_id)
        if owed:
            await self.refresh_homes()

    async def _post_owed(self, request_id: int, entries: list[Row]) -> None:
        request = queries.get_request(self.store.db, request_id)
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
            tx.conn.execute(f"UPDATE outbox SET attempted_at = ? WHERE id IN "
                            f"({','.join('?' * len(ids))})", [self.store.now(), *ids])
        kinds = [(e["kind"], json.loads(e["payload"])) for e in entries]
        payload = blocks.thread_reply(request, kinds, lang=self.lang, sandbox=self.sandbox)
        posted = await self._slack(
            "chat.postMessage", self.client.chat_postMessage, request_id,
            channel=request["approvals_channel"], thread_ts=request["thread_ts"],
            metadata={"event_type": REPLY_EVENT, "event_payload": {"outbox": ids}}, **payload)
        if posted is None:
            return  # Slack refused or is down: still owed, tried again at the next flush
        crash_point("after_post")
        self._mark_posted(request, entries, str(posted["ts"]))
        for kind, data in kinds:
            if kind == "outcomes":
                await self.upload_acuses(request)
            if kind == "failed" and data.get("class") in _ALERT_CLASSES:
                code = data.get("code") or "?"
                await self.alert_admin(code, request_id, t(
                    "admin.alert", self.lang, code=code, id=request_id,
                    text=code_text(data.get("code"), self.lang, data.get("message"))))

    def _mark_posted(self, request: Row, entries: list[Row], ts: str) -> None:
        ids = [e["id"] for e in entries]
        with self.store.transaction() as tx:
            tx.conn.execute(f"UPDATE outbox SET posted_ts = ?, posted_at = ? WHERE id IN "
                            f"({','.join('?' * len(ids))})", [ts, self.store.now(), *ids])
            tx.record(SYSTEM, "thread_reply", request_id=request["id"], details={
                "ts": ts, "kinds": [e["kind"] for e in entries], "outbox": ids})

    async def _already_posted(self, request: Row, ids: list[int]) -> dict[str, set[int]]:
        """Our replies in the thread that carry any of these outbox ids: {ts: ids}."""
        found: dict[str, set[int]] = {}
        cursor = None
        while True:
            page = await self._slack(
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

    async def permalink(self, request: Row) -> str:
        answer = await self._slack("chat.getPermalink", self.client.chat_getPermalink,
                                   request["id"], channel=request["approvals_channel"],
                                   message_ts=request["thread_ts"])
        return answer["permalink"] if answer else f"<#{request['approvals_channel']}>"

    # -- the request card ----------------------------------------------------------------

    def card(self, request_id: int) -> tuple[Row, dict[str, Any]]:
        request = queries.get_request(self.store.db, request_id)
        assert request is not None
        invoices = queries.request_invoices(self.store.db, request_id)
        decisions = list(self.store.db.query(
            "SELECT * FROM approvals WHERE request_id = ? ORDER BY id", [request_id]))
        return request, blocks.request_card(request, invoices, decisions, lang=self.lang,
                                            sandbox=self.sandbox,
                                            ttl_h=self.settings.approval_ttl_h)

    async def post_card(self, request_id: int) -> Row:
        request, payload = self.card(request_id)
        posted = await self._slack("chat.postMessage", self.client.chat_postMessage,
                                   request_id, channel=request["approvals_channel"], **payload)
        if posted is not None:
            with self.store.transaction() as tx:
                tx.set_fields("request", request_id, {"thread_ts": posted["ts"]})
                tx.record(SYSTEM, "card_posted", request_id=request_id,
                          details={"channel": request["approvals_channel"], "ts": posted["ts"]})
        return queries.get_request(self.store.db, request_id) or request

    async def update_card(self, request_id: int) -> None:
        request, payload = self.card(request_id)
        if request["thread_ts"]:
            await self._slack("chat.update", self.client.chat_update, request_id,
                              channel=request["approvals_channel"], ts=request["thread_ts"],
                              **payload)

    # -- asking --------------------------------------------------------------------------

    async def may_request(self, user_id: str) -> bool:
        return self.requesters.empty or await self.requesters.contains(user_id)

    async def refuse(self, actor: Actor, why: str, request_id: int | None = None,
                     **details: Any) -> None:
        self.store.record(actor, f"refused_{why}", request_id=request_id, details=details)

    async def open_form(self, kind: str, trigger_id: str, channel_id: str | None,
                        user_id: str, prefill: str) -> None:
        """The cancel or the send modal, prefilled from the command's arguments."""
        build = blocks.cancel_modal if kind == "cancel" else blocks.send_modal
        view = build(prefill=prefill, channel_id=channel_id, lang=self.lang,
                     limit=self.settings.max_invoices, sandbox=self.sandbox)
        opened = await self._slack("views.open", self.client.views_open, trigger_id=trigger_id,
                                   view=view)
        if opened is None:
            await self.ephemeral(channel_id, user_id, t("ephemeral.open_failed", self.lang))

    async def _write(self, requester: Actor, write: Callable[[], int]) -> int | None:
        """Write a new request; None when this delivery was handled before or the write
        failed (the requester is told; nothing reaches the provider)."""
        try:
            return write()
        except DuplicateRequest:
            return None  # Slack delivered the same submission again: already handled
        except sqlite3.Error as exc:
            log.error("could not record a request: %s", exc)
            await self.direct(requester.id, t("ephemeral.not_recorded", self.lang))
            return None

    async def create_cancel(self, requester: Actor, form: CancelForm, *,
                            source_channel: str | None, client_key: str) -> int | None:
        required = self.settings.required_approvals
        request_id = await self._write(requester, lambda: create_cancel_request(
            self.store, requester, form.refs, reason=form.reason.value,
            replacement=form.replacement, justification=form.justification,
            source_channel=source_channel, approvals_required=required,
            approvals_channel=self.settings.approvals_channel, client_key=client_key,
            notify=form.notify))
        if request_id is None:
            return None
        request = await self.post_card(request_id)
        link = await self.permalink(request) if request["thread_ts"] else ""
        if required == 0:
            approve(self.store, request_id, SYSTEM, required=0)
            await self.update_card(request_id)
            self.spawn(self.submit_in_background(request_id, SYSTEM))
            note = t("ephemeral.submitted_at_once", self.lang, id=request_id, link=link)
        else:
            note = t("ephemeral.created", self.lang, id=request_id, link=link)
        await self.ephemeral(source_channel, requester.id, note)
        for user in form.notify:
            if user != requester.id:
                await self.direct(user, note, request_id)
        return request_id

    async def create_send(self, requester: Actor, request: SendRequest, *,
                          source_channel: str | None, client_key: str) -> int | None:
        """E-mail invoices: at once, or through the approval thread when
        SEND_REQUIRES_APPROVAL is on (with REQUIRED_APPROVALS, at least one)."""
        gated = self.settings.send_requires_approval
        request_id = await self._write(requester, lambda: create_send_request(
            self.store, requester, request, source_channel=source_channel,
            approvals_required=max(self.settings.required_approvals, 1) if gated else 0,
            approvals_channel=self.settings.approvals_channel if gated else None,
            client_key=client_key))
        if request_id is None:
            return None
        if gated:
            row = await self.post_card(request_id)
            link = await self.permalink(row) if row["thread_ts"] else ""
            await self.ephemeral(source_channel, requester.id,
                                 t("ephemeral.send_created", self.lang, id=request_id, link=link))
            return request_id
        approve(self.store, request_id, SYSTEM, required=0)
        submission = await submit(self.store, self.pac, request_id, requester)
        lines = [t("reply.send_outcomes", self.lang, id=request_id)] + [
            blocks.invoice_line(outcome_line(invoice, outcome), self.lang)
            for invoice, outcome in submission.outcomes]
        await self.ephemeral(source_channel, requester.id, "\n".join(lines))
        return request_id

    # -- deciding ------------------------------------------------------------------------

    async def _decider_refusal(self, request: Row | None, actor: Actor, action: str,
                               status: str | None = None) -> str | None:
        """Why this person may not act on this request now (audited), or None if they may.

        `status` is the state the action needs (awaiting_approval to reject, failed to retry).
        """
        if request is None:
            return t("refused.already_decided", self.lang, id="?", status="?")
        if not await self.approvers.contains(actor.id):
            await self.refuse(actor, "not_approver", request["id"], action=action)
            return t("refused.not_approver", self.lang)
        if actor.id == request["requester_id"]:
            await self.refuse(actor, "self_approval", request["id"], action=action)
            return t("refused.self_approval", self.lang)
        if status is not None and request["status"] != status:
            await self.refuse(actor, "already_decided", request["id"], action=action)
            return self._already(request["id"])
        return None

    def _already(self, request_id: int) -> str:
        request = queries.get_request(self.store.db, request_id) or {"status": "?"}
        status = request["status"]
        return t("refused.already_decided", self.lang, id=request_id,
                 status=t(f"request.{status}", self.lang) if status != "?" else status)

    async def approve_clicked(self, request_id: int, actor: Actor, channel: str | None) -> None:
        request = queries.get_request(self.store.db, request_id)
        refusal = await self._decider_refusal(request, actor, "approve")
        approved = False
        if refusal is None:
            try:
                approved = approve(self.store, request_id, actor,
                                   required=max(request["approvals_required"], 1))
            except StaleState:
                await self.refuse(actor, "already_decided", request_id, action="approve")
                refusal = self._already(request_id)
            except sqlite3.IntegrityError:  # the same approver twice (needs distinct people)
                await self.refuse(actor, "already_voted", request_id, action="approve")
                refusal = t("refused.already_voted", self.lang, id=request_id)
        if refusal is not None:
            await self.ephemeral(channel, actor.id, refusal)
            return
        await self.flush()  # the card and the thread: approved, or one more approval counted
        if approved:
            self.spawn(self.submit_in_background(request_id, actor))

    async def reject_clicked(self, request_id: int, actor: Actor, channel: str | None,
                             trigger_id: str) -> None:
        request = queries.get_request(self.store.db, request_id)
        refusal = await self._decider_refusal(request, actor, "reject", "awaiting_approval")
        if refusal is not None:
            await self.ephemeral(channel, actor.id, refusal)
            return
        opened = await self._slack("views.open", self.client.views_open, request_id,
                                   trigger_id=trigger_id,
                                   view=blocks.reject_modal(request, lang=self.lang,
                                                            sandbox=self.sandbox))
        if opened is None:
            await self.ephemeral(channel, actor.id, t("ephemeral.open_failed", self.lang))

    async def reject_submitted(self, request_id: int, actor: Actor, reason: str) -> None:
        request = queries.get_request(self.store.db, request_id)
        refusal = await self._decider_refusal(request, actor, "reject")
        if refusal is None:
            try:
                reject(self.store, request_id, actor, reason)
            except (StaleState, sqlite3.IntegrityError):
                await self.refuse(actor, "already_decided", request_id, action="reject")
                refusal = self._already(request_id)
        if refusal is not None:
            await self.direct(actor.id, refusal, request_id)
            return
        await self.flush()
        request = queries.get_request(self.store.db, request_id)
        await self.direct(request["requester_id"], t(
            "dm.rejected", self.lang, id=request_id, user=mention(actor.id),
            reason=escape(reason), link=await self.permalink(request)), request_id)

    async def resubmit_clicked(self, request_id: int, actor: Actor, channel: str | None) -> None:
        request = queries.get_request(self.store.db, request_id)
        refusal = await self._decider_refusal(request, actor, "resubmit", "failed")
        if refusal is not None:
            await self.ephemeral(channel, actor.id, refusal)
            return
        self.spawn(self.submit_in_background(request_id, actor))

    # -- the provider, in the background -------------------------------------------------

    async def submit_in_background(self, request_id: int, actor: Actor) -> None:
        try:
            await submit(self.store, self.pac, request_id, actor,
                         backoff_s=self.settings.watch_backoff_s)
        except StaleState:
            return  # a double click or a racing resubmission: the first one runs
        await self.flush()

    async def resume(self) -> None:
        """At start, finish what a crash interrupted: replies owed, requests approved but
        not yet submitted, and submissions left in `submitting` (cancelling twice is safe:
        the second answer is "already cancelled")."""
        await self.flush()
        for request in list(self.store.db.query(
                "SELECT id, status FROM requests WHERE status IN ('approved', 'submitting') "
                "ORDER BY id")):
            self.store.record(SYSTEM, "submission_resumed", request_id=request["id"],
                              details={"status": request["status"]})
            if request["status"] == "approved":
                await submit(self.store, self.pac, request["id"],
                             backoff_s=self.settings.watch_backoff_s)
            else:
                await run_submission(self.store, self.pac, request["id"],
                                     backoff_s=self.settings.watch_backoff_s)
        await self.flush()

    async def upload_acuses(self, request: Row) -> None:
        invoices = queries.request_invoices(self.store.db, request["id"])
        acuses = list(dict.fromkeys(i["acuse"] for i in invoices if i["acuse"]))
        for number, acuse in enumerate(acuses, start=1):
            suffix = f"-{number}" if len(acuses) > 1 else ""
            uploaded = await self._slack(
                "files.uploadV2", self.client.files_upload_v2, request["id"],
                channel=request["approvals_channel"], thread_ts=request["thread_ts"],
                content=acuse, filename=f"acuse-solicitud-{request['id']}{suffix}.xml",
                title=t("reply.acuse", self.lang, id=request["id"]))
            if uploaded is not None:
                self.store.record(SYSTEM, "acuse_uploaded", request_id=request["id"],
                                  details={"file": (uploaded.get("file") or {}).get("id")})

    async def tell_admins(self, text: str, action: str | None = None) -> None:
        """A message to ADMIN_CHANNEL (when set); `action` also records it in the audit log."""
        if action:
            self.store.record(SYSTEM, action, details={"text": text})
        if self.settings.admin_channel:
            await self._slack("chat.postMessage:admin", self.client.chat_postMessage,
                              channel=self.settings.admin_channel, **self._msg(text))

    async def alert_admin(self, code: str, request_id: int | None, text: str) -> None:
        """Credential, contract and Slack setup problems reach the operators, at most
        hourly per code."""
        channel = self.settings.admin_channel
        last = self._alerted.get(code)
        if not channel or (last is not None and time.monotonic() - last < ADMIN_ALERT_EVERY_S):
            return
        self._alerted[code] = time.monotonic()
        self.store.record(SYSTEM, "admin_alerted", request_id=request_id, details={"code": code})
        await self.tell_admins(text)

    # -- what people ask to see ----------------------------------------------------------

    async def _linker(self) -> Callable[[Row], str]:
        """Thread links built from the workspace URL (one auth.test per process), so that
        answering a command needs no API call per request."""
        if self._team_url is None:
            answer = await self._slack("auth.test", self.client.auth_test)
            self._team_url = str(answer.get("url") or "") if answer else ""
        base, word = self._team_url, t("history.thread", self.lang)

        def link(request: Row) -> str:
            channel, ts = request.get("approvals_channel"), request.get("thread_ts")
            if base and channel and ts:
                return f"<{base}archives/{channel}/p{ts.replace('.', '')}|{word}>"
            return f"<#{channel}>" if channel else "—"
        return link

    async def invoice_status(self, text: str) -> dict[str, Any]:
        ref = parse_line(text, 1, self.lang) if text.strip() else None
        if ref is None or isinstance(ref, str):
            return self._msg(t("status.usage", self.lang))
        trail = queries.invoice_trail(self.store.db, uuid=ref.uuid, serie=ref.serie,
                                      folio=ref.folio)
        requests = {i["request_id"]: queries.get_request(self.store.db, i["request_id"])
                    for i in trail["invoices"]}
        return reports.invoice_status(ref.key, trail, requests, self.lang, self.sandbox,
                                      await self._linker())

    async def history(self, viewer: Actor, whose: str | None, pending: bool) -> dict[str, Any]:
        target = whose or viewer.id
        if target != viewer.id and not await self.approvers.contains(viewer.id):
            await self.refuse(viewer, "history_other", whose=target)
            return self._msg(t("refused.history_other", self.lang))
        rows = (queries.open_requests_of(self.store.db, target) if pending
                else queries.recent_requests(self.store.db, target, limit=15))
        counts = queries.invoice_counts(self.store.db, [r["id"] for r in rows])
        return reports.history(rows, counts, whose=target, pending=pending, lang=self.lang,
                               sandbox=self.sandbox, link=await self._linker())

    async def publish_home(self, user_id: str) -> None:
        self.home_viewers.add(user_id)
        approver = await self.approvers.contains(user_id)
        db = self.store.db
        mine = queries.recent_requests(db, user_id, limit=reports.HOME_LIST)
        to_decide = queries.awaiting_decision_by(db, user_id, limit=reports.HOME_LIST + 1) \
            if approver else []
        pending, total = queries.pending_invoices(db) if approver else ([], 0)
        counts = queries.invoice_counts(db, [r["id"] for r in [*mine, *to_decide]])
        view = reports.home(mine=mine, counts=counts, approver=approver,
                            to_decide=to_decide, pending=pending, pending_total=total,
                            now=self.store.clock(), lang=self.lang, sandbox=self.sandbox,
                            link=await self._linker())
        await self._slack("views.publish", self.client.views_publish, user_id=user_id,
                          view=view)

    async def refresh_homes(self) -> None:
        """Homes opened in this process follow the changes (requests, decisions, pending)."""
        for user_id in sorted(self.home_viewers):
            await self.publish_home(user_id)

    # -- housekeeping --------------------------------------------------------------------

    async def expire(self) -> list[int]:
        """Requests that waited for approval too long: card, thread, requester, audit."""
        ttl = self.settings.approval_ttl_h
        expired = expire_overdue(self.store, ttl)
        if expired:
            await self.flush()
        for request_id in expired:
            request = queries.get_request(self.store.db, request_id)
            await self.direct(request["requester_id"], t(
                "dm.expired", self.lang, id=request_id, hours=f"{ttl:g}",
                link=await self.permalink(request)), request_id)
        return expired
