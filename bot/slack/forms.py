"""Checking what a person typed in the cancel form, line by line, in their language.

Returns either the clean request or `{block_id: message}` for `response_action: errors`;
nothing is written either way (the caller writes only a clean request).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic_core import PydanticCustomError

from bot.i18n import t
from bot.invoice_lists.entries import (
    ActiveLookup,
    Chosen,
    Listed,
    active_problem,
    at,
    checked,
    choose,
    reference,
    typed_entry,
)
from bot.providers.contract import MESSAGE_MAX, SUBJECT_MAX, SendRequest, check_email
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef, codepoint, typed, unsafe_char

JUSTIFICATION_MAX = 1000
NOTIFY_MAX = 20  # people told of a request besides the requester (one DM each)
INVOICES_MAX_CHARS = 3000  # Slack's plain_text_input holds at most 3,000 characters
_LINE_BREAKS = "\n\r\t"  # what a multi-line field may hold among the control characters
_LINES_SHOWN = 3

# Block ids of the cancel and send modals; the errors are keyed by them.
INVOICES, REASON, REPLACEMENT, JUSTIFICATION, NOTIFY = (
    "invoices", "reason", "replacement", "justification", "notify")
XML_FILES = "xml_files"  # the invoices' XML, or a list of invoices, attached
                         # (bot.slack.attachments, bot.slack.invoice_files)
RECIPIENTS, SUBJECT, MESSAGE, ATTACH = "recipients", "subject", "message", "attach"
REJECT_REASON = "reject_reason"
MAX_RECIPIENTS = 20


@dataclass
class CancelForm:
    """A clean cancel form: its invoices (typed, then a file's rows), the form's reason and
    replacement, and each invoice's own reason where it carries one."""
    refs: list[InvoiceRef]
    reason: CancelReason
    replacement: InvoiceRef | None
    justification: str
    notify: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the form line (or file row) of each ref
    own: dict[str, Listed] = field(default_factory=dict)  # by ref key: a reason of its own
    typed_count: int = -1  # refs[:typed_count] were typed, the rest came from `source`
    source: str | None = None  # the name of the file that listed the rest

    def chosen(self, ref: InvoiceRef) -> Chosen:
        """The reason and replacement this invoice is cancelled with."""
        listed = self.own.get(ref.key) or Listed(ref=ref)
        found = choose(listed, self.reason, self.replacement)
        assert found is not None
        return found

    def with_rows(self, rows: list[Listed], source: str) -> CancelForm:
        """This form with a file's rows after its typed lines."""
        return CancelForm(
            refs=[*self.refs, *(r.ref for r in rows)], reason=self.reason,
            replacement=self.replacement, justification=self.justification,
            notify=self.notify, lines=[*self.lines, *(r.place for r in rows)],
            own={**self.own, **{r.ref.key: r for r in rows if r.reason or r.replacement}},
            typed_count=len(self.refs), source=source)

    def taken(self, rows: Sequence[dict], lang: str) -> dict[str, str]:
        """The invoices field's error when some of these are already live elsewhere."""
        typed_count = len(self.refs) if self.typed_count < 0 else self.typed_count
        where = {ref.key: (index >= typed_count, number) for index, (ref, number) in
                 enumerate(zip(self.refs, self.lines, strict=True))}
        problems = [at(number, active_problem(row, lang), lang, row=in_file)
                    for in_file, number, row in sorted(
                        (*where.get(row["ref_key"], (False, 0)), row) for row in rows)]
        return {INVOICES: joined(problems, lang)}


def parse_line(line: str, number: int, lang: str) -> InvoiceRef | str:
    """One typed line naming an invoice: the invoice, or the message that says what is
    wrong with it (naming the line)."""
    found = reference(line, lang)
    return found if isinstance(found, InvoiceRef) else at(number, found, lang)


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
                  ) -> tuple[list[Listed], list[str], str | None]:
    """The invoices typed one per line, each maybe with its own reason and replacement:
    (the invoices, the problems per line, and the message when there are too many)."""
    written = [(n, raw) for n, raw in enumerate(typed(text).splitlines(), start=1)
               if raw.strip()]
    if len(written) > limit:
        return [], [], t("error.too_many", lang, count=len(written), limit=limit)
    items: list[Listed] = []
    problems: list[str] = []
    for number, raw in written:
        parsed = typed_entry(raw, number, lang)
        if isinstance(parsed, str):
            problems.append(at(number, parsed, lang))
        else:
            items.append(parsed)
    return items, problems, None


def joined(messages: list[str], lang: str) -> str:
    """The first few problems, and how many more there are."""
    shown = " ".join(messages[:_LINES_SHOWN])
    hidden = len(messages) - _LINES_SHOWN
    return f"{shown} {t('error.more', lang, count=hidden)}" if hidden > 0 else shown


