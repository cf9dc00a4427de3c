"""The monthly report delivered: `/cfdi reporte [AAAA-MM]` to the person who asked, the
report sent without asking to REPORT_CHANNEL, and the same files on disk (`python -m bot
report`).

Nothing here runs before the ack but `asked`, which only parses and checks permission from
what is known. The figures, the chart and the spreadsheet are made by a process of its own
(bot.reporting.worker) on a read-only connection (storage.reporting.snapshot), so the loop
that answers Slack neither waits for them, nor for a write lock, nor shares its interpreter
with them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.actors import SYSTEM, Actor
from bot.config import Settings
from bot.i18n import t
from bot.reporting import chart, figures, sheet
from bot.reporting.months import Month, due, last_closed, send_time
from bot.runtime.tasks import Tasks
from bot.slack.io import SlackIO
from bot.workflow.permissions import Policy
from storage import reporting
from storage.store import AuditStore

log = logging.getLogger(__name__)

CHECK_AT_LEAST_EVERY_S = 6 * 3600   # the schedule is looked at again at least this often
RETRY_S = 600                      # a scheduled report Slack refused is tried again
MESSAGE = "message.json"           # what the worker writes beside the files (worker.py)


@dataclass(frozen=True)
class Produced:
    """What the worker process made for Slack: the message, the files, how many invoices."""

    payload: dict[str, Any]
    files: list[tuple[str, bytes]]
    invoices: int


class WorkerFailed(Exception):
    """The report's worker process did not finish (its last words in the message)."""


@dataclass(frozen=True)
class Made:
    """A month's report and its files."""

    report: figures.MonthReport
    png: bytes
    xlsx: bytes
    csv: bytes

    def files(self) -> list[tuple[str, bytes]]:
        return list(zip(names(self.report.month), (self.png, self.xlsx, self.csv),
                        strict=True))


def names(month: Month) -> list[str]:
    """The report's files: the chart, the spreadsheet, the CSV."""
    return [f"reporte-cfdi-{month}.{kind}" for kind in ("png", "xlsx", "csv")]


def make(store: AuditStore, month: Month, *, lang: str, zone: ZoneInfo) -> Made:
    """The report of `month` with its chart and spreadsheet (blocking: the worker process
    or the command line)."""
    start, end = month.bounds(zone)
    with reporting.snapshot(store) as view:
        requests = reporting.month_requests(view, start, end)
        rows = reporting.month_invoices(view, start, end)
    report = figures.build(month, requests, rows, zone, store.clock())
    return Made(report, chart.render(report, lang), sheet.xlsx(report, lang),
                sheet.csv_bytes(report, lang))


