"""`python -m bot audit keygen|checkpoint`, and the checkpoint options of `audit verify` and
`audit export`. Exit codes as every audit command: 0 done or verified, 1 a verification that
fails, 2 what the setup or the environment refuses (one sentence, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.evidence import keys
from bot.evidence.note import NoteError, PublicKey, SignedCheckpoint
from bot.evidence.publishing import Published, Publisher, read_channel, read_file
from bot.evidence.running import signing_key, slack_post
from bot.evidence.signing import Signer
from bot.evidence.verifying import verify
from bot.i18n import t
from bot.slack.io import SlackIO
from storage import evidence
from storage.store import AuditStore


def add(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keygen = actions.add_parser(
        "keygen", help="make the Ed25519 key that signs the audit log's checkpoints",
        description="Write a new Ed25519 private key to PATH, readable by you alone (never "
        "over an existing file), and print its public key: keep that line outside this "
        "machine. Then set AUDIT_SIGNING_KEY=PATH.")
    keygen.add_argument("path", type=Path, metavar="PATH")
    actions.add_parser(
        "checkpoint", help="sign a checkpoint of the audit log now",
        description="Sign a checkpoint (events, head hash, time, the previous checkpoint) "
        "with AUDIT_SIGNING_KEY, record it as an event, append it to the checkpoints file "
        "and post it to AUDIT_CHANNEL (or ADMIN_CHANNEL) when SLACK_BOT_TOKEN is set.")


def verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", type=Path, metavar="FILE",
                        help="also check the chain against every checkpoint in FILE")
    parser.add_argument("--from-slack", action="store_true",
                        help="also check it against every checkpoint in AUDIT_CHANNEL "
                        "(or ADMIN_CHANNEL), read from Slack")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="verify an `audit export --with-checkpoints` file instead of "
                        "AUDIT_DB (against its checkpoints, or --checkpoints)")
    parser.add_argument("--public-key", metavar="KEY",
                        help="the public key `audit keygen` printed, or a file holding it "
                        "(default: the one recorded in the audit file)")


def export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-checkpoints", action="store_true",
                        help="add the public key and every checkpoint (JSON lines, whole "
                        "log): `audit verify --export FILE` checks such a copy")


def wanted(args: argparse.Namespace) -> bool:
    """Whether `audit verify` was asked to use checkpoints."""
    return bool(args.checkpoints or args.from_slack or args.export)


def hint(store: AuditStore, settings: Settings) -> None:
    """After a plain `audit verify` of a log with checkpoints: the chain alone misses what
    they catch."""
    if (last := evidence.last(store.db.conn)) is not None:
        print(t("checkpoint.verify_hint", settings.language, event=last.event_id,
                file=settings.checkpoints_file))


def keygen(path: Path, settings: Settings) -> int:
    lang = settings.language
    try:
        public = keys.generate(path, keys.origin(settings), lang)
    except keys.KeyProblem as exc:
        print(exc.sentence, file=sys.stderr)
        return 2
    print(t("checkpoint.keygen_done", lang, path=path, public=public.text()))
    return 0


def checkpoint(settings: Settings, store: AuditStore) -> int:
    lang = settings.language
    if settings.audit_signing_key is None:
        print(t("checkpoint.no_key", lang), file=sys.stderr)
        return 2
    try:
        key = signing_key(settings, store)
    except keys.KeyProblem as exc:
        print(exc.sentence, file=sys.stderr)
        return 2
    assert key is not None
    channel = settings.checkpoint_channel if settings.slack_bot_token else None
    signed = asyncio.run(_sign_and_publish(settings, store, Signer(store, key), channel))
    print(t("checkpoint.signed", lang, size=signed.checkpoint.size, head=signed.checkpoint.head,
            event=evidence.last(store.db.conn).event_id,  # type: ignore[union-attr]
            file=settings.checkpoints_file,
            channel=t("checkpoint.check_channel", lang, channel=channel) if channel else ""))
    return 0


async def _sign_and_publish(settings: Settings, store: AuditStore, signer: Signer,
                            channel: str | None) -> SignedCheckpoint:
    signed = await signer.sign(force=True)
    assert signed is not None
    client = _client(settings) if channel else None
    post = slack_post(SlackIO(settings, store, client), channel) if client and channel else None
    try:
        await Publisher(store, settings.checkpoints_file, post).publish()
        return signed
    finally:
        if client is not None and client.session is not None:
            await client.session.close()


def _client(settings: Settings) -> AsyncWebClient:
    """A year of hourly checkpoints is some 44 pages of history: 429s are waited out."""
    assert settings.slack_bot_token is not None
    return AsyncWebClient(token=settings.slack_bot_token.get_secret_value(),
                          base_url=settings.slack_api_url,
                          retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=5)])


def read_copy(settings: Settings) -> bytes | None:
    """`audit backup`, before copying the database: the checkpoints file as it is now. Read
    first, it holds no checkpoint the copy lacks (each is appended after its commit)."""
    try:
        return settings.checkpoints_file.read_bytes()
    except FileNotFoundError:
        return None


def write_copy(content: bytes, backup: Path) -> Path:
    """The checkpoints read before the backup, beside it (`<backup>.checkpoints`, mode 0600)."""
    target = backup.with_suffix(".checkpoints")
    partial = target.with_name(f".{target.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(partial, target)
    return target


def _public_key(value: str | None, recorded: str | None, lang: str) -> PublicKey:
    """--public-key (the line, or a file holding it); else the key the file recorded."""
    text = value
    if value is not None and Path(value).is_file():
        text = Path(value).read_text(encoding="utf-8").strip()
    if text is None:
        if recorded is None:
            raise _Refused(t("checkpoint.no_public_key", lang))
        print(t("checkpoint.key_from_db", lang, public=recorded))
        text = recorded
    try:
        return PublicKey.parse(text)
    except NoteError as exc:
        raise _Refused(t("checkpoint.bad_public_key", lang, value=(value or text)[:80],
                         error=exc)) from None


class _Refused(Exception):
    """What exits 2: the sentence says what to give instead."""


def verify_export(args: argparse.Namespace, settings: Settings) -> int:
    """`audit verify --export FILE`: a copy checked with nothing but this command."""
    lang = settings.language
    try:
        events, notes, recorded = _read_export(args.export, lang)
        if args.checkpoints:
            notes = _file_notes(args.checkpoints, lang)
        key = _public_key(args.public_key, recorded, lang)
    except _Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    return _said(verify(events, notes, key, str(args.checkpoints or args.export), lang))


def verify_store(args: argparse.Namespace, settings: Settings, store: AuditStore) -> int:
    """`audit verify --checkpoints FILE` and/or `--from-slack`: each copy in turn."""
    lang = settings.language
    try:
        key = _public_key(args.public_key, evidence.recorded_key(store.db), lang)
        sources = []
        if args.checkpoints:
            sources.append((str(args.checkpoints), _file_notes(args.checkpoints, lang)))
        if args.from_slack:
            sources.append(asyncio.run(_slack_notes(settings)))
    except _Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(t("checkpoint.key_source", lang, public=key.text(), origin=key.name))
    results = [_said(verify(evidence.chain(store.db), notes, key, source, lang))
               for source, notes in sources]
    return max(results)


def _said(finding: Any) -> int:
    print(finding.sentence if finding.ok else f"BROKEN: {finding.sentence}")
    return 0 if finding.ok else 1


def _file_notes(path: Path, lang: str) -> list[Published]:
    try:
        return read_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _Refused(t("checkpoint.file_unreadable", lang, path=path,
                         error=getattr(exc, "strerror", None) or exc)) from None


async def _slack_notes(settings: Settings) -> tuple[str, list[Published]]:
    lang, channel = settings.language, settings.checkpoint_channel
    if not channel:
        raise _Refused(t("checkpoint.no_channel", lang))
    if settings.slack_bot_token is None:
        raise _Refused(t("checkpoint.slack_refused", lang, channel=channel,
                         error="SLACK_BOT_TOKEN"))
    client = _client(settings)
    try:
        return f"Slack {channel}", await read_channel(client, channel)
    except SlackApiError as exc:
        raise _Refused(t("checkpoint.slack_refused", lang, channel=channel,
                         error=exc.response.get("error") or "?")) from None
    except Exception as exc:  # the network: said, not raised
        raise _Refused(t("checkpoint.slack_refused", lang, channel=channel,
                         error=type(exc).__name__)) from None
    finally:
        if client.session is not None:
            await client.session.close()


def export_refusal(args: argparse.Namespace, store: AuditStore, lang: str) -> str | None:
    """Why `audit export --with-checkpoints` cannot be made as asked, or None."""
    if args.format != "jsonl" or args.since or args.until or args.requester:
        return t("checkpoint.export_full", lang)
    if evidence.recorded_key(store.db) is None:
        return t("checkpoint.export_no_key", lang)
    return None


def export_lines(store: AuditStore) -> Iterator[dict[str, Any]]:
    """After the events: the public key and every recorded checkpoint, one JSON line each."""
    yield {"public_key": evidence.recorded_key(store.db)}
    for recorded in evidence.recorded(store.db):
        yield {"checkpoint": recorded.note}


def write_export_lines(store: AuditStore, out: TextIO) -> None:
    for line in export_lines(store):
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def _read_export(path: Path, lang: str) -> tuple[list[dict[str, Any]], list[Published], str | None]:
    events: list[dict[str, Any]] = []
    notes: list[Published] = []
    public = None
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                item = json.loads(line)
                if "public_key" in item:
                    public = str(item["public_key"])
                elif "checkpoint" in item:
                    notes.append(Published(f"{path.name} line {number}", str(item["checkpoint"])))
                else:
                    events.append(item)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(t("checkpoint.file_unreadable", lang, path=path,
                         error=getattr(exc, "strerror", None) or exc)) from None
    return events, notes, public
