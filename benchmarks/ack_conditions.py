"""The two conditions of the ack benchmark that once pushed answers past 3 s, each its own
figure:

- a watcher cycle over many due pending invoices (40,000) while people keep using the bot;
- another process holding SQLite's write lock on AUDIT_DB for 5 s while `/cfdi ayuda`,
  `/cfdi estado <uuid>` and a cancel form are sent: each answer's time, and whether it told
  the truth (a form accepted exists afterwards; a form refused wrote nothing).
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.figures import SLACK_LIMIT_S, by_kind, summary
from benchmarks.loadgen import Answer, LoadProcess, Shot
from benchmarks.people import REQUESTER, People
from benchmarks.servers import Served, start, wait_idle
from benchmarks.standins import FAST_MARK, StandIns
from benchmarks.watcher import seed_pending
from bot.actors import Actor
from bot.i18n import t
from bot.sandbox.stage import APPROVALS, PEOPLE
from storage import queries
from storage.sql import utc_now
from storage.store import AuditStore

ROUND_SPREAD_S = 2.0   # watcher condition: each round's requests sent evenly over this time
PROGRESS_EVERY_S = 15.0


@dataclass
class Bench:
    """What every part of the ack benchmark shares."""

    folder: Path
    standins: StandIns
    load: LoadProcess
    secret: str
    concurrency: int
    served: dict[str, Served] = field(default_factory=dict)

    def settings(self, audit_db: Path, port: int, **extra: str) -> dict[str, str]:
        """The bot's environment against the stand-ins (the bare app reads the same)."""
        return {"SLACK_BOT_TOKEN": self.standins.token, "SLACK_SIGNING_SECRET": self.secret,
                "SLACK_API_URL": self.standins.api_url, "PORT": str(port),
                "APPROVALS_CHANNEL": APPROVALS, "APPROVERS": "U0BETO,S0APROBADORES",
                "ADMIN_CHANNEL": "C0ADMIN", "AUDIT_DB": str(audit_db),
                "CFDI_ENDPOINT": self.standins.endpoint, "SAT_CONSULTA_URL": self.standins.sat_url,
                "CFDI_RETRY_ATTEMPTS": "2",
                "CFDI_RETRY_MAX_S": "5", "CFDI_TIMEOUT_S": "30", **extra}

    def fire(self, url: str, shots: list[Shot], **options: Any) -> list[Answer]:
        options.setdefault("concurrency", self.concurrency)
        return self.load.fire(url, shots, secret=self.secret, **options)

    def settle(self, served: Served, cap_s: float = 30) -> float:
        """Wait until the bot's work after the acks is done (the provider holds no call, the
        bot and the stand-ins idle)."""
        def progress() -> tuple[int, int, int]:
            counters = self.standins.call("counters")
            holding = counters["provider_holding"]
            # A call held by the provider is work under way: never a quiet step.
            return counters["slack_calls"], counters["provider_calls"], \
                holding and time.perf_counter_ns()

        return wait_idle([served.pid, self.standins.process.pid or 0], progress, cap_s)


# -- a watcher cycle over many due invoices ---------------------------------------------------

def seed_due(path: Path, due: int, standins: StandIns) -> int:
    """`due` pending invoices, due now, in requests whose cards are in the approvals channel
    (as after a busy week); half resolve when asked (A11), half stay in process (211)."""
    store = AuditStore.open(path)
    uuids = [f"{n:08X}{FAST_MARK}4000-F{'A11' if n % 2 else '211'}-{n:012X}"
             for n in range(due)]
    ids = seed_pending(store, uuids, requester=Actor(REQUESTER, PEOPLE[REQUESTER]),
                       approvals_channel=APPROVALS)
    cards = standins.call("post", APPROVALS, [f"Solicitud #{i}" for i in ids])
    rows = queries.requests_by_id(store, ids)
    with store.transaction() as tx:
        for request_id, ts in zip(ids, cards, strict=True):
            tx.set_fields("request", request_id, {"thread_ts": ts})
            tx.card_shown(request_id, rows[request_id]["card_version"])
    store.close()
    return max(ids)


def _left(store: AuditStore, last_seeded: int, due_limit: int) -> tuple[int, int, int]:
    """Seeded work not done yet: invoices due (counted up to `due_limit`), replies owed to
    their threads, cards owed an update."""
    return (len(queries.due_pending(store, utc_now(), due_limit)),
            sum(1 for e in queries.unposted(store) if e["request_id"] <= last_seeded),
            sum(1 for r in queries.cards_owed(store) if r["id"] <= last_seeded))


