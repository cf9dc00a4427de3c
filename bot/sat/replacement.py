"""Reason 01 ("issued with errors, with a relation"): the cancelled invoice must already have a
replacement, a CFDI of the same issuer whose CfdiRelacionados with TipoRelacion 04
(sustitución de los CFDI previos) names the cancelled UUID. The SAT takes the replacement's
UUID with the cancellation; it is the replacement's own XML that says what it replaces.
"""

from __future__ import annotations

from enum import StrEnum

from bot.sat.cfdi import CfdiFacts, Relation


class ReplacementCheck(StrEnum):
    """Reason 01: whether the replacement's XML names the cancelled invoice."""

    RELATED = "related"        # it exists and relates the cancelled invoice with type 04
    UNRELATED = "unrelated"    # it exists but does not name the cancelled invoice with 04
    MISSING = "missing"        # the provider has no such invoice
    UNCHECKED = "unchecked"    # its XML could not be had (the provider did not answer)

    @property
    def flagged(self) -> bool:
        """It should stop an approver: the replacement is not what reason 01 needs."""
        return self in (ReplacementCheck.UNRELATED, ReplacementCheck.MISSING)


def replaces(replacement: CfdiFacts, cancelled: CfdiFacts) -> bool:
    """The replacement names the cancelled invoice as the one it substitutes (04), and both
    come from the same issuer."""
    return replacement.issuer_rfc == cancelled.issuer_rfc and any(
        related.relation == Relation.REPLACEMENT and related.uuid == cancelled.uuid
        for related in replacement.related)


def check(replacement: CfdiFacts | None, cancelled: CfdiFacts, *, found: bool
          ) -> ReplacementCheck:
    """`found` False: the provider said there is no such invoice; a replacement of None with
    `found` True: its XML could not be had or read."""
    if not found:
        return ReplacementCheck.MISSING
    if replacement is None:
        return ReplacementCheck.UNCHECKED
    return ReplacementCheck.RELATED if replaces(replacement, cancelled) \
        else ReplacementCheck.UNRELATED
