"""`python -m bot demo`: the whole flow offline, with every outside system simulated.

The sandbox provider, the Slack stand-in and the bot (serving HTTP on a free port) start;
a driver plays Ana, who asks to cancel five invoices (the provider's own test UUIDs among
them), and Beto, who approves. The transcript shows what each person would see in Slack;
the pending cancellations are asked again until the receiver accepts, and each "cancelled"
waits for the SAT stand-in to show it (its books lag by SAT_LAG_S). Then Ana mistypes a
folio (the form says so on its line), fixes it, Beto looks at his App Home and rejects that
request, and Ana looks the invoice up with `/cfdi estado`, then e-mails an invoice with
`/cfdi enviar`. Beto names Diego his stand-in (`/cfdi delegar`), who approves Ana's next
request in Beto's place; Ana withdraws another, then cancels a month-end list given as a CSV
file (bot/sandbox/demo_list.py). The trail that all of it left in its own file (data/demo.db,
or --db) is printed, in words, and verified. Last, a checkpoint of the log is signed (with the
demo's own key, beside its file: never AUDIT_SIGNING_KEY), posted to the operators' channel
and appended to the checkpoints file, and the log is verified against both copies.

`Scenes` keeps what the pictures of the README show (bot/sandbox/pictures.py).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.evidence import keys
from bot.evidence.publishing import read_channel, read_file
from bot.evidence.verifying import verify
from bot.i18n import t
from bot.sandbox.demo_list import month_end_list
from bot.sandbox.slack_records import Message
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.sandbox.transcript import Transcript
from bot.slack.mrkdwn import local
from bot.slack.render.history import what_happened, who_did
from bot.slack.render.kit import APPROVE_ACTION, REJECT_ACTION, REJECT_REASON, WITHDRAW_ACTION
from storage import queries
from storage.evidence import chain

REQUESTER, APPROVER, STAND_IN = "U0ANA", "U0BETO", "U0DIEGO"
DEMO_INVOICES = [
    "E329DD15-7D0B-44E9-A204-51A7443D1FBE",  # the provider's test UUID: cannot be cancelled
    "C5E58106-6C1E-41C9-A211-FB8BAD1CABB0",  # the provider's test UUID: stays in process
    "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B",  # any other UUID: cancelled at once
    "7B1E4D22-9A3C-4F10-FA11-2C3D4E5F6A7B",  # pending, then the receiver accepts
    "9D8C7B6A-5E4F-4A3B-F213-1C2D3E4F5A6B",  # refused by the receiver
]
STAYS_PENDING = DEMO_INVOICES[1]
MISTYPED, FIXED = "FAC 10O1", "FAC 1001"    # a letter O for a zero: refused on its line
RESOLVE_AFTER_S = 3.0
SAT_LAG_S = 1.0    # the SAT's books show a cancellation this long after the provider's answer
JUSTIFICATION = "Facturas emitidas por duplicado en el cierre de octubre"
REJECTION = "FAC 1001 se corrige con una nota de crédito, no se cancela"


@dataclass
class Scenes:
    """Copies of what people saw at the moments the README's pictures show."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] = field(default_factory=dict)        # the modal, as opened
    form_values: dict[str, Any] = field(default_factory=dict)  # what was typed into it
    form_errors: dict[str, str] = field(default_factory=dict)  # what the bot answered
    card: Message | None = None                                # the request's card
    thread: list[Message] = field(default_factory=list)       # its replies
    files: list[dict[str, Any]] = field(default_factory=list)  # files shared in the thread
    home: dict[str, Any] = field(default_factory=dict)         # the approver's App Home
    status: dict[str, Any] = field(default_factory=dict)       # `/cfdi estado`'s answer


DEMO_DB = Path("data/demo.db")


def fresh_demo_db() -> Path:
    """The demo's own file, made anew each run (the same invoices twice would be refused as
    already requested), so that simulated requests never sit in the bot's real audit log,
    where the watcher would follow them; with it go its key and checkpoints file."""
    for old in [*DEMO_DB.parent.glob(DEMO_DB.name + "*"),
                *(DEMO_DB.with_suffix(suffix) for suffix in (".key", ".checkpoints"))]:
        old.unlink(missing_ok=True)
    return DEMO_DB


