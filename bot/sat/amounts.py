"""An invoice's total in Mexican pesos, from what the invoice itself states (its currency and
TipoCambio): what approval rules weigh and a large request's card adds up."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.sat.cfdi import CfdiFacts


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
