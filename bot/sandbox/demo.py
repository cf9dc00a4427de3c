"""`python -m bot demo`: the whole flow offline, with every outside system simulated.

The sandbox provider, the Slack stand-in and the bot (serving HTTP on a free port) start;
a driver plays Ana, who asks to cancel five invoices (the provider's own test UUIDs among
them), and Beto, who approves. The transcript shows what each person would see in Slack;
the pending cancellation is asked again until the receiver accepts; Ana e-mails an invoice
with `/cfdi enviar`;
and the audit trail that all of it left in its own file (data/demo.db, or --db) is printed
and verified.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from bot.blocks import APPROVE_ACTION
from bot.config import Settings
from bot.i18n import t
from bot.mrkdwn import local
from bot.sandbox.render import blocks_to_lines
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from storage import queries

REQUESTER, APPROVER = "U0ANA", "U0BETO"
DEMO_INVOICES = [
    "E329DD15-7D0B-44E9-A204-51A7443D1FBE",  # the provider's test UUID: cannot be cancelled
    "C5E58106-6C1E-41C9-A211-FB8BAD1CABB0",  # the provider's test UUID: stays in process
    "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B",  # any other UUID: cancelled at once
    "7B1E4D22-9A3C-4F10-FA11-2C3D4E5F6A7B",  # pending, then the receiver accepts
    "9D8C7B6A-5E4F-4A3B-F213-1C2D3E4F5A6B",  # refused by the receiver
]
STAYS_PENDING = DEMO_INVOICES[1]
RESOLVE_AFTER_S = 3.0


class Transcript:
    """Prints what appeared in the Slack stand-in since the last look."""

    def __init__(self, slack: SlackStandIn, say: Callable[[str], None], lang: str) -> None:
        self.slack, self.say, self.lang = slack, say, lang
        self.seen: dict[tuple[str, str], int] = {}
        self.ephemerals = self.views = 0
        self.files: set[str] = set()

    def _lines(self, where: str, blocks: list[dict]) -> None:
        self.say("  " + where)
        for line in blocks_to_lines(blocks, self.slack.users, self.slack.channels):
            self.say("    " + line)

    def show(self) -> None:
        users, channels = self.slack.users, self.slack.channels
        for view in list(self.slack.views.values())[self.views:]:
            self._lines(t("demo.where.modal", self.lang, title=view["title"]["text"]),
                        view["blocks"])
        self.views = len(self.slack.views)
        for note in self.slack.ephemerals[self.ephemerals:]:
            self._lines(t("demo.where.ephemeral", self.lang, user=users[note["user"]],
                          channel=channels.get(note["channel"], note["channel"])),
                        json.loads(note["blocks"]) if isinstance(note["blocks"], str)
                        else note["blocks"])
        self.ephemerals = len(self.slack.ephemerals)
        for message in self.slack.messages:
            key = (message.channel, message.ts)
            if self.seen.get(key) == message.edits:
                continue
            channel = channels.get(message.channel)
            if message.channel.startswith("D"):
                where = t("demo.where.dm", self.lang, user=users[message.channel[1:]])
            elif key in self.seen:
                where = t("demo.where.updated", self.lang, channel=channel)
            elif message.thread_ts:
                where = t("demo.where.thread", self.lang, channel=channel)
            else:
                where = t("demo.where.channel", self.lang, channel=channel)
            self.seen[key] = message.edits
            self._lines(where, message.blocks)
        for file_id, upload in self.slack.uploads.items():
            if file_id not in self.files and upload.get("channel"):
                self.files.add(file_id)
                self.say("  " + t("demo.where.file", self.lang, channel=channels[upload["channel"]],
                                  name=upload["filename"], size=len(upload["content"])))


DEMO_DB = Path("data/demo.db")


def fresh_demo_db() -> Path:
    """The demo's own file, made anew each run (the same invoices twice would be refused as
    already requested), so that simulated requests never sit in the bot's real audit log,
    where the watcher would follow them."""
    for old in DEMO_DB.parent.glob(DEMO_DB.name + "*"):
        old.unlink()
    return DEMO_DB


async def run_demo(settings: Settings, db: Path, say: Callable[[str], None] = print,
                   max_wait_s: float = 30.0) -> int:
    lang = settings.language
    stage = await Stage.open(db, resolve_after_s=RESOLVE_AFTER_S, language=lang,
                             timezone=settings.timezone, watch_backoff_s=[0.5])
    store = stage.runtime.store
    first_event = store.last_event_id() + 1
    shown = Transcript(stage.slack, say, lang)
    people = stage.slack.users
    try:
        say(t("demo.title", lang))
        say(t("sandbox.banner", lang))
        command = "/cfdi cancelar " + " ".join(DEMO_INVOICES)
        say("\n" + t("demo.step.command", lang, user=people[REQUESTER], command=command))
        await stage.driver.command(REQUESTER, command.removeprefix("/cfdi "), FINANCE)
        await stage.settle()
        shown.show()

        say("\n" + t("demo.step.submit", lang, user=people[REQUESTER], reason="02"))
        view = stage.driver.last_view()
        typed = next(b for b in view["blocks"] if b.get("block_id") == "invoices")
        answer = await stage.driver.submit_view(REQUESTER, view, {
            "invoices": typed["element"]["initial_value"], "reason": "02",
            "justification": "Facturas emitidas por duplicado en el cierre de octubre"})
        await stage.settle()
        shown.show()
        if answer.content:  # the form came back with errors: what Ana would read
            for field, error in answer.json()["errors"].items():
                say(f"  [{field}] {error}")
            say(t("demo.refused", lang, path=stage.settings.audit_db))
            return 1

        card = stage.slack.channel_messages(APPROVALS)[-1]
        say("\n" + t("demo.step.approve", lang, user=people[APPROVER]))
        await stage.driver.click(APPROVER, APPROVALS, card.ts, APPROVE_ACTION)
        await stage.settle()
        shown.show()

        say("\n" + t("demo.step.watch", lang, seconds=f"{RESOLVE_AFTER_S:g}"))
        waited = 0.0
        while waited < max_wait_s and any(
                i["ref_key"] != STAYS_PENDING for i in queries.pending_invoices(store)[0]):
            await asyncio.sleep(0.5)
            waited += 0.5
            await stage.runtime.watcher.cycle()
        shown.show()
        say("  " + t("demo.still_pending", lang, ref=STAYS_PENDING))

        await _send(stage, shown, say, lang)
        say("")
        _print_trail(stage, say, lang, first_event)
        return 0
    finally:
        await stage.close()


async def _send(stage: Stage, shown: Transcript, say: Callable[[str], None], lang: str
                ) -> None:
    """Ana e-mails the cancelled invoice's replacement paperwork: `/cfdi enviar`."""
    people = stage.slack.users
    command = f"/cfdi enviar {DEMO_INVOICES[2]}"
    say("\n" + t("demo.step.command", lang, user=people[REQUESTER], command=command))
    await stage.driver.command(REQUESTER, command.removeprefix("/cfdi "), FINANCE)
    await stage.settle()
    shown.show()
    emails = "cuentasporpagar@cliente.example, contador@cliente.example"
    say("\n" + t("demo.step.send", lang, user=people[REQUESTER], emails=emails))
    view = stage.driver.last_view()
    await stage.driver.submit_view(REQUESTER, view, {
        "invoices": DEMO_INVOICES[2], "recipients": emails, "subject": "Su factura"})
    await stage.settle()
    shown.show()


def _print_trail(stage: Stage, say: Callable[[str], None], lang: str, first_event: int) -> None:
    store = stage.runtime.store
    say(t("demo.trail", lang, path=stage.settings.audit_db))
    for event in queries.events(store, since_id=first_event):
        details = json.loads(event["details"])
        brief = {k: v for k, v in details.items() if v not in (None, "", [], {})
                 and k in ("from", "to", "code", "nuance", "reason", "approvals", "kind")}
        say(f"  #{event['id']:<5} {local(event['at'], '%H:%M:%S')}  {event['actor_name']:<11} "
            f"{event['action']:<19} req={event['request_id'] or '-':<3} "
            f"{event['invoice_ref'] or '':<37} {json.dumps(brief, ensure_ascii=False)}")
    verdict = store.verify()
    say(t("demo.chain_ok", lang, count=verdict.checked) if verdict.ok
        else f"CHAIN BROKEN at event {verdict.bad_event}: {verdict.problem}")
