"""Plain-dict rendering (bot.blocks, bot.reports) gives the same bytes as the slack_sdk
models it replaces (tests/legacy_*.py), for every card state, reply kind, form and report."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import blocks, reports
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS
from tests import legacy_blocks, legacy_reports

AT = "2026-01-02T03:04:05Z"
UUID = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"


def same(new: Any, old: Any) -> None:
    assert json.dumps(new, ensure_ascii=False) == json.dumps(old, ensure_ascii=False)


def request(**row: Any) -> dict[str, Any]:
    return {"id": 7, "status": RS.AWAITING_APPROVAL, "kind": "cancel", "requester_id": "U0ANA",
            "reason": "02", "replacement_uuid": None, "justification": "Duplicada <!here>",
            "send_options": None, "recipients": None, "approvals_required": 1,
            "created_at": AT, "updated_at": AT, "approvals_channel": "C0APROB",
            "thread_ts": "1700000000.000100", **row}


def invoices(*statuses: str) -> list[dict[str, Any]]:
    return [{"ref_key": f"FAC-{n}", "status": s, "request_id": 7, "pending_since": AT}
            for n, s in enumerate(statuses, start=1)]


APPROVE = {"decision": "approve", "user_id": "U0BETO", "decided_at": AT, "reason": None}
REJECT = {"decision": "reject", "user_id": "U0BETO", "decided_at": AT, "reason": "no & <x>"}
SEND = {"kind": "send", "reason": None, "recipients": json.dumps(["a@x.mx", "b@x.mx"]),
        "send_options": json.dumps({"subject": "Factura *1*", "attach_pdf": True})}
CARDS = [
    (request(), invoices(IS.REQUESTED), []),
    (request(approvals_required=2), invoices(IS.REQUESTED, IS.REQUESTED), [APPROVE]),
    (request(status=RS.APPROVED), invoices(IS.REQUESTED), [APPROVE]),
    (request(status=RS.SUBMITTED), invoices(IS.CANCELED, IS.PENDING, IS.DENIED), [APPROVE]),
    (request(status=RS.COMPLETED, reason="01", replacement_uuid=UUID),
     invoices(*[s.value for s in IS]), [APPROVE]),
    (request(status=RS.FAILED, justification=None), invoices(IS.FAILED), [APPROVE]),
    (request(status=RS.REJECTED, justification="x" * 4000), invoices(IS.REJECTED), [REJECT]),
    (request(status=RS.EXPIRED), invoices(IS.EXPIRED), []),
    (request(**SEND), invoices(IS.REQUESTED), []),
    (request(**SEND, status=RS.COMPLETED), invoices(IS.SENT, IS.UNKNOWN), []),
    (request(), invoices(*[IS.REQUESTED] * 45), []),
]


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("sandbox", [True, False])
@pytest.mark.parametrize("card", range(len(CARDS)))
def test_cards(card: int, sandbox: bool, lang: str) -> None:
    row, rows, decisions = CARDS[card]
    same(blocks.request_card(row, rows, decisions, lang=lang, sandbox=sandbox, ttl_h=72),
         legacy_blocks.request_card(row, rows, decisions, lang=lang, sandbox=sandbox, ttl_h=72))


LINES = [{"ref": UUID, "status": s, "code": c, "detalle": d} for s, c, d in [
    ("canceled", "201", None), ("pending", "201", "En proceso"), ("denied", "2001", "no"),
    ("failed", "timeout", None), ("unknown", "malformed", "<b>"), ("sent", None, None),
    ("not_cancelable", "205", "*x*")]]
REPLIES = [
    [(Reply.APPROVED, {"user": "U0BETO"})],
    [(Reply.APPROVAL_COUNTED, {"user": "U0BETO", "count": 1, "required": 2})],
    [(Reply.RESUBMITTED, {"user": "U0BETO"}), (Reply.OUTCOMES, {"invoices": LINES})],
    [(Reply.RESOLVED, LINES[0]), (Reply.RESOLVED, LINES[2]), (Reply.COMPLETED, {})],
    [(Reply.FAILED, {"code": "timeout", "message": "x", "class": "retry"})],
    [(Reply.FAILED, {"code": "999", "message": "<!channel>"})],
    [(Reply.REJECTED, {"user": "U0BETO", "reason": "no & <x>"})],
    [(Reply.EXPIRED, {"hours": 72.0})],
    [(Reply.OUTCOMES, {"invoices": LINES * 200})],
]


@pytest.mark.parametrize("kind", ["cancel", "send"])
@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("reply", range(len(REPLIES)))
def test_thread_replies(reply: int, lang: str, kind: str) -> None:
    row = request(kind=kind)
    same(blocks.thread_reply(row, REPLIES[reply], lang=lang, sandbox=True),
         legacy_blocks.thread_reply(row, REPLIES[reply], lang=lang, sandbox=True))


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("sandbox", [True, False])
def test_forms_and_help(lang: str, sandbox: bool) -> None:
    for prefill, channel in [("", None), (f"{UUID}\nFAC 1", "C0FIN")]:
        for name in ("cancel_modal", "send_modal"):
            same(getattr(blocks, name)(prefill=prefill, channel_id=channel, limit=50,
                                       lang=lang, sandbox=sandbox),
                 getattr(legacy_blocks, name)(prefill=prefill, channel_id=channel, limit=50,
                                              lang=lang, sandbox=sandbox))
    same(blocks.reject_modal(request(), lang=lang, sandbox=sandbox),
         legacy_blocks.reject_modal(request(), lang=lang, sandbox=sandbox))
    same(blocks.help_blocks(lang, sandbox), legacy_blocks.help_blocks(lang, sandbox))


@settings(max_examples=80, deadline=None)
@given(st.text(string.printable + "áé🧪", max_size=9000), st.booleans(), st.booleans())
def test_messages_of_any_text(text: str, sandbox: bool, retry: bool) -> None:
    new_extra = [blocks.actions("resubmit", [blocks.button("Reintentar", "cfdi_resubmit",
                                                           "1")])] if retry else []
    old_extra = [legacy_blocks.ActionsBlock(block_id="resubmit", elements=[
        legacy_blocks.ButtonElement(text="Reintentar", action_id="cfdi_resubmit",
                                    value="1")])] if retry else []
    same(blocks.message(text, sandbox=sandbox, lang="es"),
         legacy_blocks.message(text, sandbox=sandbox, lang="es"))
    same(blocks.messages(text, sandbox=sandbox, lang="es", extra=new_extra),
         legacy_blocks.messages(text, sandbox=sandbox, lang="es", extra=old_extra))


def _link(row: dict[str, Any]) -> str:
    return f"<#{row['approvals_channel']}>"


@pytest.mark.parametrize("lang", ["es", "en"])
def test_reports(lang: str) -> None:
    rows = [request(id=n, status=s) for n, s in enumerate(RS, start=1)]
    counts = {row["id"]: row["id"] % 3 for row in rows}
    trail = {"invoices": invoices(IS.CANCELED, IS.PENDING), "events": [
        {"action": a, "details": json.dumps({"to": "canceled", "code": "201"}), "at": AT,
         "actor_name": "ana <x>", "request_id": 7}
        for a in ("request_created", "provider_answered", "decision_reject", "ignored")]}
    for args in [("FAC-1", trail, {7: request()}), ("FAC-9", {"invoices": [], "events": []}, {})]:
        same(reports.invoice_status(*args, lang, True, _link),
             legacy_reports.invoice_status(*args, lang, True, _link))
    for pending in (True, False):
        for shown in (rows, []):
            same(reports.history(shown, counts, whose="U0ANA", pending=pending, lang=lang,
                                 sandbox=True, link=_link),
                 legacy_reports.history(shown, counts, whose="U0ANA", pending=pending,
                                        lang=lang, sandbox=True, link=_link))
    from datetime import UTC, datetime
    now = datetime(2026, 1, 3, tzinfo=UTC)
    for approver in (True, False):
        for to_decide, pending_rows, total in [(rows * 3, invoices(IS.PENDING) * 30, 45),
                                               ([], [], 0)]:
            kwargs: dict[str, Any] = dict(
                mine=rows, counts=counts, approver=approver, to_decide=to_decide,
                pending=pending_rows, pending_total=total, now=now, lang=lang, sandbox=True,
                link=_link)
            same(reports.home(**kwargs), legacy_reports.home(**kwargs))
