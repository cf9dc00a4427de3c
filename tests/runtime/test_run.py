"""`python -m bot run` as operators start it: a real process, HTTP mode, graceful stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE, PEOPLE
from tests.helpers import free_port

TOKEN, SECRET = "xoxb-run-test-token", "run-test-signing-secret"




async def test_run_serves_signed_requests_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a", FINANCE: "f"}) \
            as slack:
        env = {k: v for k, v in os.environ.items()
               if k.upper() not in {n.upper() for n in Settings.model_fields}}
        env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, PORT=str(port),
                   SLACK_API_URL=slack.api_url, APPROVALS_CHANNEL=APPROVALS,
                   APPROVERS="U0BETO", AUDIT_DB=str(tmp_path / "audit.db"), LOG_LEVEL="DEBUG")
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
        driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET, slack)
        try:
            for _ in range(100):  # wait for "ready", up to 10 s
                try:
                    answer = await driver.command("U0ANA", "ayuda", FINANCE)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            assert answer.status_code == 200 and "/cfdi cancelar" in answer.text
            forged = await driver.post(driver.command_body("U0ANA", "ayuda", FINANCE),
                                       signature="v0=bad")
            assert forged.status_code == 401
        finally:
            await driver.aclose()
            bot.send_signal(signal.SIGTERM)
            _, errors = bot.communicate(timeout=20)
        assert bot.returncode == 0, errors
        assert "ready: listening for Slack on port" in errors
        # the start's objects are out of the full garbage collections (a 50 ms pause each)
        assert re.search(r"[1-9]\d{4,} objects made at start kept out of full garbage", errors)
        assert "Traceback" not in errors
        assert TOKEN not in errors and SECRET not in errors
