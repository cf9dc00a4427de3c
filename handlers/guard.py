"""Every listener, and the work it starts, ends in a short message to the person.

Without this, an exception in a listener leaves Bolt without an answer (Slack shows the
person an error after 3 s, and nothing says why). Each listener takes (ack, body) and is
wrapped here: when it raises, Slack is answered if it was not yet (a command: the text;
a form: the text on its first field; a button: a plain ack), the person is told (in the
answer, else where they are or by DM), and one line is logged. What Slack sent that cannot
be read (handlers.payloads.BadPayload) is the person's or Slack's doing: a warning without
a traceback; anything else is a bug: an error line, and the traceback at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.i18n import t
from bot.runtime.services import Services
from handlers.payloads import BadPayload, channel_of, user_id_of

log = logging.getLogger(__name__)
Listener = Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]


class Guard:
    """Wraps every listener so that each failure ends in a message and one log line."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.lang = services.lang

    def command(self, listener: Listener) -> Listener:
        return self._wrap(listener, "command")

    def view(self, listener: Listener) -> Listener:
        return self._wrap(listener, "view")

    def action(self, listener: Listener) -> Listener:
        return self._wrap(listener, "action")

    def event(self, listener: Listener) -> Listener:
        return self._wrap(listener, "event")

    def spawn(self, body: dict[str, Any], work: Coroutine[Any, Any, Any]) -> None:
        """Background work for the person who sent `body`: if it raises, they are told."""
        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                text = self._logged(exc, work.__qualname__)
                await self._tell(body, text)
        self.services.tasks.spawn(guarded())

    def _wrap(self, listener: Listener, kind: str) -> Listener:
        # Bolt passes a listener the arguments its signature names: (ack, body), what the
        # guard needs; everything else is read from the body (handlers.payloads).
        async def guarded(ack: AsyncAck, body: dict[str, Any]) -> None:
            try:
                await listener(ack, body)
            except Exception as exc:
                text = self._logged(exc, f"{kind} {listener.__name__}")
                if ack.response is None and await self._answered(ack, body, kind, text):
                    return
                self.services.tasks.spawn(self._tell(body, text))
        guarded.__name__ = guarded.__qualname__ = listener.__name__
        return guarded

    def _logged(self, exc: Exception, where: str) -> str:
        """One log line; the text for the person."""
        if isinstance(exc, BadPayload):
            log.warning("%s: unreadable payload: %s", where, exc)
            return t("error.bad_payload", self.lang)
        log.error("%s failed: %s: %s", where, type(exc).__name__, str(exc)[:200]
                  .replace("\n", " "))
        log.debug("%s failed", where, exc_info=exc)
        return t("error.unexpected", self.lang)

    async def _answered(self, ack: AsyncAck, body: dict[str, Any], kind: str,
                        text: str) -> bool:
        """Answer Slack; True when the answer itself shows `text` to the person."""
        if kind == "command":
            await ack(**self.services.io.msg(text))
            return True
        field = _first_input(body) if kind == "view" else None
        if field is not None:
            await ack(response_action="errors", errors={field: text})
            return True
        await ack()
        return False

    async def _tell(self, body: dict[str, Any], text: str) -> None:
        user = user_id_of(body)
        if user is None:
            return  # nobody to tell: the log line is all there is
        channel = channel_of(body) or body.get("channel_id")
        await self.services.io.ephemeral(channel if isinstance(channel, str) else None,
                                         user, text)


def _first_input(body: dict[str, Any]) -> str | None:
    """The first input of the submitted form: where an error can be shown to the person."""
    view = body.get("view")
    blocks = view.get("blocks") if isinstance(view, dict) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "input" and isinstance(
                block.get("block_id"), str):
            return str(block["block_id"])
    return None
