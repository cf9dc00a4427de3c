"""Who may do what, now: the one place that answers "may this person…, and if not, why".

Handlers and use cases ask here, as a chat-ops framework applies one access filter to every
command. Each answer is None (allowed) or a Refusal: `why` names the audit event
(`refused_<why>`), `text` is what the person reads, in their language.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.actors import Actor
from bot.config import Settings
from bot.i18n import t
from bot.slack.directory import Directory
from storage.domain import Row
from storage.states import RequestStatus as RS


@dataclass(frozen=True)
class Refusal:
    """Why a person may not do something: the audit event's name and the words they read."""

    why: str
    text: str


class Policy:
    """Who may do what now: the one access filter every listener and use case asks."""

    def __init__(self, settings: Settings, approvers: Directory, requesters: Directory,
                 escalation: Directory | None = None,
                 reporters: Directory | None = None) -> None:
        self.settings = settings
        self.lang = settings.language
        self.approvers = approvers
        self.requesters = requesters
        # ESCALATION_APPROVERS: may decide a request once it is escalated
        # (bot/watching/reminders.py)
        self.escalation = escalation
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
        if request is None:
            return Refusal("already_decided",
                           t("refused.already_decided", self.lang, id="?", status="?"))
        refusal = self._allowed(await self.may_approve(request, actor.id), "not_approver")
        if refusal is not None:
            return refusal
        if actor.id == request["requester_id"]:
            return Refusal("self_approval", t("refused.self_approval", self.lang))
        if needs is not None and request["status"] != needs:
            return self.already_decided(request)
        return None

    def may_report(self, actor: Actor) -> Refusal | None:
        """The monthly report: approvers and REPORTERS. Answered while Slack waits."""
        member = self.approvers.knows(actor.id)
        if member is not True and self.reporters is not None and not self.reporters.empty:
            reporter = self.reporters.knows(actor.id)
            member = True if reporter else None if None in (member, reporter) else False
        return self._allowed(member, "not_reporter")

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
