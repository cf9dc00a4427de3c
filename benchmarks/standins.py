"""The stand-ins in a process of their own: the Slack Web API stand-in, the sandbox provider
and the SAT stand-in that knows its invoices, with a small remote control (a pipe) for what
the benchmark reads and sets.

The provider holds every answer `provider_s` seconds, except calls about the invoices the
benchmark seeded for the watcher condition (their UUIDs carry `FAST_MARK`): 40,000 re-asks
four at a time would otherwise take hours instead of showing what recording them costs.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import secrets
import sys
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sandbox.slack_records import Message
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import ADMIN, APPROVALS, APPROVER_GROUP, FINANCE, PEOPLE
from bot.slack.render.kit import APPROVE_ACTION, CANCEL_VIEW

FAST_MARK = "-5EED-"          # in the seeded invoices' UUIDs: answered at once
CHANNELS = {APPROVALS: "aprobaciones-cfdi", FINANCE: "finanzas", ADMIN: "operaciones"}
GROUPS = {APPROVER_GROUP: ["U0CARLA"]}


class BenchPac(SandboxPac):
    """The sandbox provider, holding each answer but the seeded invoices' `hold_s`."""

    def __init__(self, hold_s: float, **options: Any) -> None:
        super().__init__(**options)
        self.hold_s = hold_s
        self.holding = 0
        self._holding_lock = threading.Lock()

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        with self._holding_lock:
            self.holding += 1
        try:
            if self.hold_s and FAST_MARK.encode() not in body:
                time.sleep(self.hold_s)
            return super().answer(body)
        finally:
            with self._holding_lock:
                self.holding -= 1


class _Control:
    """What the benchmark may ask of the stand-ins; each method is one remote call."""

    def __init__(self, token: str, provider_s: float) -> None:
        self.slack = SlackStandIn(token=token, users=PEOPLE, groups=GROUPS,
                                  channels=CHANNELS).start()
        # resolve_after_s=0: a seeded "awaiting the receiver" (A11) invoice resolves when
        # the watcher asks, so the cycle records changes, not only new check times.
        self.pac = BenchPac(provider_s, resolve_after_s=0.0).start()
        self.sat = SandboxSat(self.pac.state, self.pac.book).start()
        server = self.slack._server
        report = server.handle_error

        def quiet_resets(request: Any, client_address: Any) -> None:
            """A client closing its connection mid-read is a client's choice, not an error."""
            if not isinstance(sys.exc_info()[1], ConnectionError):
                report(request, client_address)

        server.handle_error = quiet_resets  # type: ignore[method-assign]

    def addresses(self) -> dict[str, str]:
        return {"api_url": self.slack.api_url, "endpoint": self.pac.endpoint,
                "sat": self.sat.endpoint}

    def triggers(self, count: int) -> list[str]:
        return [self.slack.issue_trigger() for _ in range(count)]

    def message(self, channel: str, ts: str) -> Message:
        with self.slack._lock:
            return self.slack.message(channel, ts)

    def cancel_views(self, skip: int) -> tuple[list[dict[str, Any]], int]:
        """The cancel forms the bot opened after the first `skip` views; the new skip."""
        with self.slack._lock:
            views = list(self.slack.views.values())
        return [v for v in views[skip:] if v.get("callback_id") == CANCEL_VIEW], len(views)

    def cards(self, channel: str, skip: int) -> tuple[list[Message], int]:
        """Messages in `channel` (not replies) after the first `skip` that still have an
        Approve button; the new skip."""
        with self.slack._lock:
            top = [m for m in self.slack.messages if m.channel == channel and not m.thread_ts]
        return [m for m in top[skip:] if any(
            e.get("action_id") == APPROVE_ACTION for b in m.blocks if b.get("type") == "actions"
            for e in b.get("elements", []))], len(top)

    def cards_posted_twice(self, channel: str) -> int:
        """Requests with more than one card in `channel` (told apart by the card's header,
        which updates keep): a duplicate side effect."""
        with self.slack._lock:
            headers = Counter(json.dumps(m.blocks[0]) for m in self.slack.messages
                              if m.channel == channel and not m.thread_ts and m.blocks
                              and m.blocks[0].get("type") == "header")
        return sum(1 for count in headers.values() if count > 1)

    def share_file(self, user: str, name: str, content: bytes) -> dict[str, Any]:
        """A file `user` attaches to a form's file input: its file object."""
        return self.slack.share_file(user, name, content)

    def post(self, channel: str, texts: list[str]) -> list[str]:
        """Messages posted as the bot would (seeded cards); their ts."""
        return [self.slack.handle("chat.postMessage", {"channel": channel, "text": text},
                                  self.slack.token)["ts"] for text in texts]

    def counters(self) -> dict[str, Any]:
        with self.slack._lock:
            calls = list(self.slack.calls)
        errors: dict[str, int] = {}
        for call in calls:
            if call.error:
                key = f"{call.method}: {call.error}"
                errors[key] = errors.get(key, 0) + 1
        return {"slack_calls": len(calls), "slack_connections": self.slack.connections,
                "slack_errors": errors, "provider_calls": sum(self.pac.calls.values()),
                "provider_holding": self.pac.holding}

    def stop(self) -> None:
        self.sat.stop()
        self.pac.stop()
        self.slack.stop()


def _serve(conn: Connection, token: str, provider_s: float) -> None:
    control = _Control(token, provider_s)
    conn.send(control.addresses())
    try:
        while (message := conn.recv()) is not None:
            name, args = message
            try:
                conn.send(("ok", getattr(control, name)(*args)))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        control.stop()


class StandIns:
    """The remote control, used from the benchmark's process."""

    def __init__(self, provider_s: float) -> None:
        self.token = "xoxb-bench-" + secrets.token_hex(8)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, self.token, provider_s),
                                       daemon=True, name="stand-ins")
        self.process.start()
        addresses = self._conn.recv()
        self.api_url, self.endpoint = addresses["api_url"], addresses["endpoint"]
        self.sat_url = addresses["sat"]
        self._triggers: list[str] = []

    def call(self, name: str, *args: Any) -> Any:
        self._conn.send((name, args))
        status, result = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"stand-ins: {name}: {result}")
        return result

    # What SlackDriver reads of a stand-in, so it builds bodies here as it does in tests.
    users, channels = PEOPLE, CHANNELS

    def refill(self, count: int) -> None:
        """Issue `count` trigger ids now (they expire 3 s after issue, as Slack's do)."""
        self._triggers = self.call("triggers", count)

    def issue_trigger(self) -> str:
        return self._triggers.pop() if self._triggers else self.call("triggers", 1)[0]

    def message(self, channel: str, ts: str) -> Message:
        return self.call("message", channel, ts)  # type: ignore[no-any-return]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self.process.join(10)


class NoLookups:
    """In place of the invoices' lookups (as many descargarXML as invoices): nothing looked up."""

    async def gather(self, request_id: int, invoices: Any, attached: Any = None) -> list[Any]:
        return []