def validate_cancel(*, invoices: str, reason: str | None, replacement: str | None,
                    justification: str | None, notify: Sequence[str] = (), limit: int,
                    lang: str, active: ActiveLookup, listed_in_file: bool = False
                    ) -> tuple[CancelForm | None, dict[str, str]]:
    """`listed_in_file`: a list of invoices is attached, so the typed field may be empty,
    and the rows (read after the answer, bot.slack.invoice_files) are checked then."""
    errors: dict[str, str] = {}
    items, problems, invalid = invoice_lines(invoices, limit, lang)
    if invalid:
        errors[INVOICES] = invalid
    elif not items and not problems and not listed_in_file:
        errors[INVOICES] = t("error.no_invoices", lang)

    chosen = CancelReason(reason) if reason in {r.value for r in CancelReason} else None
    if chosen is None:
        errors[REASON] = t("error.reason_missing", lang)

    # The form's replacing invoice, like the cancelled ones, by UUID or by serie + folio.
    typed_replacement = free_text(replacement)
    parsed = reference(typed_replacement, lang) if typed_replacement else None
    clean_replacement = parsed if isinstance(parsed, InvoiceRef) else None
    by_form = any(item.reason is None for item in items) or listed_in_file
    if typed_replacement and (unsafe := unsafe_line(typed_replacement, lang, allow="")):
        errors[REPLACEMENT] = unsafe
    elif chosen is CancelReason.WITH_RELATION:
        if not typed_replacement and by_form and not listed_in_file:
            errors[REPLACEMENT] = t("error.replacement_required", lang)
        elif typed_replacement and clean_replacement is None:
            errors[REPLACEMENT] = t("error.replacement_invalid", lang,
                                    text=typed_replacement[:40])
        elif clean_replacement and clean_replacement.key in {i.ref.key for i in items}:
            errors[REPLACEMENT] = t("error.replacement_is_cancelled", lang)
    elif typed_replacement and chosen is not None:
        errors[REPLACEMENT] = t("error.replacement_not_allowed", lang)

    if items and not problems and not invalid:
        problems = [at(item.place, problem, lang) for item, problem in checked(
            items, reason=chosen, replacement=clean_replacement, active=active, lang=lang,
            defaults_checked=True)]
    if problems and INVOICES not in errors:
        errors[INVOICES] = joined(problems, lang)

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
    return CancelForm(refs=[i.ref for i in items], reason=chosen,
                      replacement=clean_replacement, justification=text, notify=people,
                      lines=[i.place for i in items],
                      own={i.ref.key: i for i in items if i.reason or i.replacement}), {}


def validate_send(*, invoices: str, recipients: str | None, subject: str | None,
                  message: str | None, attach_pdf: bool, limit: int, lang: str,
                  by_uuid_only: bool = True) -> tuple[SendRequest | None, dict[str, str]]:
    """The send form: invoices as for a cancellation, recipients one per line or separated
    by commas or semicolons (syntax only, no DNS), optional subject and message."""
    errors: dict[str, str] = {}
    written = [(n, raw) for n, raw in enumerate(typed(invoices).splitlines(), start=1)
               if raw.strip()]
    refs: list[InvoiceRef] = []
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    for number, raw in written:
        found = reference(raw, lang)
        if isinstance(found, str):
            problems.append(at(number, found, lang))
        elif found.key in first_seen:
            problems.append(at(number, t("error.line.duplicate", lang,
                                         first=first_seen[found.key]), lang))
        elif found.uuid is None and by_uuid_only:  # the provider's `send` names by UUID
            problems.append(at(number, t("error.line.send_needs_uuid", lang), lang))
        else:
            first_seen[found.key] = number
            refs.append(found)
    if not written:
        errors[INVOICES] = t("error.no_invoices", lang)
    elif len(written) > limit:
        errors[INVOICES] = t("error.too_many", lang, count=len(written), limit=limit)
    elif problems:
        errors[INVOICES] = joined(problems, lang)

    listed = [part.strip() for part in re.split(r"[\n,;]+", recipients or "") if part.strip()]
    emails: list[str] = []
    wrong: list[str] = []
    for number, text in enumerate(listed, start=1):
        try:
            email = check_email(text)
        except PydanticCustomError:
            wrong.append(t("error.recipient.invalid", lang, line=number, text=text[:60]))
            continue
        if email.lower() in (e.lower() for e in emails):
            wrong.append(t("error.recipient.duplicate", lang, line=number, text=text[:60]))
        else:
            emails.append(email)
    if not listed:
        errors[RECIPIENTS] = t("error.no_recipients", lang)
    elif len(listed) > MAX_RECIPIENTS:
        errors[RECIPIENTS] = t("error.too_many_recipients", lang, count=len(listed),
                               limit=MAX_RECIPIENTS)
    elif wrong:
        errors[RECIPIENTS] = joined(wrong, lang)

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
