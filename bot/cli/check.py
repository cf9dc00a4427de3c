"""`python -m bot check`: what an admin runs after setup, and again when something is odd.

One line per check, ✓ or ✗ with what to do: the settings; the Slack token and its scopes
(against manifest.yml); the bot's membership of APPROVALS_CHANNEL and ADMIN_CHANNEL; the
user groups of the approvers, requesters and escalation approvers; the audit file
(writable, chain intact, belonging to the configured provider) and the stand-ins in force
in it (`/cfdi delegar`, shown only when there are some); and the provider (the part of
`provider check` without --live).
Exit 0 only when every check passes. Nothing is written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import auditdb
from bot.config import Settings
from bot.evidence.keys import KeyProblem
from bot.evidence.running import checked_key
from bot.i18n import t
from bot.runtime import startup
from storage import delegations, evidence, meta, schema

Say = Callable[[str], None]
ProviderCheck = Callable[[Say], Awaitable[int]]
PROBE_TIMEOUT_S = 2.0
_PAID_ONLY = {"plan_upgrade_required", "paid_teams_only", "not_allowed_token_type"}


class Lines:
    """The lines `check` prints, one per check, and whether any failed."""

    def __init__(self, say: Say, lang: str) -> None:
        self.say, self.lang = say, lang
        self.passed = self.failed = 0

    def ok(self, key: str, **params: object) -> None:
        self.passed += 1
        self.say("✓ " + t(key, self.lang, **params))

    def bad(self, text: str) -> None:
        self.failed += 1
        self.say("✗ " + text)

    def note(self, text: str) -> None:
        """Neither passed nor failed: something the admin may want to turn on."""
        self.say("· " + text)


async def run(settings: Settings, provider: ProviderCheck, say: Say = print) -> int:
    lang = settings.language
    lines = Lines(say, lang)
    problems = settings.problems_for_run()
    if problems:
        for problem in problems:
            lines.bad(problem)
    else:
        lines.ok("check.settings_ok")
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if token.startswith("xoxb-") and not settings.placeholders():
        await _slack(settings, lines)
    else:
        lines.bad(t("check.slack_skipped", lang))
    _database(settings, lines)
    _signing(settings, lines)
    await _provider(provider, lines)
    say(t("check.all_ok", lang, count=lines.passed) if not lines.failed
        else t("check.some_failed", lang, failed=lines.failed,
               count=lines.passed + lines.failed))
    return 1 if lines.failed else 0


async def _slack(settings: Settings, lines: Lines) -> None:
    lang = settings.language
    try:
        identity = await startup.ask_identity(settings)
    except startup.Refused as exc:
        lines.bad(exc.sentence)
        return
    except startup.Unreachable as exc:
        lines.bad(t("check.slack_unreachable", lang, url=settings.slack_api_url, error=exc))
        return
    if (sentence := startup.scopes_sentence(identity, lang)) is not None:
        lines.bad(sentence)
    elif identity.scopes is None:
        lines.bad(t("check.scopes_unknown", lang))
    else:
        lines.ok("check.slack_ok", team=identity.team or identity.team_id,
                 user=identity.bot_user_id)
    if settings.socket_mode:
        try:
            await startup.ask_app_token(settings)
            lines.ok("check.app_token_ok")
        except startup.Refused as exc:
            lines.bad(exc.sentence)
        except startup.Unreachable as exc:
            lines.bad(t("check.slack_unreachable", lang, url=settings.slack_api_url, error=exc))
    assert settings.slack_bot_token is not None
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(),
                            base_url=settings.slack_api_url, timeout=startup.ASK_TIMEOUT_S)
    for var, channel in (("APPROVALS_CHANNEL", settings.approvals_channel),
                         ("ADMIN_CHANNEL", settings.admin_channel),
                         ("REPORT_CHANNEL", settings.report_channel)):
        if channel:
            await _channel(client, var, channel, lines)
    groups = dict.fromkeys(g for g in [*settings.approvers, *settings.requesters,
                                       *settings.escalation_approvers, *settings.reporters]
                           if g.startswith("S"))
    for group in groups:
        await _group(client, group, lines)


async def _channel(client: AsyncWebClient, var: str, channel: str, lines: Lines) -> None:
    lang = lines.lang
    try:
        answer = await client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "?")
        key = ("check.channel_not_found" if error == "channel_not_found" else
               "check.channel_scope" if error == "missing_scope" else "check.channel_error")
        lines.bad(t(key, lang, var=var, channel=channel, error=error,
                    needed=exc.response.get("needed") or ""))
        return
    except Exception as exc:  # the network: said, not raised
        lines.bad(t("check.channel_error", lang, var=var, channel=channel, error=exc))
        return
    info = answer.get("channel") or {}
    name = info.get("name") or channel
    if info.get("is_archived"):
        lines.bad(t("check.channel_archived", lang, var=var, channel=channel, name=name))
    elif info.get("is_member"):
        lines.ok("check.channel_ok", var=var, channel=channel, name=name)
    else:
        lines.bad(t("check.channel_not_member", lang, var=var, channel=channel, name=name))


async def _group(client: AsyncWebClient, group: str, lines: Lines) -> None:
    lang = lines.lang
    try:
        answer = await client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "?")
        key = ("check.group_paid" if error in _PAID_ONLY else
               "check.group_not_found" if error == "no_such_subteam" else "check.group_error")
        lines.bad(t(key, lang, group=group, error=error))
        return
    except Exception as exc:  # the network: said, not raised
        lines.bad(t("check.group_error", lang, group=group, error=exc))
        return
    lines.ok("check.group_ok", group=group, count=len(answer.get("users") or []))


def _database(settings: Settings, lines: Lines) -> None:
    lang, path = settings.language, settings.audit_db
    if not path.exists():
        folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
        if folder.is_dir() and os.access(folder, os.W_OK):
            lines.ok("check.db_new", path=path)
        else:
            lines.bad(t("db.cannot_open", lang, path=path, error=t("check.db_folder", lang,
                                                                   folder=folder)))
        return
    try:
        found = meta.survey(path, PROBE_TIMEOUT_S)
    except Exception as exc:  # not a database, unreadable: said, not raised
        lines.bad(t("db.cannot_open", lang, path=path, error=exc))
        return
    wanted = auditdb.owner_for(settings)
    if found.version > schema.LATEST:
        lines.bad(t("check.db_newer", lang, path=path, version=found.version))
    elif found.write_problem is not None:
        lines.bad(t("check.db_not_writable", lang, path=path, error=found.write_problem))
    elif not found.verdict.ok:
        lines.bad(t("check.db_broken", lang, path=path, event=found.verdict.bad_event,
                    problem=found.verdict.problem))
    elif (sentence := auditdb.mismatch(found.owner, wanted, path, lang)) is not None:
        lines.bad(sentence)
    else:
        owner = found.owner or wanted
        lines.ok("check.db_ok", path=path, count=found.verdict.checked,
                 owner=owner.endpoint or t("check.db_sandbox", lang),
                 later="" if found.owner else t("check.db_recorded_later", lang))
        _stand_ins(path, lines)


def _stand_ins(path: Path, lines: Lines) -> None:
    """Who decides in whose place now (`/cfdi delegar`): shown when someone does."""
    in_force = delegations.in_force_in(path, datetime.now(UTC), PROBE_TIMEOUT_S)
    if in_force:
        lines.ok("check.delegations", list="; ".join(
            t("check.delegation_line", lines.lang, delegator=d["delegator_name"],
              delegate=d["delegate_name"], until=d["until_day"]) for d in in_force))


def _signing(settings: Settings, lines: Lines) -> None:
    """AUDIT_SIGNING_KEY: readable by its owner alone, and the key the file recorded."""
    lang = settings.language
    try:
        recorded = evidence.recorded_key_at(settings.audit_db)
    except Exception:  # not a database: the line above already said so
        recorded = None
    if settings.audit_signing_key is None:
        if recorded is not None:
            lines.bad(t("checkpoint.stopped", lang, recorded=recorded))
        else:
            lines.note(t("checkpoint.off", lang))
        return
    try:
        key = checked_key(settings, recorded)
    except KeyProblem as exc:
        lines.bad(exc.sentence)
        return
    channel = settings.checkpoint_channel
    lines.ok("checkpoint.check_ok", path=settings.audit_signing_key, public=key.public.text(),
             file=settings.checkpoints_file,
             channel=t("checkpoint.check_channel", lang, channel=channel) if channel else "")


async def _provider(provider: ProviderCheck, lines: Lines) -> None:
    said: list[str] = []
    code = await provider(said.append)
    if code == 0:
        lines.ok("check.provider_ok", detail="; ".join(s.strip() for s in said[:2]))
        return
    failing = [s.strip().removeprefix("✗").strip() for s in said if "✗" in s]
    lines.bad(t("check.provider_failed", lines.lang, detail="; ".join(failing) or said[-1]))
