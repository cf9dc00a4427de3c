"""What the SAT only received (EstatusUUID 201) is confirmed without a provider call per
invoice: through the SAT's status service where it is configured, otherwise (or for what the
SAT cannot settle yet) by asking the provider again in batches of CFDI_BATCH_SIZE. Counted
on the sandbox provider's own counter, over HTTP, with the real zeep client."""

from __future__ import annotations

import math

from bot.actors import Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sat.refs import InvoiceRef
from bot.workflow.answers import submit
from bot.workflow.facts import FactFinder
from bot.workflow.received import confirm_received
from bot.workflow.transitions import approve, create_cancel_request
from storage import chain, queries
from storage.store import AuditStore
from tests.helpers import uuid_with

ANA, BETO = Actor("U0ANA", "Ana"), Actor("U0BETO", "Beto")
COUNT, BATCH = 120, 50  # the pac fixture's CFDI_BATCH_SIZE




async def submitted(store: AuditStore, pac: PacClient, sat: FactFinder | None,
                    codes: list[str]) -> int:
    refs = [InvoiceRef(uuid=uuid_with(code, n + 1)) for n, code in enumerate(codes)]
    request_id = await create_cancel_request(store, ANA, refs, reason="02",
                                             justification="error")
    assert await approve(store, request_id, BETO, required=1)
    await submit(store, pac, request_id, BETO, sat=sat)
    return request_id


def statuses(store: AuditStore, request_id: int) -> set[str]:
    return {i["status"] for i in queries.request_invoices(store, request_id)}


async def test_the_sat_settles_what_it_received_without_a_provider_call(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    request_id = await submitted(store, pac, sat, ["000"] * COUNT)
    assert sandbox.calls["cancelar"] == math.ceil(COUNT / BATCH)
    assert statuses(store, request_id) == {"pending"}  # "received": not yet cancelled
    confirmed = await confirm_received(store, pac, request_id, sat=sat)
    assert len(confirmed.changed) == COUNT
    assert sandbox.calls["cancelar"] == math.ceil(COUNT / BATCH)  # not one more
    assert statuses(store, request_id) == {"canceled"}
    assert queries.get_request(store, request_id)["status"] == "completed"
    events = [e["action"] for e in queries.events(store, request_id)]
    assert events.count("sat_confirmed") == COUNT and chain.verify(store.db).ok


async def test_the_sats_refusal_and_in_process_are_settled_by_the_sat(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    request_id = await submitted(store, pac, sat, ["000", "213", "A11"])
    calls = sandbox.calls["cancelar"]
    await confirm_received(store, pac, request_id, sat=sat)
    assert sandbox.calls["cancelar"] == calls
    assert [i["status"] for i in queries.request_invoices(store, request_id)] == \
        ["canceled", "denied", "pending"]  # the receiver has not answered: the watcher asks


async def test_without_the_sat_the_provider_is_asked_again_in_batches(
        store: AuditStore, pac: PacClient, sandbox: SandboxPac) -> None:
    request_id = await submitted(store, pac, None, ["000"] * COUNT)
    await confirm_received(store, pac, request_id, sat=None)
    assert sandbox.calls["cancelar"] == 2 * math.ceil(COUNT / BATCH)
    # The provider says "previously cancelled"; nobody can confirm it at the SAT.
    assert statuses(store, request_id) == {"unconfirmed"}


async def test_what_the_sat_does_not_show_yet_is_asked_of_the_provider_in_batches(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    sandbox.state.sat_lag_s = 60.0  # the SAT's books lag the provider's cancellation
    request_id = await submitted(store, pac, sat, ["000"] * COUNT)
    await confirm_received(store, pac, request_id, sat=sat)
    assert sandbox.calls["cancelar"] == 2 * math.ceil(COUNT / BATCH)
    assert statuses(store, request_id) == {"awaiting_sat"}  # the watcher asks the SAT
