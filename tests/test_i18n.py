"""Both catalogues hold the same keys and placeholders; every provider code has words."""

from __future__ import annotations

import string

from bot.i18n import CATALOGUES, code_text, t
from bot.providers.solucion_factible.codes import CANCELLATION, OPERATION
from bot.sat.estatus_uuid import SAT_UUID
from bot.sat.outcomes import Nuance, Outcome


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    es, en = CATALOGUES["es"], CATALOGUES["en"]
    assert set(es) == set(en)
    for key in es:
        assert placeholders(es[key]) == placeholders(en[key]), key


def test_every_code_outcome_and_nuance_has_text_in_both_languages() -> None:
    for lang, catalogue in CATALOGUES.items():
        for code in [*OPERATION, *CANCELLATION]:
            assert f"solucion_factible.code.{code}" in catalogue, (lang, code)
        for code in SAT_UUID:
            assert f"sat.estatus_uuid.{code}" in catalogue, (lang, code)
        for outcome in Outcome:
            assert f"outcome.{outcome}" in catalogue
        for nuance in Nuance:
            assert f"nuance.{nuance}" in catalogue


def test_an_unknown_code_says_the_code_and_the_provider_words() -> None:
    assert code_text("777", "es", "Algo raro") == "El proveedor respondió el código 777: Algo raro"
    assert code_text("sat:205", "en") == "The SAT says the invoice does not exist."
    assert code_text("http:502", "es") == t("provider.http", "es")
    assert code_text("timeout", "en") == "The provider did not answer in time."
