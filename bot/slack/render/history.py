"""What a person asks to see: an invoice's trail (`/cfdi estado`), a history of requests
(`/cfdi historial`), and the App Home. Rendered from the audit log, in the user's language.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.actors import SYSTEM
from bot.i18n import known, t
from bot.slack.mrkdwn import escape, mention, when
from bot.slack.render.kit import Block, banner, decision_buttons, message, plain, section, sections
from storage.domain import Row
from storage.states import InvoiceStatus

Link = Callable[[Row], str]  # a request's thread link, as mrkdwn
TRAIL_EVENTS = 30
HOME_LIST = 10

# What `/cfdi estado` shows of an invoice's trail (the rest is the bot's own bookkeeping).
_TRAIL_ACTIONS = {
    "request_created", "decision_approve", "decision_reject", "request_approved",
    "approval_not_needed", "request_rejected", "request_expired", "request_submitting",
    "provider_answered", "submission_failed", "send_interrupted", "request_completed",
    "invoice_resubmitted", "submission_resumed",
    "sat_confirmed", "sat_refused", "sat_unconfirmed", "sat_already_canceled",
}


def who_did(event: Row, lang: str) -> str:
    """The person who did it, or the bot itself."""
    if event["actor_id"] == SYSTEM.id:
        return t("trail.system", lang)
    return escape(event["actor_name"])


def what_happened(event: Row, lang: str) -> str:
    """An audit event in the catalogue's words (its action code stays in the database and
    the exports); an action the catalogue has no words for shows its code."""
    action = event["action"]
    if not known(f"trail.{action}", lang):
        return escape(action)
    details = json.loads(event["details"] or "{}")
    to = details.get("to")
    return t(f"trail.{action}", lang, id=event["request_id"],
             to=t(f"outcome.{to}", lang) if known(f"outcome.{to}", lang) else escape(to),
             code=escape(details.get("code")) or "-")


def _kind(request: Row, lang: str) -> str:
    return t(f"kind.{request['kind']}", lang)


def request_line(request: Row, count: int, lang: str, link: Link,
                 zone: ZoneInfo | None = None) -> str:
    return t("history.line", lang, id=request["id"], kind=_kind(request, lang), count=count,
             status=t(f"request.{request['status']}", lang), when=when(request["created_at"], zone),
             link=link(request))


def invoice_status(text: str, trail: dict[str, list[Row]], requests: dict[int, Row],
                   lang: str, sandbox: bool, link: Link, zone: ZoneInfo | None = None
                   ) -> dict[str, Any]:
    """`/cfdi estado`: each request that named the invoice, then what happened, in order."""
    if not trail["invoices"]:
        return message(t("status.unknown", lang, ref=escape(text)), sandbox=sandbox, lang=lang)
    lines = [t("status.title", lang, ref=escape(trail["invoices"][-1]["ref_key"]))]
    for invoice in trail["invoices"]:
        request = requests[invoice["request_id"]]
        lines.append(t("status.request", lang, id=request["id"], kind=_kind(request, lang),
                       request_status=t(f"request.{request['status']}", lang),
                       status=t(f"outcome.{invoice['status']}", lang), link=link(request)))
    events = [e for e in trail["events"] if e["action"] in _TRAIL_ACTIONS]
    for event in events[-TRAIL_EVENTS:]:
        lines.append(t("status.event", lang, when=when(event["at"], zone), who=who_did(event, lang),
                       what=what_happened(event, lang)))
    return message("\n".join(lines), sandbox=sandbox, lang=lang)


def history(requests: Sequence[Row], counts: dict[int, int], *, whose: str, pending: bool,
            lang: str, sandbox: bool, link: Link, zone: ZoneInfo | None = None
            ) -> dict[str, Any]:
    head = t("history.title_pending" if pending else "history.title", lang, user=mention(whose))
    lines = [head] + [request_line(r, counts.get(r["id"], 0), lang, link, zone) for r in requests]
    if not requests:
        lines.append(t("history.none", lang))
    return message("\n".join(lines), sandbox=sandbox, lang=lang)


def home(*, mine: Sequence[Row], counts: dict[int, int], approver: bool,
         to_decide: Sequence[Row], pending: Sequence[Row], pending_total: int,
         now: datetime, lang: str, sandbox: bool, link: Link, zone: ZoneInfo | None = None
         ) -> dict[str, Any]:
    """The App Home: my requests; for approvers, what awaits their decision (with the same
    buttons as the card) and the pending cancellations with their age."""
    blocks: list[Block] = [{"text": plain(t("home.title", lang), emoji=False), "type": "header"},
                           *banner(sandbox, lang)]
    mine_lines = [t("home.mine", lang)] + [
        request_line(r, counts.get(r["id"], 0), lang, link, zone) for r in mine[:HOME_LIST]]
    if not mine:
        mine_lines.append(t("history.none", lang))
    blocks += sections(mine_lines)
    if approver:
        blocks.append({"type": "divider"})
        blocks += sections([t("home.to_decide", lang)] + ([] if to_decide else
                                                           [t("home.nothing_to_decide", lang)]))
        for request in to_decide[:HOME_LIST]:
            blocks.append(section(t(
                "home.decide_line", lang, id=request["id"], kind=_kind(request, lang),
                user=mention(request["requester_id"]), count=counts.get(request["id"], 0),
                justification=escape((request["justification"] or "")[:150]),
                link=link(request))))
            blocks.append(decision_buttons(f"home_decision_{request['id']}", request["id"],
                                           lang))
        if len(to_decide) > HOME_LIST:
            blocks += sections([t("card.more_invoices", lang, count=len(to_decide) - HOME_LIST)])
        blocks.append({"type": "divider"})
        lines = [t("home.pending", lang, count=pending_total)]
        for invoice in pending:
            at_sat = invoice["status"] == InvoiceStatus.AWAITING_SAT
            since = datetime.fromisoformat(
                (invoice["pending_since"] or invoice["updated_at"]).replace("Z", "+00:00"))
            hours = max((now - since).total_seconds() / 3600, 0)
            lines.append(t("home.awaiting_sat_line" if at_sat else "home.pending_line", lang,
                           ref=escape(invoice["ref_key"]), id=invoice["request_id"],
                           hours=f"{hours:.1f}"))
        if pending_total > len(pending):
            lines.append(t("card.more_invoices", lang, count=pending_total - len(pending)))
        blocks += sections(lines)
    return {"blocks": blocks[:100], "type": "home"}
