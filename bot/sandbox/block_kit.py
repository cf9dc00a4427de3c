"""Slack's documented Block Kit limits, checked as Slack checks them (it refuses a message
or view that breaks one with `invalid_blocks` or `invalid_arguments`).

From the Block Kit reference (docs.slack.dev/reference/block-kit): blocks, elements,
composition objects and views. Only the parts the bot uses are modelled; anything else is
reported, so a new kind of block is not waved through unchecked.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
MESSAGE_TEXT = 40_000
SECTION_TEXT, FIELD_TEXT, FIELDS = 3000, 2000, 10
HEADER_TEXT, BUTTON_TEXT, OPTION_TEXT, OPTION_VALUE = 150, 75, 75, 150
BUTTON_VALUE, ID_MAX, LABEL_TEXT, PLACEHOLDER_TEXT = 2000, 255, 2000, 150
CONTEXT_ELEMENTS, ACTIONS_ELEMENTS, SELECT_OPTIONS, CHECKBOX_OPTIONS = 10, 25, 100, 10
INPUT_MAX_LENGTH = 3000
VIEW_TITLE, PRIVATE_METADATA = 24, 3000


def _text(where: str, obj: Any, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: not a text object"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: empty text"]
    return [f"{where}: {len(text)} characters, more than {limit}"] if len(text) > limit else []


def _id(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    return [] if isinstance(value, str) and 0 < len(value) <= ID_MAX else [f"{where}: bad id"]


def _options(where: str, options: Any, most: int) -> list[str]:
    if not isinstance(options, list) or not 0 < len(options) <= most:
        return [f"{where}: between 1 and {most} options"]
    found = []
    for n, option in enumerate(options):
        found += _text(f"{where}[{n}].text", option.get("text"), OPTION_TEXT)
        value = option.get("value")
        if not isinstance(value, str) or not 0 < len(value) <= OPTION_VALUE:
            found.append(f"{where}[{n}].value: bad value")
    return found


def _element(where: str, element: Any) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where}: not an element"]
    kind = element.get("type")
    found = _id(f"{where}.action_id", element.get("action_id"))
    if kind == "button":
        found += _text(f"{where}.text", element.get("text"), BUTTON_TEXT, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE):
            found.append(f"{where}.value: more than {BUTTON_VALUE} characters")
        if element.get("style") not in (None, "primary", "danger"):
            found.append(f"{where}.style: primary or danger")
    elif kind == "plain_text_input":
        most = element.get("max_length", INPUT_MAX_LENGTH)
        if not isinstance(most, int) or not 0 < most <= INPUT_MAX_LENGTH:
            found.append(f"{where}.max_length: 1 to {INPUT_MAX_LENGTH}")
    elif kind == "static_select":
        found += _options(f"{where}.options", element.get("options"), SELECT_OPTIONS)
        if "placeholder" in element:
            found += _text(f"{where}.placeholder", element["placeholder"], PLACEHOLDER_TEXT,
                           plain_only=True)
    elif kind == "checkboxes":
        found += _options(f"{where}.options", element.get("options"), CHECKBOX_OPTIONS)
        chosen = element.get("initial_options") or []
        if any(option not in element.get("options", []) for option in chosen):
            found.append(f"{where}.initial_options: not among the options")
    elif kind == "multi_users_select":
        most = element.get("max_selected_items", 1)
        if not isinstance(most, int) or most < 1:
            found.append(f"{where}.max_selected_items: at least 1")
    else:
        found.append(f"{where}: unknown element {kind!r}")
    return found


def _block(where: str, block: Any) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: not an object"]
    kind = block.get("type")
    found = _id(f"{where}.block_id", block.get("block_id"))
    if kind == "section":
        fields = block.get("fields")
        if "text" not in block and not fields:
            found.append(f"{where}: text or fields")
        if "text" in block:
            found += _text(f"{where}.text", block["text"], SECTION_TEXT)
        if fields is not None:
            if not isinstance(fields, list) or not 0 < len(fields) <= FIELDS:
                found.append(f"{where}.fields: between 1 and {FIELDS}")
            else:
                for n, field in enumerate(fields):
                    found += _text(f"{where}.fields[{n}]", field, FIELD_TEXT)
    elif kind == "header":
        found += _text(f"{where}.text", block.get("text"), HEADER_TEXT, plain_only=True)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= CONTEXT_ELEMENTS:
            found.append(f"{where}.elements: between 1 and {CONTEXT_ELEMENTS}")
        else:
            for n, element in enumerate(elements):
                found += _text(f"{where}.elements[{n}]", element, SECTION_TEXT)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= ACTIONS_ELEMENTS:
            found.append(f"{where}.elements: between 1 and {ACTIONS_ELEMENTS}")
        else:
            for n, element in enumerate(elements):
                found += _element(f"{where}.elements[{n}]", element)
    elif kind == "input":
        found += _text(f"{where}.label", block.get("label"), LABEL_TEXT, plain_only=True)
        if "hint" in block:
            found += _text(f"{where}.hint", block["hint"], LABEL_TEXT, plain_only=True)
        found += _element(f"{where}.element", block.get("element"))
    elif kind != "divider":
        found.append(f"{where}: unknown block {kind!r}")
    return found


def block_problems(blocks: Any, most: int = MESSAGE_BLOCKS) -> list[str]:
    """What Slack would refuse in these blocks (none: an empty list)."""
    if not isinstance(blocks, list):
        return ["blocks: not a list"]
    found = [f"blocks: {len(blocks)}, more than {most}"] if len(blocks) > most else []
    for n, block in enumerate(blocks):
        found += _block(f"blocks[{n}]", block)
    return found


def message_problems(message: dict[str, Any]) -> list[str]:
    """A message (text and blocks) as chat.postMessage or chat.update would take it."""
    text, blocks = message.get("text") or "", message.get("blocks") or []
    found = block_problems(blocks)
    if len(text) > MESSAGE_TEXT:
        found.append(f"text: more than {MESSAGE_TEXT} characters")
    if not text and not blocks:
        found.append("text: no text")
    return found


def view_problems(view: dict[str, Any]) -> list[str]:
    """A modal or Home tab as views.open or views.publish would take it."""
    found = block_problems(view.get("blocks") or [], VIEW_BLOCKS)
    if view.get("type") == "modal":
        found += _text("title", view.get("title"), VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                found += _text(key, view[key], VIEW_TITLE, plain_only=True)
    elif view.get("type") != "home":
        found.append(f"type: {view.get('type')!r} is no view")
    if len(view.get("private_metadata") or "") > PRIVATE_METADATA:
        found.append(f"private_metadata: more than {PRIVATE_METADATA} characters")
    found += _id("callback_id", view.get("callback_id"))
    return found
