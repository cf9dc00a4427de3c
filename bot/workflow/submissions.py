"""Requests on their way to the provider, in background tasks: submitted after an
approval or a Retry, and finished after a stop or a failed write.

`in_flight` holds the requests this process is submitting now, so the watcher finishes only
the others: those left `approved` or `submitting` by a write that failed after the provider
answered (a full disk, a long lock), or by a stop. Cancelling twice is safe (the second
answer is "already cancelled"); a send is never mailed twice by the bot on its own.
"""

from __future__ import annotations

import logging
import sqlite3

from bot.actors import SYSTEM, Actor
from bot.config import Settings
from bot.i18n import t
from bot.providers.contract import Provider
from bot.slack.io import SlackIO
from bot.slack.mrkdwn import escape
from bot.slack.outbox import Outbox
from bot.workflow.answers import run_submission, submit
from bot.workflow.pace import Pace
from bot.workflow.received import confirm_received
from bot.workflow.sat_words import SatWord
from bot.workflow.transitions import interrupted_send
from storage import queries
from storage.domain import Row
from storage.errors import StaleState
from storage.states import RequestKind
from storage.states import RequestStatus as RS
from storage.store import AuditStore

log = logging.getLogger(__name__)


class Submissions:
    """Requests on their way to the provider, in the background; finished after a stop."""

    def __init__(self, settings: Settings, store: AuditStore, provider: Provider, io: SlackIO,
                 outbox: Outbox, sat: SatWord | None, pace: Pace | None = None) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.io = io
        self.outbox = outbox
        self.lang = settings.language
        self.in_flight: set[int] = set()
        self.sat = sat  # asks the SAT to confirm what is cancelled (FactFinder)
        self.pace = pace or Pace(large_at=settings.large_request_at)  # a large request's bound

    async def audit_failed(self, request_id: int | None, exc: sqlite3.Error) -> None:
        await self.io.alert_admin("audit_write", request_id, t(
            "admin.audit_write_failed", self.lang, error=escape(str(exc))))

    async def submit_in_background(self, request_id: int, actor: Actor,
                                   failure: int | None = None) -> bool:
        """Submit, tell the thread, confirm what the SAT only received. False when the
        request had moved on (a double click, or a Retry left from an earlier failure)."""
        if request_id in self.in_flight:
            return False  # a double click: the first one runs
        self.in_flight.add(request_id)
        backoff = self.settings.watch_backoff_s
        try:
            await submit(self.store, self.provider, request_id, actor, backoff_s=backoff,
                         failure=failure, sat=self.sat, pace=self.pace)
            await self.outbox.flush()  # what the provider said, "received" included
            if (await confirm_received(self.store, self.provider, request_id,
                                       backoff_s=backoff, sat=self.sat, pace=self.pace)).changed:
                await self.outbox.flush()
        except StaleState:
            return False
        except sqlite3.Error as exc:
            # Before the provider was called, nothing happened; after, the answer is lost
            # with the write and the request stays `submitting`: the watcher asks again
            # (cancelling twice is safe; a send becomes "unknown", never mailed twice).
            log.error("could not record the submission of request %d: %s", request_id, exc)
            await self.audit_failed(request_id, exc)
        finally:
            self.in_flight.discard(request_id)
        return True

    async def resume_stuck(self) -> None:
        """Each watcher cycle: requests left `approved` or `submitting` by a write that
        failed (a full disk, a long lock) and that nothing in this process is working on are
        finished now, without waiting for a restart."""
        for request in queries.requests_to_resume(self.store):
            if request["id"] not in self.in_flight:
                await self._resume_one(request)
        await self.outbox.flush()

    async def resume(self) -> None:
        """At start, finish what a stop interrupted: replies owed, requests approved but
        not yet submitted, and submissions left in `submitting` (cancelling twice is safe:
        the second answer is "already cancelled")."""
        await self.outbox.flush()
        await self.resume_stuck()

    async def _resume_one(self, request: Row) -> None:
        request_id = request["id"]
        self.in_flight.add(request_id)
        try:
            await self.store.append(SYSTEM, "submission_resumed", request_id=request_id,
                                    details={"status": request["status"]})
            if request["status"] == RS.APPROVED:  # the provider was never called
                await submit(self.store, self.provider, request_id,
                             backoff_s=self.settings.watch_backoff_s, sat=self.sat,
                             pace=self.pace)
            elif request["kind"] == RequestKind.SEND:
                # The provider may have mailed it already: never sent twice on our own.
                await interrupted_send(self.store, request_id)
                await self.io.direct(request["requester_id"], t(
                    "dm.send_unknown", self.lang, id=request_id), request_id)
            else:
                await run_submission(self.store, self.provider, request_id,
                                     backoff_s=self.settings.watch_backoff_s, resumed=True,
                                     sat=self.sat, pace=self.pace)
        except StaleState:
            pass  # moved on in the meantime (a click, another resume): nothing to finish
        except sqlite3.Error as exc:
            log.error("could not resume request %d: %s", request_id, exc)
            await self.audit_failed(request_id, exc)
        finally:
            self.in_flight.discard(request_id)
