"""The requester's direct message about the invoices of a new request that give pause, once
their facts are looked up (the card shows them too): flagged ones (bot.sat.cancellability),
with the related CFDIs their XML names, and a reason-01 replacement that does not replace
them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings
from bot.i18n import t
from bot.sat.cancellability import cancel_deadline, flag, sat_today
from bot.sat.record import FactsRecord
from bot.slack.mrkdwn import escape
from bot.slack.render import card
from bot.workflow.pace import Pace
from storage import queries
from storage.store import AuditStore

if TYPE_CHECKING:
    from bot.slack.outbox import Outbox


async def tell_requester(store: AuditStore, outbox: Outbox, settings: Settings, pace: Pace,
                         request_id: int, looked_up: list[tuple[str, FactsRecord]]) -> None:
    """One DM listing the invoices that give pause (by ref key, with their facts record);
    nothing when none does."""
    lang, deadline, today = settings.language, settings.cancel_deadline, sat_today()

    def line(pair: tuple[str, FactsRecord]) -> str | None:
        ref, record = pair
        facts, sat = record.invoice, record.sat
        assert facts is not None  # only invoices whose XML was read are looked at
        why = []
        if (flagged := flag(facts, sat, deadline, today)) is not None:
            why.append(card.flag_text(flagged, facts, cancel_deadline(
                facts.issued_at, deadline), lang))
        replacement = record.replacement
        if replacement and replacement.check.flagged:
            why.append(card.replacement_text(replacement, lang))
        return f"• `{escape(ref)}` — " + " ".join(why) if why else None

    # Thousands of invoices in a large request: a slice at a time (pace.spread).
    lines = [text for text in await pace.spread(looked_up, line) if text]
    request = queries.get_request(store, request_id)
    if not lines or request is None:
        return
    link = await outbox.io.permalink(request) if request["thread_ts"] else ""
    text = "\n".join([t("dm.flagged", lang, id=request_id, count=len(lines), link=link),
                      *lines])
    await outbox.io.direct(request["requester_id"], text, request_id)
