"""Every message, form and Home the bot renders keeps Slack's Block Kit limits, checked by
the Slack stand-in's rules (bot.sandbox.block_kit): each card state, each reply kind, the
forms, the reports, and what people type at its longest and most escapable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import t
from bot.sandbox.block_kit import message_problems, view_problems
from bot.slack.forms import JUSTIFICATION_MAX, MAX_RECIPIENTS, SUBJECT_MAX
from bot.slack.render import card as cards
from bot.slack.render import history, kit, modals, replies
from storage.states import InvoiceStatus as IS
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS

AT = "2026-01-02T03:04:05Z"
UUID = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"
LANGS = ["es", "en"]


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
    (request(), invoices(*[IS.REQUESTED] * 1000), []),
    # What people typed, at its longest and all of it escaped (& becomes &amp;).
    (request(status=RS.REJECTED, justification="&" * JUSTIFICATION_MAX),
     invoices(IS.REJECTED), [{**REJECT, "reason": "&" * JUSTIFICATION_MAX}]),
    (request(**{**SEND, "recipients": json.dumps(["&" * 240 + "@x.mx"] * MAX_RECIPIENTS),
                "send_options": json.dumps({"subject": "<" * SUBJECT_MAX})}),
     invoices(IS.REQUESTED), []),
]
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
    [(Reply.FAILED, {"code": "999", "message": "<!channel>" * 500})],
    [(Reply.REJECTED, {"user": "U0BETO", "reason": "&" * JUSTIFICATION_MAX})],
    [(Reply.EXPIRED, {"hours": 72.0})],
    [(Reply.OUTCOMES, {"invoices": LINES * 200})],
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("card", range(len(CARDS)))
def test_cards_keep_slacks_limits(card: int, lang: str) -> None:
    row, rows, decisions = CARDS[card]
    rendered = cards.request_card(row, rows, decisions, lang=lang, sandbox=True, ttl_h=72)
    assert message_problems(rendered) == []


@pytest.mark.parametrize("kind", ["cancel", "send"])
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("reply", range(len(REPLIES)))
def test_thread_replies_keep_slacks_limits(reply: int, lang: str, kind: str) -> None:
    for part in replies.thread_reply(request(kind=kind), REPLIES[reply], lang=lang,
                                    sandbox=True):
        assert message_problems(part) == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("sandbox", [True, False])
def test_forms_and_help_keep_slacks_limits(lang: str, sandbox: bool) -> None:
    for prefill, channel in [("", None), ("\n".join([UUID] * 1000), "C0FIN")]:
        for build in (modals.cancel_modal, modals.send_modal):
            assert view_problems(build(prefill=prefill, channel_id=channel, limit=1000,
                                       lang=lang, sandbox=sandbox)) == []
    assert view_problems(modals.reject_modal(request(), lang=lang, sandbox=sandbox)) == []
    assert message_problems(replies.help_blocks(lang, sandbox)) == []


def _link(row: dict[str, Any]) -> str:
    return f"<#{row['approvals_channel']}>"


@pytest.mark.parametrize("lang", LANGS)
def test_reports_and_the_home_keep_slacks_limits(lang: str) -> None:
    rows = [request(id=n, status=s, justification="&" * 1000) for n, s in enumerate(RS, 1)]
    counts = {row["id"]: 3 for row in rows}
    trail = {"invoices": invoices(*[IS.CANCELED] * 40), "events": [
        {"action": "provider_answered", "details": json.dumps({"to": "canceled"}), "at": AT,
         "actor_id": "U0ANA", "actor_name": "&" * 200, "request_id": 7}] * 100}
    shown = history.invoice_status("FAC-1", trail, {7: request()}, lang, True, _link)
    assert message_problems(shown) == []
    for pending in (True, False):
        assert message_problems(history.history(rows * 3, counts, whose="U0ANA",
                                                pending=pending, lang=lang, sandbox=True,
                                                link=_link)) == []
    awaiting = [request(id=n, justification="&" * 1000) for n in range(1, 12)]
    delegation = {"delegator_id": "U0BETO", "delegate_id": "U0DIEGO", "until_day": "2026-12-24"}
    stand_ins = history.StandIns(delegation, [(delegation, awaiting)] * 3)
    for approver in (True, False):
        home = history.home(mine=rows * 3, counts=counts, approver=approver,
                            to_decide=rows * 3, pending=invoices(IS.PENDING) * 500,
                            pending_total=5000, now=datetime(2026, 1, 3, tzinfo=UTC),
                            lang=lang, sandbox=True, link=_link)
        assert view_problems(home) == []
        # The most a Home holds (every list full, withdrawals, stand-ins) is not cut.
        full = history.home(mine=awaiting, counts=counts, approver=approver,
                            to_decide=awaiting, pending=invoices(IS.PENDING) * 15,
                            pending_total=5000, now=datetime(2026, 1, 3, tzinfo=UTC),
                            lang=lang, sandbox=True, link=_link, stand_ins=stand_ins)
        assert view_problems(full) == [] and len(full["blocks"]) < 100
        last = full["blocks"][-1]["text"]["text"]
        assert last.startswith(t("home.pending", lang, count=5000)) is approver


TYPED = st.text(st.sampled_from("a&<>*_`~\n ñ🧪"), min_size=1, max_size=JUSTIFICATION_MAX)


@settings(max_examples=60, deadline=None)
@given(justification=TYPED.map(lambda s: s[:JUSTIFICATION_MAX]),
       reason=TYPED.map(lambda s: s[:JUSTIFICATION_MAX]),
       subject=TYPED.map(lambda s: s.replace("\n", " ")[:SUBJECT_MAX]),
       emails=st.lists(st.text("a&<>", min_size=1, max_size=60).map(lambda s: s + "@x.mx"),
                       min_size=1, max_size=MAX_RECIPIENTS),
       status=st.sampled_from(list(RS)), kind=st.sampled_from(["cancel", "send"]))
def test_what_people_type_cannot_break_a_card(
        justification: str, reason: str, subject: str, emails: list[str], status: str,
        kind: str) -> None:
    row = request(status=status, justification=justification, **(
        {**SEND, "recipients": json.dumps(emails),
         "send_options": json.dumps({"subject": subject})} if kind == "send" else {}))
    decisions = [APPROVE, {**REJECT, "reason": reason}]
    card = cards.request_card(row, invoices(IS.REQUESTED), decisions, lang="es",
                               sandbox=True, ttl_h=72)
    assert message_problems(card) == []
    for part in replies.thread_reply(row, [(Reply.REJECTED, {"user": "U0B", "reason": reason})],
                                    lang="es", sandbox=True):
        assert message_problems(part) == []


@pytest.mark.parametrize("bad", [
    kit.section("x" * 3001),
    {"fields": [kit.md("x")] * 11, "type": "section"},
    {"text": kit.plain("x" * 151), "type": "header"},
    {"text": kit.md("x"), "type": "header"},
    kit.context(""),
    kit.actions("d", [kit.button("x" * 76, "a", "1")]),
    kit.actions("d", [kit.button("ok", "a", "1" * 2001)]),
    kit.actions("x" * 256, [kit.button("ok", "a", "1")]),
    {"type": "image"},
], ids=["section", "fields", "header", "header-mrkdwn", "empty", "button-text", "button-value",
        "block-id", "unknown"])
def test_the_stand_in_refuses_what_slack_refuses(bad: dict[str, Any]) -> None:
    assert message_problems({"text": "x", "blocks": [bad]}) != []
    assert message_problems({"text": "x", "blocks": [kit.section("ok")] * 51}) != []


@pytest.mark.parametrize("lang", LANGS)
def test_the_withdrawal_dialog_keeps_slacks_limits_and_the_stand_in_checks_them(
        lang: str) -> None:
    button = kit.withdraw_button(2**63 - 1, lang)  # the longest request number
    message = {"text": "x", "blocks": [kit.actions("a", [button])]}
    assert message_problems(message) == []
    for key, most in [("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)]:
        long = {**button, "confirm": {**button["confirm"], key: kit.plain("x" * (most + 1))}}
        problems = message_problems({"text": "x", "blocks": [kit.actions("a", [long])]})
        assert problems == [f"blocks[0].elements[0].confirm.{key}: {most + 1} characters, "
                            f"more than {most}"], problems
    mrkdwn = {**button, "confirm": {**button["confirm"], "text": kit.md("*x*")}}
    assert message_problems({"text": "x", "blocks": [kit.actions("a", [mrkdwn])]}) == [
        "blocks[0].elements[0].confirm.text: must be plain_text"]
