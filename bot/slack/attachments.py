"""The invoices' XML files attached to the cancel form.

Downloading a file is a Slack call, and nothing answered while Slack waits calls Slack, so the
work is split. The form's answer checks what the payload says (`check_files`: names, sizes,
count) and, when files are attached and the form is clean, shows a "checking N files" view.
After the answer (`Attachments.check_and_create`): each file is downloaded with the bot's
token, read as a CFDI (bot.sat.cfdi) and matched to an invoice of the form; only when every
file is good is the request written (the same check-and-write as a form without files), and
the modal shows the confirmation. Otherwise the modal shows the form again, as typed, with the
error under its field naming the file, and nothing is written.

An attached XML is then that invoice's facts (bot.workflow.facts), in place of the provider's copy.
A file's content is never logged nor kept: its name and SHA-256 go with the facts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.actors import Actor
from bot.config import Settings
from bot.i18n import t
from bot.invoice_lists.tables import MAX_LIST_BYTES, is_list
from bot.sat.cfdi import MAX_CFDI_BYTES, CfdiError, CfdiFacts, parse
from bot.sat.refs import InvoiceRef
from bot.slack.forms import INVOICES, XML_FILES, CancelForm
from bot.slack.invoice_files import ListedFiles
from bot.slack.io import DownloadError, SlackIO
from bot.slack.mrkdwn import escape, shown_name
from bot.slack.render import modals
from bot.workflow.facts import AttachedXml

if TYPE_CHECKING:  # the lifecycle writes and announces the request
    from bot.workflow.lifecycle import Lifecycle

log = logging.getLogger(__name__)

MAX_FILES = modals.XML_FILES_MAX


@dataclass(frozen=True)
class AttachedFile:
    """A file as the form's state names it (Slack's file object, the parts the bot uses)."""
    id: str
    name: str
    size: int
    url: str          # url_private_download, else url_private


def check_files(files: Sequence[AttachedFile], lang: str) -> str | None:
    """What the form's answer can check without Slack: how many, named .xml (or one list
    of invoices, bot.slack.invoice_files), not too large. The message for the files field, or
    None."""
    if len(files) > MAX_FILES:
        return t("error.xml.too_many", lang, count=len(files), limit=MAX_FILES)
    lists = [file for file in files if is_list(file.name)]
    if len(lists) > 1:
        return t("bulk.file.two_lists", lang, count=len(lists),
                 names=", ".join(shown_name(file.name) for file in lists))
    problems = []
    for file in files:
        if is_list(file.name):
            if file.size > MAX_LIST_BYTES:
                problems.append(t("bulk.file.too_large", lang, name=shown_name(file.name)))
        elif not file.name.lower().endswith(".xml"):
            problems.append(t("error.xml.not_xml", lang, name=shown_name(file.name)))
        elif file.size > MAX_CFDI_BYTES:
            problems.append(t("error.xml.too_large", lang, name=shown_name(file.name),
                              limit=MAX_CFDI_BYTES // (1024 * 1024)))
    return " ".join(problems) or None


def _names(ref: InvoiceRef, facts: CfdiFacts) -> bool:
    """The invoice this line of the form names is the one the XML is."""
    if ref.uuid:
        return ref.uuid == facts.uuid
    folio = facts.folio or ""
    return ref.serie == (facts.serie or "").upper() and folio.isdigit() and \
        int(folio) == ref.folio


def match(read: Sequence[tuple[AttachedFile, CfdiFacts]], refs: Sequence[InvoiceRef],
          lang: str) -> tuple[dict[str, tuple[AttachedFile, CfdiFacts]], list[str]]:
    """Each file's invoice among the form's ({ref key: file}), and the problems: a file for
    no invoice of the form, two files for one invoice."""
    found: dict[str, tuple[AttachedFile, CfdiFacts]] = {}
    problems = []
    for file, facts in read:
        ref = next((r for r in refs if _names(r, facts)), None)
        if ref is None:
            problems.append(t("error.xml.not_in_form", lang, name=shown_name(file.name),
                              uuid=facts.uuid))
        elif ref.key in found:
            problems.append(t("error.xml.same_invoice", lang, name=shown_name(file.name),
                              other=shown_name(found[ref.key][0].name), uuid=facts.uuid))
        else:
            found[ref.key] = (file, facts)
    return found, problems


class Attachments:
    """The files attached to the cancel form, read after the form's answer."""

    def __init__(self, settings: Settings, io: SlackIO, lifecycle: Lifecycle) -> None:
        self.settings = settings
        self.io = io
        self.lifecycle = lifecycle
        self.lang = settings.language
        self.lists = ListedFiles(io, lifecycle.active_elsewhere, self.lang,
                                 settings.max_invoices)

    async def check_and_create(self, requester: Actor, form: CancelForm,
                               files: Sequence[AttachedFile], typed: Mapping[str, Any], *,
                               view_id: str, source_channel: str | None,
                               client_key: str) -> int | None:
        """After the form's answer: read the files (a list of invoices first: its rows join
        the form), then write the request and confirm it in the modal, or show the form
        again with the errors (nothing written)."""
        listed = next((file for file in files if is_list(file.name)), None)
        source = None
        try:
            if listed is not None:
                found = await self.lists.read(listed, form)
                if found.form is None:
                    await self._back_to_form(view_id, typed, {XML_FILES: found.problem or ""},
                                             requester, source_channel)
                    if found.returned is not None and not await self.lists.hand_back(
                            requester, listed, found):
                        await self.io.ephemeral(source_channel, requester.id, t(
                            "bulk.dm.upload_failed", self.lang, name=shown_name(listed.name)))
                    return None
                form, source = found.form, found.source
            xml = [file for file in files if file is not listed]
            attached, problems = await self._read(xml, form)
            if problems:
                await self._back_to_form(view_id, typed, {XML_FILES: " ".join(problems)},
                                         requester, source_channel)
                return None
            new_id, errors = await self.lifecycle.record_cancel(
                requester, form, source_channel=source_channel, client_key=client_key,
                source=source)
        except Exception:  # a bug: the modal must not say "checking" for ever
            await self._back_to_form(view_id, typed, {INVOICES: t("error.unexpected",
                                                                  self.lang)},
                                     requester, source_channel)
            raise
        if errors:
            await self._back_to_form(view_id, typed, errors, requester, source_channel)
            return None
        if new_id is None:
            return None  # this submission was handled before
        text = t("bulk.created.text", self.lang, id=new_id, count=len(form.refs),
                 listed=len(form.refs) - form.typed_count, name=shown_name(form.source or "")) \
            if listed is not None else \
            t("modal.created.text", self.lang, id=new_id, count=len(attached))
        await self.io.update_view(view_id, modals.notice_modal(
            t("modal.created.title", self.lang), text, lang=self.lang,
            sandbox=self.settings.sandbox))
        await self.lifecycle.announce_cancel(new_id, requester, form,
                                             source_channel=source_channel, attached=attached)
        return new_id

    async def _read(self, files: Sequence[AttachedFile], form: CancelForm
                    ) -> tuple[dict[str, AttachedXml], list[str]]:
        results = await asyncio.gather(*(self._one(file) for file in files))
        problems = [result for result in results if isinstance(result, str)]
        read = [result for result in results if not isinstance(result, str)]
        matched, mismatched = match([(file, facts) for file, facts, _ in read], form.refs,
                                    self.lang)
        digests = {file.id: digest for file, _, digest in read}
        return {key: AttachedXml(name=file.name, sha256=digests[file.id], facts=facts)
                for key, (file, facts) in matched.items()}, problems + mismatched

    async def _one(self, file: AttachedFile) -> tuple[AttachedFile, CfdiFacts, str] | str:
        """One file read: (file, facts, SHA-256), or the message naming it."""
        name = shown_name(file.name)
        try:
            content = await self.io.download(file.url, MAX_CFDI_BYTES)
        except DownloadError as exc:
            log.warning("attached file %s not downloaded: %s", file.id, exc)
            if exc.kind == "refused":
                await self.io.alert_admin("slack:files_read", None,
                                          t("admin.files_refused", self.lang))
            return t(f"error.xml.download_{exc.kind}", self.lang, name=name,
                     limit=MAX_CFDI_BYTES // (1024 * 1024))
        try:
            facts = parse(content)
        except CfdiError as exc:
            return t("error.xml.not_cfdi", self.lang, name=name,
                     why=t(f"cfdi.error.{exc.kind}", self.lang))
        return file, facts, hashlib.sha256(content).hexdigest()

    async def _back_to_form(self, view_id: str, typed: Mapping[str, Any],
                            errors: Mapping[str, str], requester: Actor,
                            source_channel: str | None) -> None:
        """The form again, as typed, each error under its field; when the modal is gone
        (closed meanwhile), the person reads the errors in a message."""
        view = modals.cancel_modal(
            prefill=typed.get(INVOICES) or "", channel_id=source_channel,
            limit=self.settings.max_invoices, lang=self.lang, sandbox=self.settings.sandbox,
            typed=typed, problems=errors)
        if not await self.io.update_view(view_id, view):
            await self.io.ephemeral(source_channel, requester.id, t(
                "ephemeral.form_not_recorded", self.lang,
                problems=escape(" ".join(errors.values()))))
