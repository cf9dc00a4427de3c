"""The README's picture of a large request's card (bot/slack/render/large.py): 300 invoices,
mostly direct cancellations, some awaiting the receiver, some not cancellable, recorded as
the cancel form records them, looked up through the stand-ins, with the full list's CSV in
its thread."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.actors import Actor
from bot.sandbox.demo import JUSTIFICATION
from bot.sandbox.slack_server import Message
from bot.sandbox.stage import APPROVALS, FINANCE, PEOPLE, Stage
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef
from bot.slack.forms import CancelForm

INVOICES = 300


def _uuid(n: int) -> str:
    code = {0: "204", 1: "A11"}.get(n % 12, "000")
    return f"{n:08X}-2B1C-4D3E-F{code}-{n:012X}"


@dataclass
class LargeScene:
    """The large request's card as Slack received it, and the files in its thread."""

    users: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    card: Message | None = None
    files: list[dict[str, Any]] = field(default_factory=list)


async def collect_large(lang: str) -> LargeScene:
    scene = LargeScene()
    with tempfile.TemporaryDirectory() as folder:
        stage = await Stage.open(Path(folder) / "large.db", language=lang,
                                 max_invoices=INVOICES)
        try:
            scene.users, scene.channels = dict(stage.slack.users), dict(stage.slack.channels)
            lifecycle = stage.runtime.services.lifecycle
            form = CancelForm(refs=[InvoiceRef(uuid=_uuid(n)) for n in range(1, INVOICES + 1)],
                              reason=CancelReason("02"), replacement=None,
                              justification=JUSTIFICATION)
            requester = Actor("U0ANA", PEOPLE["U0ANA"])
            request_id, _ = await lifecycle.record_cancel(requester, form,
                                                          source_channel=FINANCE,
                                                          client_key="picture-large")
            assert request_id is not None
            await lifecycle.announce_cancel(request_id, requester, form, source_channel=FINANCE)
            await stage.settle()
            (scene.card,) = stage.slack.channel_messages(APPROVALS)
            scene.files = [u for u in stage.slack.uploads.values()
                           if u.get("thread_ts") == scene.card.ts]
        finally:
            await stage.close()
    return scene
