"""`python -m bot check` against the stand-ins: one line per check, ✓ or ✗ with what to do,
exit 0 only when every check passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.actors import Actor
from bot.cli import auditdb
from bot.cli import check as setup_check
from bot.config import Settings
from bot.runtime.startup import BOT_SCOPES
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import ADMIN, APPROVALS, APPROVER_GROUP, PEOPLE
from storage.store import AuditStore
from tests.helpers import TOKEN, clean_env

REAL = "https://pac.example/ERPWebServices/soap/CFDI33"


def stand_in(**options: Any) -> SlackStandIn:
    return SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "aprobaciones-cfdi",
                                                             ADMIN: "operaciones"},
                        groups={APPROVER_GROUP: ["U0CARLA"]}, **options)


def settings_for(slack: SlackStandIn, tmp_path: Path, **values: Any) -> Settings:
    fields: dict[str, Any] = {
        "slack_bot_token": TOKEN, "slack_signing_secret": "check-secret",
        "slack_api_url": slack.api_url, "approvals_channel": APPROVALS, "admin_channel": ADMIN,
        "approvers": ["U0BETO", APPROVER_GROUP], "audit_db": tmp_path / "audit.db",
        "language": "en", **values}
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


async def provider_ok(say: Any) -> int:
    say("WSDL in use: shipped")
    say("Service address: sandbox")
    return 0


async def checked(settings: Settings) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await setup_check.run(settings, provider_ok, say=lines.append)
    return code, lines


async def test_everything_in_place(tmp_path: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path)
        auditdb.open_for(settings).close()
        code, lines = await checked(settings)
    assert code == 0, lines
    assert lines == [
        "✓ Settings: everything `run` needs is set.",
        "✓ Slack: the token works for T0SANDBOX (the bot is U0BOTSANDBOX), with every scope "
        "manifest.yml declares.",
        f"✓ APPROVALS_CHANNEL #aprobaciones-cfdi ({APPROVALS}): the bot is a member.",
        f"✓ ADMIN_CHANNEL #operaciones ({ADMIN}): the bot is a member.",
        f"✓ User group {APPROVER_GROUP}: readable (1 members).",
        f"✓ Audit database {tmp_path / 'audit.db'}: writable, chain intact (0 events), belongs "
        "to the sandbox.",
        "· AUDIT_SIGNING_KEY is not set: the audit log is not checkpointed. To start: "
        "`python -m bot audit keygen /etc/cfdi-bot/audit-signing.key`, then set "
        "AUDIT_SIGNING_KEY to that path.",
        "✓ Provider: WSDL in use: shipped; Service address: sandbox, with every operation and "
        "element the bot needs.",
        "All 7 checks passed."]
    assert not (slack.calls_of("chat.postMessage"))  # a check writes nothing


async def test_each_problem_says_what_to_do(tmp_path: Path) -> None:
    with stand_in(outside=[APPROVALS], paid_plan=False,
                  scopes=[s for s in BOT_SCOPES if s != "files:write"]) as slack:
        settings = settings_for(slack, tmp_path, cfdi_endpoint=REAL)
        store = AuditStore.open(settings.audit_db)
        auditdb.claim(store, settings_for(slack, tmp_path), settings.audit_db)  # a rehearsal's
        store.record(Actor("U0ANA", "Ana"), "note")
        store.close()
        code, lines = await checked(settings)
    assert code == 1
    path = tmp_path / "audit.db"
    assert lines == [
        "✓ Settings: everything `run` needs is set.",
        "✗ The app has not been granted every scope it needs (missing: files:write): add them "
        "under OAuth & Permissions → Scopes (or create the app again from manifest.yml), then "
        "reinstall it to the workspace.",
        f"✗ APPROVALS_CHANNEL #aprobaciones-cfdi ({APPROVALS}): the bot is not a member; type "
        "/invite @CFDI Bot in the channel.",
        f"✓ ADMIN_CHANNEL #operaciones ({ADMIN}): the bot is a member.",
        f"✗ User group {APPROVER_GROUP}: Slack refuses to list its members "
        "(plan_upgrade_required); user groups need a paid Slack plan: name the approvers by "
        "user ID (U…) instead.",
        f"✗ {path} holds sandbox rehearsals: the real provider ({REAL}) needs a file of its "
        "own; set AUDIT_DB to a new path, for example data/audit-prod.db.",
        "· AUDIT_SIGNING_KEY is not set: the audit log is not checkpointed. To start: "
        "`python -m bot audit keygen /etc/cfdi-bot/audit-signing.key`, then set "
        "AUDIT_SIGNING_KEY to that path.",
        "✓ Provider: WSDL in use: shipped; Service address: sandbox, with every operation and "
        "element the bot needs.",
        "4 of 7 checks failed."]


async def test_a_refused_token_and_a_broken_chain(tmp_path: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path, slack_bot_token="xoxb-revoked-long-ago")
        store = AuditStore.open(settings.audit_db)
        store.record(Actor("U0ANA", "Ana"), "note")
        store.db.execute("DROP TRIGGER events_no_update")
        store.db.execute("UPDATE events SET actor_name = 'Mallory'")
        store.close()
        code, lines = await checked(settings)
    assert code == 1
    assert lines[1:3] == [
        "✗ Slack refuses SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token (xoxb-…) "
        "again from the app's OAuth & Permissions page.",
        f"✗ Audit database {tmp_path / 'audit.db'}: event 1 does not match its chain (its "
        "content does not match its hash (the event was edited)); run `python -m bot audit "
        "verify` and keep the file as it is."]
    assert lines[-1] == "2 of 4 checks failed."


async def test_a_private_channel_the_bot_was_not_invited_to(tmp_path: Path) -> None:
    with stand_in() as slack:
        slack.channels["G0PRIVADO"] = "aprobaciones-privado"
        slack.outside.add("G0PRIVADO")
        settings = settings_for(slack, tmp_path, approvals_channel="G0PRIVADO")
        code, lines = await checked(settings)
    assert code == 1
    assert lines[2] == ("✗ APPROVALS_CHANNEL G0PRIVADO: Slack does not show this channel to the "
                        "bot (channel_not_found); check the ID, and invite the bot first if the "
                        "channel is private.")
    assert lines[5] == (f"✓ Audit database {tmp_path / 'audit.db'}: not created yet; the folder "
                        "can be written, and the first start creates it.")


def test_the_command_exits_zero_only_when_all_pass(tmp_path: Path) -> None:
    with stand_in() as slack:
        env = clean_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET="check-secret",
                        SLACK_API_URL=slack.api_url, APPROVALS_CHANNEL=APPROVALS,
                        APPROVERS="U0BETO", AUDIT_DB=str(tmp_path / "audit.db"))
        done = subprocess.run([sys.executable, "-m", "bot", "check"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-1] == "All 5 checks passed."
        assert "✓ Provider: WSDL in use:" in done.stdout
        assert not (tmp_path / "audit.db").exists()  # a check creates nothing
        slack.outside.add(APPROVALS)
        done = subprocess.run([sys.executable, "-m", "bot", "check"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "✗ APPROVALS_CHANNEL" in done.stdout


async def test_the_escalation_approvers_group_is_checked_too(tmp_path: Path) -> None:
    with stand_in() as slack:
        settings = settings_for(slack, tmp_path, escalation_approvers=["S0DIRECCION"])
        auditdb.open_for(settings).close()
        code, lines = await checked(settings)
    assert code == 1
    assert [line for line in lines if "S0DIRECCION" in line] == [
        line for line in lines if line.startswith("✗")] != []
async def test_the_report_channel_and_reporters_groups_are_checked(tmp_path: Path) -> None:
    with stand_in(outside=["C0REPORTES"]) as slack:
        slack.channels["C0REPORTES"] = "reportes"
        slack.groups["S0CONTRALORIA"] = ["U0DIEGO"]
        settings = settings_for(slack, tmp_path, report_channel="C0REPORTES",
                                reporters=["S0CONTRALORIA"])
        auditdb.open_for(settings).close()
        code, lines = await checked(settings)
    assert code == 1
    assert any(line.startswith("✗ REPORT_CHANNEL #reportes (C0REPORTES): the bot is not a "
                               "member") for line in lines), lines
    assert "✓ User group S0CONTRALORIA: readable (1 members)." in lines
