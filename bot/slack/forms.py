"""Checking what a person typed in the cancel form, line by line, in their language.

Returns either the clean request or `{block_id: message}` for `response_action: errors`;
nothing is written either way (the caller writes only a clean request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from bot.i18n import t
from bot.providers.contract import MESSAGE_MAX, SUBJECT_MAX, SendRequest, check_email
from bot.sat.reasons import CancelReason
from bot.sat.refs import (
    FOLIO_MAX,
    InvoiceRef,
    codepoint,
    looks_like_uuid,
    normalize_uuid,
    typed,
    unsafe_char,
)

JUSTIFICATION_MAX = 1000
NOTIFY_MAX = 20  # people told of a request besides the requester (one DM each)
_LINE_BREAKS = "\n\r\t"  # what a multi-line field may hold among the control characters
_UUID_ANYWHERE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                            r"[0-9A-Fa-f]{12}")
_SERIE_THEN_SOMETHING = re.compile(r"^(?P<serie>[^\s|\-/]+)[\s\-/]+(?P<folio>\S+)$")
_LINES_SHOWN = 3

# Given ref keys, the rows of those already requested, pending or cancelled elsewhere.
ActiveLookup = Callable[[Sequence[str]], Sequence[dict]]

# Block ids of the cancel and send modals; the errors are keyed by them.
INVOICES, REASON, REPLACEMENT, JUSTIFICATION, NOTIFY = (
    "invoices", "reason", "replacement", "justification", "notify")
XML_FILES = "xml_files"  # the invoices' XML, attached (bot.slack.attachments)
RECIPIENTS, SUBJECT, MESSAGE, ATTACH = "recipients", "subject", "message", "attach"
REJECT_REASON = "reject_reason"
MAX_RECIPIENTS = 20


@dataclass
class CancelForm:
    """A cancel form as typed, checked line by line."""

    refs: list[InvoiceRef]
    reason: CancelReason
    replacement: InvoiceRef | None
    justification: str
    notify: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the form line of each ref

    def taken(self, rows: Sequence[dict], lang: str) -> dict[str, str]:
        """The invoices field's error when some of these are already live elsewhere."""
        line_of = {ref.key: number for ref, number in zip(self.refs, self.lines, strict=True)}
        problems = [t("error.line.active", lang, line=line_of.get(row["ref_key"], "?"),
                      status=t(f"outcome.{row['status']}", lang), request=row["request_id"])
                    for row in sorted(rows, key=lambda r: line_of.get(r["ref_key"], 0))]
        return {INVOICES: _joined(problems, lang)}


def parse_line(line: str, number: int, lang: str) -> InvoiceRef | str:
    """One typed line: the invoice, or the message that says what is wrong with it."""
    line = typed(line).strip()
    if (char := unsafe_char(line, invisible=True)) is not None:
        return t("error.unsafe_char", lang, line=number, char=codepoint(char))
    if uuid := normalize_uuid(line):  # also `{UUID}`, braces and all
        return InvoiceRef(uuid=uuid)
    found = _UUID_ANYWHERE.search(line)
    if found and line != found.group(0):
        return t("error.line.both", lang, line=number)
    if looks_like_uuid(line):
        return t("error.line.mistyped_uuid", lang, line=number, text=line[:40])
    try:
        return InvoiceRef.parse(line)
    except ValidationError:
        pass
    parts = _SERIE_THEN_SOMETHING.match(line)
    if parts and parts["folio"].isdigit() and int(parts["folio"]) > FOLIO_MAX:
        return t("error.line.folio_too_big", lang, line=number, limit=FOLIO_MAX)
    if parts and any(c.isdigit() for c in parts["folio"]) and not parts["folio"].isdigit():
        return t("error.line.folio_not_number", lang, line=number, folio=parts["folio"][:30])
    return t("error.line.not_a_reference", lang, line=number, text=line[:40])


