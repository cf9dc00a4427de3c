"""What Slack waits for never waits on Slack, and every failure ends in a message.

Signed requests into the running bot while the Slack stand-in refuses `auth.test` and
`usergroups.users.list` (429 or 500), payloads the bot cannot read, a bug in a listener,
and unsigned or unreadable bodies: each gets its HTTP answer within the request (a 404 is
Bolt giving up after 3 s), the person their message in Spanish, the log one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.i18n import t
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, APPROVER_GROUP, FINANCE, Stage
from bot.slack.render.kit import APPROVE_ACTION, REJECT_ACTION, RESUBMIT_ACTION
from storage import queries
from tests.helpers import OK_UUID, actions, card_of, click, request_row

LOOKUPS = ("auth.test", "usergroups.users.list")
UNREADABLE = t("error.bad_payload", "es")
UNEXPECTED = t("error.unexpected", "es")
UNVERIFIED = t("refused.unverified", "es")


def refusing(error: str, *, times: int = 10**6, methods: tuple[str, ...] = LOOKUPS
             ) -> Callable[[SlackStandIn], None]:
    """Slack answering `error` to what the ack path used to ask: 429 with a Retry-After
    that, waited out three times by the client, is past Slack's 3 s; or a 500."""
    def prepare(slack: SlackStandIn) -> None:
        for method in methods:
            slack.fail(method, error, status=500, retry_after=2, times=times)
    return prepare


def said(answer: Any) -> str:
    """What the person reads in a command's answer (the text and its sections)."""
    body = answer.json()
    return "\n".join([body.get("text", ""), *(b["text"]["text"] for b in body.get("blocks", [])
                                             if b.get("type") == "section")])


def told(stage: Stage, user: str) -> list[str]:
    """Ephemeral messages `user` got, and their DMs."""
    return [e["text"] for e in stage.slack.ephemerals if e["user"] == user] + [
        m.text for m in stage.slack.dms(user)]


def forged(body: str, change: Callable[[dict[str, Any]], None]) -> str:
    """An interaction body as Slack would sign it, with its payload changed."""
    payload = json.loads(parse_qs(body)["payload"][0])
    change(payload)
    return urlencode({"payload": json.dumps(payload)})


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- issue 12 #10: the ack path reads what was read from Slack before ------------------------

@pytest.mark.parametrize("error", ["ratelimited", "internal_error"])
async def test_estado_historial_and_cancelar_answer_while_slack_refuses(
        tmp_path: Path, error: str) -> None:
    stage = await Stage.open(tmp_path / "audit.db", prepare_slack=refusing(error),
                             requesters=["U0ANA", APPROVER_GROUP])
    try:
        card = await card_of(stage)  # Ana is a requester by her own id: no group needed
        status = await stage.driver.command("U0ANA", f"estado {OK_UUID}", FINANCE)
        assert status.status_code == 200, status.text
        assert "Solicitud #1" in said(status)
        assert f"<#{APPROVALS}>" in said(status)  # the thread without the workspace URL
        mine = await stage.driver.command("U0ANA", "historial", FINANCE)
        assert mine.status_code == 200 and "#1 · " in said(mine)
        # Whether Diego is in the approvers' group could not be read: he is told so, not
        # that he may not.
        other = await stage.driver.command("U0DIEGO", "historial <@U0ANA>", FINANCE)
        assert other.status_code == 200 and UNVERIFIED in said(other)
        asked = await stage.driver.command("U0DIEGO", "cancelar", FINANCE)
        assert asked.status_code == 200 and UNVERIFIED in said(asked)
        assert len(stage.slack.calls_of("views.open")) == 1  # Ana's form only
        await stage.settle()  # refusals are audited after the answer
        assert actions(stage).count("refused_unverified") == 2
        assert card.ts == request_row(stage)["thread_ts"]
    finally:
        await stage.close()


@pytest.mark.parametrize("stage", [{"prepare_slack": refusing(
    "internal_error", methods=("usergroups.users.list",))}], indirect=True)
