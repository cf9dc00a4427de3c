"""manifest.yml declares what the bot uses and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli.check import run as check_setup
from bot.runtime.startup import BOT_SCOPES
from bot.sandbox.invoices import cfdi_xml
from bot.sandbox.slack_records import SCOPE_OF as STAND_IN_SCOPES
from bot.sandbox.stage import APPROVALS, Stage
from tests.helpers import ask_with_files, card_of, click, uuid_with

MANIFEST = yaml.safe_load((Path(__file__).parent.parent.parent / "manifest.yml").read_text())

# Slack's documented bot scopes for each Web API method the bot may call.
SCOPE_OF: dict[str, set[str]] = {
    "auth.test": set(), "chat.getPermalink": set(), "views.open": set(),
    "chat.postMessage": {"chat:write"}, "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"}, "conversations.open": {"im:write"},
    "usergroups.users.list": {"usergroups:read"},
    "files.getUploadURLExternal": {"files:write"}, "files.completeUploadExternal": {"files:write"},
    "conversations.replies": {"channels:history", "groups:history"}, "views.publish": set(),
    "conversations.history": {"channels:history", "groups:history"},
    "conversations.info": {"channels:read", "groups:read"},
    "apps.connections.open": set(),  # the app-level token's connections:write, not a bot scope
    "views.update": set(),
    # Not a method: a file's url_private, downloaded with the token (Slack's file object).
    "url_private": {"files:read"},
}


async def test_the_scopes_are_exactly_those_of_the_methods_called(tmp_path: Path) -> None:
    stage = await Stage.open(tmp_path / "audit.db")
    try:
        approved = await card_of(stage, notify=["U0DIEGO"])
        attached = uuid_with("000", 40)                # downloaded, the modal updated
        await ask_with_files(stage, [("f.xml", cfdi_xml(stage.pac.book.get(attached)))],
                             lines=[attached])
        await click(stage, "U0CARLA", approved)       # group lookup, thread, acuse upload
        rejected = await card_of(stage, lines=["FAC 7"])
        await click(stage, "U0BETO", rejected, "cfdi_reject")
        await stage.driver.submit_view("U0BETO", stage.driver.last_view(),
                                       {"reject_reason": "no procede"})
        await stage.settle()                           # DM to the requester
        store = stage.runtime.store
        with store.transaction() as tx:                # a reply a crash left "maybe posted"
            tx.enqueue(1, "completed")
            tx.conn.execute("UPDATE outbox SET attempted_at = 'x' WHERE posted_ts IS NULL")
        await stage.runtime.services.outbox.flush()           # looks in the thread first
        await check_setup(stage.settings, _no_provider, say=lambda line: None)
    finally:
        await stage.close()
    called = {call.method for call in stage.slack.calls}
    assert called <= set(SCOPE_OF), called - set(SCOPE_OF)
    needed = set().union(*(SCOPE_OF[m] for m in called)) | {"commands"}
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed
    assert stage.slack.thread(APPROVALS, approved.ts)


async def _no_provider(say: object) -> int:
    return 0


def test_the_start_checks_exactly_the_manifest_scopes() -> None:
    """What `run` and `check` require of the token is what the manifest asks Slack for."""
    assert sorted(BOT_SCOPES) == sorted(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_the_stand_in_asks_the_scopes_slack_documents() -> None:
    for method, scopes in STAND_IN_SCOPES.items():
        assert set(scopes) & SCOPE_OF[method] or not SCOPE_OF[method], method


def test_the_command_interactivity_and_socket_mode_are_declared() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/cfdi" and "cancelar" in command["usage_hint"]
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"] is True