def watcher_cycle(bench: Bench, due: int, per_kind: int, port: int, cap_s: float
                  ) -> dict[str, Any]:
    """Mixed rounds, each spread over ROUND_SPREAD_S, until the seeded work is done (nothing
    due, their replies and cards in Slack) or `cap_s` has passed."""
    path = bench.folder / "watch.db"
    begun = time.perf_counter()
    last_seeded = seed_due(path, due, bench.standins)
    seeded_s = time.perf_counter() - begun
    bot = start("bot-watch", ["bot", "run"], bench.settings(
        path, port, WATCH_INTERVAL_S="1", WATCH_BACKOFF_S="3600"), bench.folder)
    people = People(bench.standins, bench.secret)
    people.skip_existing()
    store = AuditStore.open(path)
    answers: list[Answer] = []
    progress: list[tuple[float, int, int, int]] = []  # (s, due, replies owed, cards owed)
    begun, finished = time.perf_counter(), None
    try:
        while time.perf_counter() - begun < cap_s:  # the cycle starts when the bot is ready
            answers += bench.fire(bot.url, people.round(per_kind, spread_s=ROUND_SPREAD_S))
            people.refresh()
            elapsed = round(time.perf_counter() - begun, 1)
            if not progress or elapsed - progress[-1][0] >= PROGRESS_EVERY_S:
                progress.append((elapsed, *_left(store, last_seeded, due)))
            if _left(store, last_seeded, 1) == (0, 0, 0):
                finished = time.perf_counter() - begun
                break
        left = _left(store, last_seeded, due)
        peak = bot.peak_rss_mb()
    finally:
        store.close()
        bot.stop()
    return {"due": due, "seeded_s": round(seeded_s, 2),
            "cycle_s": round(finished, 1) if finished is not None else None, "cap_s": cap_s,
            "left": dict(zip(("due", "replies_owed", "cards_owed"), left, strict=True)),
            "progress": progress, "answers": summary(answers), "per_kind": by_kind(answers),
            "bot_peak_mb": round(peak, 1)}


# -- another process holding the write lock ---------------------------------------------------

def _hold(path: str, seconds: float, conn: Connection) -> None:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    conn.send("locked")
    time.sleep(seconds)
    db.execute("COMMIT")
    db.close()
    conn.send("released")


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in
                ([value] if key == "text" and isinstance(value, str) else _texts(value))]
    if isinstance(node, list):
        return [text for item in node for text in _texts(item)]
    return []


def _said(body: bytes) -> str:
    """The words of an answer (every `text` in its JSON), or the body as it came."""
    try:
        said = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    errors = said.get("errors", {}) if isinstance(said, dict) else {}
    return " ".join(_texts(said) or errors.values())


def _judge(answer: Answer, uuid: str | None, store: AuditStore, unknown: str
           ) -> dict[str, Any]:
    said = _said(answer.body)
    row: dict[str, Any] = {"sent_at_s": round(answer.sent_at, 2), "kind": answer.kind,
                           "ms": round(answer.seconds * 1000, 1), "status": answer.status,
                           "said": " ".join(said.split())[:90]}
    if answer.kind == "form":
        refused = b"response_action" in answer.body
        accepted = answer.status == 200 and not refused
        written = bool(queries.invoice_trail(store, uuid=uuid)["invoices"])
        row["outcome"] = "accepted" if accepted else "refused" if refused else "no answer"
        row["written"] = written
        row["truthful"] = written if accepted else not written
    elif answer.kind == "estado":
        row["truthful"] = answer.status == 200 and bool(said) and unknown not in said
    else:
        row["truthful"] = answer.status == 200 and bool(said)
    row["under_3s"] = answer.status != 0 and answer.seconds <= SLACK_LIMIT_S
    return row


def held_lock(bench: Bench, bot: Served, people: People, audit_db: Path, lock_s: float
              ) -> dict[str, Any]:
    """Two waves of (ayuda, estado, form): 0.5 s into the lock, and 2 s before its end."""
    for _ in range(3):  # one cancel form per wave, opened by the bot beforehand
        if len(people.views) >= 2:
            break
        people.standins.refill(2)
        bench.fire(bot.url, [Shot("cancelar", people.command("cancelar")) for _ in range(2)])
        bench.settle(bot)
        people.refresh()
    store = AuditStore.open(audit_db)
    known = next(u for u in people.submitted  # a form accepted before: its invoice is logged
                 if queries.invoice_trail(store, uuid=u)["invoices"])
    store.close()
    shots, forms = [], []
    for at in (0.5, lock_s - 2.0):
        people.standins.refill(3)
        forms.append(people.fresh_uuid())
        shots += [Shot("ayuda", people.command("ayuda"), at),
                  Shot("estado", people.command(f"estado {known}"), at),
                  replace(people.form(forms[-1]), at=at)]
    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    holder = context.Process(target=_hold, args=(str(audit_db), lock_s, child), daemon=True)
    holder.start()
    conn.recv()  # locked
    answers = bench.fire(bot.url, shots, concurrency=len(shots), keep_bodies=True)
    conn.recv()  # released
    holder.join(10)
    bench.settle(bot)
    unknown = t("status.unknown", "es", ref="\0").split("\0")[0]
    store = AuditStore.open(audit_db)
    try:
        rows = [_judge(a, forms[i // 3] if a.kind == "form" else None, store, unknown)
                for i, a in enumerate(answers)]
    finally:
        store.close()
    return {"lock_s": lock_s, "estado_uuid": known, "answers": rows,
            "all_under_3s": all(r["under_3s"] for r in rows),
            "all_truthful": all(r["truthful"] for r in rows)}
