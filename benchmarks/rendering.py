"""What rendering a card or a reply costs the event loop that answers Slack.

Each payload the bot sends is timed three ways in the same run:
- ours: bot.blocks / bot.reports building plain dicts;
- models: the same blocks built through slack_sdk's models (parsed into Block/View objects
  and serialised with to_dict, which validates and reflects over every object), the way
  bot/blocks.py rendered them before;
- floor: json.dumps of the result, which sending it costs anyway.
Plus a burst: 50 approvals, each rendering its card twice (approved, then completed) and
its outcomes reply.
"""

from __future__ import annotations

import json
import platform
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import blocks, reports
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS

COMMAND = "make bench  (python -m benchmarks rendering)"
AT = "2026-01-02T03:04:05Z"
BURST = 50


def _request(**row: Any) -> dict[str, Any]:
    return {"id": 7, "status": RS.AWAITING_APPROVAL, "kind": "cancel", "requester_id": "U0ANA",
            "reason": "02", "replacement_uuid": None, "justification": "Factura duplicada",
            "send_options": None, "recipients": None, "approvals_required": 1,
            "created_at": AT, "updated_at": AT, "approvals_channel": "C0APROB",
            "thread_ts": "1700000000.000100", **row}


def _invoices(count: int, status: str) -> list[dict[str, Any]]:
    return [{"ref_key": f"{n:08X}-1111-4111-8000-000000000001", "status": status,
             "request_id": 7, "pending_since": AT} for n in range(count)]


APPROVAL = [{"decision": "approve", "user_id": "U0BETO", "decided_at": AT, "reason": None}]
OUTCOMES = [(Reply.OUTCOMES, {"invoices": [
    {"ref": f"{n:08X}-1111-4111-8000-000000000001", "status": "canceled", "code": "201",
     "detalle": "Cancelado"} for n in range(10)]})]


def _cases() -> dict[str, Callable[[], dict[str, Any]]]:
    rows = [_request(id=n, status=s) for n, s in enumerate(RS, start=1)]
    return {
        "card, awaiting approval, 5 invoices": lambda: blocks.request_card(
            _request(), _invoices(5, IS.REQUESTED), [], lang="es", sandbox=True, ttl_h=72),
        "card, completed, 40 invoices": lambda: blocks.request_card(
            _request(status=RS.COMPLETED), _invoices(40, IS.CANCELED), APPROVAL, lang="es",
            sandbox=True, ttl_h=72),
        "thread reply, 10 outcomes": lambda: blocks.thread_reply(
            _request(), OUTCOMES, lang="es", sandbox=True)[0],
        "ephemeral note": lambda: blocks.message("Solicitud #7 creada y enviada a aprobación",
                                                 sandbox=True, lang="es"),
        "cancel form": lambda: blocks.cancel_modal(prefill="", channel_id="C0FIN", limit=200,
                                                   lang="es", sandbox=True),
        "App Home of an approver": lambda: reports.home(
            mine=rows, counts={}, approver=True, to_decide=rows, pending=_invoices(10, "p"),
            pending_total=10, now=datetime(2026, 1, 3, tzinfo=UTC), lang="es", sandbox=True,
            link=lambda row: "<#C0APROB>"),
    }


def through_models(payload: dict[str, Any]) -> dict[str, Any]:
    """The same payload built through slack_sdk's models."""
    if "type" in payload:  # a view
        return View(**payload).to_dict()
    return {"text": payload["text"],
            "blocks": [Block.parse(b).to_dict() for b in payload["blocks"]]}  # type: ignore[union-attr]


def _us(run: Callable[[], object], number: int = 200) -> float:
    return min(timeit.repeat(run, number=number, repeat=5)) / number * 1e6


def main() -> None:
    print(f"== rendering  [{platform.machine()}, Python {platform.python_version()}]")
    print(f"   command: {COMMAND}")
    for name, render in _cases().items():
        payload = render()
        assert through_models(payload) == payload, name  # the same blocks, both ways
        ours = _us(render)
        models = _us(lambda payload=payload: through_models(payload)) + ours
        floor = _us(lambda payload=payload: json.dumps(payload))
        print(f"  {name}: ours {ours:,.0f} µs; through the models {models:,.0f} µs "
              f"({models / ours:.1f}x ours); json.dumps {floor:,.0f} µs "
              f"(ours = {ours / floor:.1f}x of it)")
    cases = _cases()
    card = cases["card, completed, 40 invoices"]
    reply = cases["thread reply, 10 outcomes"]
    ours = _us(lambda: [(card(), card(), reply()) for _ in range(BURST)], number=5)
    models = _us(lambda: [(through_models(card()), through_models(card()),
                           through_models(reply())) for _ in range(BURST)], number=5)
    print(f"  a burst of {BURST} approvals (card twice + reply each): ours "
          f"{ours / 1000:,.1f} ms of event loop, through the models {models / 1000:,.1f} ms "
          f"({models / ours:.1f}x)")
