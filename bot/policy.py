"""Who may do what, now: the one place that answers "may this person…, and if not, why".

Handlers and use cases ask here, as a chat-ops framework applies one access filter to every
command. Each answer is None (allowed) or a Refusal: `why` names the audit event
(`refused_<why>`), `text` is what the person reads, in their language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.actors import Actor
from bot.approvers import Directory
from bot.config import Settings
from bot.i18n import t
from bot.sat.cfdi import CfdiFacts
from storage.domain import Row
from storage.states import RequestStatus as RS


@dataclass(frozen=True)
class Refusal:
    why: str
    text: str


class Basis(StrEnum):
    """What an amount rule was chosen on."""

    PENDING = "pending"            # the invoices' facts are not in yet: the strictest rule
    AMOUNT = "amount"              # the request's total in MXN
    UNCOMPARABLE = "uncomparable"  # some total cannot be put in MXN: the strictest rule


@dataclass(frozen=True)
class AmountRule:
    """The approvals a cancellation needs under APPROVAL_RULES, and why (shown on the card,
    kept in `requests.approval_rule` and in the audit log)."""

    approvals: int
    minimum: str | None      # the rule applied: total >= minimum (None: no rule asks for
                             # more than REQUIRED_APPROVALS)
    amount: str | None       # the request's total in MXN, when known
    basis: Basis

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def mxn_amount(facts: CfdiFacts) -> Decimal | None:
    """An invoice's total in MXN: as stated in MXN, or converted at the exchange rate the
    invoice itself states (TipoCambio); None when it cannot be (no rate, an unreadable one).
    A document without currency (XXX: payment receipts, transfers) counts only when its total
    is zero, as it always is."""
    if facts.currency == "MXN":
        return facts.amount
    if facts.currency == "XXX":
        return facts.amount if facts.amount == 0 else None
    try:
        rate = Decimal(facts.exchange_rate or "")
    except InvalidOperation:
        return None
    return facts.amount * rate if rate.is_finite() and rate > 0 else None


def request_amount(invoices: Sequence[CfdiFacts | None]) -> Decimal | None:
    """What APPROVAL_RULES compare: the sum of the request's invoice totals in MXN (one
    approval covers them all, so ten invoices of 90,000 weigh as one of 900,000). None when
    any invoice's total is unknown (no facts) or cannot be put in MXN: an amount the bot
    cannot compare never lowers the approvals needed."""
    total = Decimal(0)
    for facts in invoices:
        amount = mxn_amount(facts) if facts is not None else None
        if amount is None:
            return None
        total += abs(amount)
    return total


class Policy:
    def __init__(self, settings: Settings, approvers: Directory, requesters: Directory,
                 escalation: Directory | None = None) -> None:
        self.settings = settings
        self.lang = settings.language
        self.approvers = approvers
        self.requesters = requesters
        # ESCALATION_APPROVERS: they may decide a request once it is escalated (bot/reminders)
        self.escalation = escalation

    async def refresh(self) -> bool:
        """Read the user groups of APPROVERS, REQUESTERS and ESCALATION_APPROVERS again (in
        the background); True when every group is known."""
        lists = [self.approvers, self.requesters, *([self.escalation] if self.escalation
                                                    else [])]
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

    def approvals_required(self, kind: str) -> int:
        """How many distinct approvers a new request needs (0: submitted at once). A
        cancellation under APPROVAL_RULES starts with the strictest rule: its amount is known
        only once its invoices' facts arrive (`rule_for`), and an approver may click first."""
        if kind == "send":
            return max(self.settings.required_approvals, 1) \
                if self.settings.send_requires_approval else 0
        strictest = self.strictest_rule()
        return strictest.approvals if strictest else self.settings.required_approvals

    def strictest_rule(self, basis: Basis = Basis.PENDING) -> AmountRule | None:
        """What a cancellation needs while its amount is unknown (None: no APPROVAL_RULES)."""
        rules, base = self.settings.approval_rules, self.settings.required_approvals
        if not rules:
            return None
        minimum, approvals = max(rules, key=lambda rule: (rule[1], rule[0]))
        if approvals < base:
            return AmountRule(base, None, None, basis)
        return AmountRule(approvals, str(minimum), None, basis)

    def rule_for(self, amount: Decimal | None) -> AmountRule | None:
        """The rule for a request of `amount` MXN (None: unknown, so the strictest); never
        fewer approvals than REQUIRED_APPROVALS."""
        if amount is None:
            return self.strictest_rule(Basis.UNCOMPARABLE)
        if not self.settings.approval_rules:
            return None
        reached = [rule for rule in self.settings.approval_rules if rule[0] <= amount]
        base = self.settings.required_approvals
        if not reached or max(n for _, n in reached) < base:
            return AmountRule(base, None, str(amount), Basis.AMOUNT)
        minimum, approvals = max(reached, key=lambda rule: (rule[1], rule[0]))
        return AmountRule(approvals, str(minimum), str(amount), Basis.AMOUNT)
