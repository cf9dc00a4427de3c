"""The README's pictures of a reminder and of the daily digest (bot/watching/reminders.py),
played on the stage with a clock moved by hand: two requests on a Thursday morning, the
first reminder before noon, the digest the next morning at DIGEST_HOUR.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.sandbox.demo import JUSTIFICATION
from bot.sandbox.slack_server import Message
from bot.sandbox.stage import APPROVALS, FINANCE, Stage

APPROVER, REQUESTER = "U0BETO", "U0ANA"
THURSDAY, FRIDAY = date(2026, 12, 3), date(2026, 12, 4)
INVOICES = ("5B2F3C1D-9A8E-4C7B-8D6F-1E2A3B4C5D6E", "7C3D4E5F-1A2B-4C3D-8E9F-0A1B2C3D4E5F")


@dataclass
class ReminderScenes:
    """Copies of the approver's reminder and digest as Slack received them."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    reminder: Message | None = None
    digest: Message | None = None


class _Clock:
    """The stage's time, set by hand."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone, self.now = zone, datetime(2026, 12, 3, tzinfo=UTC)

    def to(self, day: date, hour: float) -> None:
        self.now = datetime.combine(day, time(int(hour), round(hour % 1 * 60)), self.zone)

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


async def collect_reminders(lang: str) -> ReminderScenes:
    scenes = ReminderScenes()
    with tempfile.TemporaryDirectory() as folder:
        stage = await Stage.open(Path(folder) / "reminders.db", language=lang,
                                 remind_after_h=2, digest_hour=9, escalate_after_h=0)
        try:
            clock = _Clock(stage.settings.zone)
            stage.runtime.store.clock = clock
            scenes.users, scenes.channels = dict(stage.slack.users), dict(stage.slack.channels)
            for hour, invoice in zip((9.5, 10.25), INVOICES, strict=True):
                clock.to(THURSDAY, hour)
                await stage.driver.command(REQUESTER, "cancelar", FINANCE)
                await stage.settle()
                await stage.driver.submit_view(REQUESTER, stage.driver.last_view(), {
                    "invoices": invoice, "reason": "02", "justification": JUSTIFICATION})
                await stage.settle()
            assert stage.runtime.reminders is not None
            clock.to(THURSDAY, 11.5)
            await stage.runtime.reminders.run()
            scenes.reminder = copy.deepcopy(stage.slack.dms(APPROVER)[-1])
            clock.to(FRIDAY, 9)
            await stage.runtime.reminders.run()
            scenes.digest = copy.deepcopy(stage.slack.dms(APPROVER)[-1])
            assert len(stage.slack.channel_messages(APPROVALS)) == len(INVOICES)
        finally:
            await stage.close()
    return scenes
