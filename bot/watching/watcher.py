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
from dataclasses import dataclass
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


@dataclass
class Outage:
    """One service's outage as the operators hear of it: after OUTAGE_ALERT_AFTER failed
    cycles in a row, one alert; one more when it answers again."""

    name: str            # in the log
    alert: str           # catalogue key and audit action of the alert ...
    alerted: str
    recovery: str        # ... and of the word that it answers again
    recovered: str
    failed: int = 0      # cycles in a row it answered nothing
    told: bool = False   # the operators were told and not yet of its recovery

    async def cycle(self, services: Services, *, down: bool, up: bool, error: str,
                    said: str) -> None:
        """After a watcher cycle: `down` it answered nothing, `up` it answered something;
        `error` for the log, `said` (escaped) for the alert."""
        if down:
            self.failed += 1
            log.warning("%s unavailable (%s), cycle %d in a row", self.name, error, self.failed)
            if self.failed == OUTAGE_ALERT_AFTER:
                self.told = True
                await services.io.tell_admins(t(self.alert, services.lang, cycles=self.failed,
                                                error=said), self.alerted)
        elif up:
            self.failed = 0
            if self.told:
                self.told = False
                await services.io.tell_admins(t(self.recovery, services.lang), self.recovered)


class Watcher:
    """Follows pending cancellations and expiring requests, cycle after cycle."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.provider_outage = Outage("the provider, for the watcher", "admin.outage",
                                      "watcher_outage_alerted", "admin.recovered",
                                      "watcher_recovered")
        self.sat_outage = Outage("the SAT's status service", "admin.sat_outage",
                                 "sat_outage_alerted", "admin.sat_recovered", "sat_recovered")
        self.last_cycle_at: float | None = None  # time.monotonic(), for /healthz
        self._lock = asyncio.Lock()
        self.reconciler = Reconciler(services)

    @property
    def failed_cycles(self) -> int:
        """Cycles in a row in which the provider answered none of the asks."""
        return self.provider_outage.failed

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
                self.provider_outage.failed += 1  # backs off as an outage does
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
        error = result.error
        await self.provider_outage.cycle(
            self.services, down=result.outage, up=bool(result.asked),
            error=error.code if error else "?", said=escape(error.message) if error else "?")

    async def _track_sat(self, result: FollowUp) -> None:
        """The SAT's own outage alert, as the provider's: it answered none of the
        confirmations asked for a few cycles in a row."""
        error = result.error or "?"
        await self.sat_outage.cycle(self.services, down=result.outage,
                                    up=bool(result.answered), error=error, said=escape(error))

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