def unsafe_line(text: str, lang: str, allow: str = _LINE_BREAKS) -> str | None:
    """The message for the first line of a free-text field that holds a control or
    direction character, or None when there is none."""
    for number, line in enumerate(text.split("\n"), start=1):
        if (char := unsafe_char(line, allow=allow)) is not None:
            return t("error.unsafe_char", lang, line=number, char=codepoint(char))
    return None


def free_text(text: str | None) -> str:
    """A free-text field as it is kept: NFC, no zero-width characters, no blank edges."""
    return typed(text or "").strip()


def _blank(text: str) -> bool:
    """Nothing left once whitespace and control characters are taken away."""
    return not "".join(c for c in text if not c.isspace() and unsafe_char(c) is None)


def invoice_lines(text: str, limit: int, lang: str
                  ) -> tuple[list[InvoiceRef], list[int], list[str], str | None]:
    """The invoices typed one per line: (refs, their line numbers, problems per line, and
    the message when there are none or too many)."""
    written = [(n, raw) for n, raw in enumerate(typed(text).splitlines(), start=1)
               if raw.strip()]
    if not written:
        return [], [], [], t("error.no_invoices", lang)
    if len(written) > limit:
        return [], [], [], t("error.too_many", lang, count=len(written), limit=limit)
    refs: list[InvoiceRef] = []
    lines: list[int] = []
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    for number, raw in written:
        parsed = parse_line(raw, number, lang)
        if isinstance(parsed, str):
            problems.append(parsed)
        elif parsed.key in first_seen:
            problems.append(t("error.line.duplicate", lang, line=number,
                              first=first_seen[parsed.key]))
        else:
            first_seen[parsed.key] = number
            refs.append(parsed)
            lines.append(number)
    return refs, lines, problems, None


def _joined(messages: list[str], lang: str) -> str:
    shown = " ".join(messages[:_LINES_SHOWN])
    hidden = len(messages) - _LINES_SHOWN
    return f"{shown} {t('error.more', lang, count=hidden)}" if hidden > 0 else shown


def validate_cancel(*, invoices: str, reason: str | None, replacement: str | None,
                    justification: str | None, notify: Sequence[str] = (), limit: int,
                    lang: str, active: ActiveLookup) -> tuple[CancelForm | None, dict[str, str]]:
    errors: dict[str, str] = {}
    refs, lines, problems, invalid = invoice_lines(invoices, limit, lang)
    if invalid:
        errors[INVOICES] = invalid
    first_seen = {ref.key: number for ref, number in zip(refs, lines, strict=True)}

    chosen = CancelReason(reason) if reason in {r.value for r in CancelReason} else None
    if chosen is None:
        errors[REASON] = t("error.reason_missing", lang)

    if refs and not problems:
        taken = {row["ref_key"]: row for row in active([ref.key for ref in refs])}
        for number, ref in zip(lines, refs, strict=True):
            if (row := taken.get(ref.key)) is not None:
                problems.append(t("error.line.active", lang, line=number,
                                  status=t(f"outcome.{row['status']}", lang),
                                  request=row["request_id"]))
    if problems and INVOICES not in errors:
        errors[INVOICES] = _joined(problems, lang)

    # The replacing invoice, like the cancelled ones, by UUID or by serie + folio.
    typed_replacement = free_text(replacement)
    parsed = parse_line(typed_replacement, 1, lang) if typed_replacement else None
    clean_replacement = parsed if isinstance(parsed, InvoiceRef) else None
    if typed_replacement and (unsafe := unsafe_line(typed_replacement, lang, allow="")):
        errors[REPLACEMENT] = unsafe
    elif chosen is CancelReason.WITH_RELATION:
        if not typed_replacement:
            errors[REPLACEMENT] = t("error.replacement_required", lang)
        elif clean_replacement is None:
            errors[REPLACEMENT] = t("error.replacement_invalid", lang,
                                    text=typed_replacement[:40])
        elif clean_replacement.key in first_seen:
            errors[REPLACEMENT] = t("error.replacement_is_cancelled", lang)
    elif typed_replacement and chosen is not None:
        errors[REPLACEMENT] = t("error.replacement_not_allowed", lang)

    text = free_text(justification)
    if _blank(text):
        errors[JUSTIFICATION] = t("error.justification_empty", lang)
    elif unsafe := unsafe_line(text, lang):
        errors[JUSTIFICATION] = unsafe
    elif len(text) > JUSTIFICATION_MAX:
        errors[JUSTIFICATION] = t("error.justification_long", lang, count=len(text),
                                  limit=JUSTIFICATION_MAX)

    people = list(dict.fromkeys(notify))
    if len(people) > NOTIFY_MAX:
        errors[NOTIFY] = t("error.too_many_notify", lang, count=len(people), limit=NOTIFY_MAX)

    if errors or chosen is None:
        return None, errors
    return CancelForm(refs=refs, reason=chosen, replacement=clean_replacement,
                      justification=text, notify=people, lines=lines), {}


