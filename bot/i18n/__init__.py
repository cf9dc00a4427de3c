"""Every text a person reads, in one catalogue per language (`es` default, `en`), each in
parts: what users read in Slack (`es.py`, and the decisions' words: stand-ins, withdrawal,
approval rules, `es_decisions.py`), what operators read (`es_operations.py`), and the
monthly report's words (`es_report.py`).

`t(key, lang, **params)` formats one entry. Both catalogues must have the same keys and
the same placeholders (tests/test_i18n.py checks it).
"""

from __future__ import annotations

import importlib
from typing import Any

from bot.i18n import (
    en,
    en_decisions,
    en_large,
    en_operations,
    en_report,
    es,
    es_decisions,
    es_large,
    es_operations,
    es_report,
)
from bot.providers.registry import DEFAULT as DEFAULT_PROVIDER
from bot.providers.registry import PROVIDERS
from bot.slack.mrkdwn import escape

DEFAULT = "es"


def _catalogues() -> dict[str, dict[str, str]]:
    """The bot's words, and each provider's words for its own codes (kept in its package,
    keyed `<provider>.code.<code>`)."""
    catalogues = {"es": es.MESSAGES | es_decisions.MESSAGES | es_large.MESSAGES | es_operations.MESSAGES
                  | es_report.MESSAGES,
                  "en": en.MESSAGES | en_decisions.MESSAGES | en_large.MESSAGES | en_operations.MESSAGES
                  | en_report.MESSAGES}
    for package in PROVIDERS.values():
        words = importlib.import_module(f"{package}.words")
        catalogues["es"].update(words.ES)
        catalogues["en"].update(words.EN)
    return catalogues


CATALOGUES: dict[str, dict[str, str]] = _catalogues()
# The SAT's "not cancellable" (EstatusUUID 204) only restates the status word.
_SAID_BY_STATUS = {"sat:204"}
# ... and, per provider, its own codes that do (its words module's SAID_BY_STATUS).
_PROVIDER_SAID_BY_STATUS: dict[str, frozenset[str]] = {
    name: frozenset(importlib.import_module(f"{package}.words").SAID_BY_STATUS)
    for name, package in PROVIDERS.items()}


def said_by_status(code: str | None, provider: str | None = None) -> bool:
    """The code's words would only restate the invoice's status ("cannot be cancelled")."""
    return code in _SAID_BY_STATUS or \
        code in _PROVIDER_SAID_BY_STATUS.get(provider or DEFAULT_PROVIDER, frozenset())


def t(key: str, lang: str = DEFAULT, **params: Any) -> str:
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT])
    return catalogue[key].format(**params)


def known(key: str, lang: str = DEFAULT) -> bool:
    """Whether the catalogue has words for `key` (audit actions added later may not)."""
    return key in CATALOGUES.get(lang, CATALOGUES[DEFAULT])


def code_text(code: str | None, lang: str = DEFAULT, provider_text: str | None = None,
              provider: str | None = None) -> str:
    """What a code on record means to a finance user: the provider's own code (digits), the
    SAT's EstatusUUID it relayed (`sat:201`), or what went wrong calling it (timeout,
    connection, http:502, malformed…). An unknown code keeps code and words, escaped for
    mrkdwn (the provider wrote them, not the bot). `provider`: CFDI_PROVIDER's name."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT])
    if code:
        if code.isdigit():
            key = f"{provider or DEFAULT_PROVIDER}.code.{code}"
        elif code.startswith("sat:"):
            key = f"sat.estatus_uuid.{code[4:]}"
        else:
            key = f"provider.{code.split(':')[0]}"
        if key in catalogue:
            return catalogue[key]
    return t("provider.unknown", lang, code=escape(code) or "?", text=escape(provider_text))
