"""Block Kit primitives, as plain dicts (JSON as Slack documents it), and the ids that tie
views to handlers/. Messages are split here to keep Slack's limits (50 blocks a message,
3,000 characters a section) in one place.

Plain dicts, not slack_sdk's models: the models validate and serialise each object by
reflection, 25-50x the cost of the dicts (benchmarks/rendering.py), on the event loop that
answers Slack. Keys are in the order slack_sdk wrote them (sorted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.i18n import t
from bot.slack import forms as form

SECTION_MAX = 3000


MESSAGE_BLOCKS = 50   # Slack refuses a message with more blocks (invalid_blocks)


FALLBACK_MAX = 3000   # the notification text of a message (Slack allows 40,000)


COMMAND_SHOWN = 40    # characters of a mistyped subcommand repeated back


# Callback and action ids: the contract between these views and handlers/.
CANCEL_VIEW = "cfdi_cancel"


NOTICE_VIEW = "cfdi_notice"   # no inputs, no submit: "checking the files", "recorded"


SEND_VIEW = "cfdi_send"


REJECT_VIEW = "cfdi_reject"


APPROVE_ACTION = "cfdi_approve"


REJECT_ACTION = "cfdi_reject"


RESUBMIT_ACTION = "cfdi_resubmit"


WITHDRAW_ACTION = "cfdi_withdraw"


REJECT_REASON = form.REJECT_REASON


Block = dict[str, Any]


def md(text: str) -> Block:
    return {"text": text, "type": "mrkdwn"}


def plain(text: str, *, emoji: bool = True) -> Block:
    return {"emoji": True, "text": text, "type": "plain_text"} if emoji else \
        {"text": text, "type": "plain_text"}


def section(text: str) -> Block:
    return {"text": md(text), "type": "section"}


def context(text: str) -> Block:
    return {"elements": [md(text)], "type": "context"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    styled = {"style": style} if style else {}
    return {"action_id": action_id, **styled, "text": plain(text), "type": "button",
            "value": value}


def actions(block_id: str, elements: list[Block]) -> Block:
    return {"block_id": block_id, "elements": elements, "type": "actions"}


def decision_buttons(block_id: str, request_id: int, lang: str, *,
                     withdraw: bool = False) -> Block:
    """Approve and Reject, on the card and on the App Home; on the card also Withdraw (the
    requester's, refused to anyone else)."""
    value = str(request_id)
    return actions(block_id, [
        button(t("card.approve", lang), APPROVE_ACTION, value, "primary"),
        button(t("card.reject", lang), REJECT_ACTION, value, "danger"),
        *([withdraw_button(request_id, lang)] if withdraw else [])])


def withdraw_button(request_id: int, lang: str, label: str = "withdraw.button") -> Block:
    """Withdraw, behind Slack's confirmation dialog (nothing is sent until confirmed)."""
    return {**button(t(label, lang, id=request_id), WITHDRAW_ACTION, str(request_id)),
            "confirm": {
                "confirm": plain(t("withdraw.confirm_yes", lang)),
                "deny": plain(t("withdraw.confirm_no", lang)),
                "style": "danger",
                "text": plain(t("withdraw.confirm_text", lang)),
                "title": plain(t("withdraw.confirm_title", lang, id=request_id))}}


def banner(sandbox: bool, lang: str) -> list[Block]:
    return [context(t("sandbox.banner", lang))] if sandbox else []


def sections(lines: Sequence[str], limit: int = SECTION_MAX) -> list[Block]:
    """Lines packed into as few sections as Slack's 3,000 characters allow."""
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        line = line[: limit - 1]
        if chunk and len(chunk) + 1 + len(line) > limit:
            blocks.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(section(chunk))
    return blocks


def message(text: str, *, sandbox: bool, lang: str, extra: Sequence[Block] = ()
            ) -> dict[str, Any]:
    """A plain thread reply or DM: the text in sections, then the sandbox banner."""
    blocks = [*sections(text.split("\n")), *extra, *banner(sandbox, lang)]
    return {"text": text[:3000], "blocks": blocks[:50]}


def messages(text: str, *, sandbox: bool, lang: str, extra: Sequence[Block] = ()
             ) -> list[dict[str, Any]]:
    """A thread reply in as many messages as Slack's 50 blocks need: every line in some
    message, each message ending with the sandbox banner, `extra` (a button) on the last."""
    tail = banner(sandbox, lang)
    room = MESSAGE_BLOCKS - len(tail) - len(extra)
    body = sections(text.split("\n"))
    parts = [body[start:start + room] for start in range(0, len(body), room)] or [[]]
    payloads = []
    for number, part in enumerate(parts, start=1):
        shown = "\n".join(block["text"]["text"] for block in part if "text" in block)
        blocks = [*part, *(extra if number == len(parts) else ()), *tail]
        payloads.append({"text": shown[:FALLBACK_MAX] or text[:FALLBACK_MAX],
                         "blocks": blocks})
    return payloads
