"""The invoices' facts on the card: how long until a 200-invoice card is complete, and whether
looking them up changes how fast the form is answered.

1. One request of 200 invoices looked up (its XML from the provider sandbox, then the SAT
   stand-in), both answering after LATENCY_S as a network would: a few lookups at once
   (pace.PACE_AT_ONCE) beside the same lookups one after another, in the same run.
2. The cancel form submitted (50 invoices each time) with the lookups on and off, and with
   10 of its invoices' XML attached (answered "checking"; downloaded and read after it),
   interleaved, with nothing else running and while the previous form's work runs: the
   ack must not change (the lookups and the files start after it; they share the event
   loop with it).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from benchmarks.standins import NoLookups
from bot.actors import Actor
from bot.config import Settings
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.invoices import cfdi_xml
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sandbox.stage import FINANCE, Stage
from bot.sat.consulta.client import SatClient
from bot.sat.refs import InvoiceRef
from bot.slack.forms import XML_FILES
from bot.workflow.facts import FactFinder
from bot.workflow.pace import PACE_AT_ONCE as AT_ONCE
from bot.workflow.pace import Pace
from bot.workflow.transitions import create_cancel_request
from storage import queries
from storage.store import AuditStore

INVOICES = int(os.environ.get("BENCH_FACTS", "200"))
LATENCY_S = float(os.environ.get("BENCH_FACTS_LATENCY_S", "0.02"))
FORMS = int(os.environ.get("BENCH_FACTS_FORMS", "30"))
FORM_INVOICES = 50
FORM_FILES = 10  # Slack's most in a file_input
COMMAND = ("make bench  (python -m benchmarks facts; BENCH_FACTS, BENCH_FACTS_LATENCY_S, "
           "BENCH_FACTS_FORMS to scale)")
_SERIAL = itertools.count(1)


def _refs(count: int) -> list[InvoiceRef]:
    """New invoices each time (an invoice is in one live request at a time)."""
    return [InvoiceRef(uuid=f"{n:08X}-2222-4222-F000-{n:012X}")
            for n in (next(_SERIAL) for _ in range(count))]


class _CardUpdate:
    """Where the finished card would go to Slack: one chat.update, the same in both runs."""

    async def update_card(self, request_id: int) -> None:
        self.done_at = time.perf_counter()

    async def share_list(self, request_id: int) -> None:
        """A large request's CSV in its thread: not what this measures."""


async def _card_complete(store: AuditStore, pac: PacClient, sat: SatClient, at_once: int
                         ) -> float:
    request_id = await create_cancel_request(store, Actor("U0BENCH", "bench"),
                                             _refs(INVOICES), reason="02",
                                             justification="benchmark")
    card = _CardUpdate()
    finder = FactFinder(Settings(_env_file=None), store, pac, sat,  # type: ignore[call-arg]
                        card, pace=Pace(large_at=1, at_once=at_once))  # type: ignore[arg-type]
    start = time.perf_counter()
    await finder.gather(request_id, queries.request_invoices(store, request_id))
    return card.done_at - start


async def _lookups(folder: Path) -> None:
    with SandboxPac() as sandbox, SandboxSat(sandbox.state, sandbox.book) as sat_server:
        sandbox.delay_s = sat_server.delay_s = LATENCY_S
        store = AuditStore.open(folder / "facts.db")
        pac = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                                     password="sandbox")
        sat = await SatClient.create(sat_server.endpoint)
        try:
            bounded = await _card_complete(store, pac, sat, AT_ONCE)
            serial = await _card_complete(store, pac, sat, 1)
        finally:
            await pac.aclose()
            await sat.aclose()
            store.close()
    print(f"  {INVOICES} invoices, provider and SAT answering in {LATENCY_S * 1000:g} ms each:")
    print(f"    {AT_ONCE} lookups at once: card complete after {bounded:.2f} s")
    print(f"    baseline, one after another: {serial:.2f} s")
    print(f"    {serial / bounded:.1f}x sooner")


def _slack(url: str, pipe: Connection) -> None:
    """A second process playing Slack: posts each (body, headers) it is sent, answers the
    seconds until the bot's answer came back (the bot's loop cannot delay its reading)."""
    with httpx.Client(timeout=30) as http:
        while (job := pipe.recv()) is not None:
            body, headers = job
            start = time.perf_counter()
            answer = http.post(url, content=body.encode(), headers=headers)
            pipe.send((time.perf_counter() - start, answer.status_code, answer.text))


