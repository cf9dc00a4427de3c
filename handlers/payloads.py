"""Reading the parts of Slack payloads the listeners need."""

from __future__ import annotations

from typing import Any

from bot.actors import Actor


def actor(body: dict[str, Any]) -> Actor:
    """Who did it, with the name Slack gave at that moment (commands and interactions)."""
    user = body.get("user") or {}
    if isinstance(user, dict) and user.get("id"):
        return Actor(user["id"], user.get("username") or user.get("name") or user["id"])
    return Actor(body["user_id"], body.get("user_name") or body["user_id"])


def value(values: dict[str, Any], block_id: str) -> Any:
    """The value of a modal input, whatever its element type."""
    element = next(iter((values.get(block_id) or {}).values()), {}) or {}
    if "selected_option" in element:
        option = element["selected_option"]
        return option["value"] if option else None
    if "selected_users" in element:
        return list(element["selected_users"] or [])
    if "selected_options" in element:
        return [option["value"] for option in element["selected_options"] or []]
    return element.get("value")


def channel_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or {}
    return channel.get("id") if isinstance(channel, dict) else None