def validate_send(*, invoices: str, recipients: str | None, subject: str | None,
                  message: str | None, attach_pdf: bool, limit: int, lang: str,
                  by_uuid_only: bool = True) -> tuple[SendRequest | None, dict[str, str]]:
    """The send form: invoices as for a cancellation, recipients one per line or separated
    by commas or semicolons (syntax only, no DNS), optional subject and message."""
    errors: dict[str, str] = {}
    refs, lines, problems, invalid = invoice_lines(invoices, limit, lang)
    if by_uuid_only:  # the provider's `send` names invoices by UUID only
        problems += [t("error.line.send_needs_uuid", lang, line=n)
                     for n, ref in zip(lines, refs, strict=True) if ref.uuid is None]
    if invalid or problems:
        errors[INVOICES] = invalid or _joined(problems, lang)

    typed = [part.strip() for part in re.split(r"[\n,;]+", recipients or "") if part.strip()]
    emails: list[str] = []
    wrong: list[str] = []
    for number, text in enumerate(typed, start=1):
        try:
            email = check_email(text)
        except PydanticCustomError:
            wrong.append(t("error.recipient.invalid", lang, line=number, text=text[:60]))
            continue
        if email.lower() in (e.lower() for e in emails):
            wrong.append(t("error.recipient.duplicate", lang, line=number, text=text[:60]))
        else:
            emails.append(email)
    if not typed:
        errors[RECIPIENTS] = t("error.no_recipients", lang)
    elif len(typed) > MAX_RECIPIENTS:
        errors[RECIPIENTS] = t("error.too_many_recipients", lang, count=len(typed),
                               limit=MAX_RECIPIENTS)
    elif wrong:
        errors[RECIPIENTS] = _joined(wrong, lang)

    subject = free_text(subject) or None
    message = free_text(message) or None
    if subject and ("\n" in subject or "\r" in subject):
        errors[SUBJECT] = t("error.subject_one_line", lang)
    elif subject and (unsafe := unsafe_line(subject, lang, allow="")):
        errors[SUBJECT] = unsafe
    elif subject and len(subject) > SUBJECT_MAX:
        errors[SUBJECT] = t("error.too_long", lang, count=len(subject), limit=SUBJECT_MAX)
    if message and (unsafe := unsafe_line(message, lang)):
        errors[MESSAGE] = unsafe
    elif message and len(message) > MESSAGE_MAX:
        errors[MESSAGE] = t("error.too_long", lang, count=len(message), limit=MESSAGE_MAX)
    if errors:
        return None, errors
    return SendRequest(refs=refs, emails=emails, subject=subject, message=message,
                       attach_pdf=attach_pdf), {}


def validate_reject(reason: str | None, lang: str) -> tuple[str | None, dict[str, str]]:
    """The reject form's reason: refused when blank or holding control characters."""
    text = free_text(reason)
    if _blank(text):
        return None, {REJECT_REASON: t("error.reject_reason_empty", lang)}
    if unsafe := unsafe_line(text, lang):
        return None, {REJECT_REASON: unsafe}
    return text, {}
