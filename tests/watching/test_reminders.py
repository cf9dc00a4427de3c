"""Approvals that never stall, end to end through the Slack stand-in (signed requests): the
reminders, the escalation and the daily digest come at the right business times and not
otherwise, a reminder's buttons act as the card's, and nothing is sent twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.slack_server import Message
from bot.sandbox.stage import APPROVALS, Stage
from bot.slack.render.kit import APPROVE_ACTION, REJECT_ACTION
from bot.watching.reminders import Reminders, Sweep
from storage import queries
from tests.helpers import OK_UUID, ask, buttons, request_row, texts, uuid_with

MX = ZoneInfo("America/Mexico_City")
THURSDAY = date(2026, 12, 3)
FRIDAY, SATURDAY, MONDAY = date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 7)
TIMES = {"business_hours": "09:00-18:00", "remind_after_h": 2, "last_reminder_h": 2,
         "approval_ttl_h": 72, "escalate_after_h": 4, "escalation_approvers": ["U0DIEGO"],
         "digest_hour": 9, "required_approvals": 2}


class Clock:
    """The time the bot reads (the store's clock), moved by the test."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)

    def to(self, day: date, hour: float) -> None:
        self.now = datetime.combine(day, time(int(hour), round(hour % 1 * 60)), MX)


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5,
                              **{**TIMES, **getattr(request, "param", {})})
    yield opened
    await opened.close()


@pytest.fixture
def clock(stage: Stage) -> Clock:
    clock = Clock(datetime.combine(THURSDAY, time(10), MX))
    stage.runtime.store.clock = clock
    return clock


async def requested(stage: Stage, ref: str = OK_UUID) -> Message:
    answer = await ask(stage, "U0ANA", [ref])
    assert answer.status_code == 200 and not answer.content, answer.text
    await stage.settle()
    return stage.slack.channel_messages(APPROVALS)[-1]


async def sweep(stage: Stage) -> Sweep:
    assert stage.runtime.reminders is not None
    done = await stage.runtime.reminders.run()
    await stage.settle()
    return done


def sent(stage: Stage, kind: str) -> list[tuple[int | None, str]]:
    """(request, user) of each audited message of `kind`."""
    action = "digest_sent" if kind == "digest" else f"reminder_{kind}_sent"
    return [(e["request_id"], json.loads(e["details"])["user"])
            for e in queries.events(stage.runtime.store) if e["action"] == action]


async def test_each_approver_is_reminded_once_after_the_business_hours(
        stage: Stage, clock: Clock) -> None:
    card = await requested(stage)          # Thursday 10:00
    clock.to(THURSDAY, 11.9)
    assert (await sweep(stage)).reminded == []
    clock.to(THURSDAY, 12)
    assert sorted((await sweep(stage)).reminded) == [(1, "U0BETO", "first"),
                                                     (1, "U0CARLA", "first")]
    dm = stage.slack.dms("U0BETO")[-1]
    said = texts(dm)
    assert "#1" in said and "<@U0ANA>" in said and "Factura duplicada" in said
    # The card adds Withdraw (the requester's); a reminder offers the decision only.
    assert buttons(dm) == buttons(card)[:2] == [APPROVE_ACTION, REJECT_ACTION]
    assert stage.slack.dms("U0ANA") == [] or all("#1 espera" not in texts(m)
                                                 for m in stage.slack.dms("U0ANA"))
    assert stage.slack.dms("U0DIEGO") == []          # not an approver (not escalated yet)
    clock.to(THURSDAY, 12.5)
    assert (await sweep(stage)).reminded == []       # once
    restarted = Reminders(stage.runtime.services)    # a restart resends nothing either
    assert (await restarted.run()).reminded == []
    assert sorted(sent(stage, "first")) == [(1, "U0BETO"), (1, "U0CARLA")]


async def test_the_reminders_approve_button_acts_as_the_cards(stage: Stage, clock: Clock
                                                              ) -> None:
    card = await requested(stage)
    clock.to(THURSDAY, 12)
    await sweep(stage)
    dm = stage.slack.dms("U0BETO")[-1]
    answer = await stage.driver.click("U0BETO", dm.channel, dm.ts, APPROVE_ACTION)
    assert answer.status_code == 200
    await stage.settle()
    decisions = queries.decisions(stage.runtime.store, 1)
    assert [(d["user_id"], d["decision"]) for d in decisions] == [("U0BETO", "approve")]
    assert "<@U0BETO>" in texts(stage.slack.message(APPROVALS, card.ts))  # the card counts it
    # The same checks apply: a second click is refused (one vote each), audited.
    await stage.driver.click("U0BETO", dm.channel, dm.ts, APPROVE_ACTION)
    await stage.settle()
    assert "refused_already_voted" in [e["action"] for e in queries.events(stage.runtime.store)]
    assert len(queries.decisions(stage.runtime.store, 1)) == 1


