"""How many approvals a request needs: REQUIRED_APPROVALS, and APPROVAL_RULES by the
request's amount in MXN (what the amount is, and when it is known, is decided here too)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.config import Settings
from bot.sat.amounts import mxn_amount
from bot.sat.cfdi import CfdiFacts
from storage.states import RequestKind


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


class ApprovalRules:
    """The approvals a new request starts with, and the rule its amount settles on."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def approvals_required(self, kind: RequestKind) -> int:
        """How many distinct approvers a new request needs (0: submitted at once). A
        cancellation under APPROVAL_RULES starts with the strictest rule: its amount is known
        only once its invoices' facts arrive (`rule_for`), and an approver may click first."""
        if kind == RequestKind.SEND:
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
