"""A list of invoices attached to the cancel form (CSV, pipe TXT or XLSX), after the form's
answer: downloaded with the bot's token, read in a worker thread (bot.invoice_lists), every row
checked with the typed lines' rules, and only a list whose every row is good joins the form.
Otherwise the requester gets their whole file back by DM with an `error` column, and the form
shows the first rows' problems under the files field; nothing is written either way here
(bot.slack.attachments writes the request).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.actors import Actor
from bot.i18n import t
from bot.invoice_lists.entries import ActiveLookup, Listed, at, checked
from bot.invoice_lists.returned import file_name, returned
from bot.invoice_lists.rows import Layout, read_rows
from bot.invoice_lists.tables import MAX_LIST_BYTES, Table, UnreadableList, read
from bot.slack.forms import CancelForm, joined
from bot.slack.io import DownloadError, SlackIO
from bot.slack.mrkdwn import shown_name

if TYPE_CHECKING:  # the file as the form's state names it
    from bot.slack.attachments import AttachedFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListRead:
    """What came of a list: the form with its rows (all good), or the message for the files
    field and the file to hand back (`returned`, with its name) when rows are wrong."""
    form: CancelForm | None = None
    problem: str | None = None
    source: dict[str, Any] | None = None     # the file's name, SHA-256 and rows (audit)
    returned: bytes | None = None
    returned_name: str | None = None
    bad_rows: int = 0


def _parse(name: str, content: bytes, max_rows: int, lang: str
           ) -> tuple[Table, Layout, list[tuple[int, Listed | str]]]:
    table = read(name, content, max_rows)
    shape, rows = read_rows(table, lang)
    if len(rows) > max_rows:
        raise UnreadableList("too_many")
    return table, shape, rows


class ListedFiles:
    """Reads a list of invoices attached to the cancel form and checks every row."""

    def __init__(self, io: SlackIO, active: ActiveLookup, lang: str, limit: int) -> None:
        self.io = io
        self.active = active
        self.lang = lang
        self.limit = limit  # MAX_INVOICES: typed lines and rows together

    async def read(self, file: AttachedFile, form: CancelForm) -> ListRead:
        name, lang = shown_name(file.name), self.lang
        try:
            content = await self.io.download(file.url, MAX_LIST_BYTES)
        except DownloadError as exc:
            log.warning("attached list %s not downloaded: %s", file.id, exc)
            if exc.kind == "refused":
                await self.io.alert_admin("slack:files_read", None,
                                          t("admin.files_refused", lang))
            key = "bulk.file.too_large" if exc.kind == "too_large" else \
                f"error.xml.download_{exc.kind}"
            return ListRead(problem=t(key, lang, name=name, limit=MAX_LIST_BYTES >> 20))
        room = max(self.limit - len(form.refs), 0)
        try:  # parsing thousands of rows is CPU work: off the loop that answers Slack
            table, shape, rows = await asyncio.to_thread(_parse, file.name, content, room, lang)
        except UnreadableList as exc:
            return ListRead(problem=t(f"bulk.file.{exc.kind}", lang, name=name,
                                      limit=self.limit))
        problems = {number: row for number, row in rows if isinstance(row, str)}
        items = [row for _, row in rows if isinstance(row, Listed)]
        typed = [Listed(ref=ref, place=line) for ref, line in
                 zip(form.refs, form.lines, strict=True)]
        problems |= {item.place: problem for item, problem in checked(
            items, reason=form.reason, replacement=form.replacement, active=self.active,
            lang=lang, earlier=typed, row=True)}
        source = {"file": file.name, "sha256": hashlib.sha256(content).hexdigest(),
                  "rows": len(rows)}
        if not problems:
            return ListRead(form=form.with_rows(items, file.name), source=source)
        shown = [at(number, problem, lang, row=True)
                 for number, problem in sorted(problems.items())]
        back = await asyncio.to_thread(returned, table, problems, shape.header, lang)
        return ListRead(
            problem=t("bulk.file.rows_wrong", lang, name=name, count=len(problems),
                      first=joined(shown, lang)),
            returned=back, returned_name=file_name(file.name, lang),
            bad_rows=len(problems), source=source)

    async def hand_back(self, requester: Actor, file: AttachedFile, found: ListRead) -> bool:
        """The file with its error column, to the requester by DM."""
        assert found.returned is not None and found.returned_name is not None
        return await self.io.send_file(
            requester.id, found.returned_name, found.returned,
            t("bulk.dm.errors", self.lang, name=shown_name(file.name), count=found.bad_rows))
