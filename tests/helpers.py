"""What many tests share: test UUIDs, playing a person through the running bot, the
environment of a bot run as a process, and a scripted provider on the wire."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.retries import RetryPolicy
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.serving import BackgroundServer, QuietHandler
from bot.sandbox.slack_records import Message
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE, Stage
from bot.slack.render.kit import APPROVE_ACTION
from storage import queries

FAST_RETRY = RetryPolicy(attempts=3, initial_s=0.01, max_wait_s=0.05, total_s=5)
SEED_204 = "E329DD15-7D0B-44E9-A204-51A7443D1FBE"
OK_UUID = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"


def uuid_with(code: str, seed: int = 1) -> str:
    """A test UUID whose fourth group carries a sandbox code (docs/sandbox.md, conventions)."""
    return f"{seed:08X}-1111-4111-F{code}-{seed:012X}"


def texts(message: Message) -> str:
    """Everything a person reads in a message: its sections, fields and context lines."""
    parts = [message.text]
    for block in message.blocks:
        for item in [block.get("text"), *(block.get("fields") or []),
                     *(block.get("elements") or [])]:
            if isinstance(item, dict):
                text = item.get("text")
                parts.append(text["text"] if isinstance(text, dict) else str(text or ""))
    return "\n".join(parts)


def buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions"
            for e in b["elements"]]


async def ask(stage: Stage, user: str, lines: list[str], **fields: Any) -> Any:
    """The requester types `/cfdi cancelar`, fills the modal and submits it."""
    answer = await stage.driver.command(user, "cancelar", FINANCE)
    assert answer.status_code == 200
    await stage.settle()
    values = {"invoices": "\n".join(lines), "reason": "02",
              "justification": "Factura duplicada", **fields}
    return await stage.driver.submit_view(user, stage.driver.last_view(), values)


async def ask_with_files(stage: Stage, files: list[tuple[str, bytes]],
                         lines: list[str] | None = None, user: str = "U0ANA",
                         **fields: Any) -> Any:
    """The requester attaches `files` ((name, content)) to the cancel form and submits it;
    the bot's work after the answer (download, check, request) is waited for."""
    attached = [stage.driver.attach(user, name, content) for name, content in files]
    answer = await ask(stage, user, [OK_UUID] if lines is None else lines, xml_files=attached,
                       **fields)
    await stage.settle()
    return answer


async def card_of(stage: Stage, user: str = "U0ANA", lines: list[str] | None = None,
                  **fields: Any) -> Message:
    answer = await ask(stage, user, lines or [OK_UUID], **fields)
    assert answer.status_code == 200 and not answer.content, answer.text
    await stage.settle()
    return stage.slack.channel_messages(APPROVALS)[-1]


def list_file(refs: list[str], name: str = "facturas.csv") -> tuple[str, bytes]:
    """Invoices as a list file (one per row, a header): beyond the ~80 that fit in the
    typed field's 3,000 characters."""
    return name, ("Factura\n" + "\n".join(refs) + "\n").encode()


async def card_of_list(stage: Stage, refs: list[str], user: str = "U0ANA",
                       **fields: Any) -> Message:
    """The requester attaches `refs` as a list file to an empty form; the card posted."""
    await ask_with_files(stage, [list_file(refs)], lines=[""], user=user, **fields)
    await stage.settle()
    return stage.slack.channel_messages(APPROVALS)[-1]


async def click(stage: Stage, user: str, card: Message, action: str = APPROVE_ACTION) -> None:
    answer = await stage.driver.click(user, card.channel, card.ts, action)
    assert answer is not None and answer.status_code == 200
    await stage.settle()


def request_row(stage: Stage, request_id: int = 1) -> dict[str, Any]:
    row = queries.get_request(stage.runtime.store, request_id)
    assert row is not None
    return row


def actions(stage: Stage) -> list[str]:
    return [e["action"] for e in queries.events(stage.runtime.store)]


# -- the bot as a process ---------------------------------------------------------------

TOKEN, APP_TOKEN, SECRET = "xoxb-start-test-token", "xapp-1-A0START-1-start", "start-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in {n.upper() for n in Settings.model_fields}}
    return {**env, "LANGUAGE": "en", **values}


def slack_env(slack: SlackStandIn, tmp_path: Path, **values: str) -> dict[str, str]:
    return clean_env(**{"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                        "PORT": str(free_port()), "SLACK_API_URL": slack.api_url,
                        "APPROVALS_CHANNEL": APPROVALS, "APPROVERS": "U0BETO",
                        "AUDIT_DB": str(tmp_path / "audit.db"), **values})


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                      "LANGUAGE": "en", **env})


# -- the provider on the wire -----------------------------------------------------------

NS = "http://facturacion.erp.solucionfactible.com"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN = "<usuario>sandbox</usuario><password>sandbox</password>"


class Scripted(BackgroundServer):
    """A provider that answers every call with the next of the given bodies."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies, self.requests = list(bodies), []
        server = self

        class Handler(QuietHandler):
            """Records each request's body and answers with the next canned body."""
            def do_POST(self) -> None:
                server.requests.append(self.rfile.read(int(self.headers["Content-Length"])))
                body = server.bodies.pop(0) if len(server.bodies) > 1 else server.bodies[0]
                self.reply(200, "text/xml; charset=utf-8", body)

        super().__init__(Handler, "127.0.0.1", 0)


async def post(sandbox: SandboxPac, operation: str, inner: str) -> httpx.Response:
    body = (f'<S:Envelope xmlns:S="{ENV}"><S:Body>{operation.format(inner=inner)}'
            f'</S:Body></S:Envelope>').encode()
    async with httpx.AsyncClient() as http:
        return await http.post(sandbox.endpoint, content=body,
                               headers={"Content-Type": "text/xml", "SOAPAction": '""'})