def demo_key(db: Path) -> Path:
    """The demo's throwaway signing key, beside its file (`demo.key`): made at the first run
    over that file and used again while the file is kept (--db), whose checkpoints it signs."""
    path = db.with_suffix(".key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keys.generate(path, keys.ORIGIN_SANDBOX, "en")
    return path


class Demo:
    """The people's steps, each followed by what appeared in Slack."""

    def __init__(self, stage: Stage, say: Callable[[str], None], lang: str,
                 scenes: Scenes) -> None:
        self.stage, self.say, self.lang, self.scenes = stage, say, lang, scenes
        self.shown = Transcript(stage.slack, say, lang)
        self.people = stage.slack.users
        scenes.users, scenes.channels = dict(self.people), dict(stage.slack.channels)

    def step(self, key: str, user: str = "", **params: Any) -> None:
        self.say("\n" + t(key, self.lang, user=self.people.get(user, user), **params))

    async def settled(self) -> None:
        await self.stage.settle()
        self.shown.show()

    async def command(self, user: str, command: str, sent: str | None = None
                      ) -> dict[str, Any]:
        """`/cfdi …` typed in #finanzas (`sent`: as Slack delivers it, mentions escaped); its
        answer, when it has one, is shown."""
        self.step("demo.step.command", user, command=command)
        answer = await self.stage.driver.command(
            user, (sent or command).removeprefix("/cfdi "), FINANCE)
        body = answer.json() if answer.content else {}
        if body:
            self.shown.answer(user, FINANCE, body)
        await self.settled()
        return body

    async def submit(self, user: str, fields: dict[str, Any]) -> dict[str, str]:
        """Submit the last form opened; the errors it came back with, shown."""
        view = self.stage.driver.last_view()
        answer = await self.stage.driver.submit_view(user, view, fields)
        errors: dict[str, str] = (answer.json() if answer.content else {}).get("errors") or {}
        if errors:
            self.shown.form_errors(view, errors)
        await self.settled()
        return errors

    def card(self) -> Message:
        return self.stage.slack.channel_messages(APPROVALS)[-1]

    async def click(self, user: str, card: Message, action: str) -> None:
        await self.stage.driver.click(user, APPROVALS, card.ts, action)
        await self.settled()


async def run_demo(settings: Settings, db: Path, say: Callable[[str], None] = print,
                   max_wait_s: float = 30.0, scenes: Scenes | None = None) -> int:
    lang = settings.language
    stage = await Stage.open(db, resolve_after_s=RESOLVE_AFTER_S, language=lang,
                             timezone=settings.timezone, watch_backoff_s=[0.5],
                             audit_signing_key=demo_key(db), audit_channel=None,
                             audit_checkpoints_file=db.with_suffix(".checkpoints"))
    stage.pac.state.sat_lag_s = SAT_LAG_S  # "cancelled" waits for the SAT's word
    first_event = stage.runtime.store.last_event_id() + 1
    demo = Demo(stage, say, lang, scenes or Scenes())
    try:
        say(t("demo.title", lang))
        say(t("sandbox.banner", lang))
        if not await _cancel_and_approve(demo, max_wait_s):
            return 1
        await _mistype_and_reject(demo)
        await _send(demo)
        await _stand_in_and_withdraw(demo)
        await month_end_list(demo, REQUESTER)
        say("")
        _print_trail(stage, say, lang, first_event)
        return 0 if await _checkpoint(demo) else 1
    finally:
        await stage.close()


async def _cancel_and_approve(demo: Demo, max_wait_s: float) -> bool:
    """Ana asks to cancel five invoices, Beto approves, the provider answers; the pending
    ones are asked again until only the provider's "in process" test UUID is left."""
    stage, scenes = demo.stage, demo.scenes
    await demo.command(REQUESTER, "/cfdi cancelar " + " ".join(DEMO_INVOICES))
    demo.step("demo.step.submit", REQUESTER, reason="02")
    view = stage.driver.last_view()
    typed = next(b for b in view["blocks"] if b.get("block_id") == "invoices")
    if await demo.submit(REQUESTER, {"invoices": typed["element"]["initial_value"],
                                     "reason": "02", "justification": JUSTIFICATION}):
        demo.say(t("demo.refused", demo.lang, path=stage.settings.audit_db))
        return False
    card = demo.card()
    demo.step("demo.step.approve", APPROVER)
    await demo.click(APPROVER, card, APPROVE_ACTION)

    demo.step("demo.step.watch", seconds=f"{RESOLVE_AFTER_S:g}")
    store, waited = stage.runtime.store, 0.0
    while waited < max_wait_s and any(
            i["ref_key"] != STAYS_PENDING for i in [
                *queries.pending_invoices(store)[0],
                *queries.due_sat(store, store.clock() + timedelta(days=1))]):
        await asyncio.sleep(0.5)
        waited += 0.5
        await stage.runtime.watcher.cycle()
    await demo.settled()
    demo.say("  " + t("demo.still_pending", demo.lang, ref=STAYS_PENDING))
    scenes.card = copy.deepcopy(stage.slack.message(APPROVALS, card.ts))
    scenes.thread = copy.deepcopy(stage.slack.thread(APPROVALS, card.ts))
    scenes.files = [copy.deepcopy(u) for u in stage.slack.uploads.values()
                    if u.get("thread_ts") == card.ts]
    return True


async def _mistype_and_reject(demo: Demo) -> None:
    """Ana mistypes a folio and fixes it on the line the form points at; Beto finds the
    request on his App Home and rejects it; Ana looks the invoice up."""
    stage, scenes = demo.stage, demo.scenes
    await demo.command(REQUESTER, f"/cfdi cancelar {MISTYPED}")
    demo.step("demo.step.submit", REQUESTER, reason="02")
    scenes.form = copy.deepcopy(stage.driver.last_view())
    fields = {"invoices": MISTYPED, "reason": "02", "justification": JUSTIFICATION}
    scenes.form_values = fields
    scenes.form_errors = await demo.submit(REQUESTER, fields)
    demo.step("demo.step.fix", REQUESTER, typed=MISTYPED, fixed=FIXED)
    await demo.submit(REQUESTER, {**fields, "invoices": FIXED})
    card = demo.card()

    demo.step("demo.step.home", APPROVER)
    await stage.driver.open_home(APPROVER)
    await stage.settle()
    demo.shown.home(APPROVER)
    scenes.home = copy.deepcopy(stage.slack.homes[APPROVER])

    demo.step("demo.step.reject", APPROVER, reason=REJECTION)
    await demo.click(APPROVER, card, REJECT_ACTION)
    await demo.submit(APPROVER, {REJECT_REASON: REJECTION})
    scenes.status = await demo.command(REQUESTER, "/cfdi estado " + FIXED.replace(" ", "-"))


async def _send(demo: Demo) -> None:
    """Ana e-mails the cancelled invoice's replacement paperwork: `/cfdi enviar`."""
    await demo.command(REQUESTER, f"/cfdi enviar {DEMO_INVOICES[2]}")
    emails = "cuentasporpagar@cliente.example, contador@cliente.example"
    demo.step("demo.step.send", REQUESTER, emails=emails)
    await demo.submit(REQUESTER, {"invoices": DEMO_INVOICES[2], "recipients": emails,
                                  "subject": "Su factura"})


async def _stand_in_and_withdraw(demo: Demo) -> None:
    """Beto names Diego his stand-in for a week; Diego approves Ana's next request in Beto's
    place; Ana withdraws another before anyone decides (confirmed in Slack's dialog); Beto is
    back early and ends the delegation."""
    stage = demo.stage
    today = stage.runtime.store.clock().astimezone(stage.settings.zone).date()
    until, name = (today + timedelta(days=7)).isoformat(), demo.people[STAND_IN]
    await demo.command(APPROVER, f"/cfdi delegar @{name} hasta {until}",
                       f"/cfdi delegar <@{STAND_IN}|{name}> hasta {until}")
    for folio, withdrawn in (("FAC 1002", False), ("FAC 1003", True)):
        await demo.command(REQUESTER, f"/cfdi cancelar {folio}")
        demo.step("demo.step.submit", REQUESTER, reason="02")
        await demo.submit(REQUESTER, {"invoices": folio, "reason": "02",
                                      "justification": JUSTIFICATION})
        if withdrawn:
            demo.step("demo.step.withdraw", REQUESTER)
            await demo.click(REQUESTER, demo.card(), WITHDRAW_ACTION)
        else:
            demo.step("demo.step.approve_in_place", STAND_IN,
                      approver=demo.people[APPROVER])
            await demo.click(STAND_IN, demo.card(), APPROVE_ACTION)
    await demo.command(APPROVER, "/cfdi delegar fin")


def _print_trail(stage: Stage, say: Callable[[str], None], lang: str, first_event: int) -> None:
    """Every event, in the catalogue's words (the codes stay in the database and exports)."""
    store = stage.runtime.store
    say(t("demo.trail", lang, path=stage.settings.audit_db))
    for event in queries.events(store, since_id=first_event):
        ref = f" · {event['invoice_ref']}" if event["invoice_ref"] else ""
        say(f"  #{event['id']:<3} {local(event['at'], '%H:%M:%S')}  {who_did(event, lang):<10} "
            f"{what_happened(event, lang)}{ref}")
    verdict = store.verify()
    say(t("demo.chain_ok", lang, count=verdict.checked) if verdict.ok
        else t("demo.chain_broken", lang, event=verdict.bad_event, problem=verdict.problem))


async def _checkpoint(demo: Demo) -> bool:
    """`python -m bot audit checkpoint`, then `audit verify --checkpoints` and
    `--from-slack`: the log against the file and against the operators' channel."""
    stage, lang = demo.stage, demo.lang
    evidence = stage.runtime.evidence
    assert evidence is not None, "the demo signs with its own key"
    demo.step("demo.step.checkpoint")
    await evidence.signer.sign(force=True)
    await evidence.publisher.publish()
    demo.shown.show()
    key, store = evidence.signer.key.public, stage.runtime.store
    path = stage.settings.checkpoints_file
    channel = stage.settings.checkpoint_channel
    assert channel is not None
    found = [verify(chain(store.db), read_file(path), key, str(path), lang),
             verify(chain(store.db), await read_channel(stage.runtime.services.io.client,
                                                        channel), key, f"Slack {channel}", lang)]
    demo.step("demo.step.verify_checkpoints", path=path, public=key.text())
    for finding in found:
        demo.say("  " + (finding.sentence if finding.ok else f"BROKEN: {finding.sentence}"))
    return all(finding.ok for finding in found)
