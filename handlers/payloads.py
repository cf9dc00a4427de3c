"""Reading the parts of Slack payloads the listeners need. What cannot be read raises
BadPayload before the listener does anything (handlers.guard answers the person)."""

from __future__ import annotations

import json
from typing import Any

from bot.actors import Actor
from bot.slack.attachments import AttachedFile

REQUEST_ID_MAX = 2**63 - 1  # SQLite's INTEGER


class BadPayload(ValueError):
    """Slack sent something the bot cannot read: the part named is missing or of the
    wrong kind."""


def user_id_of(body: dict[str, Any]) -> str | None:
    """Who sent it, when the payload says (commands: user_id; interactions: user.id)."""
    user = body.get("user")
    found = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return found if isinstance(found, str) and found else None


def actor(body: dict[str, Any]) -> Actor:
    """Who did it, with the name Slack gave at that moment (commands and interactions)."""
    user_id = user_id_of(body)
    if user_id is None:
        raise BadPayload("user")
    user = body.get("user")
    names = [user.get("username"), user.get("name")] if isinstance(user, dict) \
        else [body.get("user_name")]
    name = next((n for n in names if isinstance(n, str) and n), user_id)
    return Actor(user_id, name)


def text_of(body: dict[str, Any], key: str) -> str:
    """A text field of a command; absent is empty."""
    found = body.get(key)
    if found is None:
        return ""
    if not isinstance(found, str):
        raise BadPayload(key)
    return found


def required(body: dict[str, Any], key: str) -> str:
    found = body.get(key)
    if not isinstance(found, str) or not found:
        raise BadPayload(key)
    return found


def value(values: dict[str, Any], block_id: str) -> str | list[str] | None:
    """The value of a modal input, whatever its element type: text, or a list of texts."""
    try:
        element = next(iter((values.get(block_id) or {}).values()), {}) or {}
        if "selected_option" in element:
            option = element["selected_option"]
            found: Any = option["value"] if option else None
        elif "selected_users" in element:
            found = list(element["selected_users"] or [])
        elif "selected_options" in element:
            found = [option["value"] for option in element["selected_options"] or []]
        else:
            found = element.get("value")
    except (AttributeError, KeyError, TypeError):
        raise BadPayload(f"values.{block_id}") from None
    texts = found if isinstance(found, list) else [found]
    if not all(isinstance(text, str) for text in texts if text is not None) or (
            isinstance(found, list) and None in found):
        raise BadPayload(f"values.{block_id}")
    return found  # type: ignore[no-any-return]


def text_value(values: dict[str, Any], block_id: str) -> str | None:
    found = value(values, block_id)
    if isinstance(found, list):
        raise BadPayload(f"values.{block_id}")
    return found


def list_value(values: dict[str, Any], block_id: str) -> list[str]:
    found = value(values, block_id)
    if isinstance(found, str):
        raise BadPayload(f"values.{block_id}")
    return found or []


def files_value(values: dict[str, Any], block_id: str) -> list[AttachedFile]:
    """The files attached in a file_input (its state's `files`: Slack file objects)."""
    try:
        element = next(iter((values.get(block_id) or {}).values()), {}) or {}
        found = [AttachedFile(id=f["id"], name=f["name"], size=f["size"],
                              url=f.get("url_private_download") or f["url_private"])
                 for f in element.get("files") or []]
    except (AttributeError, KeyError, TypeError):
        raise BadPayload(f"values.{block_id}") from None
    if not all(isinstance(f.id, str) and isinstance(f.name, str) and isinstance(f.url, str)
               and isinstance(f.size, int) and not isinstance(f.size, bool) for f in found):
        raise BadPayload(f"values.{block_id}")
    return found


def channel_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or {}
    found = channel.get("id") if isinstance(channel, dict) else None
    return found if isinstance(found, str) and found else None


def request_id(text: Any) -> int:
    """A request number carried in a button value or in a form's metadata."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 19:
        number = int(text)
        if 0 < number <= REQUEST_ID_MAX:
            return number
    raise BadPayload("value")


def _button_value(body: dict[str, Any]) -> Any:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadPayload("actions")
    return actions[0].get("value")


def clicked(body: dict[str, Any]) -> int:
    """The request number on the button that was clicked."""
    return request_id(_button_value(body))


def retry_clicked(body: dict[str, Any]) -> tuple[int, int | None]:
    """A Retry button: the request, and the failure it was shown on (`<request>:<failure>`;
    None on buttons posted before failures were numbered)."""
    value = _button_value(body)
    number, _, failure = value.partition(":") if isinstance(value, str) else (value, "", "")
    if failure and not (failure.isascii() and failure.isdigit() and len(failure) <= 9):
        raise BadPayload("value")
    return request_id(number), int(failure) if failure else None


def view_of(body: dict[str, Any]) -> dict[str, Any]:
    """The submitted view, with its input values present."""
    view = body.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("id"), str) or not isinstance(
            (view.get("state") or {}).get("values"), dict):
        raise BadPayload("view")
    return view


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """What the bot stored in the view when it opened it (a JSON object)."""
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        raise BadPayload("private_metadata") from None
    if not isinstance(found, dict):
        raise BadPayload("private_metadata")
    return found


def source_channel(view: dict[str, Any]) -> str | None:
    """The channel a form was opened from (to answer there)."""
    channel = metadata(view).get("channel")
    if channel is not None and not isinstance(channel, str):
        raise BadPayload("private_metadata.channel")
    return channel
