"""The baseline: a bare slack-bolt app whose listeners only acknowledge.

`python -m benchmarks.bare_app`, configured by the same environment as `python -m bot run`
(SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL, PORT) and served the same way:
AsyncApp's aiohttp app on /slack/events, acknowledging before the listener ends. Whatever the
bot takes beyond this is the bot's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.http import EVENTS_PATH
from bot.slack.render.kit import APPROVE_ACTION, CANCEL_VIEW


def bare_app() -> AsyncApp:
    app = AsyncApp(client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"],
                                         base_url=os.environ["SLACK_API_URL"]),
                   signing_secret=os.environ["SLACK_SIGNING_SECRET"],
                   process_before_response=False)

    async def only_ack(ack: Any) -> None:
        await ack()

    app.command("/cfdi")(only_ack)
    app.action(APPROVE_ACTION)(only_ack)
    app.view(CANCEL_VIEW)(only_ack)
    return app


async def serve() -> None:
    runner = web.AppRunner(bare_app().web_app(path=EVENTS_PATH))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(os.environ["PORT"])).start()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
