"""Who may do what, now: the one place that answers "may this person…, and if not, why".

Handlers and use cases ask here, as a chat-ops framework applies one access filter to every
command. Each answer is None (allowed) or a Refusal: `why` names the audit event
(`refused_<why>`), `text` is what the person reads, in their language.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.actors import Actor
from bot.approvers import Directory
from bot.config import Settings
from bot.i18n import t
from storage.domain import Row
from storage.states import RequestStatus as RS


@dataclass(frozen=True)
class Refusal:
    why: str
    text: str


class Policy:
    def __init__(self, settings: Settings, approvers: Directory, requesters: Directory) -> None:
        self.settings = settings
        self.lang = settings.language
        self.approvers = approvers
        self.requesters = requesters

    async def is_approver(self, user_id: str) -> bool:
        return await self.approvers.contains(user_id)

    async def may_request(self, actor: Actor) -> Refusal | None:
        """REQUESTERS, when set, is an allow-list of who may ask to cancel or send."""
        if self.requesters.empty or await self.requesters.contains(actor.id):
            return None
        return Refusal("requester", t("refused.requester", self.lang))

    async def may_decide(self, request: Row | None, actor: Actor,
                         needs: RS | None = None) -> Refusal | None:
        """Approve, reject or retry: configured approvers only, never the requester, and
        (with `needs`) only while the request is in that state."""
        if request is None:
            return Refusal("already_decided",
                           t("refused.already_decided", self.lang, id="?", status="?"))
        if not await self.is_approver(actor.id):
            return Refusal("not_approver", t("refused.not_approver", self.lang))
        if actor.id == request["requester_id"]:
            return Refusal("self_approval", t("refused.self_approval", self.lang))
        if needs is not None and request["status"] != needs:
            return self.already_decided(request)
        return None

    def already_decided(self, request: Row) -> Refusal:
        return Refusal("already_decided", t(
            "refused.already_decided", self.lang, id=request["id"],
            status=t(f"request.{request['status']}", self.lang)))

    def already_voted(self, request_id: int) -> Refusal:
        return Refusal("already_voted", t("refused.already_voted", self.lang, id=request_id))

    async def may_see_history(self, viewer: Actor, whose: str) -> Refusal | None:
        """Anyone sees their own requests; approvers see anyone's."""
        if whose == viewer.id or await self.is_approver(viewer.id):
            return None
        return Refusal("history_other", t("refused.history_other", self.lang))

    def approvals_required(self, kind: str) -> int:
        """How many distinct approvers a new request needs (0: submitted at once)."""
        if kind == "send":
            return max(self.settings.required_approvals, 1) \
                if self.settings.send_requires_approval else 0
        return self.settings.required_approvals

    @staticmethod
    def approvals_to_approve(request: Row) -> int:
        """A click on Approve always counts as one approval, even on a 0-approval request."""
        return max(request["approvals_required"], 1)
