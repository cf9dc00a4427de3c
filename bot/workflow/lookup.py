"""What people ask to see: an invoice's status, a history of requests, the App Home."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.actors import Actor
from bot.config import Settings
from bot.i18n import t
from bot.runtime.tasks import Tasks
from bot.slack.forms import parse_line
from bot.slack.io import SlackIO
from bot.slack.render import history, large
from bot.workflow.permissions import Policy
from storage import delegations, queries
from storage.store import AuditStore


class Lookup:
    """What people ask to see: `/cfdi estado`, `/cfdi historial`, the App Home."""

    def __init__(self, settings: Settings, store: AuditStore, io: SlackIO,
                 policy: Policy, tasks: Tasks) -> None:
        self.settings = settings
        self.tasks = tasks
        self.store = store
        self.io = io
        self.policy = policy
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self.home_viewers: set[str] = set()

    async def invoice_status(self, text: str) -> dict[str, Any]:
        ref = parse_line(text, 1, self.lang) if text.strip() else None
        if ref is None or isinstance(ref, str):
            return self.io.msg(t("status.usage", self.lang))
        trail = queries.invoice_trail(self.store, uuid=ref.uuid, serie=ref.serie,
                                      folio=ref.folio)
        requests = queries.requests_by_id(
            self.store, sorted({i["request_id"] for i in trail["invoices"]}))
        return history.invoice_status(ref.key, trail, requests, self.lang, self.sandbox,
                                      await self.io.linker(), self.settings.zone)

    async def request_csv(self, viewer: Actor, request_id: int) -> None:
        """A request's current per-invoice CSV (`/cfdi estado #N`, the card's button), by
        direct message to who asked: its requester and the approvers may have it (as with
        the history). Runs after the ack."""
        request = queries.get_request(self.store, request_id)
        if request is None:
            await self.io.direct(viewer.id, t("large.no_request", self.lang, id=request_id))
            return
        refusal = await self.policy.may_see_history(viewer, request["requester_id"])
        if refusal is not None:
            await self.io.audit(viewer, f"refused_{refusal.why}", request_id=request_id,
                                details={"csv": True})
            await self.io.direct(viewer.id, refusal.text, request_id)
            return
        invoices = await queries.request_invoices_off_loop(self.store, request_id)
        content = await asyncio.to_thread(large.invoices_csv, request, invoices, self.lang)
        shared = await self.io.send_file(
            viewer.id, large.list_filename(request_id), content.encode("utf-8"),
            t("large.csv_sent", self.lang, id=request_id, count=len(invoices)))
        if not shared:
            await self.io.direct(viewer.id, t("large.csv_failed", self.lang, id=request_id),
                                 request_id)
            return
        await self.io.audit(viewer, "csv_shared", request_id=request_id,
                            details={"invoices": len(invoices)})

    async def history(self, viewer: Actor, whose: str | None, pending: bool) -> dict[str, Any]:
        target = whose or viewer.id
        refusal = await self.policy.may_see_history(viewer, target)
        if refusal is not None:
            # Audited after the answer: the ack never waits for the write lock.
            self.tasks.spawn(self.io.audit(viewer, f"refused_{refusal.why}",
                                           details={"whose": target}))
            return self.io.msg(refusal.text)
        rows = (queries.open_requests_of(self.store, target) if pending
                else queries.recent_requests(self.store, target, limit=15))
        counts = queries.invoice_counts(self.store, [r["id"] for r in rows])
        return history.history(rows, counts, whose=target, pending=pending, lang=self.lang,
                               sandbox=self.sandbox, link=await self.io.linker(),
                               zone=self.settings.zone)

    async def publish_home(self, user_id: str) -> None:
        self.home_viewers.add(user_id)
        approver = await self.policy.is_approver(user_id)
        store = self.store
        mine = queries.recent_requests(store, user_id, limit=history.HOME_LIST)
        to_decide = queries.awaiting_decision_by(store, user_id, limit=history.HOME_LIST + 1) \
            if approver else []
        pending, total = queries.pending_invoices(store) if approver else ([], 0)
        stand_ins = self._stand_ins(user_id)
        theirs = [r for _, requests in stand_ins.standing_in_for for r in requests]
        counts = queries.invoice_counts(store, [r["id"] for r in [*mine, *to_decide, *theirs]])
        view = history.home(mine=mine, counts=counts, approver=approver,
                            to_decide=to_decide, pending=pending, pending_total=total,
                            now=store.clock(), lang=self.lang, sandbox=self.sandbox,
                            link=await self.io.linker(), zone=self.settings.zone,
                            stand_ins=stand_ins)
        await self.io.call("views.publish", self.io.client.views_publish, user_id=user_id,
                           view=view)

    def _stand_ins(self, user_id: str) -> history.StandIns:
        """The viewer's stand-in, and what awaits each approver they stand in for (not their
        own requests, nor those the approver already decided)."""
        now = self.store.clock()
        standing_in_for = [
            (delegation, [r for r in queries.awaiting_decision_by(
                self.store, delegation["delegator_id"], limit=6)
                if r["requester_id"] != user_id])
            for delegation in delegations.for_delegate(self.store, user_id, now)]
        return history.StandIns(delegations.of_delegator(self.store, user_id, now),
                                standing_in_for)

    async def refresh_homes(self) -> None:
        """Homes opened in this process follow the changes (requests, decisions, pending)."""
        for user_id in sorted(self.home_viewers):
            await self.publish_home(user_id)
