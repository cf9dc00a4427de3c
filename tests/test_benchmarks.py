"""The ack benchmark's building blocks on a tiny load: that they measure what they claim
(every request answered and counted, signatures Bolt accepts, connections counted, answers
judged truthfully). No timing is asserted: figures live in benchmarks/, never in tests."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from benchmarks.ack_conditions import _judge
from benchmarks.bare_app import bare_app
from benchmarks.figures import summary
from benchmarks.loadgen import Answer, LoadProcess, Shot, TrivialServer, fire, sign
from benchmarks.servers import free_port
from benchmarks.standins import StandIns
from bot.actors import Actor
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import FINANCE, PEOPLE
from bot.sat.refs import InvoiceRef
from bot.workflow.transitions import create_cancel_request
from storage.store import AuditStore

SECRET = "8f3c0a1b2c3d4e5f"


def test_the_signature_is_slacks() -> None:
    stamp, body = str(int(time.time())), b"command=%2Fcfdi&text=ayuda"
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, stamp, sign(SECRET.encode(), stamp, body))
    assert not verifier.is_valid(body, stamp, sign(b"another secret", stamp, body))


def test_the_generator_in_its_process_against_the_trivial_server() -> None:
    server, load = TrivialServer(), LoadProcess()
    try:
        shots = [Shot("ayuda" if n % 2 else "form", f"n={n}".encode()) for n in range(20)]
        answers = load.fire(server.url, shots, secret=SECRET, concurrency=5)
    finally:
        load.close()
        server.close()
    assert [a.kind for a in answers] == [s.kind for s in shots]
    assert {a.status for a in answers} == {200}
    figures = summary(answers)
    assert figures["count"] == 20 and figures["not_200"] == 0 and figures["over_3s"] == 0
    assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(token="xoxb-test", users=PEOPLE, channels={FINANCE: "finanzas"}) as server:
        yield server


@pytest.fixture
async def bare_url(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
                   ) -> AsyncIterator[str]:
    for name, value in {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.api_url,
                        "SLACK_SIGNING_SECRET": SECRET}.items():
        monkeypatch.setitem(os.environ, name, value)
    runner = web.AppRunner(bare_app().web_app(path="/slack/events"))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/slack/events"
    await runner.cleanup()


async def test_bolt_accepts_what_the_generator_signs(slack: SlackStandIn, bare_url: str
                                                     ) -> None:
    driver = SlackDriver(bare_url, SECRET, slack)
    shots = [Shot("ayuda", driver.command_body("U0ANA", "ayuda", FINANCE).encode())
             for _ in range(20)]
    answers = await fire(bare_url, shots, secret=SECRET, concurrency=4)
    assert [a.status for a in answers] == [200] * 20
    forged = await fire(bare_url, shots[:2], secret="not the app's secret")
    assert [a.status for a in forged] == [401, 401]


def test_the_stand_ins_count_calls_and_connections() -> None:
    standins = StandIns(provider_s=0)
    try:
        before = standins.call("counters")
        client = WebClient(token=standins.token, base_url=standins.api_url)
        for _ in range(3):
            client.auth_test()
        after = standins.call("counters")
        standins.refill(2)
        triggers = {standins.issue_trigger(), standins.issue_trigger()}
    finally:
        standins.close()
    assert after["slack_calls"] - before["slack_calls"] == 3
    assert 1 <= after["slack_connections"] - before["slack_connections"] <= 3
    assert after["provider_holding"] == 0 and len(triggers) == 2


def _answer(kind: str, status: int, body: bytes) -> Answer:
    return Answer(kind, 0.2, status, body, 0.5)


async def test_a_form_is_judged_by_what_the_database_holds(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    written, missing = (f"{n:08X}-BE0C-4000-8000-{n:012X}" for n in (1, 2))
    await create_cancel_request(store, Actor("U0ANA", "ana"), [InvoiceRef(uuid=written)],
                          reason="02", justification="benchmark")
    refused = b'{"response_action": "errors", "errors": {"invoices": "try again"}}'
    try:
        verdicts = {
            "accepted and written": _judge(_answer("form", 200, b""), written, store, "?"),
            "accepted, not written": _judge(_answer("form", 200, b""), missing, store, "?"),
            "refused, written": _judge(_answer("form", 200, refused), written, store, "?"),
            "refused, not written": _judge(_answer("form", 200, refused), missing, store, "?"),
            "no answer, not written": _judge(_answer("form", 0, b""), missing, store, "?"),
            "estado says unknown": _judge(_answer("estado", 200, b'{"text": "No encontr\\u00e9 '
                                                  b'la factura X"}'), None, store,
                                          "No encontré"),
        }
    finally:
        store.close()
    assert {name: v["truthful"] for name, v in verdicts.items()} == {
        "accepted and written": True, "accepted, not written": False,
        "refused, written": False, "refused, not written": True,
        "no answer, not written": True, "estado says unknown": False}
    assert verdicts["refused, not written"]["said"] == "try again"
    assert not verdicts["no answer, not written"]["under_3s"]
