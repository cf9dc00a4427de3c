"""Who may do what, now: the one place that answers "may this person…, and if not, why".

Handlers and use cases ask here, as a chat-ops framework applies one access filter to every
command. Each answer is None (allowed) or a Refusal: `why` names the audit event
(`refused_<why>`), `text` is what the person reads, in their language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.actors import Acting, Actor
from bot.config import Settings
from bot.i18n import t
from bot.slack.directory import Directory
from bot.slack.mrkdwn import mention
from storage import delegations, queries
from storage.domain import Row
from storage.states import RequestStatus as RS
from storage.store import AuditStore


@dataclass(frozen=True)
class Refusal:
    """Why a person may not do something: the audit event's name and the words they read."""

    why: str
    text: str


class Policy:
    """Who may do what now: the one access filter every listener and use case asks."""

    def __init__(self, settings: Settings, approvers: Directory, requesters: Directory,
                 escalation: Directory | None = None, store: AuditStore | None = None,
                 reporters: Directory | None = None) -> None:
        self.settings = settings
        self.lang = settings.language
        self.approvers = approvers
        self.requesters = requesters
        # ESCALATION_APPROVERS: may decide a request once it is escalated
        # (bot/watching/reminders.py)
        self.escalation = escalation
        self.store = store  # the delegations and decisions on record (None: no stand-ins)
        self.reporters = reporters  # REPORTERS: may ask for the monthly report

    async def refresh(self) -> bool:
        """Read the user groups of APPROVERS, REQUESTERS, ESCALATION_APPROVERS and REPORTERS
        again (in the background); True when every group is known."""
        lists = [self.approvers, self.requesters,
                 *(d for d in (self.escalation, self.reporters) if d is not None)]
        return all(await asyncio.gather(*(d.refresh() for d in lists)))

    async def may_approve(self, request: Row, user_id: str) -> bool | None:
        """In APPROVERS, or in ESCALATION_APPROVERS once the request is escalated; None when
        it depends on a group never read."""
        member = await self.approvers.contains(user_id)
        if member is True or self.escalation is None or not request.get("escalated_at"):
            return member
        escalated = await self.escalation.contains(user_id)
        return True if escalated else (None if None in (member, escalated) else False)

    async def is_approver(self, user_id: str) -> bool:
        """After the ack (may wait a bounded time for Slack): False when unsure."""
        return await self.approvers.contains(user_id) is True

    def may_request(self, actor: Actor) -> Refusal | None:
        """REQUESTERS, when set, is an allow-list of who may ask to cancel or send.
        Answered while Slack waits: from what is known, never calling Slack."""
        if self.requesters.empty:
            return None
        return self._allowed(self.requesters.knows(actor.id), "requester")

    async def may_decide(self, request: Row | None, actor: Actor,
                         needs: RS | None = None) -> Refusal | None:
        """Approve, reject or retry: configured approvers only, never the requester, and
        (with `needs`) only while the request is in that state."""
        decided = await self.decider(request, actor, needs)
        return decided if isinstance(decided, Refusal) else None

    async def decider(self, request: Row | None, actor: Actor,
                      needs: RS | None = None) -> Refusal | Acting:
        """Who decides and in whose name: an approver in their own; a stand-in
        (`/cfdi delegar`) in the place of the approver who named them, while the delegation
        is in force. Never the requester (nor in the requester's place), never twice for one
        approver (theirs and their stand-in's vote count once), one decision per person."""
        if request is None:
            return Refusal("already_decided",
                           t("refused.already_decided", self.lang, id="?", status="?"))
        member = await self.may_approve(request, actor.id)
        acting: Refusal | Acting = Acting(actor) if member else (
            await self._in_place_of(request, actor) if member is False else
            Refusal("unverified", t("refused.unverified", self.lang)))
        if isinstance(acting, Refusal):
            return acting
        if actor.id == request["requester_id"]:
            return Refusal("self_approval", t("refused.self_approval", self.lang))
        if needs is not None and request["status"] != needs:
            return self.already_decided(request)
        if acting.by is None and (by := self._decided_for(request, actor.id)) is not None:
            return Refusal("already_voted_in_place", t(
                "refused.already_voted_in_place", self.lang, user=mention(by),
                id=request["id"]))
        return acting

    async def _in_place_of(self, request: Row, actor: Actor) -> Refusal | Acting:
        """A person who is no approver decides only as a stand-in: the first approver in
        force who named them and may still decide this request."""
        named = delegations.for_delegate(self.store, actor.id, self.store.clock()) \
            if self.store is not None else []
        first: Refusal | None = None
        for delegation in named:
            voter = Actor(delegation["delegator_id"], delegation["delegator_name"])
            if not await self.may_approve(request, voter.id):
                continue  # no longer an approver: the delegation gives nothing
            refusal = self._stand_in_refusal(request, actor, voter)
            if refusal is None:
                return Acting(voter, actor)
            first = first or refusal
        return first or Refusal("not_approver", t("refused.not_approver", self.lang))

    def _stand_in_refusal(self, request: Row, actor: Actor, voter: Actor) -> Refusal | None:
        who = mention(voter.id)
        if actor.id == request["requester_id"]:
            return Refusal("delegate_own_request",
                           t("refused.delegate_own_request", self.lang, voter=who))
        if voter.id == request["requester_id"]:
            return Refusal("delegate_for_requester",
                           t("refused.delegate_for_requester", self.lang, voter=who))
        decisions = queries.decisions(self.store, request["id"]) if self.store else []
        if any(d["user_id"] == voter.id for d in decisions):
            return Refusal("delegate_already_decided", t(
                "refused.delegate_already_decided", self.lang, voter=who, id=request["id"]))
        if any(actor.id in (d["user_id"], d["acted_by_id"]) for d in decisions):
            return self.already_voted(request["id"])
        return None

    def may_report(self, actor: Actor) -> Refusal | None:
        """The monthly report: approvers and REPORTERS. Answered while Slack waits."""
        member = self.approvers.knows(actor.id)
        if member is not True and self.reporters is not None and not self.reporters.empty:
            reporter = self.reporters.knows(actor.id)
            member = True if reporter else None if None in (member, reporter) else False
        return self._allowed(member, "not_reporter")

    def _decided_for(self, request: Row, voter_id: str) -> str | None:
        """The stand-in who already decided this request in the approver's place, if any."""
        decisions = queries.decisions(self.store, request["id"]) if self.store else []
        return next((d["acted_by_id"] for d in decisions
                     if d["user_id"] == voter_id and d["acted_by_id"]), None)

    # -- delegations and withdrawals -----------------------------------------------------

    async def may_delegate(self, delegator: Actor, delegate: Actor) -> Refusal | None:
        """`/cfdi delegar`: approvers only, and never to themselves (after the ack)."""
        refusal = self._allowed(await self.approvers.contains(delegator.id),
                                "delegate_not_approver")
        if refusal is None and delegate.id == delegator.id:
            return Refusal("delegate_self", t("refused.delegate_self", self.lang))
        return refusal

    def delegation_loop(self, delegator: Actor, delegate: Actor, *,
                        standing_in_for: Sequence[Row], delegate_away: Sequence[Row]
                        ) -> Refusal | None:
        """No chains and no loops (read under the write lock): the stand-in must not be away
        with a stand-in of their own (A->B->C), nor the approver be someone's stand-in
        (their delegation is not theirs to pass on), nor the two stand in for each other
        (A->B->A)."""
        if any(d["delegate_id"] == delegator.id for d in delegate_away):
            return Refusal("delegate_loop", t("refused.delegate_loop", self.lang,
                                              delegate=mention(delegate.id)))
        if standing_in_for:
            return Refusal("delegate_chain", t(
                "refused.delegate_chain_you", self.lang,
                delegator=mention(standing_in_for[0]["delegator_id"])))
        if delegate_away:
            return Refusal("delegate_chain", t("refused.delegate_chain", self.lang,
                                               delegate=mention(delegate.id)))
        return None

    def may_withdraw(self, request: Row | None, actor: Actor) -> Refusal | None:
        """Only the requester, and only while the request awaits approval."""
        if request is None:
            return Refusal("already_decided",
                           t("refused.already_decided", self.lang, id="?", status="?"))
        if actor.id != request["requester_id"]:
            return Refusal("withdraw_not_requester",
                           t("refused.withdraw_not_requester", self.lang))
        if request["status"] != RS.AWAITING_APPROVAL:
            return self.too_late_to_withdraw(request)
        return None

    def too_late_to_withdraw(self, request: Row) -> Refusal:
        return Refusal("withdraw_too_late", t(
            "refused.withdraw_too_late", self.lang, id=request["id"],
            status=t(f"request.{request['status']}", self.lang)))

    def _allowed(self, member: bool | None, why: str) -> Refusal | None:
        """In the list: allowed; not in it: refused; unknown (a user group never read
        from Slack): refused as "could not check now", never as "not allowed"."""
        if member:
            return None
        if member is None:
            return Refusal("unverified", t("refused.unverified", self.lang))
        return Refusal(why, t(f"refused.{why}", self.lang))

    def already_decided(self, request: Row) -> Refusal:
        return Refusal("already_decided", t(
            "refused.already_decided", self.lang, id=request["id"],
            status=t(f"request.{request['status']}", self.lang)))

    def already_voted(self, request_id: int) -> Refusal:
        return Refusal("already_voted", t("refused.already_voted", self.lang, id=request_id))

    async def may_see_history(self, viewer: Actor, whose: str) -> Refusal | None:
        """Anyone sees their own requests; approvers see anyone's. Answered while Slack
        waits: from what is known, never calling Slack."""
        if whose == viewer.id:
            return None
        return self._allowed(self.approvers.knows(viewer.id), "history_other")
