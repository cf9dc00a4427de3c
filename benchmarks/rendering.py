"""What rendering a card or a reply costs the event loop that answers Slack.

Each payload the bot sends is timed three ways in the same run:
- ours: bot.slack.render.kit / bot.slack.render.history building plain dicts;
- models: the same blocks built through slack_sdk's models (parsed into Block/View objects
  and serialised with to_dict, which validates and reflects over every object), the way
  bot/slack/render/kit.py rendered them before;
- floor: json.dumps of the result, which sending it costs anyway.
Plus a burst: 50 approvals, each rendering its card twice (approved, then completed) and
its outcomes reply.
"""

from __future__ import annotations

import asyncio
import json
import platform
import tempfile
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.actors import Actor
from bot.sat.refs import InvoiceRef
from bot.slack.render import card, history, kit, modals, replies
from bot.workflow.transitions import approve, create_cancel_request
from storage import queries
from storage.domain import Row
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS
from storage.store import AuditStore

COMMAND = "make bench  (python -m benchmarks rendering)"
BURST = 50


async def rows_of(store: AuditStore) -> tuple[Row, list[Row], list[Row], Row, list[Row]]:
    """Rows as the bot reads them: a request of 5 invoices awaiting approval, one of 40
    approved (shown completed, its invoices cancelled)."""
    async def create(count: int, seed: int) -> int:
        return await create_cancel_request(
            store, Actor("U0ANA", "ana"),
            [InvoiceRef(uuid=f"{seed:08X}-0000-4000-8000-{n:012X}") for n in range(count)],
            reason="02", justification="Factura duplicada", approvals_channel="C0APROB")

    small, large = await create(5, 1), await create(40, 2)
    await approve(store, large, Actor("U0BETO", "beto"), required=1)
    done = {**queries.get_request(store, large), "status": RS.COMPLETED}  # type: ignore[dict-item]
    cancelled = [{**i, "status": IS.CANCELED} for i in queries.request_invoices(store, large)]
    return (queries.get_request(store, small), queries.request_invoices(store, small),  # type: ignore[return-value]
            queries.decisions(store, large), done, cancelled)


def _cases(store: AuditStore) -> dict[str, Callable[[], dict[str, Any]]]:
    waiting, few, approvals, done, many = asyncio.run(rows_of(store))
    outcomes = [(Reply.OUTCOMES, {"invoices": [
        {"ref": i["ref_key"], "status": IS.CANCELED, "code": "201", "detalle": "Cancelado"}
        for i in many[:10]]})]
    mine = queries.recent_requests(store, "U0ANA")
    pending = [{**i, "pending_since": done["created_at"]} for i in many[:10]]
    return {
        "card, awaiting approval, 5 invoices": lambda: card.request_card(
            waiting, few, [], lang="es", sandbox=True, ttl_h=72),
        "card, completed, 40 invoices": lambda: card.request_card(
            done, many, approvals, lang="es", sandbox=True, ttl_h=72),
        "thread reply, 10 outcomes": lambda: replies.thread_reply(
            done, outcomes, lang="es", sandbox=True)[0],
        "ephemeral note": lambda: kit.message("Solicitud #7 creada y enviada a aprobación",
                                                 sandbox=True, lang="es"),
        "cancel form": lambda: modals.cancel_modal(prefill="", channel_id="C0FIN", limit=200,
                                                   lang="es", sandbox=True),
        "App Home of an approver": lambda: history.home(
            mine=mine, counts={}, approver=True, to_decide=mine, pending=pending,
            pending_total=10, now=datetime.now(UTC), lang="es", sandbox=True,
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
    with tempfile.TemporaryDirectory() as folder:
        store = AuditStore.open(Path(folder) / "rendering.db")
        try:
            _measure(_cases(store))
        finally:
            store.close()


def _measure(cases: dict[str, Callable[[], dict[str, Any]]]) -> None:
    for name, render in cases.items():
        payload = render()
        assert through_models(payload) == payload, name  # the same blocks, both ways
        ours = _us(render)
        models = _us(lambda payload=payload: through_models(payload)) + ours
        floor = _us(lambda payload=payload: json.dumps(payload))
        print(f"  {name}: ours {ours:,.0f} µs; through the models {models:,.0f} µs "
              f"({models / ours:.1f}x ours); json.dumps {floor:,.0f} µs "
              f"(ours = {ours / floor:.1f}x of it)")
    card, reply = cases["card, completed, 40 invoices"], cases["thread reply, 10 outcomes"]
    ours = _us(lambda: [(card(), card(), reply()) for _ in range(BURST)], number=5)
    models = _us(lambda: [(through_models(card()), through_models(card()),
                           through_models(reply())) for _ in range(BURST)], number=5)
    print(f"  a burst of {BURST} approvals (card twice + reply each): ours "
          f"{ours / 1000:,.1f} ms of event loop, through the models {models / 1000:,.1f} ms "
          f"({models / ours:.1f}x)")
