"""What a person asks to see: an invoice's trail (`/cfdi estado`), a history of requests
(`/cfdi historial`), and the App Home. Rendered from the audit log, in the user's language.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.actors import SYSTEM
from bot.i18n import known, t
from bot.slack.mrkdwn import escape, mention, when
from bot.slack.render.kit import (
    Block,
    actions,
    banner,
    decision_buttons,
    message,
    plain,
    section,
    sections,
    withdraw_button,
)
from storage.domain import Row
from storage.states import InvoiceStatus, RequestStatus

Link = Callable[[Row], str]  # a request's thread link, as mrkdwn
TRAIL_EVENTS = 30
HOME_LIST = 10

# What `/cfdi estado` shows of an invoice's trail (the rest is the bot's own bookkeeping).
_TRAIL_ACTIONS = {
    "request_created", "decision_approve", "decision_reject", "request_approved",
    "approval_not_needed", "request_rejected", "request_expired", "request_submitting",
    "provider_answered", "submission_failed", "send_interrupted", "request_completed",
    "invoice_resubmitted", "submission_resumed", "request_withdrawn",
    "sat_confirmed", "sat_refused", "sat_unconfirmed", "sat_already_canceled",
}


def who_did(event: Row, lang: str) -> str:
    """The person who did it, or the bot itself; a stand-in with the approver in whose place
    they decided ("ana (en lugar de beto)")."""
    if event["actor_id"] == SYSTEM.id:
        return t("trail.system", lang)
    voter = json.loads(event.get("details") or "{}").get("on_behalf_of")
    if isinstance(voter, dict) and voter.get("name"):
        return t("delegate.in_place", lang, user=escape(event["actor_name"]),
                 voter=escape(str(voter["name"])))
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


@dataclass(frozen=True)
class StandIns:
    """The App Home's delegations: the viewer's own stand-in (a delegations row, if any),
    and each approver they stand in for with what awaits that approver's decision."""

    mine: Row | None = None
    standing_in_for: Sequence[tuple[Row, Sequence[Row]]] = ()


def home(*, mine: Sequence[Row], counts: dict[int, int], approver: bool,
         to_decide: Sequence[Row], pending: Sequence[Row], pending_total: int,
         now: datetime, lang: str, sandbox: bool, link: Link, zone: ZoneInfo | None = None,
         stand_ins: StandIns = StandIns()) -> dict[str, Any]:
    """The App Home: my requests (Withdraw on those awaiting approval); for approvers, what
    awaits their decision (with the same buttons as the card) and the pending cancellations
    with their age; delegations, and for a stand-in what awaits the approvers they stand in
    for."""
    blocks: list[Block] = [{"text": plain(t("home.title", lang), emoji=False), "type": "header"},
                           *banner(sandbox, lang)]
    mine_lines = [t("home.mine", lang)] + [
        request_line(r, counts.get(r["id"], 0), lang, link, zone) for r in mine[:HOME_LIST]]
    if not mine:
        mine_lines.append(t("history.none", lang))
    blocks += sections(mine_lines)
    waiting = [r for r in mine[:HOME_LIST] if r["status"] == RequestStatus.AWAITING_APPROVAL]
    if waiting:
        blocks.append(actions("home_withdraw", [
            withdraw_button(r["id"], lang, "withdraw.home_button") for r in waiting]))
    blocks += _stand_ins(stand_ins, counts, lang, link)
    if approver:
        blocks.append({"type": "divider"})
        blocks += sections([t("home.to_decide", lang)] + ([] if to_decide else
                                                           [t("home.nothing_to_decide", lang)]))
        blocks += _to_decide(to_decide, counts, lang, link)
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


def _to_decide(requests: Sequence[Row], counts: dict[int, int], lang: str, link: Link,
               limit: int = HOME_LIST) -> list[Block]:
    blocks: list[Block] = []
    for request in requests[:limit]:
        blocks.append(section(t(
            "home.decide_line", lang, id=request["id"], kind=_kind(request, lang),
            user=mention(request["requester_id"]), count=counts.get(request["id"], 0),
            justification=escape((request["justification"] or "")[:150]),
            link=link(request))))
        blocks.append(decision_buttons(f"home_decision_{request['id']}", request["id"], lang))
    if len(requests) > limit:
        blocks += sections([t("card.more_invoices", lang, count=len(requests) - limit)])
    return blocks


def _stand_ins(stand_ins: StandIns, counts: dict[int, int], lang: str, link: Link
               ) -> list[Block]:
    """Who stands in for the viewer, and for whom the viewer stands in (with what awaits
    that approver: at most 5 requests each, 2 approvers, within the Home's 100 blocks)."""
    if stand_ins.mine is None and not stand_ins.standing_in_for:
        return []
    lines = [t("delegate.home_title", lang)]
    if (own := stand_ins.mine) is not None:
        lines.append(t("delegate.home_mine", lang, delegate=mention(own["delegate_id"]),
                       until=own["until_day"]))
    for delegation, _ in stand_ins.standing_in_for:
        lines.append(t("delegate.home_for", lang, delegator=mention(delegation["delegator_id"]),
                       until=delegation["until_day"]))
    blocks: list[Block] = [{"type": "divider"}, *sections(lines)]
    for delegation, requests in stand_ins.standing_in_for[:2]:
        blocks += sections([t("delegate.home_to_decide", lang,
                              delegator=mention(delegation["delegator_id"]))]
                           + ([] if requests else [t("home.nothing_to_decide", lang)]))
        blocks += _to_decide(requests, counts, lang, link, limit=5)
    return blocks
