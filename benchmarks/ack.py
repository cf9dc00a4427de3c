"""How fast Slack gets its answer: 200 slash commands and 200 Approve clicks, 50 at a time,
from a second process, while the sandbox provider takes 2 s per answer.

Three servers measured in the same run, with the same signed requests:
- floor: a bare slack-bolt app whose listeners only ack;
- ours: the bot (ack first, the provider after);
- naive: listeners that call the provider before acking (what the lazy design avoids).
Also: start-up of `python -m bot run` up to ready beside a bare interpreter start, and the
resident memory of this process after the run. Target: our p99 within 1.5x of the floor.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.actors import Actor
from bot.blocks import APPROVE_ACTION
from bot.cancellation import create_cancel_request
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE, PEOPLE, Stage
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef

COMMANDS = CLICKS = int(os.environ.get("BENCH_ACK_EACH", "200"))
CONCURRENCY = 50
PROVIDER_S = 2.0
ROUNDS = int(os.environ.get("BENCH_ACK_ROUNDS", "3"))
COMMAND = ("make bench  (python -m benchmarks ack; BENCH_ACK_EACH, BENCH_ACK_ROUNDS to "
           "scale)")


def _load(url: str, bodies: list[str], headers: list[dict[str, str]],
          results: Any) -> None:
    """The second process: post every body, CONCURRENCY at a time; (seconds, HTTP status)
    of each, status 0 for a request that got no answer."""
    async def run() -> list[tuple[float, int]]:
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            async def one(body: str, head: dict[str, str]) -> tuple[float, int]:
                async with gate:
                    start = time.perf_counter()
                    try:
                        answer = await http.post(url, content=body.encode(), headers=head)
                        code = answer.status_code
                    except httpx.HTTPError:
                        code = 0
                    return time.perf_counter() - start, code
            return await asyncio.gather(*(one(b, h) for b, h in zip(bodies, headers,
                                                                      strict=True)))
    try:
        results.put(asyncio.run(run()))
    except Exception as exc:  # never leave the parent waiting
        results.put(repr(exc))


def _signed(driver: SlackDriver, body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": driver.signer.generate_signature(timestamp=stamp, body=body)}


async def _measure(url: str, driver: SlackDriver, bodies: list[str]
                   ) -> list[tuple[float, int]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_load, args=(url, bodies,
                                                 [_signed(driver, b) for b in bodies], results))
    worker.start()
    answers = await asyncio.to_thread(results.get, True, 300)
    await asyncio.to_thread(worker.join, 30)
    if isinstance(answers, str):
        raise RuntimeError(f"the load process failed: {answers}")
    return list(answers)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


_SERIAL = itertools.count()


async def _bodies(stage: Stage) -> list[str]:
    """200 `/cfdi cancelar` and 200 Approve clicks on 200 waiting cards."""
    store, outbox, driver = stage.runtime.store, stage.runtime.services.outbox, stage.driver
    clicks = []
    for _ in range(CLICKS):
        n = next(_SERIAL)  # a new invoice each time: one invoice is in one live request
        request_id = await create_cancel_request(
            store, Actor("U0ANA", "ana"), [InvoiceRef(uuid=f"{n:08X}-0000-4000-8000-{n:012X}")],
            reason="02", justification="benchmark", approvals_channel=APPROVALS)
        row = await outbox.post_card(request_id)
        clicks.append(driver.click_body("U0BETO", APPROVALS, row["thread_ts"], APPROVE_ACTION))
    commands = [driver.command_body("U0ANA", "cancelar", FINANCE) for _ in range(COMMANDS)]
    return [body for pair in zip(commands, clicks, strict=True) for body in pair]


async def _bare_app(slack: SlackStandIn, secret: str, naive: Stage | None) -> web.AppRunner:
    """The floor (ack only) or, with `naive`, listeners that wait for the provider first."""
    app = AsyncApp(client=AsyncWebClient(token=slack.token, base_url=slack.api_url),
                   signing_secret=secret)
    item = CancelItem(ref=InvoiceRef(uuid="3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"), reason="02")

    async def listener(ack: Any) -> None:
        if naive is not None:
            await naive.runtime.provider.cancel([item])
        await ack()

    app.command("/cfdi")(listener)
    app.action(APPROVE_ACTION)(listener)
    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _latencies(folder: Path) -> None:
    stage = await Stage.open(folder / "ack.db", watch_backoff_s=[3600])
    stage.pac.delay_s = PROVIDER_S
    secret = stage.driver.signer.signing_secret
    floor = await _bare_app(stage.slack, secret, None)
    naive = await _bare_app(stage.slack, secret, stage)
    urls = {"floor": f"http://127.0.0.1:{floor.addresses[0][1]}/slack/events",
            "ours": stage.driver.events_url,
            "naive": f"http://127.0.0.1:{naive.addresses[0][1]}/slack/events"}
    p99s: dict[str, list[float]] = {name: [] for name in urls}
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
    try:
        warm_up = [stage.driver.command_body("U0ANA", "ayuda", FINANCE)
                   for _ in range(2 * CONCURRENCY)]
        for url in urls.values():
            await _measure(url, stage.driver, warm_up)  # connections, auth.test cache
        for _ in range(ROUNDS):  # interleaved, so that noise falls on all three alike
            bodies = await _bodies(stage)
            for name, url in urls.items():
                answers = await _measure(url, stage.driver, bodies)
                runs[name] += answers
                p99s[name].append(_p([seconds for seconds, _ in answers], 99))
            rss = _rss_mb()
    finally:
        await floor.cleanup()
        await naive.cleanup()
        stage.pac.delay_s = 0
        await stage.close(drain=False)
    print(f"  {COMMANDS} slash commands + {CLICKS} Approve clicks, {CONCURRENCY} concurrent "
          f"clients in a second process, provider answering in {PROVIDER_S:g} s; "
          f"{ROUNDS} interleaved rounds, median of their p99:")
    floor_p99 = statistics.median(p99s["floor"])
    for name in urls:
        seconds = [s for s, _ in runs[name]]
        p99 = statistics.median(p99s[name])
        missed = sum(1 for s, code in runs[name] if code != 200 or s > 3)
        print(f"    {name:<6} p50 {_p(seconds, 50) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
              f"   = {p99 / floor_p99:5.2f}x floor   over Slack's 3 s: {missed} of "
              f"{len(seconds)}")
    ratio = statistics.median(p99s["ours"]) / floor_p99
    print(f"  target: our p99 within 1.5x of the floor: {'met' if ratio <= 1.5 else 'MISSED'} "
          f"({ratio:.2f}x)")
    print(f"  resident memory after the run (max RSS of this process): {rss:.0f} MB")


def _startup(folder: Path) -> None:
    with SlackStandIn(token="xoxb-startup", users=PEOPLE, channels={APPROVALS: "a"}) as slack:
        port = _free_port()
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-startup", "SLACK_SIGNING_SECRET": "s",
               "PORT": str(port), "SLACK_API_URL": slack.api_url,
               "APPROVALS_CHANNEL": APPROVALS, "APPROVERS": "U0BETO",
               "AUDIT_DB": str(folder / "startup.db")}
        start = time.perf_counter()
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/slack/events", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.01)
        ready = time.perf_counter() - start
        bot.terminate()
        bot.wait(20)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    print(f"  start-up of `python -m bot run` to ready (HTTP answering): {ready:.2f} s; "
          f"a bare `python -c pass`: {bare:.2f} s ({ready / bare:.0f}x)")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    print("== acknowledgement latency, start-up, memory")
    print(f"   command: {COMMAND}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_latencies(Path(folder)))
        _startup(Path(folder))
