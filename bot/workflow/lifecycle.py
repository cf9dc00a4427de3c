"""A request's life as people drive it from Slack: create, approve, reject, retry, expire.

Handlers call these after they have acknowledged Slack; the provider is called in
background tasks (bot.workflow.submissions). The state changes themselves are the use cases of
transitions.py, shared with the watcher; this module adds who may act (permissions.py) and
what people are told.

Why this module is long: each thing people do to a request from Slack, with who may do it
and what they are told, is here, beside the others (split by use case if it grows further).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from bot.actors import SYSTEM, Acting, Actor
from bot.config import Settings
from bot.i18n import t
from bot.providers.contract import Provider, SendRequest
from bot.runtime.tasks import Tasks
from bot.sat.outcomes import Outcome
from bot.slack.forms import INVOICES, CancelForm
from bot.slack.io import SlackIO
from bot.slack.mrkdwn import escape, mention
from bot.slack.outbox import Outbox
from bot.slack.render import modals, replies
from bot.slack.render.large import is_large
from bot.workflow.answers import submit
from bot.workflow.facts import AttachedXml, FactFinder
from bot.workflow.permissions import Policy, Refusal
from bot.workflow.rules import ApprovalRules
from bot.workflow.sat_words import outcome_line
from bot.workflow.submissions import Submissions
from bot.workflow.transitions import (
    apply_rule,
    approve,
    create_cancel_request,
    create_send_request,
    expire_overdue,
    own_reason,
    reject,
    withdraw,
)
from storage import queries
from storage.domain import Row
from storage.errors import DuplicateRequest, InvoicesTaken, StaleState
from storage.states import RequestKind
from storage.states import RequestStatus as RS
from storage.store import ACK_WAIT_S, AuditStore

log = logging.getLogger(__name__)


class Lifecycle:
    """A request's life from Slack: create, approve, reject, retry, expire."""

    def __init__(self, settings: Settings, store: AuditStore, provider: Provider,
                 io: SlackIO, outbox: Outbox, policy: Policy, rules: ApprovalRules,
                 tasks: Tasks, submissions: Submissions, facts: FactFinder) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.io = io
        self.outbox = outbox
        self.policy = policy
        self.tasks = tasks
        self.lang = settings.language
        self.sandbox = settings.sandbox
        self.rules = rules
        self.submissions = submissions
        self.facts = facts  # looks the invoices up once the card is out

    async def refused(self, actor: Actor, refusal: Refusal, request_id: int | None = None,
                      **details: Any) -> str:
        """Audit a refusal; the text to show the person (shown even when the audit log
        cannot be written: the refusal changed nothing)."""
        try:
            await self.store.append(actor, f"refused_{refusal.why}", request_id=request_id,
                                    details=details)
        except sqlite3.Error as exc:
            log.error("could not record a refusal (%s): %s", refusal.why, exc)
        return refusal.text

    def delivered_before(self, client_key: str) -> bool:
        """Slack delivered this form before (a retry, or Socket Mode's re-delivery of an
        envelope) and its request is written: it is answered as the first time, with
        nothing checked or written again (checking again would call its own invoices taken)."""
        return queries.delivered_before(self.store, client_key)

    def active_elsewhere(self, ref_keys: Sequence[str]) -> list[Row]:
        """Which of these invoices are already in a live request, or cancelled."""
        return queries.active_elsewhere(self.store, ref_keys)

    async def open_form(self, kind: RequestKind, trigger_id: str, channel_id: str | None,
                        user_id: str, prefill: str) -> None:
        """The cancel or the send modal, prefilled from the command's arguments."""
        build = modals.cancel_modal if kind == RequestKind.CANCEL else modals.send_modal
        view = build(prefill=prefill, channel_id=channel_id, lang=self.lang,
                     limit=self.settings.max_invoices, sandbox=self.sandbox)
        if not await self.io.open_view(trigger_id, view):
            await self.io.ephemeral(channel_id, user_id, t("ephemeral.open_failed", self.lang))

    # -- creating ------------------------------------------------------------------------

    async def _write(self, requester: Actor, write: Awaitable[int]) -> int | None:
        """Write a new request; None when this delivery was handled before or the write
        failed (the requester is told; nothing reaches the provider)."""
        try:
            return await write
        except DuplicateRequest:
            return None  # Slack delivered the same submission again: already handled
        except sqlite3.Error as exc:
            log.error("could not record a request: %s", exc)
            await self.io.direct(requester.id, t("ephemeral.not_recorded", self.lang))
            return None

    async def record_cancel(self, requester: Actor, form: CancelForm, *,
                            source_channel: str | None, client_key: str,
                            source: dict[str, Any] | None = None
                            ) -> tuple[int | None, dict[str, str]]:
        """Write the request before the form closes: the "already requested" check and the
        write are one transaction (and a unique index backs it), so of two people asking for
        the same invoice at once, one gets the error on the invoices field. Returns the new
        request's id (None when this delivery was handled before) or the form's errors;
        nothing is written with errors."""
        own: dict[str, tuple[str | None, str | None]] = {}
        for ref in form.refs:
            chosen = form.chosen(ref)
            if (mine := own_reason(chosen.reason, chosen.replacement,
                                   request_reason=form.reason,
                                   request_replacement=form.replacement)) is not None:
                own[ref.key] = mine
        try:
            return await create_cancel_request(
                self.store, requester, form.refs, reason=form.reason.value, own=own,
                source=source, replacement=form.replacement.key if form.replacement else None,
                justification=form.justification, source_channel=source_channel,
                approvals_required=self.rules.approvals_required(RequestKind.CANCEL,
                                                                 form.reason),
                approvals_channel=self.settings.approvals_channel, client_key=client_key,
                notify=form.notify, approval_rule=self.rules.requirement(form.reason),
                within_s=ACK_WAIT_S,
                off_loop=is_large(len(form.refs), self.settings.large_request_at)), {}
        except DuplicateRequest:
            return None, {}  # Slack delivered the same submission again: already handled
        except InvoicesTaken as taken:
            return None, form.taken(taken.rows, self.lang)
        except sqlite3.Error as exc:  # locked past the bound, disk full, read-only
            log.error("could not record a request: %s", exc)
            return None, {INVOICES: t("error.not_recorded", self.lang)}

    async def announce_cancel(self, request_id: int, requester: Actor, form: CancelForm, *,
                              source_channel: str | None,
                              attached: Mapping[str, AttachedXml] | None = None) -> None:
        """After the form closed: the card, the requester's link, the people to notify, and
        at once to the provider when no approval is needed. `attached`: the XML files read
        with the form (bot.slack.attachments), the facts of their invoices."""
        request = await self.outbox.post_card(request_id)
        self.tasks.spawn(self._facts_then_rule(request_id, attached))
        link = await self.io.permalink(request) if request["thread_ts"] else ""
        if request["approvals_required"] == 0:
            await approve(self.store, request_id, SYSTEM, required=0)
            await self.outbox.update_card(request_id)
            self.tasks.spawn(self.submissions.submit_in_background(request_id, SYSTEM))
            note = t("ephemeral.submitted_at_once", self.lang, id=request_id, link=link)
        else:
            note = t("ephemeral.created", self.lang, id=request_id, link=link)
        await self.io.ephemeral(source_channel, requester.id, note)
        for user in form.notify:
            if user != requester.id:
                await self.io.direct(user, note, request_id)

    async def _facts_then_rule(self, request_id: int,
                       attached: Mapping[str, AttachedXml] | None = None) -> None:
        """The invoices' facts, then the rules they settle (APPROVAL_RULES: total, customer;
        the reason was known at once): the approvals needed become the rule's, and approvals
        already counted may reach them."""
        found = await self.facts.gather(
            request_id, await queries.request_invoices_off_loop(self.store, request_id), attached)
        request = queries.get_request(self.store, request_id)
        rule = self.rules.requirement(request["reason"], found) if request else None
        if rule is None:
            return
        try:
            approved = await apply_rule(self.store, request_id, rule)
        except sqlite3.Error as exc:  # the strictest rule stays: safe, and said on the card
            log.error("could not apply the approval rules to request %d: %s", request_id, exc)
            return
        await self.outbox.flush()
        if approved:
            self.tasks.spawn(self.submissions.submit_in_background(request_id, SYSTEM))

    async def create_send(self, requester: Actor, request: SendRequest, *,
                          source_channel: str | None, client_key: str) -> int | None:
        """E-mail invoices: at once, or through the approval thread when
        SEND_REQUIRES_APPROVAL is on (with REQUIRED_APPROVALS, at least one)."""
        required = self.rules.approvals_required(RequestKind.SEND)
        request_id = await self._write(requester, create_send_request(
            self.store, requester, request, source_channel=source_channel,
            approvals_required=required,
            approvals_channel=self.settings.approvals_channel if required else None,
            client_key=client_key))
        if request_id is None:
            return None
        if required:
            row = await self.outbox.post_card(request_id)
            link = await self.io.permalink(row) if row["thread_ts"] else ""
            await self.io.ephemeral(source_channel, requester.id,
                                    t("ephemeral.send_created", self.lang, id=request_id,
                                      link=link))
            return request_id
        # In flight: the watcher must not take it for an interrupted send.
        self.submissions.in_flight.add(request_id)
        try:
            await approve(self.store, request_id, SYSTEM, required=0)
            submission = await submit(self.store, self.provider, request_id, requester)
        except sqlite3.Error as exc:
            # Left `approved` (submitted by the watcher later) or `submitting` (the answer
            # lost: the watcher makes it "unknown" and says so; never mailed twice).
            log.error("could not record the send of request %d: %s", request_id, exc)
            await self.io.direct(requester.id, t("dm.stalled", self.lang, id=request_id))
            await self.submissions.audit_failed(request_id, exc)
            return request_id
        finally:
            self.submissions.in_flight.discard(request_id)
        emails = ", ".join(escape(e) for e in request.emails)
        lines = [t("reply.send_outcomes", self.lang, id=request_id, emails=emails)] + [
            replies.invoice_line(outcome_line(invoice, outcome), self.lang,
                                 self.settings.cfdi_provider)
            for invoice, outcome in submission.outcomes]
        if any(outcome.outcome is Outcome.UNKNOWN for _, outcome in submission.outcomes):
            lines.append(t("reply.send_unknown", self.lang))
        await self.io.ephemeral(source_channel, requester.id, "\n".join(lines))
        return request_id

    # -- deciding ------------------------------------------------------------------------

    async def _decision_refused(self, request_id: int, actor: Actor, action: str,
                                needs: RS | None = None
                                ) -> tuple[Row | None, Acting | None, str | None]:
        """The request, who decides it in whose name (a stand-in in an approver's place),
        or the refusal's text (audited)."""
        request = queries.get_request(self.store, request_id)
        decided = await self.policy.decider(request, actor, needs)
        if isinstance(decided, Acting):
            return request, decided, None
        if request is None:
            return None, None, decided.text  # no such request: nothing to audit it against
        return request, None, await self.refused(actor, decided, request["id"], action=action)

    async def _lost_race(self, request_id: int, actor: Actor, action: str) -> str:
        request = queries.get_request(self.store, request_id) or {"id": request_id,
                                                                  "status": "?"}
        return await self.refused(actor, self.policy.already_decided(request), request_id,
                                  action=action)

    async def _not_recorded(self, request_id: int, actor: Actor, channel: str | None,
                            exc: sqlite3.Error) -> None:
        """A decision the audit log could not take (locked past its bound, disk full): the
        real error is logged, the operators alerted, and the person told nothing changed."""
        log.error("could not record a decision on request %d: %s", request_id, exc)
        await self.io.ephemeral(channel, actor.id, t("ephemeral.decision_not_recorded",
                                                     self.lang, id=request_id))
        await self.submissions.audit_failed(request_id, exc)

    async def approve_clicked(self, request_id: int, actor: Actor, channel: str | None) -> None:
        request, acting, refusal = await self._decision_refused(request_id, actor, "approve")
        approved = False
        if acting is not None and request is not None:
            try:  # the approvals needed are read in approve's transaction: a rule
                # (APPROVAL_RULES) may change them between this read and the write
                count = queries.invoice_counts(self.store, [request_id]).get(request_id, 0)
                approved = await approve(self.store, request_id, acting, off_loop=is_large(
                    count, self.settings.large_request_at))
            except sqlite3.IntegrityError:  # the same approver twice (needs distinct people)
                refusal = await self.refused(actor, self.policy.already_voted(request_id),
                                             request_id, action="approve")
            except sqlite3.Error as exc:
                await self._not_recorded(request_id, actor, channel, exc)
                return
            except StaleState:
                refusal = await self._lost_race(request_id, actor, "approve")
        if refusal is not None:
            await self.io.ephemeral(channel, actor.id, refusal)
            return
        await self.outbox.flush()  # the card and the thread: approved, or one more counted
        if approved:
            self.tasks.spawn(self.submissions.submit_in_background(request_id, actor))

    async def reject_clicked(self, request_id: int, actor: Actor, channel: str | None,
                             trigger_id: str) -> None:
        request, acting, refusal = await self._decision_refused(
            request_id, actor, "reject", RS.AWAITING_APPROVAL)
        if acting is not None and any(acting.voter.id == d["user_id"] or actor.id in (
                d["user_id"], d["acted_by_id"]) for d in queries.decisions(self.store,
                                                                            request_id)):
            refusal = await self.refused(actor, self.policy.already_voted(request_id),
                                         request_id, action="reject")
        if refusal is not None or request is None:
            await self.io.ephemeral(channel, actor.id, refusal or "")
            return
        view = modals.reject_modal(request, lang=self.lang, sandbox=self.sandbox)
        if not await self.io.open_view(trigger_id, view, request_id):
            await self.io.ephemeral(channel, actor.id, t("ephemeral.open_failed", self.lang))

    async def reject_submitted(self, request_id: int, actor: Actor, reason: str) -> None:
        _, acting, refusal = await self._decision_refused(request_id, actor, "reject")
        if acting is not None:
            try:
                await reject(self.store, request_id, acting, reason)
            except (StaleState, sqlite3.IntegrityError):
                refusal = await self._lost_race(request_id, actor, "reject")
            except sqlite3.Error as exc:
                await self._not_recorded(request_id, actor, None, exc)
                return
        if refusal is not None:
            await self.io.direct(actor.id, refusal, request_id)
            return
        await self.outbox.flush()
        request = queries.get_request(self.store, request_id)
        who = mention(actor.id) if acting is None or acting.by is None else t(
            "delegate.in_place", self.lang, user=mention(actor.id),
            voter=mention(acting.voter.id))
        await self.io.direct(request["requester_id"], t(
            "dm.rejected", self.lang, id=request_id, user=who,
            reason=escape(reason), link=await self.io.permalink(request)), request_id)

    async def resubmit_clicked(self, request_id: int, failure: int | None, actor: Actor,
                               channel: str | None) -> None:
        """Retry, pressed on the reply of submission failure number `failure`."""
        _, _, refusal = await self._decision_refused(request_id, actor, "resubmit", RS.FAILED)
        if refusal is None and request_id in self.submissions.in_flight:
            refusal = await self._lost_race(request_id, actor, "resubmit")
        if refusal is not None:
            await self.io.ephemeral(channel, actor.id, refusal)
            return
        self.tasks.spawn(self._resubmit(request_id, failure, actor, channel))

    async def _resubmit(self, request_id: int, failure: int | None, actor: Actor,
                        channel: str | None) -> None:
        if not await self.submissions.submit_in_background(request_id, actor, failure):
            await self.io.ephemeral(channel, actor.id,
                                    await self._lost_race(request_id, actor, "resubmit"))

    async def withdraw_clicked(self, request_id: int, actor: Actor,
                               channel: str | None) -> None:
        """The requester withdraws a request still awaiting approval (confirmed in Slack's
        dialog): the card and thread say so, its invoices are free again."""
        request = queries.get_request(self.store, request_id)
        refusal = self.policy.may_withdraw(request, actor)
        if refusal is None:
            try:
                await withdraw(self.store, request_id, actor)
            except StaleState:  # an approver (or the expiry) was first
                now = queries.get_request(self.store, request_id) or {"id": request_id,
                                                                      "status": "?"}
                refusal = self.policy.too_late_to_withdraw(now)
            except sqlite3.Error as exc:
                await self._not_recorded(request_id, actor, channel, exc)
                return
        if refusal is not None:
            text = await self.refused(actor, refusal, request_id if request else None,
                                      action="withdraw")
            await self.io.ephemeral(channel, actor.id, text)
            return
        await self.outbox.flush()  # the card says so, the thread too
        request = queries.get_request(self.store, request_id)
        await self.io.ephemeral(channel, actor.id, t(
            "withdraw.done", self.lang, id=request_id, link=await self.io.permalink(request)))

    async def expire(self) -> list[int]:
        """Requests that waited for approval too long: card, thread, requester, audit."""
        ttl = self.settings.approval_ttl_h
        expired = await expire_overdue(self.store, ttl)
        if expired:
            await self.outbox.flush()
        for request_id in expired:
            request = queries.get_request(self.store, request_id)
            await self.io.direct(request["requester_id"], t(
                "dm.expired", self.lang, id=request_id, hours=f"{ttl:g}",
                link=await self.io.permalink(request)), request_id)
        return expired
