"""How fast Slack gets its answer from the bot, beside a bare ack-only Bolt app measured in
the same run, and the load generator's own floor. See docs/benchmarks.md.

Every part is its own process: the stand-ins (Slack Web API, provider answering in 2 s), the
bot (`python -m bot run` against them), the bare app (`python -m benchmarks.bare_app`, the
same environment), a trivial server, and the load generator. Each round sends the same
signed requests to the bot, then the bare app, then the trivial server: `/cfdi ayuda`,
`/cfdi cancelar` (trigger ids issued right before the round, so the bot opens its forms),
cancel forms the bot opened (a new invoice each, so they are accepted) and Approve clicks
on waiting cards, mixed; then each kind alone to the bot and the bare app. After each bot
burst its work after the acks is let finish before the next server's turn. Then two
conditions of their own: another process holding the write lock, and a watcher cycle over
many due invoices.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import ack_report
from benchmarks.ack_conditions import Bench, held_lock, watcher_cycle
from benchmarks.figures import rounds
from benchmarks.loadgen import Answer, LoadProcess, Shot, TrivialServer
from benchmarks.people import KINDS, People
from benchmarks.servers import ROOT, Served, free_port, start, wait_idle
from benchmarks.standins import StandIns
from bot.sandbox.stage import APPROVALS
from storage import queries
from storage.store import AuditStore

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Plan:
    """How much load one run of the ack benchmark makes (rounds, kinds, the watcher's backlog)."""
    per_kind: int          # requests of each kind in a round
    rounds: int
    due: int               # pending invoices due in the watcher condition
    watch_per_kind: int    # requests of each kind per 2 s during the watcher condition
    concurrency: int = 50
    provider_s: float = 2.0
    lock_s: float = 5.0
    watch_cap_s: float = 600.0


FULL = Plan(per_kind=50, rounds=5, due=40_000, watch_per_kind=5)
QUICK = Plan(per_kind=15, rounds=2, due=2_000, watch_per_kind=2, watch_cap_s=60.0)


def _warm_up(bench: Bench, bot: Served, bare: Served, floor: str, people: People,
             per_kind: int) -> None:
    """Connections, Bolt's auth.test, and what the first round needs: forms the bot opened
    and cards waiting for approval (a round uses twice `per_kind` of each)."""
    people.standins.refill(5 * per_kind)
    shots = [Shot("ayuda", people.command("ayuda")) for _ in range(per_kind)] + \
        [Shot("cancelar", people.command("cancelar")) for _ in range(4 * per_kind)]
    bench.fire(bot.url, shots)
    bench.settle(bot)
    people.refresh()
    people.standins.refill(2 * per_kind)
    forms = [people.form() for _ in range(min(2 * per_kind, len(people.views)))]
    bench.fire(bot.url, forms)
    bench.settle(bot)
    people.refresh()
    for url in (bare.url, floor):
        bench.fire(url, shots + forms)
    wait_idle([bare.pid])


@dataclass
class Tally:
    """What the bot did in the rounds besides answering."""

    calls: int = 0          # Web API calls the Slack stand-in answered
    connections: int = 0    # TCP connections clients opened to it
    cancelar: int = 0
    opened: int = 0
    settle_s: list[float] = field(default_factory=list)

    def slack(self, bench: Bench) -> tuple[int, int]:
        counters = bench.standins.call("counters")
        return counters["slack_calls"], counters["slack_connections"]


def _burst(bench: Bench, servers: dict[str, str], people: People, shots: list[Shot],
           tally: Tally) -> dict[str, list[Answer]]:
    """The same requests to each server in turn; after the bot's, its work after the acks
    is let finish, so it does not fall on the next server's turn."""
    answers = {}
    for name, url in servers.items():
        before = tally.slack(bench)
        answers[name] = bench.fire(url, shots)
        if name == "bot":
            tally.settle_s.append(round(bench.settle(bench.served[name]), 1))
            after = tally.slack(bench)
            tally.calls += after[0] - before[0]
            tally.connections += after[1] - before[1]
            tally.cancelar += sum(1 for s in shots if s.kind == "cancelar")
            tally.opened += people.refresh()
        elif name in bench.served:
            wait_idle([bench.served[name].pid])
    return answers


def _interleaved(bench: Bench, floor: str, people: People, plan: Plan) -> dict[str, Any]:
    """Each round: the mixed burst to bot, bare app and trivial server; then each kind
    alone to bot and bare app (a mixed burst queues every kind behind the slowest)."""
    servers = {"bot": bench.served["bot"].url, "bare": bench.served["bare"].url}
    mixed: dict[str, list[list[Answer]]] = {"bot": [], "bare": [], "floor": []}
    alone = {kind: {"bot": [], "bare": []} for kind in KINDS}
    tally = Tally()
    for _ in range(plan.rounds):
        shots = people.round(plan.per_kind)
        for name, answers in _burst(bench, {**servers, "floor": floor}, people, shots,
                                    tally).items():
            mixed[name].append(answers)
        for kind in KINDS:
            shots = people.round(plan.per_kind, kinds=(kind,))
            for name, answers in _burst(bench, servers, people, shots, tally).items():
                alone[kind][name].append(answers)
    forms = [a for each in (mixed["bot"], alone["form"]["bot"]) for one in each for a in one
             if a.kind == "form"]
    return {
        **{name: rounds(each) for name, each in mixed.items()},
        "alone": {kind: {name: rounds(each) for name, each in by.items()}
                  for kind, by in alone.items()},
        "forms": {"cancelar_sent": tally.cancelar, "opened_by_bot": tally.opened,
                  "submitted": len(forms),
                  "accepted": sum(1 for a in forms if a.status == 200 and not a.body)},
        "slack": {"calls": tally.calls, "connections": tally.connections,
                  "connections_per_call": round(tally.connections / tally.calls, 3)
                  if tally.calls else None},
        "settle_s": tally.settle_s,
    }


def _ratios(measured: dict[str, Any]) -> dict[str, Any]:
    def ratio(bot: dict[str, Any], bare: dict[str, Any]) -> float:
        return round(bot["p99_ms_median_of_rounds"] / bare["p99_ms_median_of_rounds"], 2)

    return {"p99": ratio(measured["bot"], measured["bare"]),
            "p99_per_kind": {kind: ratio(by["bot"], by["bare"])
                             for kind, by in measured["alone"].items()}}


def _targets(results: dict[str, Any]) -> dict[str, bool | None]:
    watch, lock = results["watcher_cycle"], results["held_lock"]
    per_call = results["slack"]["connections_per_call"]
    return {
        "p99 <= 1.5x bare": results["ratios"]["p99"] <= 1.5,
        "p99 per kind <= 2x bare": all(r <= 2 for r in results["ratios"]["p99_per_kind"]
                                       .values()),
        "watcher cycle: none over 3 s, all 200, cycle done": watch["answers"]["over_3s"] == 0
        and watch["answers"]["not_200"] == 0 and watch["cycle_s"] is not None,
        "held lock: all under 3 s and truthful": lock["all_under_3s"] and lock["all_truthful"],
        "Slack connections per call <= 0.05": None if per_call is None else per_call <= 0.05,
    }


def run(plan: Plan, folder: Path) -> dict[str, Any]:
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    with contextlib.ExitStack() as stack:
        standins = StandIns(plan.provider_s)
        stack.callback(standins.close)
        load = LoadProcess()
        stack.callback(load.close)
        trivial = TrivialServer()
        stack.callback(trivial.close)
        bench = Bench(folder, standins, load, secrets.token_hex(16), plan.concurrency)
        audit_db = folder / "bot.db"
        bot = start("bot", ["bot", "run"], bench.settings(audit_db, free_port()), folder)
        stack.callback(bot.stop)
        bare = start("bare", ["benchmarks.bare_app"], bench.settings(audit_db, free_port()),
                     folder)
        stack.callback(bare.stop)
        bench.served.update(bot=bot, bare=bare)
        people = People(standins, bench.secret)
        phase("start")
        _warm_up(bench, bot, bare, trivial.url, people, plan.per_kind)
        phase("warm_up")
        measured = _interleaved(bench, trivial.url, people, plan)
        phase("rounds")
        lock = held_lock(bench, bot, people, audit_db, plan.lock_s)
        phase("held_lock")
        measured["forms"]["cards_posted_twice"] = standins.call("cards_posted_twice", APPROVALS)
        memory = {"bot_peak_mb": round(bot.peak_rss_mb(), 1),
                  "bare_peak_mb": round(bare.peak_rss_mb(), 1)}
        bot.stop()
        bare.stop()
        phase("stop")
        store = AuditStore.open(audit_db)
        states = queries.counts(store)
        store.close()
        watch = watcher_cycle(bench, plan.due, plan.watch_per_kind, free_port(),
                              plan.watch_cap_s)
        errors = standins.call("counters")["slack_errors"]
        phase("watcher_cycle")
    results = {**measured, "ratios": _ratios(measured), "memory": memory,
               "startup_s": {"bot": round(bot.ready_s, 2), "bare": round(bare.ready_s, 2)},
               "held_lock": lock, "watcher_cycle": watch, "bot_db_states": states,
               "slack_errors": errors, "phases_s": phases}
    results["targets"] = _targets(results)
    return results


def main(quick: bool = False) -> None:
    plan = QUICK if quick else FULL
    command = "python -m benchmarks ack" + (" --quick" if quick else "")
    print(f"== acknowledgement latency: {command}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as folder:
        try:
            results = run(plan, Path(folder))
        except BaseException:
            for log in sorted(Path(folder).glob("*.log")):  # what the servers said
                print(f"--- {log.name} (last lines)\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
    results = {"command": command, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "plan": asdict(plan), **results}
    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / f"ack-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if quick else ''}.json"
    saved.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    shutil.copyfile(saved, RESULTS / "ack-latest.json")
    ack_report.print_table(results)
    print(f"   results: {saved.relative_to(ROOT)}")