async def _submit(stage: Stage, slack: Connection, files: int = 0) -> float:
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    refs = _refs(FORM_INVOICES)
    values = {"invoices": "\n".join(ref.key for ref in refs), "reason": "02",
              "justification": "benchmark",
              XML_FILES: [stage.driver.attach("U0ANA", f"{ref.uuid}.xml", cfdi_xml(
                  stage.pac.book.get(ref.uuid or ""))) for ref in refs[:files]]}
    driver = stage.driver
    body = driver.view_body("U0ANA", driver.last_view(), values)
    stamp = str(int(time.time()))
    slack.send((body, {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": driver.signer.generate_signature(
                           timestamp=stamp, body=body)}))
    elapsed, status, text = await asyncio.to_thread(slack.recv)
    assert status == 200 and (not text if not files else '"update"' in text), text
    return float(elapsed)


async def _acks(folder: Path) -> None:
    stage = await Stage.open(folder / "acks.db", watch_backoff_s=[3600])
    stage.pac.delay_s = LATENCY_S
    lifecycle = stage.runtime.services.lifecycle
    finder = lifecycle.facts
    none = NoLookups()  # the form alone: since issue 22 the lifecycle always gathers
    ways = (("with lookups", finder, True), ("without", none, True),
            ("with XML", finder, True), ("with lookups", finder, False),
            ("without", none, False), ("with XML", finder, False))
    times: dict[tuple[str, bool], list[float]] = {(name, quiet): [] for name, _, quiet in ways}
    here, there = multiprocessing.get_context("spawn").Pipe()
    slack = multiprocessing.get_context("spawn").Process(
        target=_slack, args=(stage.driver.events_url, there))
    slack.start()
    try:
        for _ in range(FORMS):  # interleaved, so that noise falls on every way alike
            for name, lookups, quiet in ways:
                if quiet:
                    await stage.settle()  # the previous form's lookups are over
                lifecycle.facts = lookups
                times[name, quiet].append(await _submit(
                    stage, here, FORM_FILES if name == "with XML" else 0))
        await stage.settle()
    finally:
        here.send(None)
        slack.join(30)
        stage.pac.delay_s = 0
        await stage.close()
    print(f"  the cancel form ({FORM_INVOICES} invoices) submitted {FORMS} times each way from "
          f"a second process, interleaved (median):")
    for quiet, label in ((True, "nothing else running"),
                         (False, "the previous form's work still running")):
        base = statistics.median(times["without", quiet])
        for name in ("with lookups", "with XML", "without"):
            median = statistics.median(times[name, quiet])
            print(f"    {label:<42} {name:<13} {median * 1000:7.1f} ms"
                  f"   = {median / base:4.2f}x without")


async def _approvals(folder: Path, rounds: int = 200) -> None:
    """An approval's write naming the facts it was made on (each invoice's latest
    `invoice_facts` event), beside the same write without them, on a request of INVOICES
    invoices whose facts are recorded; interleaved, in one file."""
    store = AuditStore.open(folder / "approvals.db")
    refs = _refs(INVOICES)
    request_id = await create_cancel_request(store, Actor("U0ANA", "Ana"), refs, reason="02",
                                             justification="bench")
    facts = {"invoice": None, "invoice_error": None, "sat": None, "sat_error": "off"}
    async with store.writing() as tx:
        for ref in refs:
            tx.record(Actor("system", "system"), "invoice_facts", request_id=request_id,
                      invoice_ref=ref.key, details={**facts, "padding": "x" * 600})
    timings: dict[bool, list[float]] = {True: [], False: []}
    for number in range(rounds):
        with_facts = number % 2 == 0
        start = time.perf_counter()
        async with store.writing() as tx:
            tx.decide(request_id, Actor(f"U{number:05d}", "bench"), "approve", details={
                "facts": tx.facts_seen(request_id)} if with_facts else {})
        timings[with_facts].append(time.perf_counter() - start)
    store.close()
    bare, snapshot = (statistics.median(timings[k]) * 1000 for k in (False, True))
    print(f"  an approval's write on a {INVOICES}-invoice request, median of {rounds // 2}:")
    print(f"    naming the facts it was made on: {snapshot:.2f} ms")
    print(f"    baseline, without them: {bare:.2f} ms ({snapshot / bare:.1f}x)")


def main() -> None:
    print("== invoice facts on the card")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_lookups(Path(folder)))
        asyncio.run(_acks(Path(folder)))
        asyncio.run(_approvals(Path(folder)))