async def test_a_click_waits_for_the_group_slack_could_not_give_at_start(stage: Stage) -> None:
    policy = stage.runtime.services.policy
    assert not await policy.refresh()  # the group could not be read (a 500, both retries)
    stage.slack.fail("usergroups.users.list", "internal_error", times=0)  # Slack is back
    assert policy.approvers.knows("U0CARLA") is None
    card = await card_of(stage)
    await click(stage, "U0CARLA", card)
    assert request_row(stage)["status"] == "completed"


@pytest.mark.parametrize("stage", [{"prepare_slack": refusing("ratelimited")}], indirect=True)
async def test_a_click_is_told_when_the_group_cannot_be_read(stage: Stage) -> None:
    card = await card_of(stage)
    await click(stage, "U0CARLA", card)
    assert request_row(stage)["status"] == "awaiting_approval"
    assert told(stage, "U0CARLA") == [UNVERIFIED]
    assert "refused_unverified" in actions(stage)
    await click(stage, "U0BETO", card)  # named by id: needs no group
    assert request_row(stage)["status"] == "completed"


@pytest.mark.parametrize("stage", [{"prepare_slack": refusing("internal_error",
                                                              methods=("auth.test",))}],
                         indirect=True)
async def test_slack_down_at_start_still_gets_the_help_in_spanish(stage: Stage) -> None:
    help_ = await stage.driver.command("U0ANA", "ayuda", FINANCE)
    assert help_.status_code == 200
    assert t("help.title", "es") in said(help_)
    assert "reinstall" not in help_.text
    await click(stage, "U0BETO", await card_of(stage))
    assert request_row(stage)["status"] == "completed"


async def test_links_come_from_the_workspace_read_at_start(stage: Stage) -> None:
    await card_of(stage)
    before = len(stage.slack.calls_of("auth.test"))
    status = await stage.driver.command("U0ANA", f"estado {OK_UUID}", FINANCE)
    assert "https://sandbox.slack.example/archives/C0APROBACIONES/p" in said(status)
    assert len(stage.slack.calls_of("auth.test")) == before == 1


# -- issue 12 #11: every failure ends in a message ---------------------------------------------

@pytest.mark.parametrize("value", ["abc", "9" * 5000, "9" * 20, "", "-1", "1.5", "１"])
@pytest.mark.parametrize("action", [APPROVE_ACTION, REJECT_ACTION])
async def test_a_button_value_that_is_no_request_is_answered(
        stage: Stage, caplog: pytest.LogCaptureFixture, value: str, action: str) -> None:
    card = await card_of(stage)
    body = forged(stage.driver.click_body("U0BETO", APPROVALS, card.ts, action),
                  lambda p: p["actions"][0].update(value=value))
    caplog.clear()
    answer = await stage.driver.post(body)
    await stage.settle()
    assert answer.status_code == 200
    assert told(stage, "U0BETO") == [UNREADABLE]
    assert request_row(stage)["status"] == "awaiting_approval"
    assert stage.pac.calls["cancelar"] == 0  # (descargarXML, for the card's facts, may run)
    (line,) = warnings(caplog)
    assert line.name == "handlers.guard" and line.exc_info is None


@pytest.mark.parametrize("value", ["1:x", "abc:1", "1:99999999999", ":1", "1:2:3"])
async def test_a_retry_value_that_names_no_failure_is_answered(stage: Stage, value: str
                                                               ) -> None:
    card = await card_of(stage)
    body = forged(stage.driver.click_body("U0BETO", APPROVALS, card.ts, APPROVE_ACTION),
                  lambda p: p["actions"][0].update(action_id=RESUBMIT_ACTION, value=value))
    answer = await stage.driver.post(body)
    await stage.settle()
    assert answer.status_code == 200
    assert told(stage, "U0BETO") == [UNREADABLE]
    assert stage.pac.calls["cancelar"] == 0  # (descargarXML, for the card's facts, may run)


