"""The providers the bot can use, by the name CFDI_PROVIDER gives: one line per provider
package. A package offers `connect`, `check`, `ContractError` and `SHIPPED_WSDL` (see
`ProviderPackage`); everything else about it stays inside it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.providers.contract import Provider

# name (CFDI_PROVIDER) -> the package that implements bot.providers.contract for it
PROVIDERS: dict[str, str] = {
    "solucion_factible": "bot.providers.solucion_factible",
}
DEFAULT = "solucion_factible"
# The providers bot/sandbox/ imitates: CFDI_ENDPOINT=sandbox starts their stand-in.
WITH_STAND_IN = frozenset({"solucion_factible"})


class ProviderPackage(Protocol):
    """What the composition root needs of a provider package."""

    ContractError: type[Exception]  # its service description lacks what the bot sends;
                                    # `.problems` holds one sentence per problem
    SHIPPED_WSDL: Path | None       # CFDI_WSDL's default (None: the provider has no WSDL)

    async def connect(self, settings: Settings, endpoint: str | None = None) -> Provider: ...

    async def check(self, settings: Settings, endpoint: str, *, live: bool,
                    say: Callable[[str], None] = print) -> int: ...


def package_named(name: str) -> ProviderPackage:
    return cast(ProviderPackage, importlib.import_module(PROVIDERS[name]))


def package(settings: Settings) -> ProviderPackage:
    """The package CFDI_PROVIDER names (the settings refused any other name)."""
    return package_named(settings.cfdi_provider)


def shipped_wsdl(name: str) -> str:
    """CFDI_WSDL's default for the provider `name`: the copy its package ships ("" if none)."""
    shipped = package_named(name).SHIPPED_WSDL
    return str(shipped) if shipped else ""
