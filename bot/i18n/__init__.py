"""Every text a person reads, in one catalogue per language (`es` default, `en`).

`t(key, lang, **params)` formats one entry. Both catalogues must have the same keys and
the same placeholders (tests/test_i18n.py checks it).
"""

from __future__ import annotations

from typing import Any

from bot.i18n import en, es
from bot.mrkdwn import escape

CATALOGUES: dict[str, dict[str, str]] = {"es": es.MESSAGES, "en": en.MESSAGES}
DEFAULT = "es"


def t(key: str, lang: str = DEFAULT, **params: Any) -> str:
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT])
    return catalogue[key].format(**params)


def known(key: str, lang: str = DEFAULT) -> bool:
    """Whether the catalogue has words for `key` (audit actions added later may not)."""
    return key in CATALOGUES.get(lang, CATALOGUES[DEFAULT])


def code_text(code: str | None, lang: str = DEFAULT, provider_text: str | None = None) -> str:
    """What a provider code means to a finance user; an unknown code keeps code and words,
    escaped for mrkdwn (the provider wrote them, not the bot)."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT])
    if code:
        if code.isdigit():
            key = f"pac.code.{code}"
        elif code.startswith("sat:"):
            key = f"pac.sat.{code[4:]}"
        else:  # timeout, connection, http:502, malformed…
            key = f"pac.{code.split(':')[0]}"
        if key in catalogue:
            return catalogue[key]
    return t("pac.unknown", lang, code=escape(code) or "?", text=escape(provider_text))
