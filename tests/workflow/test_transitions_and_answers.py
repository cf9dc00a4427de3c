"""The use cases on a real SQLite file and the sandbox over HTTP: submit, watch, fail, resume."""

from __future__ import annotations

import asyncio

import pytest

from bot.actors import Actor
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sat.refs import InvoiceRef
from bot.workflow.answers import recheck_pending, run_submission, submit
from bot.workflow.facts import FactFinder
from bot.workflow.received import confirm_received
from bot.workflow.transitions import approve, create_cancel_request
from storage import chain, queries
from storage.errors import StaleState
from storage.store import AuditStore
from tests.helpers import uuid_with

ANA, BETO = Actor("U0ANA", "Ana"), Actor("U0BETO", "Beto")




async def new_request(store: AuditStore, codes: list[str]) -> int:
    refs = [InvoiceRef(uuid=uuid_with(code, n + 1)) for n, code in enumerate(codes)]
    request_id = await create_cancel_request(store, ANA, refs, reason="02",
                                             justification="error")
    assert await approve(store, request_id, BETO, required=1)
    return request_id


def statuses(store: AuditStore, request_id: int) -> list[str]:
    return [i["status"] for i in queries.request_invoices(store, request_id)]


async def test_an_approved_request_is_submitted_and_recorded(
        store: AuditStore, pac: PacClient, sat: FactFinder) -> None:
    request_id = await new_request(store, ["000", "204", "202", "213"])
    submission = await submit(store, pac, request_id, BETO, sat=sat)
    # The SAT only received the first (201): pending until a confirming ask. 213 exists
    # only as a one-invoice call's answer: in a batch the SAT has the request (201).
    assert submission.status == "submitted"
    assert statuses(store, request_id) == ["pending", "not_cancelable", "already_canceled",
                                           "pending"]
    first = queries.request_invoices(store, request_id)[0]
    assert first["acuse"].startswith("<?xml") and first["attempts"] == 1
    assert first["code"] == "sat:201"
    confirmed = await confirm_received(store, pac, request_id, sat=sat)
    assert [o.outcome for _, o in confirmed.changed] == ["canceled", "denied"]
    assert statuses(store, request_id) == ["canceled", "not_cancelable", "already_canceled",
                                           "denied"]
    assert queries.get_request(store, request_id)["status"] == "completed"
    assert chain.verify(store.db).ok


async def test_sat_201_is_never_cancelled_before_a_confirming_ask(
        store: AuditStore, pac: PacClient, sat: FactFinder) -> None:
    request_id = await new_request(store, ["000"])
    await submit(store, pac, request_id, BETO, sat=sat)
    assert statuses(store, request_id) == ["pending"]
    events = [e["action"] for e in queries.events(store, request_id)]
    assert "invoice_canceled" not in events
    await confirm_received(store, pac, request_id, sat=sat)
    assert statuses(store, request_id) == ["canceled"]


async def test_a_second_approval_cannot_submit_again(store: AuditStore, pac: PacClient,
                                                     sat: FactFinder) -> None:
    request_id = await new_request(store, ["000"])
    await submit(store, pac, request_id, BETO, sat=sat)
    with pytest.raises(StaleState):
        await approve(store, request_id, Actor("U0OTRO", "Otro"), required=1)
    with pytest.raises(StaleState):
        await submit(store, pac, request_id, BETO, sat=sat)
    assert pac.calls == 1


async def test_pending_invoices_are_watched_until_they_resolve(
        store: AuditStore, pac: PacClient, sat: FactFinder) -> None:
    request_id = await new_request(store, ["A11", "B11", "000"])
    submission = await submit(store, pac, request_id, BETO, backoff_s=(0.05,), sat=sat)
    assert submission.status == "submitted"
    assert statuses(store, request_id) == ["pending", "pending", "pending"]
    await asyncio.sleep(0.06)
    early = (await recheck_pending(store, pac, backoff_s=(0.05,), sat=sat)).changed
    assert [(i["ref_key"], o.outcome) for i, o in early] == [(uuid_with("000", 3), "canceled")]
    await asyncio.sleep(0.06)  # the first two are due again
    await asyncio.sleep(0.6)
    changed = (await recheck_pending(store, pac, backoff_s=(0.05,), sat=sat)).changed
    assert sorted(o.outcome for _, o in changed) == ["canceled", "denied"]
    assert statuses(store, request_id) == ["canceled", "denied", "canceled"]
    assert queries.get_request(store, request_id)["status"] == "completed"


async def test_a_provider_outage_fails_the_request_and_a_resubmission_works(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    sandbox.state.transient_failures = 99
    request_id = await new_request(store, ["503", "000"])
    submission = await submit(store, pac, request_id, BETO, sat=sat)
    assert submission.status == "failed"
    assert statuses(store, request_id) == ["failed", "failed"]
    failed = [e for e in queries.events(store, request_id)
              if e["action"] == "submission_failed"]
    assert '"code":"503"' in failed[0]["details"]
    sandbox.state.transient_failures = 0
    again = await submit(store, pac, request_id, BETO, sat=sat)
    assert again.status == "submitted"
    assert statuses(store, request_id) == ["pending", "pending"]  # received
    await confirm_received(store, pac, request_id, sat=sat)
    assert statuses(store, request_id) == ["canceled", "canceled"]


async def test_a_request_left_in_submitting_is_resumed(store: AuditStore,
                                                       pac: PacClient, sat: FactFinder) -> None:
    request_id = await new_request(store, ["000", "211"])
    store.transition("request", request_id, "submitting", BETO)  # then the process died
    resumed = await run_submission(store, pac, request_id, resumed=True, sat=sat)
    assert resumed.status == "submitted"
    assert statuses(store, request_id) == ["pending", "pending"]


async def test_a_watch_cycle_during_an_outage_changes_nothing(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    request_id = await new_request(store, ["A11"])
    await submit(store, pac, request_id, BETO, backoff_s=(0.0,), sat=sat)
    before = (statuses(store, request_id), len(queries.events(store)))
    sandbox.stop()
    outage = await recheck_pending(store, pac, backoff_s=(0.0,), sat=sat)
    assert outage.outage and outage.changed == [] and outage.error is not None
    assert (statuses(store, request_id), len(queries.events(store))) == before


async def test_two_asks_about_the_same_pending_invoice_at_once_record_one_answer(
        store: AuditStore, pac: PacClient, sat: FactFinder, sandbox: SandboxPac) -> None:
    # A resumed submission confirming and a watcher cycle may ask at once: the later answer
    # is stale, and must neither fail its batch nor be recorded over the first.
    request_id = await new_request(store, ["000", "000"])
    await submit(store, pac, request_id, BETO, sat=sat)
    with store.transaction() as tx:  # due for the watcher now
        for invoice in queries.request_invoices(store, request_id):
            tx.set_fields("invoice", invoice["id"], {"next_check_at": "2000-01-01T00:00:00Z"})
    sandbox.delay_s = 0.2  # both calls are in flight before either answer is written
    confirmed, watched = await asyncio.gather(
        confirm_received(store, pac, request_id, sat=sat),
        recheck_pending(store, pac, backoff_s=[0.0], sat=sat))
    assert statuses(store, request_id) == ["canceled", "canceled"]
    assert len(confirmed.changed) + len(watched.changed) == 2
    cancelled = [e for e in queries.events(store, request_id)
                 if e["action"] in ("provider_answered", "sat_confirmed")
                 and '"to":"canceled"' in e["details"]]
    assert len(cancelled) == 2  # one recorded cancellation per invoice
    assert chain.verify(store.db).ok
