"""One HTTP session for every Slack call: connections are kept alive and reused (issue 13:
10,212 new connections for 13,616 calls when slack_sdk opened a session per call)."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.stage import Stage
from tests.helpers import card_of, click, uuid_with

CONNECTIONS_PER_CALL = 0.05  # the target


async def test_slack_calls_reuse_their_connections(tmp_path: Path) -> None:
    stage = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5)
    try:
        for seed in range(1, 9):  # whole requests: card, links, approval, thread, acuse
            card = await card_of(stage, lines=[uuid_with("000", seed)])
            await click(stage, "U0BETO", card)
        calls = len(stage.slack.calls)
        assert calls >= 60
        assert stage.slack.connections_per_call() <= CONNECTIONS_PER_CALL, (
            stage.slack.connections, calls)
    finally:
        await stage.close()
