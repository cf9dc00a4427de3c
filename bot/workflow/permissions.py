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

    def __init__(self, settings: Settings, approvers: Directory, requesters: Directory) -> None:
        self.settings = settings
        self.lang = settings.language
        self.approvers = approvers
        self.requesters = requesters

    async def refresh(self) -> bool:
        """Read the user groups of APPROVERS and REQUESTERS again (in the background);
        True when every group is known."""
        approvers, requesters = await asyncio.gather(self.approvers.refresh(),
                                                     self.requesters.refresh())
        return approvers and requesters

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
        refusal = self._allowed(await self.approvers.contains(actor.id), "not_approver")
        if refusal is not None:
            return refusal
        if actor.id == request["requester_id"]:
            return Refusal("self_approval", t("refused.self_approval", self.lang))
        if needs is not None and request["status"] != needs:
            return self.already_decided(request)
        return None

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
