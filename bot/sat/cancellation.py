"""One invoice to cancel: the reference, the SAT reason and (reason 01) the replacement."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef, uuid_or_error


class CancelItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: InvoiceRef
    reason: CancelReason
    replacement: str | None = None

    @field_validator("replacement", mode="before")
    @classmethod
    def _replacement(cls, value: Any) -> Any:
        return None if value in (None, "") else uuid_or_error(value, "replacement")

    @model_validator(mode="after")
    def _replacement_rules(self) -> CancelItem:
        if self.reason.needs_replacement:
            if self.replacement is None:
                raise PydanticCustomError(
                    "replacement_required", "reason 01 needs the UUID of the replacing invoice"
                )
            if self.ref.uuid is None:
                raise PydanticCustomError(
                    "replacement_needs_uuid",
                    "reason 01 needs the cancelled invoice by UUID: the provider takes the "
                    "replacement only beside a UUID",
                )
            if self.replacement == self.ref.uuid:
                raise PydanticCustomError(
                    "replacement_is_self", "the replacement must differ from the cancelled invoice"
                )
        elif self.replacement is not None:
            raise PydanticCustomError(
                "replacement_not_allowed", "a replacement UUID is only given with reason 01"
            )
        return self