async def test_a_click_without_a_user_is_answered_and_logged_once(
        stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
    card = await card_of(stage)
    before = len(stage.slack.ephemerals)
    body = forged(stage.driver.click_body("U0BETO", APPROVALS, card.ts, APPROVE_ACTION),
                  lambda p: p.pop("user"))
    caplog.clear()
    answer = await stage.driver.post(body)
    await stage.settle()
    assert answer.status_code == 200
    assert len(stage.slack.ephemerals) == before  # nobody to tell
    assert request_row(stage)["status"] == "awaiting_approval"
    (line,) = warnings(caplog)
    assert "user" in line.getMessage() and line.exc_info is None


async def test_a_command_without_a_user_is_answered_in_spanish(stage: Stage) -> None:
    body = parse_qs(stage.driver.command_body("U0ANA", "historial", FINANCE))
    del body["user_id"]
    answer = await stage.driver.post(urlencode({k: v[0] for k, v in body.items()}))
    assert answer.status_code == 200 and UNREADABLE in said(answer)


@pytest.mark.parametrize("metadata", ["{nope", "[1]", '{"request": "x"}', "{}",
                                      '{"request": 99999999999999999999}'])
async def test_a_reject_form_with_bad_metadata_shows_the_error_on_its_field(
        stage: Stage, caplog: pytest.LogCaptureFixture, metadata: str) -> None:
    card = await card_of(stage)
    await click(stage, "U0BETO", card, REJECT_ACTION)
    modal = {**stage.driver.last_view(), "private_metadata": metadata}
    caplog.clear()
    answer = await stage.driver.submit_view("U0BETO", modal, {"reject_reason": "no procede"})
    assert answer.status_code == 200
    assert answer.json() == {"response_action": "errors",
                             "errors": {"reject_reason": UNREADABLE}}
    await stage.settle()
    assert request_row(stage)["status"] == "awaiting_approval"
    (line,) = warnings(caplog)
    assert line.exc_info is None


def _field(block: str, **state: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p["view"]["state"]["values"][block]["value"].update(state)


@pytest.mark.parametrize("change", [
    lambda p: p["view"].update(private_metadata="{nope"),
    lambda p: p["view"].update(private_metadata='{"channel": 7}'),
    lambda p: p.pop("user"),
    _field("reason", selected_option={"text": "02"}),
    _field("notify", selected_users=[7]),
], ids=["metadata", "channel", "user", "reason", "notify"])
async def test_a_cancel_form_that_cannot_be_read_writes_nothing(
        stage: Stage, change: Callable[[dict[str, Any]], None]) -> None:
    await stage.driver.command("U0ANA", "cancelar", FINANCE)
    await stage.settle()
    body = forged(stage.driver.view_body("U0ANA", stage.driver.last_view(), {
        "invoices": OK_UUID, "reason": "02", "justification": "Duplicada", "notify": []}),
        change)
    answer = await stage.driver.post(body)
    assert answer.status_code == 200
    assert answer.json() == {"response_action": "errors", "errors": {"invoices": UNREADABLE}}
    await stage.settle()
    assert queries.events(stage.runtime.store) == []
    assert stage.slack.channel_messages(APPROVALS) == []


async def test_a_bug_in_a_listener_is_answered_and_logged_without_a_traceback_at_error(
        stage: Stage, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(text: str) -> dict[str, Any]:
        raise RuntimeError("a bug")
    monkeypatch.setattr(stage.runtime.services.lookup, "invoice_status", broken)
    caplog.set_level(logging.DEBUG, logger="handlers.guard")
    answer = await stage.driver.command("U0ANA", f"estado {OK_UUID}", FINANCE)
    assert answer.status_code == 200 and UNEXPECTED in said(answer)
    (line,) = warnings(caplog)
    assert line.levelno == logging.ERROR and line.exc_info is None
    assert "RuntimeError: a bug" in line.getMessage()
    assert [r.exc_info is not None for r in caplog.records
            if r.name == "handlers.guard" and r.levelno == logging.DEBUG] == [True]


async def test_a_bug_in_the_work_after_a_click_reaches_the_person(
        stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    card = await card_of(stage)

    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")
    monkeypatch.setattr(stage.runtime.services.lifecycle, "approve_clicked", broken)
    await click(stage, "U0BETO", card)
    assert told(stage, "U0BETO") == [UNEXPECTED]


# -- unsigned and unreadable bodies: refused before anything reads them -------------------------

def _unsigned(body: bytes, **headers: str) -> dict[str, Any]:
    return {"content": body, "headers": {
        "Content-Type": "application/x-www-form-urlencoded", **headers}}


@pytest.mark.parametrize("request_", [
    _unsigned(b"payload=%7Bnope"),
    _unsigned(b"\xff\xfe garbage"),
    _unsigned(b"payload=%7Bnope", **{"X-Slack-Request-Timestamp": "soon",
                                     "X-Slack-Signature": "v0=00"}),
    _unsigned(b"{x", **{"Content-Type": "application/json", "X-Slack-Request-Timestamp": "1",
                        "X-Slack-Signature": "v0=\u00f1"}),
], ids=["no-headers", "not-utf8", "bad-timestamp", "non-ascii-signature"])
async def test_unsigned_junk_gets_401_and_one_line(
        stage: Stage, caplog: pytest.LogCaptureFixture, request_: dict[str, Any]) -> None:
    caplog.clear()
    headers = {k: v.encode() for k, v in request_["headers"].items()}  # bytes: any octets
    answer = await stage.driver.http.post(stage.driver.events_url, content=request_["content"],
                                          headers=headers)
    assert answer.status_code == 401
    (line,) = warnings(caplog)
    assert line.exc_info is None and "signature" in line.getMessage()


@pytest.mark.parametrize("body", ["payload=%7Bnope", "payload=%5B1%5D", "payload=7"])
async def test_a_signed_body_bolt_cannot_read_gets_400_and_one_line(
        stage: Stage, caplog: pytest.LogCaptureFixture, body: str) -> None:
    caplog.clear()
    answer = await stage.driver.post(body)
    assert answer.status_code == 400
    (line,) = warnings(caplog)
    assert line.exc_info is None and line.name == "bot.runtime.http"
    assert queries.events(stage.runtime.store) == []


def _payload(**fields: Any) -> str:
    return "payload=" + urllib.parse.quote(json.dumps(fields))


@pytest.mark.parametrize("body", [
    _payload(type="view_submission", view=3, team={"id": "T0"}, user={"id": "U0ANA"}),
    _payload(type="block_actions", actions="cfdi_approve", user={"id": "U0ANA"}),
    _payload(type="block_actions", actions=[7], user={"id": "U0ANA"}),
    _payload(type="block_actions", user=5, actions=[]),
    _payload(type=["view_submission"], view={}),
    _payload(type="block_actions", actions=[]),
    _payload(type="block_actions", actions=[{}], user={}),
    _payload(type="view_submission", user={"id": "U0ANA"},
             view={"callback_id": "cfdi_cancel", "state": {"values": []}}),
    _payload(type="view_submission", user={"id": "U0ANA"},
             view={"callback_id": "cfdi_reject", "private_metadata": "zz"}),
], ids=["view-is-a-number", "actions-a-string", "an-action-a-number", "user-a-number",
        "type-a-list", "no-action", "an-action-without-id", "values-a-list",
        "a-view-without-type"])
async def test_a_signed_payload_of_the_wrong_shape_gets_400_not_500(
        stage: Stage, caplog: pytest.LogCaptureFixture, body: str) -> None:
    """Signed, parseable, but not what Slack sends: Bolt's own routing used to fail on it
    and answer 500 with a traceback; it is refused before Bolt with one line."""
    caplog.clear()
    answer = await stage.driver.post(body)
    assert answer.status_code == 400
    (line,) = warnings(caplog)
    assert line.exc_info is None and line.name == "bot.runtime.http"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert queries.events(stage.runtime.store) == []


async def test_a_socket_mode_request_holds_background_work_until_it_is_answered(
        stage: Stage) -> None:
    """Socket Mode dispatches to Bolt without /slack/events: the answer in progress is
    counted by Bolt middleware, so acks-first holds there too."""
    tasks = stage.runtime.tasks
    entered: list[bool] = []
    real = tasks.answering

    @contextlib.contextmanager
    def spying() -> Iterator[None]:
        with real():
            entered.append(tasks.answering_now)
            yield

    tasks.answering = spying  # type: ignore[method-assign]
    body = dict(urllib.parse.parse_qsl(stage.driver.command_body("U0ANA", "ayuda", FINANCE)))
    response = await stage.runtime.app.async_dispatch(
        AsyncBoltRequest(body=body, mode="socket_mode"))
    assert response.status == 200 and "/cfdi" in response.body
    assert entered == [True]
