"""The watcher: every pending cancellation followed to its end, and reported in its thread.

One loop, so never two cycles at once (a cycle longer than the interval delays the next).
Each cycle: ask the provider again about the due pending invoices (in batches, each on its
own backoff), post the thread replies those changes queued, expire requests that waited
too long for approval, and tell the operators about invoices pending for too long. While
the provider is down nothing changes state and the loop backs off; after a few failed
cycles in a row one alert goes to ADMIN_CHANNEL, and one more when it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from bot.actors import SYSTEM
from bot.i18n import t
from bot.runtime.services import Services
from bot.slack.mrkdwn import escape
from bot.watching.confirmation import FollowUp, follow_up
from bot.watching.reconciliation import Reconciler
from bot.workflow.answers import Recheck, recheck_pending
from storage import queries
from storage.domain import Row

log = logging.getLogger(__name__)

OUTAGE_ALERT_AFTER = 3     # failed cycles in a row before the operators hear of it
MAX_DELAY_S = 3600.0
LONG_PENDING_SHOWN = 20
DUE_PER_CYCLE = 1_000      # invoices asked again per cycle; the rest stay due for the next


class Watcher:
    """Follows pending cancellations and expiring requests, cycle after cycle."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.failed_cycles = 0
        self.outage_told = False
        self.sat_failed_cycles = 0    # cycles in a row the SAT answered none of its asks
        self.sat_outage_told = False
        self.last_cycle_at: float | None = None  # time.monotonic(), for /healthz
        self._lock = asyncio.Lock()
        self.reconciler = Reconciler(services)

    @property
    def delay_s(self) -> float:
        """The interval, doubled for each failed cycle in a row (up to an hour)."""
        base = self.settings.watch_interval_s
        return min(base * 2 ** min(self.failed_cycles, 12), max(base, MAX_DELAY_S))

    async def run(self) -> None:
        while True:
            try:
                await self.cycle()
            except Exception:  # a bug or a locked database: log it, keep watching
                log.exception("watch cycle failed; trying again later")
                self.failed_cycles += 1
            self.last_cycle_at = time.monotonic()
            await asyncio.sleep(self.delay_s)

    async def cycle(self) -> Recheck:
        async with self._lock:
            services = self.services
            await services.submissions.resume_stuck()
            sat = services.facts
            result = await recheck_pending(services.store, services.provider,
                                           limit=DUE_PER_CYCLE,
                                           backoff_s=self.settings.watch_backoff_s, sat=sat,
                                           pace=services.submissions.pace)
            await self._track_outage(result)
            confirming = await follow_up(
                services.store, sat, limit=DUE_PER_CYCLE,
                backoff_s=self.settings.watch_backoff_s, bound_h=self.settings.sat_confirm_h)
            await self._track_sat(confirming)
            await self._unconfirmed(confirming)
            await services.outbox.flush()
            await services.lifecycle.expire()
            await self._long_pending()
            return result

    async def _track_outage(self, result: Recheck) -> None:
        lang = self.services.lang
        if result.outage:
            self.failed_cycles += 1
            error = result.error
            log.warning("provider unavailable for the watcher (%s), cycle %d in a row",
                        error.code if error else "?", self.failed_cycles)
            if self.failed_cycles == OUTAGE_ALERT_AFTER:
                self.outage_told = True
                await self.services.io.tell_admins(t(
                    "admin.outage", lang, cycles=self.failed_cycles,
                    error=escape(error.message) if error else "?"), "watcher_outage_alerted")
            return
        if result.asked:
            self.failed_cycles = 0
            if self.outage_told:
                self.outage_told = False
                await self.services.io.tell_admins(t("admin.recovered", lang),
                                                "watcher_recovered")

    async def _track_sat(self, result: FollowUp) -> None:
        """The SAT's own outage alert, as the provider's: after a few cycles in a row in
        which it answered none of the confirmations asked, once; once more when it answers."""
        lang = self.services.lang
        if result.outage:
            self.sat_failed_cycles += 1
            log.warning("the SAT's status service unavailable (%s), cycle %d in a row",
                        result.error or "?", self.sat_failed_cycles)
            if self.sat_failed_cycles == OUTAGE_ALERT_AFTER:
                self.sat_outage_told = True
                await self.services.io.tell_admins(t(
                    "admin.sat_outage", lang, cycles=self.sat_failed_cycles,
                    error=escape(result.error or "?")), "sat_outage_alerted")
            return
        if result.answered:
            self.sat_failed_cycles = 0
            if self.sat_outage_told:
                self.sat_outage_told = False
                await self.services.io.tell_admins(t("admin.sat_recovered", lang),
                                                   "sat_recovered")

    def _refs(self, invoices: list[Row]) -> str:
        refs = ", ".join(f"`{escape(i['ref_key'])}` (#{i['request_id']})"
                         for i in invoices[:LONG_PENDING_SHOWN])
        if len(invoices) > LONG_PENDING_SHOWN:
            refs += " " + t("card.more_invoices", self.services.lang,
                            count=len(invoices) - LONG_PENDING_SHOWN)
        return refs

    async def _unconfirmed(self, result: FollowUp) -> None:
        """The cancellations the SAT never confirmed: a person checks (told once, as each
        becomes `unconfirmed` once)."""
        if not result.given_up:
            return
        await self.services.io.tell_admins(t(
            "admin.sat_unconfirmed", self.services.lang, count=len(result.given_up),
            refs=self._refs(result.given_up),
            hours=f"{self.settings.sat_confirm_h:g}"), "sat_unconfirmed_alerted")

    async def _long_pending(self) -> None:
        """One alert per invoice still pending well past the receiver's window."""
        store, hours = self.services.store, self.settings.pending_alert_h
        late = queries.pending_since_before(store, store.clock() - timedelta(hours=hours))
        if not late:
            return
        refs = self._refs(late)
        async with store.writing() as tx:
            for invoice in late:
                tx.set_fields("invoice", invoice["id"], {"alerted_at": store.now()})
            tx.record(SYSTEM, "long_pending_alerted", details={
                "invoices": [i["ref_key"] for i in late], "hours": hours})
        await self.services.io.tell_admins(t("admin.long_pending", self.services.lang,
                                          count=len(late), hours=f"{hours:g}", refs=refs))
