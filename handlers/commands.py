"""`/cfdi <subcommand>`: Spanish and English names; anything else says it is not a command
and shows the help."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.i18n import t
from bot.runtime.services import Services
from bot.sat.refs import normalize_uuid
from bot.slack.render import kit, replies
from bot.workflow import delegation
from handlers.guard import Guard
from handlers.payloads import actor, required, text_of
from storage.states import RequestKind

# The words of `/cfdi`, in Spanish and English (a request kind's English word is its name).
SUBCOMMANDS: dict[str, str] = {
    "cancelar": RequestKind.CANCEL, "enviar": RequestKind.SEND,
    **{kind.value: kind for kind in RequestKind},
    "estado": "status", "status": "status", "historial": "history", "history": "history",
    "ayuda": "help", "help": "help", "delegar": "delegate", "delegate": "delegate",
    "reporte": "report", "report": "report",
}


MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
REQUEST_NUMBER = re.compile(r"#(\d{1,9})")  # `/cfdi estado #12`: the request's CSV
PENDING = re.compile(r"\b(pendientes?|pending)\b", re.IGNORECASE)


def prefill(arguments: str) -> str:
    """The command's arguments as form lines: each UUID on its own line, the words between
    them (`FAC 1001`) kept together; commas, semicolons and new lines also separate."""
    lines: list[str] = []
    for piece in re.split(r"[,;\n]+", arguments):
        words: list[str] = []
        for token in piece.split():
            if normalize_uuid(token):
                lines += [" ".join(words)] if words else []
                lines.append(token)
                words = []
            else:
                words.append(token)
        lines += [" ".join(words)] if words else []
    return "\n".join(lines)


def register(app: AsyncApp, services: Services, guard: Guard) -> None:
    lang, sandbox = services.lang, services.sandbox

    @app.command("/cfdi")
    @guard.command
    async def cfdi(ack: AsyncAck, body: dict[str, Any]) -> None:
        # Nothing here calls Slack: permissions and links come from what was read before.
        word, _, rest = text_of(body, "text").strip().partition(" ")
        subcommand = SUBCOMMANDS.get(word.lower())
        who = actor(body)
        if subcommand in tuple(RequestKind):
            trigger_id, channel = required(body, "trigger_id"), text_of(body, "channel_id")
            refusal = services.policy.may_request(who)
            if refusal is not None:
                await ack(**kit.message(refusal.text, sandbox=sandbox, lang=lang))
                services.tasks.spawn(services.lifecycle.refused(who, refusal,
                                                                command=subcommand))
                return
            await ack()
            guard.spawn(body, services.lifecycle.open_form(
                RequestKind(subcommand), trigger_id, channel or None, who.id, prefill(rest)))
        elif subcommand == "status" and (number := REQUEST_NUMBER.fullmatch(rest.strip())):
            await ack(**kit.message(t("large.csv_coming", lang, id=number.group(1)),
                                       sandbox=sandbox, lang=lang))
            guard.spawn(body, services.lookup.request_csv(who, int(number.group(1))))
        elif subcommand == "status":
            await ack(**await services.lookup.invoice_status(rest))
        elif subcommand == "history":
            mentioned = MENTION.search(rest)
            pending = bool(PENDING.search(rest))
            await ack(**await services.lookup.history(who, mentioned and mentioned.group(1),
                                                      pending))
        elif subcommand == "delegate":
            order = delegation.parse(rest)
            if order is None:  # bad words: the usage, nothing written
                await ack(**kit.message(services.delegation.usage(), sandbox=sandbox,
                                        lang=lang))
                return
            await ack()  # who may, chains and the write: after the answer
            guard.spawn(body, services.delegation.command(
                who, order, text_of(body, "channel_id") or None))
        elif subcommand == "report":
            answer, work = services.reports.asked(who, rest)
            await ack(**answer)
            if work is not None:
                guard.spawn(body, work)
        else:  # `ayuda`, nothing, or a word that is no command (said so before the help)
            await ack(**replies.help_blocks(lang, sandbox, "" if subcommand else word))
