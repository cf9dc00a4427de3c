"""What a reminder, an escalation and the daily digest say, as Block Kit (plain dicts).

A reminder carries the card's own Approve and Reject buttons (same action ids, so the same
handlers, permissions and audit apply); the digest lists without buttons (one message, many
requests: the App Home and each reminder have them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import t
from bot.slack.mrkdwn import escape, mention, when
from bot.slack.render.history import Link
from bot.slack.render.kit import decision_buttons, messages
from storage.domain import Row
from storage.states import RequestKind

DIGEST_SHOWN = 40      # requests listed in one digest (the rest: "and N more")
JUSTIFICATION_SHOWN = 150


@dataclass(frozen=True)
class Summary:
    """One request awaiting approval as a reminder or the digest shows it."""

    request: Row
    invoices: int
    total: Decimal | None     # the invoices' total in MXN (None: not known yet)
    age_h: float              # since it was asked for
    expires_at: str           # UTC ISO: when APPROVAL_TTL_H expires it

    @property
    def id(self) -> int:
        return int(self.request["id"])


def summary_line(item: Summary, lang: str, link: Link, zone: ZoneInfo | None = None) -> str:
    request = item.request
    if item.total is not None:
        total = f"${item.total:,.2f} MXN"
    else:  # a cancellation's invoices are looked up after its card; a send's never are
        total = t("remind.total_unknown", lang) if request["kind"] == RequestKind.CANCEL \
            else "—"
    return t("remind.summary", lang, id=item.id, kind=t(f"kind.{request['kind']}", lang),
             user=mention(request["requester_id"]), count=item.invoices, total=total,
             age=f"{item.age_h:.1f}", deadline=when(item.expires_at, zone),
             link=link(request))


def _with_justification(item: Summary, lang: str, link: Link, zone: ZoneInfo | None
                        ) -> list[str]:
    lines = [summary_line(item, lang, link, zone)]
    if text := (item.request.get("justification") or "")[:JUSTIFICATION_SHOWN]:
        lines.append(t("remind.justification", lang, text=escape(text).replace("\n", " ")))
    return lines


def reminder(item: Summary, kind: str, *, escalated_h: float = 0, lang: str, sandbox: bool,
             link: Link, zone: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """A DM to one person who may still decide: `first`, `last`, or `escalation`."""
    if kind == "escalation":
        head = t("remind.escalated_dm", lang, id=item.id, hours=f"{escalated_h:g}")
    elif kind == "last":
        head = t("remind.last", lang, id=item.id, deadline=when(item.expires_at, zone))
    else:
        head = t("remind.first", lang, id=item.id)
    return messages("\n".join([head, *_with_justification(item, lang, link, zone)]),
                    sandbox=sandbox, lang=lang,
                    extra=[decision_buttons("decision", item.id, lang)])


def digest(items: Sequence[Summary], *, lang: str, sandbox: bool, link: Link,
           zone: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """The day's list for one approver, oldest first."""
    lines = [t("remind.digest_title", lang, count=len(items))]
    for item in items[:DIGEST_SHOWN]:
        lines += _with_justification(item, lang, link, zone)
    if len(items) > DIGEST_SHOWN:
        lines.append(t("remind.digest_more", lang, count=len(items) - DIGEST_SHOWN))
    return messages("\n".join(lines), sandbox=sandbox, lang=lang)
