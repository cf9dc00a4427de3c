"""APPROVAL_RULES as typed models, shared by the settings (which parse them), the workflow
(which weighs them: bot/workflow/rules.py) and the card (which names them): the rules an admin
writes (by the invoices' total in MXN, by the SAT reason, by the customer's RFC), what a
request is known to be when they are weighed (`Case`), and the requirement they settle
(`Requirement`, kept in `requests.approval_rule` and in the audit log).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.sat.reasons import CancelReason

_RULE = re.compile(r"^(?P<kind>total|reason|motivo|rfc)\s*(?P<op>>=|=)\s*(?P<value>[^:\s]+)"
                   r"\s*:\s*(?P<n>\d+)$", re.IGNORECASE)
_AMOUNT = re.compile(r"^\d[\d_]*(?:\.\d{1,2})?$")
_RFC = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}$")
MAX_APPROVALS = 5


class Basis(StrEnum):
    """What the rules were weighed on."""

    PENDING = "pending"            # the invoices' facts are not in yet: the strictest applies
    AMOUNT = "amount"              # the invoices' facts: the request's total in MXN known
    UNCOMPARABLE = "uncomparable"  # some total cannot be put in MXN: the strictest applies


class _Rule(BaseModel):
    """What every rule has: the approvals it asks for."""

    model_config = ConfigDict(frozen=True)
    approvals: int = Field(ge=1, le=MAX_APPROVALS)


class TotalRule(_Rule):
    """`total>=AMOUNT:N`: the sum of the request's invoice totals in MXN reaches AMOUNT."""

    kind: Literal["total"] = "total"
    minimum: Decimal

    def applies(self, case: Case) -> bool | None:
        return None if case.amount is None else case.amount >= self.minimum


class ReasonRule(_Rule):
    """`reason=01:N`: the request's SAT reason is this one."""

    kind: Literal["reason"] = "reason"
    reason: CancelReason

    def applies(self, case: Case) -> bool | None:
        return None if case.reason is None else case.reason == self.reason


class RfcRule(_Rule):
    """`rfc=XAXX010101000:N`: one of the request's invoices is made out to this customer."""

    kind: Literal["rfc"] = "rfc"
    rfc: str

    def applies(self, case: Case) -> bool | None:
        return None if case.rfcs is None else self.rfc in case.rfcs


Rule = Annotated[TotalRule | ReasonRule | RfcRule, Field(discriminator="kind")]


class Case(BaseModel):
    """What the rules look at in one request, as far as it is known now (None: not known)."""

    model_config = ConfigDict(frozen=True)
    reason: CancelReason | None = None
    amount: Decimal | None = None
    rfcs: frozenset[str] | None = None
    basis: Basis = Basis.PENDING


class Requirement(BaseModel):
    """The approvals a cancellation needs under APPROVAL_RULES, and why: the strictest rule
    that applies (None: no rule asks for more than REQUIRED_APPROVALS), whether it applies
    only because what it looks at is not known yet (`assumed`), the other rules that apply
    for certain, and the amount when known."""

    approvals: int
    rule: Rule | None = None
    assumed: bool = False
    also: list[Rule] = Field(default_factory=list)
    amount: Decimal | None = None
    basis: Basis = Basis.PENDING

    @model_validator(mode="before")
    @classmethod
    def _before_issue_22(cls, data: Any) -> Any:
        """Rows written before rules looked beyond the amount: {approvals, minimum, amount,
        basis}, where `minimum` named the total rule applied."""
        if isinstance(data, dict) and "minimum" in data:
            data = dict(data)
            minimum = data.pop("minimum")
            data["rule"] = (TotalRule(minimum=Decimal(minimum), approvals=data["approvals"])
                            if minimum is not None else None)
            data["assumed"] = data.get("basis") != Basis.AMOUNT and minimum is not None
        return data

    @classmethod
    def read(cls, stored: str | None) -> Requirement | None:
        """The requirement kept in `requests.approval_rule` (JSON), if any."""
        return cls.model_validate_json(stored) if stored else None

    def as_json(self) -> dict[str, Any]:
        """For the audit log and the requests row (plain JSON values)."""
        return json.loads(self.model_dump_json())


def parse_rules(text: str) -> list[Rule]:
    """APPROVAL_RULES, e.g. `reason=01:1,total>=100000:2,rfc=XAXX010101000:2`. Raises
    ValueError naming the part that is wrong."""
    rules: dict[tuple[str, str], Rule] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RULE.match(part)
        if match is None:
            raise ValueError(f"{part[:40]!r} is not total>=AMOUNT:N, reason=NN:N nor rfc=RFC:N")
        kind, op, value, approvals = (match["kind"].lower(), match["op"], match["value"],
                                      int(match["n"]))
        if not 1 <= approvals <= MAX_APPROVALS:
            raise ValueError(f"{part[:40]!r} asks for {approvals} approvals, not 1 to 5")
        rule: Rule
        if kind == "total":
            if op != ">=" or not _AMOUNT.match(value):
                raise ValueError(f"{part[:40]!r} is not total>=AMOUNT:N")
            rule = TotalRule(minimum=Decimal(value.replace("_", "")), approvals=approvals)
            key = str(rule.minimum)
        elif kind in ("reason", "motivo"):
            if op != "=" or value not in {r.value for r in CancelReason}:
                raise ValueError(f"{part[:40]!r}: the reason is one of 01, 02, 03, 04")
            rule = ReasonRule(reason=CancelReason(value), approvals=approvals)
            key = value
        else:
            rfc = value.upper()
            if op != "=" or not _RFC.match(rfc):
                raise ValueError(f"{part[:40]!r}: {value[:20]!r} is not an RFC")
            rule = RfcRule(rfc=rfc, approvals=approvals)
            key = rfc
        if (rule.kind, key) in rules:
            raise ValueError(f"two rules for {rule.kind} {key}")
        rules[(rule.kind, key)] = rule
    return list(rules.values())
