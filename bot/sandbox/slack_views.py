"""The Slack stand-in's views: `views.open` (a trigger used once, within 3 s),
`views.update` (a stale hash refused), `views.publish` (the App Home), and what Slack does
with the app's answer to a submitted view."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from bot.sandbox.block_kit import INPUT_MAX_LENGTH, view_problems
from bot.sandbox.slack_records import TRIGGER_TTL_S, SlackError, StandInHost


def _view_id() -> str:
    """A view id as Slack gives them: unique across the workspace and its restarts (the
    bot keys a form's request by it), not a counter that starts again."""
    return "V" + secrets.token_hex(5).upper()


class ViewsApi(StandInHost):
    """The views methods of the Slack stand-in (mixed into SlackStandIn)."""

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = params.get("trigger_id")
        issued = self._triggers.pop(trigger, None) if trigger else None
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL_S:
            raise SlackError("expired_trigger_id")
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        self._check(view_problems(view), "invalid_arguments")
        view["id"] = _view_id()
        self.views[view["id"]] = self._hashed(view)
        return {"view": view}

    def _hashed(self, view: dict[str, Any]) -> dict[str, Any]:
        """Every version of a view gets a new hash (views.update checks it when given)."""
        view["hash"] = f"{int(time.time())}.{next(self._ids)}"
        return view

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id") or next(
            (v["id"] for v in self.views.values()
             if params.get("external_id") and v.get("external_id") == params["external_id"]),
            None)
        if not view_id:
            raise SlackError("invalid_arguments")
        if view_id not in self.views or view_id in self.closed:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != self.views[view_id].get("hash"):
            raise SlackError("hash_conflict")
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        self._check(view_problems(view), "invalid_arguments")
        view["id"] = view_id
        self.views[view_id] = self._hashed(view)
        return {"view": view}

    def answered(self, view_id: str, sent_hash: str | None, answer: dict[str, Any]) -> None:
        """What Slack does with the app's answer to a view_submission: `update` replaces the
        view (unless the app changed it since: the answer came first), `errors` keeps it
        open, anything else closes it."""
        with self._lock:
            action = answer.get("response_action")
            if action == "update":
                if self.views.get(view_id, {}).get("hash") == sent_hash:
                    view = dict(answer.get("view") or {})
                    self._check(view_problems(view), "invalid_arguments")
                    self.views[view_id] = self._hashed({**view, "id": view_id})
            elif action != "errors":
                self.closed.add(view_id)

    def refused_values(self, view: dict[str, Any], fields: dict[str, Any]) -> dict[str, str]:
        """What Slack's client refuses to submit, by block id: a text longer than its
        input's max_length (3,000 when the input declares none). Slack keeps the form open
        with the message under the field, and the app never hears of the submission."""
        refused = {}
        for block in view.get("blocks", []):
            element = block.get("element") or {}
            typed = fields.get(block.get("block_id"))
            if element.get("type") == "plain_text_input" and isinstance(typed, str):
                most = element.get("max_length", INPUT_MAX_LENGTH)
                if len(typed) > most:
                    refused[block["block_id"]] = \
                        f"Must be {most} characters or fewer ({len(typed)} entered)."
        return refused

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user_id")
        if user not in self.users:
            raise SlackError("user_not_found")
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        self._check(view_problems(view), "invalid_arguments")
        view["id"] = _view_id()
        self.homes[str(user)] = view
        return {"view": view}
