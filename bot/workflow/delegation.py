"""`/cfdi delegar`: an approver names a stand-in until the end of a day, or ends it early.

The command is answered at once (bad words: the usage, nothing written); who may delegate
and to whom is asked of the policy (bot.workflow.permissions) after the ack, and again under
the write lock for chains and loops, so two people delegating at once cannot build one.
Every refusal and every change is an event of the audit chain (storage/delegations.py).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.actors import Actor
from bot.config import Settings
from bot.i18n import t
from bot.slack.io import SlackIO
from bot.slack.mrkdwn import escape, mention
from bot.workflow.permissions import Policy, Refusal
from storage import delegations
from storage.store import AuditStore

log = logging.getLogger(__name__)

_GIVE = re.compile(r"^<@(?P<id>[UW][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>\s+(?:hasta|until)\s+"
                   r"(?P<day>\S+)$", re.IGNORECASE)
_END = re.compile(r"^(?:fin|end|terminar)$", re.IGNORECASE)
MAX_DAYS = 366  # a stand-in for longer is a change of APPROVERS, not a holiday


@dataclass(frozen=True)
class Give:
    """`/cfdi delegar @persona hasta AAAA-MM-DD`, read (the day not yet checked)."""

    delegate: Actor
    day: str


@dataclass(frozen=True)
class End:
    """`/cfdi delegar fin`."""


def parse(text: str) -> Give | End | None:
    """The command's words after `delegar`; None when they are neither form."""
    words = " ".join(text.split())
    if _END.match(words):
        return End()
    found = _GIVE.match(words)
    if found is None:
        return None
    return Give(Actor(found["id"], (found["name"] or "").strip() or found["id"]), found["day"])


class Refused(Exception):
    """A delegation the policy refused under the write lock (nothing written)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.why)
        self.refusal = refusal


class Delegation:
    """Names and ends stand-ins, telling the approver and the stand-in."""

    def __init__(self, settings: Settings, store: AuditStore, policy: Policy,
                 io: SlackIO) -> None:
        self.settings, self.store, self.policy, self.io = settings, store, policy, io
        self.lang = settings.language

    def usage(self) -> str:
        return t("delegate.usage", self.lang, zone=self.settings.timezone)

    def today(self) -> date:
        return self.store.clock().astimezone(self.settings.zone).date()

    def day_of(self, typed: str) -> date | None:
        """The last day of the delegation, from today to a year from now (in TIMEZONE);
        None when it is not such a day."""
        try:
            day = date.fromisoformat(typed)
        except ValueError:
            return None
        today = self.today()
        return day if len(typed) == 10 and today <= day <= today + timedelta(MAX_DAYS) \
            else None

    def end_of(self, day: date) -> datetime:
        """The first moment after `day` in TIMEZONE: where a delegation "until" it ends."""
        return datetime.combine(day + timedelta(days=1), time(), self.settings.zone)

    async def command(self, actor: Actor, order: Give | End, channel: str | None) -> None:
        """After the ack: do what was asked and tell the person (and the stand-in)."""
        try:
            text = await (self._give(actor, order) if isinstance(order, Give)
                          else self._end(actor))
        except sqlite3.Error as exc:
            log.error("could not record a delegation of %s: %s", actor.id, exc)
            text = t("delegate.not_recorded", self.lang)
        await self.io.ephemeral(channel, actor.id, text)

    async def _refused(self, actor: Actor, refusal: Refusal, **details: object) -> str:
        await self.io.audit(actor, f"refused_{refusal.why}", details=details)
        return refusal.text

    async def _give(self, actor: Actor, order: Give) -> str:
        day = self.day_of(order.day)
        if day is None:
            return t("delegate.bad_date", self.lang, date=escape(order.day[:20]),
                     today=self.today().isoformat(), days=MAX_DAYS)
        delegate = order.delegate
        if not await self.io.can_write_to(delegate.id):
            return await self._refused(actor, Refusal("unknown_delegate", t(
                "delegate.unknown", self.lang, delegate=mention(delegate.id))),
                delegate_id=delegate.id)
        refusal = await self.policy.may_delegate(actor, delegate)
        if refusal is not None:
            return await self._refused(actor, refusal, delegate_id=delegate.id)
        try:
            async with self.store.writing() as tx:
                refusal = self.policy.delegation_loop(
                    actor, delegate,
                    standing_in_for=delegations.tx_in_force(tx, actor.id, as_delegate=True),
                    delegate_away=delegations.tx_in_force(tx, delegate.id, as_delegate=False))
                if refusal is not None:
                    raise Refused(refusal)
                before = delegations.end(tx, actor, replaced=True)
                delegations.start(tx, actor, delegate, day.isoformat(), self.end_of(day))
        except Refused as refused:
            return await self._refused(actor, refused.refusal, delegate_id=delegate.id)
        until, zone = day.isoformat(), self.settings.timezone
        await self.io.direct(delegate.id, t("delegate.started_dm", self.lang,
                                            delegator=mention(actor.id), until=until, zone=zone))
        said = t("delegate.started", self.lang, delegate=mention(delegate.id), until=until,
                 zone=zone)
        if before is not None and before["delegate_id"] != delegate.id:
            await self.io.direct(before["delegate_id"], t("delegate.ended_dm", self.lang,
                                                          delegator=mention(actor.id)))
            said = t("delegate.replaced", self.lang,
                     delegate=mention(before["delegate_id"])) + " " + said
        return said

    async def _end(self, actor: Actor) -> str:
        async with self.store.writing() as tx:
            ended = delegations.end(tx, actor)
        if ended is None:
            return t("delegate.none", self.lang)
        await self.io.direct(ended["delegate_id"], t("delegate.ended_dm", self.lang,
                                                     delegator=mention(actor.id)))
        return t("delegate.ended", self.lang, delegate=mention(ended["delegate_id"]))
