"""One invoice to cancel: the reference, the SAT reason and (reason 01) the replacement,
which, like the cancelled invoice, may be named by UUID or by serie + folio."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef, normalize_uuid, uuid_or_error


class CancelItem(BaseModel):
    """One invoice to cancel, with its SAT reason and, for 01, its replacement."""

    model_config = ConfigDict(frozen=True)

    ref: InvoiceRef
    reason: CancelReason
    replacement: InvoiceRef | None = None

    @field_validator("replacement", mode="before")
    @classmethod
    def _replacement(cls, value: Any) -> Any:
        """A reference, or its text: a UUID or a stored SERIE-FOLIO key."""
        if value in (None, ""):
            return None
        if isinstance(value, str):
            if normalize_uuid(value):
                return InvoiceRef(uuid=value)
            if "-" not in value.strip("-"):
                uuid_or_error(value, "replacement")  # neither form: say what a UUID is
            return InvoiceRef.from_key(value)
        return value

    @model_validator(mode="after")
    def _replacement_rules(self) -> CancelItem:
        if self.reason.needs_replacement:
            if self.replacement is None:
                raise PydanticCustomError(
                    "replacement_required", "reason 01 needs the replacing invoice"
                )
            if self.replacement.key == self.ref.key:
                raise PydanticCustomError(
                    "replacement_is_self", "the replacement must differ from the cancelled invoice"
                )
        elif self.replacement is not None:
            raise PydanticCustomError(
                "replacement_not_allowed", "a replacement UUID is only given with reason 01"
            )
        return self
