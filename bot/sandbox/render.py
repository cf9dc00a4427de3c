"""Block Kit as plain text, roughly as Slack shows it, for the demo's transcript."""

from __future__ import annotations

import re
from typing import Any

_MENTION = re.compile(r"<@(\w+)>")
_DATE = re.compile(r"<!date\^\d+\^[^|]*\|([^>]*)>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#(\w+)>")


def plain(text: str, users: dict[str, str], channels: dict[str, str]) -> str:
    text = _MENTION.sub(lambda m: "@" + users.get(m.group(1), m.group(1)), text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + channels.get(m.group(1), m.group(1)), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(item: Any) -> str:
    if isinstance(item, dict):
        inner = item.get("text")
        return inner.get("text", "") if isinstance(inner, dict) else str(inner or "")
    return ""


def blocks_to_lines(blocks: list[dict[str, Any]], users: dict[str, str],
                    channels: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"**{_text(block)}**")
        elif kind == "section":
            if block.get("text"):
                lines += _text(block).splitlines()
            lines += [_text(f).replace("\n", ": ", 1) for f in block.get("fields") or []]
        elif kind == "context":
            lines.append(" ".join(_text({"text": e}) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append("  ".join(f"[{_text(e)}]" for e in block.get("elements") or []))
        elif kind == "input":
            value = (block.get("element") or {}).get("initial_value")
            lines.append(f"{_text({'text': block.get('label')})}: {value or '…'}")
    flat = [part for line in lines for part in line.split("\n")]
    return [plain(line, users, channels) for line in flat if line.strip()]