async def test_who_voted_gets_no_more_reminders_and_the_last_one_comes_before_expiry(
        stage: Stage, clock: Clock) -> None:
    card = await requested(stage)          # Thursday 10:00: expires Sunday 10:00
    await stage.driver.click("U0BETO", card.channel, card.ts, APPROVE_ACTION)
    await stage.settle()
    clock.to(THURSDAY, 12)
    assert (await sweep(stage)).reminded == [(1, "U0CARLA", "first")]
    clock.to(FRIDAY, 15.9)                 # 2.1 business hours left before the weekend
    done = await sweep(stage)
    assert all(kind != "last" for _, _, kind in done.reminded)
    clock.to(FRIDAY, 16)                   # 2 business hours left: the last one
    done = await sweep(stage)
    assert (1, "U0CARLA", "last") in done.reminded
    assert all(user != "U0BETO" for _, user, _ in done.reminded)
    assert "Último recordatorio" in texts(stage.slack.dms("U0CARLA")[-1])
    clock.to(SATURDAY, 9)
    assert (await sweep(stage)).reminded == []


@pytest.mark.parametrize("stage", [{"escalate_after_h": 0}], indirect=True)
async def test_nobody_is_reminded_outside_business_hours_or_on_a_holiday(
        stage: Stage, clock: Clock) -> None:
    clock.to(THURSDAY, 17.5)               # 30 business minutes left on Thursday
    await requested(stage)
    clock.to(THURSDAY, 23)                 # 5.5 hours later, but 0.5 business hours
    assert (await sweep(stage)).reminded == []
    clock.to(FRIDAY, 10.4)
    assert (await sweep(stage)).reminded == []
    clock.to(SATURDAY, 11)                 # due since Friday 10:30, but a Saturday
    assert (await sweep(stage)).reminded == []
    # A request made before a holiday weekend: Monday 16 November is the Revolution's day.
    clock.to(date(2026, 11, 13), 17)
    await requested(stage, uuid_with("A11", 7))
    clock.to(date(2026, 11, 16), 12)
    assert [r for r in (await sweep(stage)).reminded if r[0] == 2] == []
    clock.to(date(2026, 11, 17), 10)
    assert sorted(r for r in (await sweep(stage)).reminded if r[0] == 2) == [
        (2, "U0BETO", "first"), (2, "U0CARLA", "first")]


async def test_an_undecided_request_is_escalated_and_the_escalation_approver_decides(
        stage: Stage, clock: Clock) -> None:
    card = await requested(stage)          # Thursday 10:00
    await stage.driver.click("U0DIEGO", card.channel, card.ts, APPROVE_ACTION)
    await stage.settle()                   # not an approver: refused before the escalation
    assert queries.decisions(stage.runtime.store, 1) == []
    clock.to(THURSDAY, 13.9)
    assert (await sweep(stage)).escalated == []
    clock.to(THURSDAY, 14)
    done = await sweep(stage)
    assert done.escalated == [1] and (1, "U0DIEGO", "escalation") in done.reminded
    thread = stage.slack.thread(APPROVALS, card.ts)
    assert "se escaló a <@U0DIEGO>" in texts(thread[-1])
    assert "escalated" in [e["action"] for e in queries.events(stage.runtime.store, 1)]
    dm = stage.slack.dms("U0DIEGO")[-1]
    assert "se escaló a ti" in texts(dm) and buttons(dm) == [APPROVE_ACTION, REJECT_ACTION]
    assert (await sweep(stage)).escalated == []  # once
    await stage.driver.click("U0BETO", card.channel, card.ts, APPROVE_ACTION)
    await stage.driver.click("U0DIEGO", dm.channel, dm.ts, APPROVE_ACTION)
    await stage.settle()
    assert {d["user_id"] for d in queries.decisions(stage.runtime.store, 1)} == {
        "U0BETO", "U0DIEGO"}
    assert request_row(stage)["status"] != "awaiting_approval"


