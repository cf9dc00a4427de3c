"""Solución Factible's web service "CFDI 3.3": WSDL, zeep client, wire mapping, codes,
errors, `provider check`. What the composition root needs of it is below, the same three
names every provider package offers (bot/providers/registry.py), and its shipped WSDL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.providers.solucion_factible.errors import PacContractError as ContractError
from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.providers.solucion_factible.client import PacClient

__all__ = ["SHIPPED_WSDL", "ContractError", "check", "connect"]


async def connect(settings: Settings, endpoint: str | None = None) -> PacClient:
    """The client (WSDL parsed off the event loop), bound to `endpoint` or CFDI_ENDPOINT."""
    from bot.providers.solucion_factible.client import PacClient
    from bot.retries import RetryPolicy

    return await PacClient.create(
        settings.cfdi_wsdl, endpoint or settings.cfdi_endpoint, usuario=settings.cfdi_usuario,
        password=settings.cfdi_password.get_secret_value(), timeout_s=settings.cfdi_timeout_s,
        batch_size=settings.cfdi_batch_size,
        retry=RetryPolicy(attempts=settings.cfdi_retry_attempts,
                          total_s=settings.cfdi_retry_max_s))


async def check(settings: Settings, endpoint: str, *, live: bool,
                say: Callable[[str], None] = print) -> int:
    """`python -m bot provider check`: the WSDL, the credentials, and (live) one call."""
    from bot.providers.solucion_factible.check import check as run_check

    return await run_check(settings, endpoint, live=live, say=say)
