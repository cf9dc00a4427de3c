"""`/cfdi <subcommand>`: Spanish and English names; anything else shows the help."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.i18n import t
from bot.pac.models import normalize_uuid
from bot.workflow import Workflow
from handlers.payloads import actor

SUBCOMMANDS = {
    "cancelar": "cancel", "cancel": "cancel", "enviar": "send", "send": "send",
    "estado": "status", "status": "status", "historial": "history", "history": "history",
    "ayuda": "help", "help": "help",
}


def prefill(arguments: str) -> str:
    """The command's arguments as form lines: UUIDs one per line, `FAC 1001` kept whole."""
    lines = []
    for piece in re.split(r"[,;\n]+", arguments):
        tokens = piece.split()
        if tokens and all(normalize_uuid(token) for token in tokens):
            lines += tokens
        elif tokens:
            lines.append(" ".join(tokens))
    return "\n".join(lines)


def register(app: AsyncApp, workflow: Workflow) -> None:
    lang, sandbox = workflow.lang, workflow.sandbox

    @app.command("/cfdi")
    async def cfdi(ack: AsyncAck, body: dict[str, Any]) -> None:
        word, _, rest = (body.get("text") or "").strip().partition(" ")
        subcommand = SUBCOMMANDS.get(word.lower())
        who = actor(body)
        if subcommand == "cancel":
            if not await workflow.may_request(who.id):
                await ack(**blocks.message(t("refused.requester", lang), sandbox=sandbox,
                                           lang=lang))
                await workflow.refuse(who, "requester", command="cancel")
                return
            await ack()
            workflow.spawn(workflow.open_cancel_form(body["trigger_id"], body.get("channel_id"),
                                                     who.id, prefill(rest)))
        elif subcommand in ("send", "status", "history"):
            await ack(**blocks.message(t("help.not_yet", lang, command=word.lower()),
                                       sandbox=sandbox, lang=lang))
        else:
            await ack(**blocks.help_blocks(lang, sandbox))
