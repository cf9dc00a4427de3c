"""How many approvals a request needs: REQUIRED_APPROVALS, and APPROVAL_RULES (their models:
bot/approval_rules.py) weighed on what is known of the request. The strictest rule that
applies wins; what is not known yet never lowers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.approval_rules import Basis, Case, Requirement, Rule, TotalRule
from bot.config import Settings
from bot.sat.amounts import mxn_amount
from bot.sat.cfdi import CfdiFacts
from bot.sat.reasons import CancelReason
from storage.states import RequestKind


def weigh(rules: Sequence[Rule], base: int, case: Case) -> Requirement | None:
    """The strictest rule that applies to `case`, never fewer approvals than `base`
    (REQUIRED_APPROVALS). A rule whose subject is not known yet counts as applying: an
    unknown amount or customer never lowers the approvals needed. None without rules."""
    if not rules:
        return None
    said = [(rule, rule.applies(case)) for rule in rules]
    applying = [(rule, known) for rule, known in said if known is not False]
    shown = {"amount": case.amount, "basis": case.basis}
    if not applying or max(rule.approvals for rule, _ in applying) < base:
        return Requirement(approvals=base, also=[r for r, known in applying if known], **shown)
    # On a tie, one that surely applies is named first; among totals, the highest minimum.
    rule, known = max(applying, key=lambda pair: (
        pair[0].approvals, pair[1] is True,
        pair[0].minimum if isinstance(pair[0], TotalRule) else Decimal(0)))
    also = [other for other, sure in applying if sure and other is not rule]
    return Requirement(approvals=rule.approvals, rule=rule, assumed=known is None, also=also,
                       **shown)


def request_amount(invoices: Sequence[CfdiFacts | None]) -> Decimal | None:
    """What total rules compare: the sum of the request's invoice totals in MXN (one
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


def case_of(reason: str | None, invoices: Sequence[CfdiFacts | None] | None) -> Case:
    """What the rules may weigh of a request: its reason (from the form); once its invoices were
    looked up (`invoices`), their total in MXN and their customers, each when every invoice
    is known (an attached XML the SAT did not find is not known: bot.workflow.facts)."""
    known = CancelReason(reason) if reason else None
    if invoices is None:
        return Case(reason=known)
    amount = request_amount(invoices)
    rfcs = None if any(f is None for f in invoices) else frozenset(
        f.receiver_rfc.upper() for f in invoices if f is not None)
    return Case(reason=known, amount=amount, rfcs=rfcs,
                basis=Basis.AMOUNT if amount is not None else Basis.UNCOMPARABLE)


class ApprovalRules:
    """The approvals a new request starts with, and the requirement its invoices settle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def approvals_required(self, kind: RequestKind, reason: str | None = None) -> int:
        """How many distinct approvers a new request needs (0: submitted at once). A
        cancellation under APPROVAL_RULES starts with the strictest rule that may apply to
        its reason: its amount and customers are known only once its invoices' facts arrive
        (`requirement`), and an approver may click first."""
        if kind == RequestKind.SEND:
            return max(self.settings.required_approvals, 1) \
                if self.settings.send_requires_approval else 0
        rule = self.requirement(reason)
        return rule.approvals if rule else self.settings.required_approvals

    def requirement(self, reason: str | None,
                    invoices: Sequence[CfdiFacts | None] | None = None) -> Requirement | None:
        """What APPROVAL_RULES ask of a cancellation with this SAT reason: before its
        invoices are looked up (`invoices` None), the strictest that may apply; after, the
        strictest that applies to their total and customers (None: no APPROVAL_RULES)."""
        return weigh(self.settings.approval_rules, self.settings.required_approvals,
                     case_of(reason, invoices))
