"""The shapes the store reads and writes, beside the states (storage/states.py)."""

from __future__ import annotations

from dataclasses import dataclass
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
