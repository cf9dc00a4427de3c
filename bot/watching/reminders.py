"""The periodic sweep over requests awaiting approval: reminders, escalation, the daily digest.

Each run (bot.runtime.tasks, every WATCH_INTERVAL_S, at most a minute) reads the time from
the store's clock (tests move it), and:
- escalates each request undecided after ESCALATE_AFTER_H business hours (when
  ESCALATION_APPROVERS is set): said in its thread (the outbox), audited, and a DM to each
  of them with the request and its buttons; from then on they may decide it
  (bot.workflow.permissions);
- reminds each person who may still decide (an approver or, once escalated, an escalation
  approver; never the requester, never one who voted) once after REMIND_AFTER_H business
  hours, and once more when no more than LAST_REMINDER_H business hours are left before
  APPROVAL_TTL_H expires the request (only that one when both are due);
- on a business day, at DIGEST_HOUR (or up to DIGEST_LATE_H later, after a restart), sends
  each approver one digest of everything awaiting them (nothing to those with nothing), once
  a day.
Reminders and escalation wait for business hours (BUSINESS_HOURS, TIMEZONE, weekends,
Mexico's holidays, EXTRA_HOLIDAYS). Every message is claimed in the audit file before it is
sent and audited once Slack took it (storage/reminders.py): a restart resends nothing, and a
message Slack refused is tried again at the next runs, three times in all.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.actors import SYSTEM
from bot.sat.record import FactsRecord
from bot.slack.render import reminders as messages
from bot.slack.render.reminders import Summary
from bot.workflow.rules import request_amount
from storage import queries
from storage import reminders as stored
from storage.domain import Row
from storage.sql import iso
from storage.states import ReplyKind as Reply
from storage.states import RequestStatus as RS

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)
MAX_PAUSE_S = 60.0  # a run at least every minute: a reminder is never more than that late
# The calendar's arithmetic costs ~50 µs a request (three counts of business hours; 1,000
# awaiting requests: ~50 ms a sweep, `python -m benchmarks reminders`): the loop is let go
# between batches, acks first.
YIELD_EVERY = 100
# A bot down at DIGEST_HOUR sends the day's digest when back within this long; later, the
# day goes without (a digest in the evening would only repeat the next morning's).
DIGEST_LATE_H = 2.0


@dataclass
class Sweep:
    """What one run sent (for the tests and the logs)."""

    reminded: list[tuple[int, str, str]] = field(default_factory=list)  # request, user, kind
    escalated: list[int] = field(default_factory=list)
    digests: dict[str, list[int]] = field(default_factory=dict)         # user -> requests


def _moment(iso_utc: str) -> datetime:
    return datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))


class Reminders:
    """Reminders, escalation and the daily digest of requests awaiting approval."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.calendar = services.settings.calendar
        self._lock = asyncio.Lock()

    async def periodic(self) -> float:
        """The periodic task (Tasks.every)."""
        await self.run()
        return min(self.settings.watch_interval_s, MAX_PAUSE_S)

    async def run(self) -> Sweep:
        """One sweep; never two at once."""
        async with self._lock:
            sweep = Sweep()
            now = self.store.clock()
            requests = queries.awaiting_approval(self.store)
            if requests and self.calendar.is_open(now):
                await self._escalate(requests, now, sweep)
                await self._remind(requests, now, sweep)
            await self._digest(now, sweep)
            return sweep

    # -- who and what --------------------------------------------------------------------

    def _summary(self, request: Row, now: datetime) -> Summary:
        invoices = queries.request_invoices(self.store, request["id"])
        facts = [record.invoice if (record := FactsRecord.of(invoice.get("facts"))) else None
                 for invoice in invoices]
        created = _moment(request["created_at"])
        expires = created + timedelta(hours=self.settings.approval_ttl_h)
        return Summary(request, len(invoices), request_amount(facts) if facts else None,
                       max((now - created).total_seconds() / 3600, 0.0), iso(expires))

    def _deciders(self, request: Row, voted: set[str]) -> set[str]:
        """Who may still decide: approvers (and escalation approvers once escalated), less
        the requester and whoever already voted."""
        policy = self.services.policy
        people = policy.approvers.members()
        if request.get("escalated_at") and policy.escalation is not None:
            people |= policy.escalation.members()
        return people - voted - {request["requester_id"]}

    # -- escalation ----------------------------------------------------------------------

    async def _escalate(self, requests: list[Row], now: datetime, sweep: Sweep) -> None:
        hours, policy = self.settings.escalate_after_h, self.services.policy
        if not hours or policy.escalation is None or policy.escalation.empty:
            return
        due = []
        for number, request in enumerate(requests, start=1):
            if not request.get("escalated_at") and self.calendar.business_hours(
                    _moment(request["created_at"]), now) >= hours:
                due.append(request)
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        for request in due:
            async with self.store.writing() as tx:
                if tx.request_status(request["id"]) != RS.AWAITING_APPROVAL:
                    continue  # decided meanwhile
                tx.set_fields("request", request["id"], {"escalated_at": self.store.now()})
                tx.card_changed(request["id"])
                tx.enqueue(request["id"], Reply.ESCALATED, {
                    "hours": hours, "to": list(self.settings.escalation_approvers)})
                tx.record(SYSTEM, "escalated", request_id=request["id"], details={
                    "after_business_hours": hours,
                    "people": list(self.settings.escalation_approvers)})
            request["escalated_at"] = self.store.now()
            sweep.escalated.append(request["id"])
        if due:
            await self.services.outbox.flush()

    # -- reminders -----------------------------------------------------------------------

    def _due(self, request: Row, now: datetime) -> str | None:
        """Which reminder the request calls for now: `last`, `first`, or None."""
        created = _moment(request["created_at"])
        expires = created + timedelta(hours=self.settings.approval_ttl_h)
        last_h = self.settings.last_reminder_h
        if last_h and now < expires and self.calendar.business_hours(now, expires) <= last_h:
            return "last"
        first_h = self.settings.remind_after_h
        if first_h and self.calendar.business_hours(created, now) >= first_h:
            return "first"
        return None

    async def _remind(self, requests: list[Row], now: datetime, sweep: Sweep) -> None:
        ids = [r["id"] for r in requests]
        voted, claimed = stored.voters(self.store, ids), stored.claimed(self.store, ids)
        approvers = self.services.policy.approvers.members()
        for number, request in enumerate(requests, start=1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            due, done = self._due(request, now), claimed[request["id"]]
            for user in sorted(self._deciders(request, voted[request["id"]])):
                kind = _owed(request, user, due, done, approvers)
                if kind is None:
                    continue
                parts = messages.reminder(self._summary(request, now), kind,
                                          escalated_h=self.settings.escalate_after_h,
                                          **await self._words())
                if await self._send(kind, user, parts, request_id=request["id"]):
                    sweep.reminded.append((request["id"], user, kind))

    async def _words(self) -> dict[str, Any]:
        return {"lang": self.settings.language, "sandbox": self.settings.sandbox,
                "link": await self.services.io.linker(), "zone": self.settings.zone}

    async def _send(self, kind: str, user: str, parts: list[dict[str, Any]], *,
                    request_id: int | None = None, day: str | None = None,
                    details: dict[str, Any] | None = None) -> bool:
        """Claim, send, then audit (or mark it failed, to be tried again, when Slack
        refused)."""
        async with self.store.writing() as tx:
            claim = stored.claim(tx, kind, user, request_id=request_id, day=day)
        if claim is None:
            return False  # another process, or an earlier run, has it
        delivered = await self.services.io.direct_messages(user, parts, request_id)
        async with self.store.writing() as tx:
            if not delivered:
                stored.failed(tx, claim)
                return False
            stored.sent(tx, claim)
            tx.record(SYSTEM, "digest_sent" if kind == "digest" else f"reminder_{kind}_sent",
                      request_id=request_id, details={"user": user, **(details or {})})
        return True

    # -- the digest ----------------------------------------------------------------------

    async def _digest(self, now: datetime, sweep: Sweep) -> None:
        hour = self.settings.digest_hour
        here = self.calendar.local(now)
        if hour is None or not self.calendar.is_business_day(here.date()):
            return
        starts = datetime.combine(here.date(), time(), here.tzinfo) + timedelta(hours=hour)
        if not starts <= here < starts + timedelta(hours=DIGEST_LATE_H):
            return
        day = here.date().isoformat()
        policy = self.services.policy
        lists = [policy.approvers, *([policy.escalation] if policy.escalation else [])]
        if not all(d.complete for d in lists):
            return  # someone's group not read yet: next run
        retry: set[str] | None = None  # None: everyone (the day's first run)
        if stored.digest_done(self.store, day):
            retry = stored.digests_to_retry(self.store, day)  # those Slack refused
            if not retry:
                return
        else:
            async with self.store.writing() as tx:
                if stored.claim(tx, "digest", stored.DAY_DONE, day=day) is None:
                    return
        requests = queries.awaiting_approval(self.store)
        voted = stored.voters(self.store, [r["id"] for r in requests])
        awaiting: dict[str, list[Summary]] = {}
        for request in requests:  # oldest first
            summary = self._summary(request, now)
            for user in self._deciders(request, voted[request["id"]]):
                awaiting.setdefault(user, []).append(summary)
        for user, items in sorted(awaiting.items()):
            if retry is not None and user not in retry:
                continue
            ids = [item.id for item in items]
            if await self._send("digest", user, messages.digest(items, **await self._words()),
                                day=day, details={"day": day, "requests": ids}):
                sweep.digests[user] = ids
        if retry is None:
            await self.store.append(SYSTEM, "digest_run", details={
                "day": day, "people": len(sweep.digests), "requests": len(requests)})


def _owed(request: Row, user: str, due: str | None, done: set[tuple[str, str]],
          approvers: set[str]) -> str | None:
    """The message `user` is owed now: an escalation approver not yet told is told of the
    escalation (their first word of it); otherwise the reminder due, once, and never the
    first after the last or after the escalation's."""
    if request.get("escalated_at") and user not in approvers \
            and (user, "escalation") not in done:
        return "escalation"
    if due is None or (user, due) in done:
        return None
    if due == "first" and ((user, "last") in done or (user, "escalation") in done):
        return None
    return due
