"""One listed invoice: a typed line or a file's row, read into its reference, its own SAT
reason and (reason 01) its own replacement; and the checks every list gets, whichever way it
came (duplicates, invoices live in another request, 01 without a replacement, a replacement
that is also being cancelled).

A problem is a bare message ("«FAC» no es un UUID…"); the caller says where it was, "Línea 3:"
on the form or "Fila 7:" of a file (`at`), so one wording serves both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from bot.i18n import t
from bot.sat.reasons import CancelReason
from bot.sat.refs import (
    FOLIO_MAX,
    InvoiceRef,
    codepoint,
    looks_like_uuid,
    negative_folio,
    normalize_uuid,
    typed,
    unsafe_char,
)

_UUID_ANYWHERE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                            r"[0-9A-Fa-f]{12}")
_SERIE_THEN_SOMETHING = re.compile(r"^(?P<serie>[^\s|\-/]+)[\s\-/]+(?P<folio>\S+)$")
# A reason as people write it: 2, 02, "02 - Comprobante emitido con errores sin relación".
_REASON = re.compile(r"^0?(?P<code>[1-4])(?:\.0+)?(?:\s*[-–—:.]\s*\D.*)?$")
# Where a typed line's own reason stands: `INVOICE 01 REPLACEMENT`, spaces around the code.
_REASON_TOKEN = re.compile(r"\s+(0[1-4])(?=\s|$)")
# Excel's scientific notation for a long number (1.23E+18): its digits are already lost.
_EXCEL_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[Ee][+-]?\d+$")

# Given ref keys, the rows of those already requested, pending or cancelled elsewhere.
ActiveLookup = Callable[[Sequence[str]], Sequence[dict]]
ACTIVE_CHUNK = 900  # keys asked of SQLite at once (well under its variable limit)


@dataclass(frozen=True)
class Listed:
    """One invoice as listed, with the reason and replacement it carries (None: the form's)."""
    ref: InvoiceRef
    reason: CancelReason | None = None
    replacement: InvoiceRef | None = None
    place: int = 0  # its line on the form, or its row in the file


@dataclass(frozen=True)
class Chosen:
    """The reason an invoice is cancelled with and its replacement, once the form's
    defaults are applied."""
    reason: CancelReason
    replacement: InvoiceRef | None


def at(place: int, problem: str, lang: str, *, row: bool = False) -> str:
    """A problem said where it is: on a line of the form, or on a row of a file."""
    return t("bulk.row" if row else "error.line", lang, **{"row" if row else "line": place},
             problem=problem)


def excel_number(text: str) -> bool:
    """A value Excel showed in scientific notation (a long folio it turned into a number)."""
    return bool(_EXCEL_NUMBER.match(text.strip()))


def reference(text: str, lang: str) -> InvoiceRef | str:
    """A text naming one invoice (a UUID, or serie and folio), or the problem with it."""
    line = typed(text).strip()
    if (char := unsafe_char(line, invisible=True)) is not None:
        return t("error.line.unsafe_char", lang, char=codepoint(char))
    if uuid := normalize_uuid(line):  # also `{UUID}`, braces and all
        return InvoiceRef(uuid=uuid)
    found = _UUID_ANYWHERE.search(line)
    if found and line != found.group(0):
        return t("error.line.both", lang)
    if looks_like_uuid(line):
        return t("error.line.mistyped_uuid", lang, text=line[:40])
    if excel_number(line):
        return t("bulk.excel_number", lang, text=line[:30])
    if negative_folio(line):
        return t("error.line.folio_negative", lang, text=line[:40])
    try:
        return InvoiceRef.parse(line)
    except ValidationError:
        pass
    parts = _SERIE_THEN_SOMETHING.match(line)
    if parts and parts["folio"].isdigit() and int(parts["folio"]) > FOLIO_MAX:
        return t("error.line.folio_too_big", lang, limit=FOLIO_MAX)
    if parts and excel_number(parts["folio"]):
        return t("bulk.excel_number", lang, text=parts["folio"][:30])
    if parts and any(c.isdigit() for c in parts["folio"]) and not parts["folio"].isdigit():
        return t("error.line.folio_not_number", lang, folio=parts["folio"][:30])
    return t("error.line.not_a_reference", lang, text=line[:40])


def reason_of(text: str, lang: str) -> CancelReason | str | None:
    """A reason cell or token: the reason, None when blank, or the problem."""
    clean = typed(text).strip()
    if not clean:
        return None
    found = _REASON.match(clean)
    if found is None:
        return t("bulk.reason_invalid", lang, text=clean[:30])
    return CancelReason(f"0{found['code']}")


def entry(reference_text: str, reason_text: str, replacement_text: str, place: int,
          lang: str) -> Listed | str:
    """An invoice with its own reason and replacement (blank: the form's), or the problem."""
    ref = reference(reference_text, lang)
    if isinstance(ref, str):
        return ref
    reason = reason_of(reason_text, lang)
    if reason is not None and not isinstance(reason, CancelReason):
        return reason  # the problem (a CancelReason is a str too)
    replacement = None
    if replacement_text.strip():
        parsed = reference(replacement_text, lang)
        if isinstance(parsed, str):
            return t("bulk.replacement_invalid", lang, problem=parsed)
        replacement = parsed
    if replacement is not None and reason not in (None, CancelReason.WITH_RELATION):
        return t("bulk.replacement_not_allowed", lang)
    if reason is CancelReason.WITH_RELATION and replacement is None:
        return t("bulk.replacement_required", lang)
    return Listed(ref=ref, reason=reason, replacement=replacement, place=place)


def typed_entry(line: str, place: int, lang: str) -> Listed | str:
    """A line of the invoices field: `INVOICE`, or `INVOICE 01 REPLACEMENT`, `INVOICE 02`
    (also with `|` or tabs between the parts, as pasted from a spreadsheet)."""
    text = typed(line).strip()
    if "|" in text or "\t" in text:
        parts = [part.strip() for part in re.split(r"[|\t]", text)]
        if len(parts) > 3:
            return t("bulk.too_many_parts", lang)
        return entry(*[*parts, "", ""][:3], place, lang)
    whole = reference(text, lang)
    if isinstance(whole, InvoiceRef):
        return Listed(ref=whole, place=place)
    for token in _REASON_TOKEN.finditer(text):
        head, tail = text[:token.start()], text[token.end():]
        if isinstance(reference(head, lang), InvoiceRef):
            return entry(head, token.group(1), tail, place, lang)
    return whole


def choose(item: Listed, reason: CancelReason | None, replacement: InvoiceRef | None
           ) -> Chosen | None:
    """The invoice's reason and replacement, the form's where it gives none; None when the
    form's reason is unknown (its own error is on the reason field)."""
    chosen = item.reason or reason
    if chosen is None:
        return None
    if chosen is not CancelReason.WITH_RELATION:
        return Chosen(chosen, None)
    return Chosen(chosen, item.replacement or replacement)


def checked(items: Sequence[Listed], *, reason: CancelReason | None,
            replacement: InvoiceRef | None, active: ActiveLookup, lang: str,
            earlier: Sequence[Listed] = (), row: bool = False,
            defaults_checked: bool = False) -> list[tuple[Listed, str]]:
    """Every problem among `items` that needs the whole list to be seen: a repeated invoice
    (also one of `earlier`, the form's typed lines, when these are a file's rows), reason 01
    without a replacement, a replacement that is also being cancelled or given without 01,
    an invoice live in another request. `defaults_checked`: the form's own reason and
    replacement were checked on their fields, so the items that take them are not blamed
    for them. `(item, problem)` in list order; none means the list is clean."""
    problems: dict[int, str] = {}
    first: dict[str, Listed] = {item.ref.key: item for item in reversed(earlier)}
    typed_keys = set(first)
    for index, item in enumerate(items):
        seen = first.get(item.ref.key)
        if seen is None:
            first[item.ref.key] = item
        elif not row:
            problems[index] = t("error.line.duplicate", lang, first=seen.place)
        else:
            problems[index] = t("bulk.duplicate_typed" if item.ref.key in typed_keys
                                else "bulk.duplicate_row", lang, first=seen.place)
    cancelled = set(first)
    for index, item in enumerate(items):
        own = item.reason is not None or item.replacement is not None
        chosen = choose(item, reason, replacement)
        if index in problems or chosen is None or (defaults_checked and not own):
            continue
        if chosen.reason is not CancelReason.WITH_RELATION and item.replacement is not None:
            problems[index] = t("bulk.replacement_not_allowed", lang)
        elif chosen.reason is CancelReason.WITH_RELATION and chosen.replacement is None:
            problems[index] = t("bulk.replacement_required", lang)
        elif chosen.replacement is not None and chosen.replacement.key in cancelled:
            problems[index] = t("bulk.replacement_is_cancelled", lang,
                                ref=chosen.replacement.key)
    # Live elsewhere: asked for every item not wrong already, so a file comes back with all
    # its problems at once.
    keys = [item.ref.key for index, item in enumerate(items) if index not in problems]
    taken: dict[str, dict] = {}
    for start in range(0, len(keys), ACTIVE_CHUNK):
        taken |= {found["ref_key"]: found for found in active(keys[start:start + ACTIVE_CHUNK])}
    for index, item in enumerate(items):
        if index not in problems and (found := taken.get(item.ref.key)) is not None:
            problems[index] = active_problem(found, lang)
    return [(items[index], problems[index]) for index in sorted(problems)]


def active_problem(found: dict, lang: str) -> str:
    """An invoice already live in another request: its status there and which request."""
    return t("error.line.active", lang, status=t(f"outcome.{found['status']}", lang),
             request=found["request_id"])
