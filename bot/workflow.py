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

from bot import blocks
from bot.approvers import Directory
from bot.cancellation import (
    approve,
    create_cancel_request,
    expire_overdue,
    recheck_pending,
    reject,
    run_submission,
    submit,
)
from bot.config import Settings
from bot.i18n import code_text, t
from bot.mrkdwn import escape, mention
from bot.pac.client import PacClient
from bot.validation import CancelForm
from storage import queries
from storage.store import SYSTEM, Actor, AuditStore, DuplicateRequest, Row, StaleState

log = logging.getLogger(__name__)

ADMIN_ALERT_EVERY_S = 3600
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

    async def reply(self, request: Row, payload: dict[str, Any], kind: str) -> str | None:
        """A reply in the request's thread; its ts is recorded in the audit log."""
        if not request["thread_ts"]:
            return None
        posted = await self._slack("chat.postMessage", self.client.chat_postMessage,
                                   request["id"], channel=request["approvals_channel"],
                                   thread_ts=request["thread_ts"], **payload)
        if posted is None:
            return None
        self.store.record(SYSTEM, "thread_reply", request_id=request["id"],
                          details={"kind": kind, "ts": posted["ts"]})
        return str(posted["ts"])

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

    async def open_cancel_form(self, trigger_id: str, channel_id: str | None, user_id: str,
                               prefill: str) -> None:
        view = blocks.cancel_modal(prefill=prefill, channel_id=channel_id, lang=self.lang,
                                   limit=self.settings.max_invoices, sandbox=self.sandbox)
        opened = await self._slack("views.open", self.client.views_open, trigger_id=trigger_id,
                                   view=view)
        if opened is None:
            await self.ephemeral(channel_id, user_id, t("ephemeral.open_failed", self.lang))

    async def create_cancel(self, requester: Actor, form: CancelForm, *,
                            source_channel: str | None, client_key: str) -> int | None:
        required = self.settings.required_approvals
        try:
            request_id = create_cancel_request(
                self.store, requester, form.refs, reason=form.reason.value,
                replacement=form.replacement, justification=form.justification,
                source_channel=source_channel, approvals_required=required,
                approvals_channel=self.settings.approvals_channel, client_key=client_key,
                notify=form.notify)
        except DuplicateRequest:
            return None  # Slack delivered the same submission again: already handled
        except sqlite3.Error as exc:
            log.error("could not record a request: %s", exc)
            await self.direct(requester.id, t("ephemeral.not_recorded", self.lang))
            return None
        request = await self.post_card(request_id)
        link = await self.permalink(request) if request["thread_ts"] else ""
        if required == 0:
            approve(self.store, request_id, SYSTEM, required=0)
            await self.update_card(request_id)
            self.spawn(self.submit_and_report(request_id, SYSTEM))
            note = t("ephemeral.submitted_at_once", self.lang, id=request_id, link=link)
        else:
            note = t("ephemeral.created", self.lang, id=request_id, link=link)
        await self.ephemeral(source_channel, requester.id, note)
        for user in form.notify:
            if user != requester.id:
                await self.direct(user, note, request_id)
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
        await self.update_card(request_id)
        request = queries.get_request(self.store.db, request_id)
        if approved:
            await self.reply(request, self._msg(
                t("reply.approved", self.lang, user=mention(actor.id))), "approved")
            self.spawn(self.submit_and_report(request_id, actor))
        else:
            count = self.store.db.execute(
                "SELECT count(*) FROM approvals WHERE request_id = ? AND decision = 'approve'",
                [request_id]).fetchone()[0]
            await self.reply(request, self._msg(t(
                "reply.approval_counted", self.lang, user=mention(actor.id), count=count,
                required=request["approvals_required"])), "approval_counted")

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
        await self.update_card(request_id)
        request = queries.get_request(self.store.db, request_id)
        text = t("reply.rejected", self.lang, mention=mention(request["requester_id"]),
                 user=mention(actor.id), reason=escape(reason))
        await self.reply(request, self._msg(text),
                         "rejected")
        await self.direct(request["requester_id"], t(
            "dm.rejected", self.lang, id=request_id, user=mention(actor.id),
            reason=escape(reason), link=await self.permalink(request)), request_id)

    async def resubmit_clicked(self, request_id: int, actor: Actor, channel: str | None) -> None:
        request = queries.get_request(self.store.db, request_id)
        refusal = await self._decider_refusal(request, actor, "resubmit", "failed")
        if refusal is not None:
            await self.ephemeral(channel, actor.id, refusal)
            return
        await self.reply(request, self._msg(
            t("reply.resubmitted", self.lang, user=mention(actor.id))), "resubmitted")
        self.spawn(self.submit_and_report(request_id, actor))

    # -- the provider, in the background -------------------------------------------------

    async def submit_and_report(self, request_id: int, actor: Actor) -> None:
        try:
            await submit(self.store, self.pac, request_id, actor,
                         backoff_s=self.settings.watch_backoff_s)
        except StaleState:
            return  # a double click or a racing resubmission: the first one runs
        await self.report(request_id)

    async def resume(self) -> None:
        """At start: finish submissions a crash left in `submitting` (cancelling twice is
        safe: the second answer is "already cancelled")."""
        for request in self.store.db.query("SELECT id FROM requests WHERE status = "
                                           "'submitting'"):
            self.store.record(SYSTEM, "submission_resumed", request_id=request["id"])
            await run_submission(self.store, self.pac, request["id"],
                                 backoff_s=self.settings.watch_backoff_s)
            await self.report(request["id"])

    async def report(self, request_id: int) -> None:
        """Tell the thread what the provider said, attach the acknowledgment, update the card."""
        request = queries.get_request(self.store.db, request_id)
        invoices = queries.request_invoices(self.store.db, request_id)
        if request["status"] == "failed":
            failure = next((json.loads(e["details"]) for e in reversed(
                queries.events(self.store.db, request_id))
                if e["action"] == "submission_failed"), {})
            await self.reply(request, blocks.failure_reply(
                request, code=failure.get("code"), status_class=failure.get("class"),
                message_text=failure.get("message"), lang=self.lang, sandbox=self.sandbox),
                "failed")
            if failure.get("class") in _ALERT_CLASSES:
                await self.alert_admin(failure.get("code") or "?", request_id,
                                       code_text(failure.get("code"), self.lang,
                                                 failure.get("message")))
        else:
            await self.reply(request, blocks.outcomes_reply(
                request, invoices, lang=self.lang, sandbox=self.sandbox), "outcomes")
            await self.upload_acuses(request, invoices)
        await self.update_card(request_id)

    async def upload_acuses(self, request: Row, invoices: list[Row]) -> None:
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

    async def alert_admin(self, code: str, request_id: int, text: str) -> None:
        """Credential and contract problems reach the operators, at most hourly per code."""
        channel = self.settings.admin_channel
        last = self._alerted.get(code)
        if not channel or (last is not None and time.monotonic() - last < ADMIN_ALERT_EVERY_S):
            return
        self._alerted[code] = time.monotonic()
        await self._slack("chat.postMessage", self.client.chat_postMessage, request_id,
                          channel=channel, **self._msg(
                              t("admin.alert", self.lang, code=code, id=request_id, text=text)))
        self.store.record(SYSTEM, "admin_alerted", request_id=request_id, details={"code": code})

    # -- pending invoices ----------------------------------------------------------------

    async def watch_once(self) -> int:
        """Ask again for the due pending invoices; each change is one thread reply that
        mentions the requester, and the card follows. Returns how many changed."""
        changed = await recheck_pending(self.store, self.pac,
                                        backoff_s=self.settings.watch_backoff_s)
        by_request: dict[int, list[Row]] = {}
        for invoice, _ in changed:
            by_request.setdefault(invoice["request_id"], []).append(invoice)
        for request_id, invoices in by_request.items():
            request = queries.get_request(self.store.db, request_id)
            current = {i["id"]: i for i in queries.request_invoices(self.store.db, request_id)}
            lines = [blocks.invoice_line(current[i["id"]], self.lang) for i in invoices]
            head = t("reply.resolved", self.lang, mention=mention(request["requester_id"]),
                     id=request_id)
            if request["status"] == "completed":
                head += "\n" + t("reply.completed", self.lang, id=request_id)
            await self.reply(request, self._msg("\n".join([head, *lines])),
                             "resolved")
            await self.update_card(request_id)
        return len(changed)

    # -- housekeeping --------------------------------------------------------------------

    async def expire(self) -> list[int]:
        """Requests that waited for approval too long: card, thread, requester, audit."""
        ttl = self.settings.approval_ttl_h
        expired = expire_overdue(self.store, ttl)
        for request_id in expired:
            await self.update_card(request_id)
            request = queries.get_request(self.store.db, request_id)
            await self.reply(request, self._msg(t(
                "reply.expired", self.lang, mention=mention(request["requester_id"]),
                hours=f"{ttl:g}")), "expired")
            await self.direct(request["requester_id"], t(
                "dm.expired", self.lang, id=request_id, hours=f"{ttl:g}",
                link=await self.permalink(request)), request_id)
        return expired