@pytest.mark.parametrize("stage", [{"escalate_after_h": 0}], indirect=True)
async def test_the_digest_lists_what_awaits_each_approver_once_a_business_day(
        stage: Stage, clock: Clock) -> None:
    await requested(stage)                                   # #1 Thursday 10:00
    clock.to(THURSDAY, 11)
    second = await requested(stage, uuid_with("A11", 2))     # #2 Thursday 11:00
    await stage.driver.click("U0CARLA", second.channel, second.ts, APPROVE_ACTION)
    await stage.settle()
    clock.to(FRIDAY, 8.9)
    assert (await sweep(stage)).digests == {}
    clock.to(FRIDAY, 9)
    done = await sweep(stage)
    assert done.digests == {"U0BETO": [1, 2], "U0CARLA": [1]}  # oldest first; Carla voted #2
    digest = texts(stage.slack.dms("U0BETO")[-1])
    assert digest.index("*#1*") < digest.index("*#2*") and "23.0 h" in digest
    assert "vence" in digest and buttons(stage.slack.dms("U0BETO")[-1]) == []
    assert "U0ANA" not in done.digests and "U0DIEGO" not in done.digests
    clock.to(FRIDAY, 9.5)
    assert (await sweep(stage)).digests == {}
    assert (await Reminders(stage.runtime.services).run()).digests == {}  # after a restart
    clock.to(SATURDAY, 9)
    assert (await sweep(stage)).digests == {}
    clock.to(MONDAY, 9)
    assert (await sweep(stage)).digests != {}
    assert sorted(sent(stage, "digest")) == [(None, "U0BETO"), (None, "U0BETO"),
                                             (None, "U0CARLA"), (None, "U0CARLA")]


async def test_no_digest_when_nothing_awaits(stage: Stage, clock: Clock) -> None:
    clock.to(date(2026, 12, 7), 9)
    before = len(stage.slack.messages)
    assert (await sweep(stage)).digests == {}
    assert len(stage.slack.messages) == before
    assert "digest_run" in [e["action"] for e in queries.events(stage.runtime.store)]


async def test_a_reminder_slack_refused_is_tried_again(stage: Stage, clock: Clock) -> None:
    await requested(stage)
    clock.to(THURSDAY, 12)
    stage.slack.fail("conversations.open", "user_not_found", times=1)  # Beto's, first
    assert (await sweep(stage)).reminded == [(1, "U0CARLA", "first")]
    assert "slack_error" in [e["action"] for e in queries.events(stage.runtime.store)]
    assert (await sweep(stage)).reminded == [(1, "U0BETO", "first")]
    assert sorted(sent(stage, "first")) == [(1, "U0BETO"), (1, "U0CARLA")]
    clock.now += timedelta(minutes=5)
    assert (await sweep(stage)).reminded == []


async def test_an_escalated_request_is_in_the_escalation_approvers_digest(
        stage: Stage, clock: Clock) -> None:
    await requested(stage)
    clock.to(THURSDAY, 14)
    assert (await sweep(stage)).escalated == [1]
    clock.to(FRIDAY, 9)
    digests = (await sweep(stage)).digests
    assert digests["U0DIEGO"] == [1] and digests["U0BETO"] == [1]


async def test_a_reminder_slack_keeps_refusing_is_given_up_after_three_sends(
        stage: Stage, clock: Clock) -> None:
    await requested(stage)
    clock.to(THURSDAY, 12)
    # Five refusals in a row: Beto's three sends and Carla's first two (Beto goes first).
    stage.slack.fail("conversations.open", "user_not_found", times=5)
    for _ in range(5):
        clock.now += timedelta(minutes=1)
        await sweep(stage)
    opened = [c for c in stage.slack.calls_of("conversations.open") if c.params["users"] ==
              "U0BETO"]
    assert len(opened) == 3 and sent(stage, "first") == [(1, "U0CARLA")]


@pytest.mark.parametrize("stage", [{"escalate_after_h": 0, "remind_after_h": 0}], indirect=True)
async def test_a_digest_slack_refused_is_tried_again_and_only_that_one(
        stage: Stage, clock: Clock) -> None:
    await requested(stage)
    clock.to(FRIDAY, 9)
    stage.slack.fail("conversations.open", "user_not_found", times=1)  # Beto's (first)
    assert (await sweep(stage)).digests == {"U0CARLA": [1]}
    clock.to(FRIDAY, 9.1)
    await requested(stage, uuid_with("A11", 3))  # new since: Carla's digest is not sent again
    assert (await sweep(stage)).digests == {"U0BETO": [1, 2]}
    assert (await sweep(stage)).digests == {}


async def test_the_runtime_sweeps_periodically(stage: Stage, clock: Clock) -> None:
    reminders = stage.runtime.reminders
    assert reminders is not None
    assert await reminders.periodic() == min(stage.settings.watch_interval_s, 60.0)
    stage.runtime.start_watching()
    assert "reminders" in {task.get_name() for task in stage.runtime.tasks.periodic}
