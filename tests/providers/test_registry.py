"""The provider registry: a second provider is its package plus one line in PROVIDERS (and,
to run on the sandbox, a stand-in in bot/sandbox/ named in WITH_STAND_IN)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.providers import registry


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    package = types.ModuleType("acme_provider")
    package.SHIPPED_WSDL = Path("/opt/acme/acme.wsdl")  # type: ignore[attr-defined]
    package.ContractError = ValueError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_provider", package)
    monkeypatch.setitem(registry.PROVIDERS, "acme", "acme_provider")
    return package


def test_a_registered_provider_is_chosen_by_name_with_its_own_wsdl(
        acme: types.ModuleType) -> None:
    settings = load_settings(_env_file=None, cfdi_provider="acme",
                             cfdi_endpoint="https://acme.example/ws")
    assert registry.package(settings) is acme
    assert settings.cfdi_wsdl == "/opt/acme/acme.wsdl"
    assert load_settings(_env_file=None).cfdi_wsdl.endswith(
        "bot/providers/solucion_factible/cfdi33.wsdl")


def test_the_sandbox_imitates_only_the_providers_it_has_a_stand_in_for(
        acme: types.ModuleType) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, cfdi_provider="acme")
    (problem,) = refused.value.problems
    assert problem.startswith("CFDI_ENDPOINT 'sandbox' is not valid (the sandbox imitates "
                              "solucion_factible only; give acme's address)")


def test_an_unknown_provider_is_refused_in_one_sentence() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, cfdi_provider="nadie")
    (problem,) = refused.value.problems
    assert problem.startswith("CFDI_PROVIDER 'nadie' is not valid")