def write_files(made: Made, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in made.files():
        path = folder / name
        path.write_bytes(content)
        written.append(path)
    return written


class Reports:
    """`/cfdi reporte` and the report sent on the month's first business day."""

    def __init__(self, settings: Settings, store: AuditStore, io: SlackIO, policy: Policy,
                 tasks: Tasks) -> None:
        self.settings, self.store, self.io, self.policy, self.tasks = \
            settings, store, io, policy, tasks
        self.lang = settings.language
        self._lock = asyncio.Lock()
        # One worker process at a time (each draws a chart and writes a spreadsheet: seconds
        # of a core), and one report per person and month in the making: asking again while
        # it is being made joins it rather than starting another.
        self._workers = asyncio.Semaphore(1)
        self._making: set[tuple[str, str]] = set()

    def asked(self, actor: Actor, text: str
              ) -> tuple[dict[str, Any], Coroutine[Any, Any, None] | None]:
        """The answer to `/cfdi reporte [AAAA-MM]` (never calling Slack) and the work to run
        after it, if any."""
        refusal = self.policy.may_report(actor)
        if refusal is not None:
            return self.io.msg(refusal.text), self.io.audit(
                actor, f"refused_{refusal.why}", details={"command": "report"})
        zone = self.settings.zone
        month = Month.parse(text) if text.strip() else last_closed(self.store.clock(), zone)
        if month is None:
            return self.io.msg(t("report.usage", self.lang)), None
        if month > Month.of(self.store.clock().astimezone(zone).date()):
            return self.io.msg(t("report.future", self.lang, month=str(month))), None
        key = (actor.id, str(month))
        if key in self._making:
            return self.io.msg(t("report.already_preparing", self.lang, month=str(month))), None
        self._making.add(key)
        return (self.io.msg(t("report.preparing", self.lang, month=str(month))),
                self._made_for(actor, month, key))

    async def _made_for(self, actor: Actor, month: Month, key: tuple[str, str]) -> None:
        try:
            await self.to_person(actor, month)
        finally:
            self._making.discard(key)

    async def produce(self, month: Month) -> Produced:
        """The month's message and files, made by a process of its own (bot.reporting.worker)
        so that the event loop never shares its interpreter with the work."""
        settings = self.settings
        async with self._workers:
            return await self._produced(month, settings)

    async def _produced(self, month: Month, settings: Settings) -> Produced:
        with tempfile.TemporaryDirectory(prefix="cfdi-report-") as folder:
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.reporting.worker", reporting.path_of(self.store),
                str(month), folder, "--lang", self.lang, "--timezone", settings.timezone,
                "--made-at", self.store.clock().isoformat(),
                *(["--sandbox"] if settings.sandbox else []),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, said = await worker.communicate()
            if worker.returncode != 0:
                raise WorkerFailed(said.decode(errors="replace").strip()[-500:])
            out = Path(folder)
            message = json.loads((out / MESSAGE).read_text(encoding="utf-8"))
            files = [(name, (out / name).read_bytes()) for name in names(month)]
        return Produced(message["payload"], files, int(message["invoices"]))

    async def to_person(self, actor: Actor, month: Month) -> None:
        """The report in the person's DM with the bot: only they see it, and the files stay."""
        made = await self.produce(month)
        opened = await self.io.call("conversations.open", self.io.client.conversations_open,
                                    users=actor.id)
        if not opened:
            return
        channel = opened["channel"]["id"]
        if await self.post(channel, made):
            await self.io.audit(actor, "report_made", details={
                "month": str(month), "invoices": made.invoices})

    async def post(self, channel: str, made: Produced) -> str | None:
        """The report's message, then its chart and spreadsheet; the message's ts, or None
        when Slack refused the message (the refusal is audited by SlackIO)."""
        posted = await self.io.call("chat.postMessage", self.io.client.chat_postMessage,
                                    channel=channel, **made.payload)
        if not posted:
            return None
        await self.io.call(
            "files.uploadV2", self.io.client.files_upload_v2, channel=channel,
            file_uploads=[{"content": content, "filename": name, "title": name}
                          for name, content in made.files])
        return str(posted["ts"])

    # -- sent without asking -------------------------------------------------------------

    async def scheduled(self) -> float:
        """The periodic task (Tasks.every): the first call, at start, sends a report whose
        time has come and that was never posted; then it sleeps until the next one."""
        settings = self.settings
        zone, hour, calendar = settings.zone, settings.report_hour, settings.calendar
        now = self.store.clock().astimezone(zone)
        if settings.report_channel:
            month = due(now, hour, zone, calendar)
            if not await self.send_scheduled(month, settings.report_channel):
                return RETRY_S
        upcoming = send_time(last_closed(now, zone), hour, zone, calendar)
        if upcoming <= now:
            upcoming = send_time(last_closed(now, zone).next(), hour, zone, calendar)
        return min(max((upcoming - now).total_seconds(), 1.0), CHECK_AT_LEAST_EVERY_S)

    async def send_scheduled(self, month: Month, channel: str) -> bool:
        """Post `month`'s report to `channel` unless it was posted already; False when Slack
        refused it (tried again later). Never two at once."""
        async with self._lock:
            record = reporting.sent_report(self.store, str(month))
            if record is not None and record["posted_ts"]:
                return True
            async with self.store.writing() as tx:
                reporting.report_attempted(tx, str(month), channel)
            try:
                made = await self.produce(month)
            except WorkerFailed as exc:
                log.error("the monthly report of %s could not be made: %s", month, exc)
                return False
            ts = await self.post(channel, made)
            if ts is None:
                return False
            async with self.store.writing() as tx:
                reporting.report_posted(tx, str(month), ts)
                tx.record(SYSTEM, "report_sent", details={
                    "month": str(month), "channel": channel, "ts": ts,
                    "invoices": made.invoices})
            return True

