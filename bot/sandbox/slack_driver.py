"""Plays a Slack user: sends signed slash commands, view submissions and button clicks to
the bot's `/slack/events`, exactly as Slack would (form-encoded, `v0` HMAC-SHA256 signature).

It reads what it needs (the modal the bot opened, the buttons on a message) from the Slack
stand-in, as a person reads their screen.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack_records import TEAM
from bot.sandbox.slack_server import SlackStandIn

APP_ID = "A0CFDIBOT"


class NotSubmitted(Exception):
    """Slack's client kept the form open: what it shows under each refused field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class SlackDriver:
    """A person in Slack: signed slash commands, clicks and form submissions to the bot."""

    def __init__(self, events_url: str, signing_secret: str, slack: SlackStandIn) -> None:
        self.events_url = events_url
        self.signer = SignatureVerifier(signing_secret)
        self.slack = slack
        self.http = httpx.AsyncClient(timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, body: str, *, timestamp: int | None = None,
                   signature: str | None = None, retry_num: int | None = None
                   ) -> httpx.Response:
        """POST a form body, signed as Slack signs it (or with what the caller forces)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or self.signer.generate_signature(
                timestamp=stamp, body=body),
        }
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num),
                            "X-Slack-Retry-Reason": "http_timeout"})
        return await self.http.post(self.events_url, content=body.encode(), headers=headers)

    def _user(self, user: str) -> dict[str, Any]:
        name = self.slack.users.get(user, user)
        return {"id": user, "username": name, "name": name, "team_id": TEAM}

    async def post_json(self, payload: dict[str, Any]) -> httpx.Response:
        """An Events API delivery (JSON), signed."""
        body = json.dumps(payload)
        stamp = str(int(time.time()))
        return await self.http.post(self.events_url, content=body.encode(), headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.signer.generate_signature(timestamp=stamp, body=body)})

    async def open_home(self, user: str) -> httpx.Response:
        return await self.post_json({
            "token": "legacy-unused", "team_id": TEAM, "api_app_id": APP_ID,
            "type": "event_callback", "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user}",
                      "tab": "home", "event_ts": str(time.time())}})

    async def click_home(self, user: str, action_id: str, value: str, *,
                         confirm: bool = True) -> httpx.Response | None:
        """A button on the user's App Home, as Slack sends it (container: the view). One
        with a confirmation dialog sends nothing when the person denies it (None)."""
        home = self.slack.homes[user]
        button = next(element for block in home["blocks"] if block["type"] == "actions"
                      for element in block["elements"] if element["action_id"] == action_id
                      and element.get("value") == value)
        if "confirm" in button and not confirm:
            return None
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": self._user(user),
            "api_app_id": APP_ID, "trigger_id": self.slack.issue_trigger(),
            "container": {"type": "view", "view_id": home["id"]},
            "view": home,
            "actions": [{"action_id": action_id, "block_id": f"home_decision_{value}",
                         "type": "button", "value": value, "action_ts": str(time.time())}],
        }
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    def command_body(self, user: str, text: str, channel: str) -> str:
        return urlencode({
            "token": "legacy-unused", "team_id": TEAM, "team_domain": "sandbox",
            "channel_id": channel, "channel_name": self.slack.channels.get(channel, channel),
            "user_id": user, "user_name": self.slack.users.get(user, user), "command": "/cfdi",
            "text": text, "api_app_id": APP_ID, "trigger_id": self.slack.issue_trigger(),
            "response_url": "https://sandbox.slack.example/commands/respond",
        })

    async def command(self, user: str, text: str, channel: str, **signing: Any
                      ) -> httpx.Response:
        return await self.post(self.command_body(user, text, channel), **signing)

    def last_view(self) -> dict[str, Any]:
        return list(self.slack.views.values())[-1]

    def view_body(self, user: str, view: dict[str, Any], fields: dict[str, Any]) -> str:
        """A view_submission with `fields` ({block_id: value}) typed into the modal."""
        values: dict[str, Any] = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            element = block["element"]
            typed = fields.get(block["block_id"])
            kind = element["type"]
            if kind == "static_select":
                state = {"type": kind, "selected_option": None if typed is None else {
                    "value": typed, "text": {"type": "plain_text", "text": typed}}}
            elif kind == "multi_users_select":
                state = {"type": kind, "selected_users": list(typed or [])}
            elif kind == "file_input":  # the file objects of what the person attached
                state = {"type": kind, "files": list(typed or [])}
            elif kind == "checkboxes":
                chosen = element.get("initial_options", []) if typed is None else [
                    o for o in element["options"] if o["value"] in typed]
                state = {"type": kind, "selected_options": chosen}
            else:
                state = {"type": kind, "value": typed}
            values[block["block_id"]] = {element["action_id"]: state}
        payload = {
            "type": "view_submission", "team": {"id": TEAM}, "user": self._user(user),
            "api_app_id": APP_ID, "trigger_id": self.slack.issue_trigger(),
            "view": {**view, "state": {"values": values}, "hash": view.get("hash", "sandbox")},
        }
        return urlencode({"payload": json.dumps(payload)})

    def attach(self, user: str, name: str, content: bytes, **kinds: Any) -> dict[str, Any]:
        """The person drops a file into a form's file input: uploaded to Slack, which hands
        the form its file object (pass it as the input's value to submit_view)."""
        return self.slack.share_file(user, name, content, **kinds)

    async def submit_view(self, user: str, view: dict[str, Any], fields: dict[str, Any],
                          *, past_the_client: bool = False) -> httpx.Response:
        """Submit the modal; Slack then does what the bot's answer says (update, errors,
        close). A value Slack's client would not submit raises NotSubmitted, and the bot
        hears nothing; `past_the_client`: a payload built by hand, sent all the same."""
        if (refused := self.slack.refused_values(view, fields)) and not past_the_client:
            raise NotSubmitted(refused)
        answer = await self.post(self.view_body(user, view, fields))
        if answer.status_code == 200 and "id" in view:
            json_answer = "json" in answer.headers.get("content-type", "")
            said = answer.json() if answer.content and json_answer else {}
            self.slack.answered(view["id"], view.get("hash"), said)
        return answer

    def click_body(self, user: str, channel: str, ts: str, action_id: str,
                   value: str | None = None) -> str:
        message = self.slack.message(channel, ts)
        button = next(element for block in message.blocks if block["type"] == "actions"
                      for element in block["elements"] if element["action_id"] == action_id
                      and value in (None, element.get("value")))
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": self._user(user),
            "api_app_id": APP_ID, "trigger_id": self.slack.issue_trigger(),
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "channel": {"id": channel}, "message": {"ts": ts, "text": message.text,
                                                    "blocks": message.blocks},
            "response_url": "https://sandbox.slack.example/actions/respond",
            "actions": [{"action_id": action_id, "block_id": "decision", "type": "button",
                         "value": button["value"], "action_ts": str(time.time())}],
        }
        return urlencode({"payload": json.dumps(payload)})

    async def click(self, user: str, channel: str, ts: str, action_id: str, *,
                    confirm: bool = True) -> httpx.Response | None:
        """The person presses a button. One with a confirmation dialog sends nothing until
        it is confirmed, as in Slack: `confirm=False` is the person choosing "deny" (None)."""
        message = self.slack.message(channel, ts)
        button = next(element for block in message.blocks if block["type"] == "actions"
                      for element in block["elements"] if element["action_id"] == action_id)
        if "confirm" in button and not confirm:
            return None
        return await self.post(self.click_body(user, channel, ts, action_id))
