"""The providers the bot can use, by the name CFDI_PROVIDER gives: one line per provider
package. A package offers `connect`, `check` and `ContractError` (see `ProviderPackage`);
everything else about it stays inside it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from bot.providers.solucion_factible.wsdl import SHIPPED_WSDL

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.providers.contract import Provider

# name (CFDI_PROVIDER) -> the package that implements bot.providers.contract for it
PROVIDERS: dict[str, str] = {
    "solucion_factible": "bot.providers.solucion_factible",
}
DEFAULT = "solucion_factible"
DEFAULT_WSDL = SHIPPED_WSDL  # CFDI_WSDL's default: the default provider's shipped WSDL


class ProviderPackage(Protocol):
    """What the composition root needs of a provider package."""

    ContractError: type[Exception]  # its service description lacks what the bot sends

    async def connect(self, settings: Settings, endpoint: str | None = None) -> Provider: ...

    async def check(self, settings: Settings, endpoint: str, *, live: bool,
                    say: Callable[[str], None] = print) -> int: ...


def package(settings: Settings) -> ProviderPackage:
    """The package CFDI_PROVIDER names (the settings refused any other name)."""
    return cast(ProviderPackage, importlib.import_module(PROVIDERS[settings.cfdi_provider]))
