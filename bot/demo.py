"""`python -m bot demo`: the whole flow offline, against the sandbox provider.

A requester asks to cancel the seed's test invoices and a few more, an approver approves,
the provider answers (cancelled, not cancellable, pending, denied, already cancelled), the
pending ones are asked again until they resolve, a send goes out, and the audit trail that
all of it left in AUDIT_DB is printed and verified. The Slack side joins in a later issue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from bot.cancellation import (
    approve,
    create_cancel_request,
    create_send_request,
    recheck_pending,
    submit,
)
from bot.config import Settings
from bot.i18n import code_text, t
from bot.pac.models import InvoiceOutcome, InvoiceRef, SendRequest
from bot.provider import Provider, start_provider
from storage import chain, queries
from storage.store import Actor, AuditStore

REQUESTER = Actor("U0DEMOREQ1", "Ana López (demo)")
APPROVER = Actor("U0DEMOAPR1", "Carlos Ruiz (demo)")

DEMO_INVOICES = [
    "E329DD15-7D0B-44E9-A204-51A7443D1FBE",  # seed: 204, cannot be cancelled
    "C5E58106-6C1E-41C9-A211-FB8BAD1CABB0",  # seed: 211, stays in process
    "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B",  # any other UUID: cancelled
    "7B1E4D22-9A3C-4F10-FA11-2C3D4E5F6A7B",  # pending, then the receiver accepts
    "9D8C7B6A-5E4F-4A3B-F213-1C2D3E4F5A6B",  # denied by the receiver
    "A1B2C3D4-E5F6-4A7B-F202-8C9D0E1F2A3B",  # already cancelled
    "FAC 1001",                              # serie + folio: cancelled
]
RESOLVE_AFTER_S = 2.0


def _detail(outcome: InvoiceOutcome, lang: str) -> str:
    """The nuance when the SAT's wording gave one, else what the code means."""
    if outcome.nuance:
        return t(f"nuance.{outcome.nuance}", lang)
    return code_text(outcome.code, lang, outcome.detalle)


async def run_demo(settings: Settings, say: Callable[[str], None] = print,
                   poll_s: float = 0.5, max_wait_s: float = 30.0) -> int:
    lang = settings.language
    store = AuditStore.open(settings.audit_db, secrets=settings.secrets())
    provider = await start_provider(settings, resolve_after_s=RESOLVE_AFTER_S)
    first_event = (store.db.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
    try:
        say(t("demo.title", lang))
        say(t("sandbox.banner", lang))
        say("")
        refs = [InvoiceRef.parse(line) for line in DEMO_INVOICES]
        justification = "Factura duplicada por error de captura"
        say(t("demo.requester_asks", lang, name=REQUESTER.name, count=len(refs), reason="02",
              justification=justification))
        request_id = create_cancel_request(store, REQUESTER, refs, reason="02",
                                           justification=justification,
                                           approvals_required=settings.required_approvals)
        approve(store, request_id, APPROVER, required=max(settings.required_approvals, 1))
        say(t("demo.approver_approves", lang, name=APPROVER.name, request_id=request_id))
        submission = await submit(store, provider.client, request_id, APPROVER,
                                  backoff_s=(poll_s,))
        say(t("demo.outcomes", lang, request_id=request_id))
        for invoice, outcome in submission.outcomes:
            say(t("demo.outcome_line", lang, ref=invoice["ref_key"],
                  outcome=t(f"outcome.{outcome.outcome}", lang), detail=_detail(outcome, lang)))
        await _watch(store, provider, settings, say, poll_s, max_wait_s)
        request = queries.get_request(store.db, request_id) or {}
        say(t("demo.request_status", lang, request_id=request_id,
              status=t(f"request.{request.get('status')}", lang)))
        say("")
        await _send(store, provider, settings, say)
        say("")
        _print_trail(store, settings, say, first_event)
        return 0
    finally:
        await provider.aclose()
        store.close()


async def _watch(store: AuditStore, provider: Provider, settings: Settings,
                 say: Callable[[str], None], poll_s: float, max_wait_s: float) -> None:
    """Ask again for the pending invoices that resolve in the sandbox (the seed's 211 stays)."""
    lang = settings.language
    resolving = {i["id"] for i in store.db.query(
        "SELECT id FROM invoices WHERE status = 'pending' AND ref_key NOT LIKE '%-_211-%'")}
    if not resolving:
        return
    say(t("demo.watching", lang, count=len(resolving)))
    waited = 0.0
    while resolving and waited < max_wait_s:
        await asyncio.sleep(poll_s)
        waited += poll_s
        for invoice, outcome in await recheck_pending(store, provider.client,
                                                      backoff_s=(poll_s,)):
            resolving.discard(invoice["id"])
            say(t("demo.resolved", lang, ref=invoice["ref_key"],
                  outcome=t(f"outcome.{outcome.outcome}", lang), detail=_detail(outcome, lang)))


async def _send(store: AuditStore, provider: Provider, settings: Settings,
                say: Callable[[str], None]) -> None:
    lang = settings.language
    request = SendRequest(refs=[InvoiceRef.parse("3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B")],
                          emails=["cuentasporpagar@cliente.example", "contador@cliente.example"],
                          subject="Su factura", attach_pdf=True)
    say(t("demo.sending", lang, name=REQUESTER.name, count=len(request.refs),
          emails=", ".join(request.emails)))
    request_id = create_send_request(store, REQUESTER, request, approvals_required=0)
    approve(store, request_id, REQUESTER, required=0)
    submission = await submit(store, provider.client, request_id, REQUESTER)
    for invoice, outcome in submission.outcomes:
        for part in (outcome.detalle or "").split("; "):
            email, _, detail = part.partition(": ")
            say(t("demo.send_line", lang, ref=invoice["ref_key"], email=email,
                  outcome=t(f"outcome.{outcome.outcome}", lang), detail=detail))


def _print_trail(store: AuditStore, settings: Settings, say: Callable[[str], None],
                 first_event: int) -> None:
    lang = settings.language
    say(t("demo.trail", lang, path=settings.audit_db))
    for event in store.db.query("SELECT * FROM events WHERE id >= ? ORDER BY id", [first_event]):
        details = json.loads(event["details"])
        brief = {k: v for k, v in details.items() if v not in (None, "", [], {})
                 and k in ("from", "to", "code", "nuance", "invoices", "reason", "approvals")}
        say(f"  #{event['id']:<5} {event['at'][:19]}Z  {event['actor_name']:<20} "
            f"{event['action']:<20} req={event['request_id']} "
            f"{event['invoice_ref'] or '':<38} {json.dumps(brief, ensure_ascii=False)}")
    verdict = chain.verify(store.db)
    say(t("demo.chain_ok", lang, count=verdict.checked) if verdict.ok
        else f"CHAIN BROKEN at event {verdict.bad_event}: {verdict.problem}")
