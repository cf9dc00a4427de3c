"""The shapes the store reads and writes, beside the states (storage/states.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

Row = dict[str, Any]


class Who(Protocol):
    """Whoever acted (bot.actors.Actor): recorded as actor_id and actor_name."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class NewInvoice:
    """An invoice of a request about to be written."""

    ref_key: str            # the UUID, or SERIE-FOLIO
    uuid: str | None = None
    serie: str | None = None
    folio: int | None = None
    reason: str | None = None       # its own SAT reason; None: the request's
    replacement: str | None = None  # its own replacement's key; None: the request's


@dataclass(frozen=True)
class ThreadLine:
    """One invoice's line in a thread reply, frozen when its status changed: kept in the
    outbox as JSON (`as_json`), read back by the renderer (`of`)."""

    ref: str                            # the invoice as typed
    status: str                         # its new status
    code: str | None = None             # the provider's code (or why the call failed)
    detalle: str | None = None          # the provider's own words
    sat_estado: str | None = None       # the SAT's Estado, when it answered
    sat_cancelacion: str | None = None  # ... and its EstatusCancelacion
    sat_error: str | None = None        # why the SAT gave no answer ("off": not asked)
    hours: float | None = None          # how long the SAT is (or was) asked to confirm

    def as_json(self) -> dict[str, Any]:
        """Without the SAT's fields it has not (a line says what the SAT said, or nothing)."""
        return {key: value for key, value in asdict(self).items()
                if value is not None or key in ("code", "detalle")}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ThreadLine:
        return cls(**{field.name: data.get(field.name) for field in fields(cls)})
