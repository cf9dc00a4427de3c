"""Slack's documented Block Kit limits, checked as Slack checks them (it refuses a message
or view that breaks one with `invalid_blocks` or `invalid_arguments`).

From the Block Kit reference (docs.slack.dev/reference/block-kit): blocks, elements,
composition objects and views. Only the parts the bot uses are modelled; anything else is
reported, so a new kind of block is not waved through unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[str, Any], list[str]]

MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
MESSAGE_TEXT = 40_000
SECTION_TEXT, FIELD_TEXT, FIELDS = 3000, 2000, 10
HEADER_TEXT, BUTTON_TEXT, OPTION_TEXT, OPTION_VALUE = 150, 75, 75, 150
BUTTON_VALUE, ID_MAX, LABEL_TEXT, PLACEHOLDER_TEXT = 2000, 255, 2000, 150
CONTEXT_ELEMENTS, ACTIONS_ELEMENTS, SELECT_OPTIONS, CHECKBOX_OPTIONS = 10, 25, 100, 10
INPUT_MAX_LENGTH = 3000
MAX_FILES = 10  # file_input: 1 to 10 files
VIEW_TITLE, PRIVATE_METADATA = 24, 3000
# The confirmation dialog object (composition objects: confirmation dialog): every text
# plain_text; title 100, text 300, the two buttons 30 characters; style primary or danger.
CONFIRM_TITLE, CONFIRM_TEXT, CONFIRM_BUTTON = 100, 300, 30


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


def _each(where: str, items: Any, most: int, check: Check) -> list[str]:
    """A list of 1 to `most` items, each checked."""
    if not isinstance(items, list) or not 0 < len(items) <= most:
        return [f"{where}: between 1 and {most} items"]
    return [problem for n, item in enumerate(items) for problem in check(f"{where}[{n}]", item)]


def _option(where: str, option: Any) -> list[str]:
    value = option.get("value") if isinstance(option, dict) else None
    found = _text(f"{where}.text", option.get("text") if isinstance(option, dict) else None,
                  OPTION_TEXT)
    if not isinstance(value, str) or not 0 < len(value) <= OPTION_VALUE:
        found.append(f"{where}.value: 1 to {OPTION_VALUE} characters")
    return found


def _button(where: str, element: dict[str, Any]) -> list[str]:
    found = _text(f"{where}.text", element.get("text"), BUTTON_TEXT, plain_only=True)
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE):
        found.append(f"{where}.value: more than {BUTTON_VALUE} characters")
    if element.get("style") not in (None, "primary", "danger"):
        found.append(f"{where}.style: primary or danger")
    if "confirm" in element:
        found += _confirm(f"{where}.confirm", element["confirm"])
    return found


def _confirm(where: str, dialog: Any) -> list[str]:
    if not isinstance(dialog, dict):
        return [f"{where}: not a confirmation dialog object"]
    limits = {"title": CONFIRM_TITLE, "text": CONFIRM_TEXT, "confirm": CONFIRM_BUTTON,
              "deny": CONFIRM_BUTTON}
    found = [problem for key, most in limits.items()
             for problem in _text(f"{where}.{key}", dialog.get(key), most, plain_only=True)]
    if dialog.get("style") not in (None, "primary", "danger"):
        found.append(f"{where}.style: primary or danger")
    unknown = set(dialog) - {*limits, "style"}
    return found + ([f"{where}: unknown fields {sorted(unknown)}"] if unknown else [])


def _element(where: str, element: Any) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where}: not an element"]
    kind = element.get("type")
    found = _id(f"{where}.action_id", element.get("action_id"))
    if kind == "button":
        found += _button(where, element)
    elif kind == "plain_text_input":
        most = element.get("max_length", INPUT_MAX_LENGTH)
        if not isinstance(most, int) or not 0 < most <= INPUT_MAX_LENGTH:
            found.append(f"{where}.max_length: 1 to {INPUT_MAX_LENGTH}")
    elif kind in ("static_select", "checkboxes"):
        most = SELECT_OPTIONS if kind == "static_select" else CHECKBOX_OPTIONS
        found += _each(f"{where}.options", element.get("options"), most, _option)
        if "placeholder" in element:
            found += _text(f"{where}.placeholder", element["placeholder"], PLACEHOLDER_TEXT,
                           plain_only=True)
        if any(chosen not in element.get("options", [])
               for chosen in element.get("initial_options") or []):
            found.append(f"{where}.initial_options: not among the options")
        if "initial_option" in element and element["initial_option"] not in element.get(
                "options", []):
            found.append(f"{where}.initial_option: not among the options")
    elif kind == "file_input":  # only inside an input block (see _block)
        most = element.get("max_files", MAX_FILES)
        if not isinstance(most, int) or not 0 < most <= MAX_FILES:
            found.append(f"{where}.max_files: 1 to {MAX_FILES}")
        types = element.get("filetypes", [])
        if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
            found.append(f"{where}.filetypes: a list of file extensions")
    elif kind == "multi_users_select":
        most = element.get("max_selected_items", 1)
        if not isinstance(most, int) or most < 1:
            found.append(f"{where}.max_selected_items: at least 1")
    else:
        found.append(f"{where}: unknown element {kind!r}")
    return found


def _mrkdwn_or_plain(where: str, obj: Any) -> list[str]:
    return _text(where, obj, SECTION_TEXT)


def _field(where: str, obj: Any) -> list[str]:
    return _text(where, obj, FIELD_TEXT)


def _block(where: str, block: Any) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: not an object"]
    kind = block.get("type")
    found = _id(f"{where}.block_id", block.get("block_id"))
    if kind == "section":
        if "text" not in block and "fields" not in block:
            found.append(f"{where}: text or fields")
        if "text" in block:
            found += _text(f"{where}.text", block["text"], SECTION_TEXT)
        if "fields" in block:
            found += _each(f"{where}.fields", block["fields"], FIELDS, _field)
    elif kind == "header":
        found += _text(f"{where}.text", block.get("text"), HEADER_TEXT, plain_only=True)
    elif kind == "context":
        found += _each(f"{where}.elements", block.get("elements"), CONTEXT_ELEMENTS,
                       _mrkdwn_or_plain)
    elif kind == "actions":
        found += _each(f"{where}.elements", block.get("elements"), ACTIONS_ELEMENTS, _element)
        found += [f"{where}: a file_input only goes in an input block"
                  for e in block.get("elements") or [] if isinstance(e, dict)
                  and e.get("type") == "file_input"]
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
