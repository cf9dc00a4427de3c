"""Secrets out of everything written or logged: the raw value and every form it takes once
escaped or encoded (XML/HTML entities, JSON and Python string escapes, URL encoding, base64).

A password with `"` `\\` `'` `<` `&` `>` is written differently in an XML body, a JSON column, a
Slack message or a log line; replacing only the raw text lets those forms through. The set of
forms is built once; `scrub` replaces them longest first, and `scrub_value` scrubs every string
of a JSON-like value before it is serialised (so no replacement can break the JSON).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

# How `"` and `'` may appear once escaped for XML or HTML (`&`, `<`, `>` always are).
_QUOTES = {'"': ('"', "&quot;", "&#34;", "&#x22;"),
           "'": ("'", "&apos;", "&#39;", "&#x27;")}


def _entity_forms(raw: str) -> set[str]:
    """`raw` with `&` `<` `>` escaped, and each way of writing the quotes."""
    base = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    forms = {base}
    for quote_char, options in _QUOTES.items():
        forms = {form.replace(quote_char, option) for form in forms for option in options}
    # Only `&` escaped (Slack's mrkdwn leaves the quotes alone too, and so does lxml in text).
    forms.add(raw.replace("&", "&amp;"))
    return forms


def _string_forms(text: str) -> set[str]:
    """How `text` appears inside a JSON string or a Python repr."""
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
            repr(text)[1:-1], repr(text + '"')[1:-2]}


def variants(secret: str) -> set[str]:
    """Every form of one secret that may end up in a column, a message or a log line."""
    if not secret:
        return set()
    entity = _entity_forms(secret)
    forms = {secret} | entity
    for form in list(forms):
        forms |= _string_forms(form)
    forms |= {json.dumps(json.dumps(secret)[1:-1])[1:-1]}  # JSON inside JSON (a payload logged)
    forms |= {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {form for form in forms if form}


class Redactor:
    """The secrets in force, each with all its forms; built once, used for every write."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = set(itertools.chain.from_iterable(variants(s) for s in secrets if s))
        # Longest first, so a form that contains another is replaced whole.
        self.forms: list[str] = sorted(forms, key=lambda f: (-len(f), f))
        # Each form as it reads inside a JSON string (escaping is per character, so a string
        # holding a form holds its escaped form once encoded).
        self._encoded = [json.dumps(f, ensure_ascii=False)[1:-1] for f in self.forms]

    def absent_from(self, encoded: str) -> bool:
        """No form appears in this JSON text (ensure_ascii off): nothing in it to scrub."""
        return not any(form in encoded for form in self._encoded)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def scrub(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def scrub_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (keys too) scrubbed."""
        if not self.forms:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_value(v) for v in value]
        return value
