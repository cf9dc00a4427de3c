"""`python -m bot audit verify|export|backup|browse`: the audit log from the command line.

Every failure a person can cause (a missing folder for --output, a reader that closes the
pipe, a backup into a folder that is not there) is one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli import checkpoints
from bot.cli.auditdb import Unusable, open_store
from bot.config import Settings
from bot.i18n import t
from storage import backup, export
from storage.store import AuditStore


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = commands.add_parser("audit", help="verify, export or back up the audit log",
                                description="Verify, export or back up the audit log in "
                                "AUDIT_DB.")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain of every event",
                                description="Walk the event chain; exit 1 at the first event "
                                "that does not match (or, with checkpoints, the first event or "
                                "checkpoint that disagrees).")
    checkpoints.verify_options(verify)
    export_cmd = actions.add_parser("export", help="export events as CSV or JSON lines",
                                    description="Export events in time order.")
    export_cmd.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export_cmd.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD",
                            help="first day included (in TIMEZONE)")
    export_cmd.add_argument("--until", type=date.fromisoformat, metavar="YYYY-MM-DD",
                            help="last day included (in TIMEZONE)")
    export_cmd.add_argument("--requester", metavar="UID", help="only requests of this Slack user")
    export_cmd.add_argument("--output", type=Path, metavar="FILE", help="file (default stdout)")
    checkpoints.export_options(export_cmd)
    backup_cmd = actions.add_parser(
        "backup", help="a consistent copy of AUDIT_DB, safe while the bot runs",
        description="Copy AUDIT_DB with SQLite's online backup API (safe while the bot "
        "runs), verify the copy's chain, and only then put it at PATH. A folder as PATH "
        "gets a file named after the time (UTC). Exit 0 when the copy verifies.")
    backup_cmd.add_argument("path", type=Path, metavar="PATH", help="file or existing folder")
    checkpoints.add(actions)
    browse_cmd = actions.add_parser(
        "browse", help="open the audit log read-only in Datasette (pip install "
        "'cfdi-bot[browse]')", description="Serve AUDIT_DB read-only (SQLite's immutable "
        "mode) in Datasette, with canned queries: a month's cancellations, one invoice's "
        "story, who approved what on which facts, the events in words.")
    browse_cmd.add_argument("file", type=Path, nargs="?", metavar="FILE",
                            help="another audit file, e.g. a backup (default AUDIT_DB)")
    browse_cmd.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    browse_cmd.add_argument("--port", type=int, default=8001, help="TCP port (default 8001)")


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of `day` in `zone`: where an export's day begins."""
    return datetime.combine(day, time(), tzinfo=zone)


def run(args: argparse.Namespace, settings: Settings) -> int:
    lang = settings.language
    if args.audit_command == "keygen":
        return checkpoints.keygen(args.path, settings)
    if args.audit_command == "verify" and args.export:
        return checkpoints.verify_export(args, settings)
    if args.audit_command == "browse" and args.file is not None:
        if not args.file.is_file():
            print(f"There is no audit database at {args.file}.", file=sys.stderr)
            return 1
        settings = settings.model_copy(update={"audit_db": args.file})
    if not Path(settings.audit_db).exists():
        print(f"There is no audit database at {settings.audit_db} (AUDIT_DB).", file=sys.stderr)
        return 1
    if args.audit_command == "backup":
        return _backup(settings, args.path)
    if args.audit_command == "browse":
        from bot.cli.browse import serve

        return serve(Path(settings.audit_db), settings, args.host, args.port)
    try:
        store = open_store(settings.audit_db, lang)
    except Unusable as exc:
        print(exc.sentence, file=sys.stderr)
        return 2
    try:
        if args.audit_command == "verify":
            if checkpoints.wanted(args):
                return checkpoints.verify_store(args, settings, store)
            return _verify(store, settings)
        if args.audit_command == "checkpoint":
            return checkpoints.checkpoint(settings, store)
        return _export(args, settings, store)
    finally:
        store.close()


def _verify(store: AuditStore, settings: Settings) -> int:
    verdict = store.verify()
    if verdict.ok:
        print(f"OK: {verdict.checked} events checked; the chain is intact. "
              f"Head hash: {verdict.head}")
        checkpoints.hint(store, settings)
        return 0
    print(f"BROKEN: event {verdict.bad_event} does not match: {verdict.problem}. "
          f"{verdict.checked} events before it are intact.")
    return 1


def _export(args: argparse.Namespace, settings: Settings, store: AuditStore) -> int:
    lang, zone = settings.language, settings.zone
    if args.with_checkpoints and (refusal := checkpoints.export_refusal(args, store, lang)):
        print(refusal, file=sys.stderr)
        return 2
    rows = export.select_events(
        store, since=day_start(args.since, zone) if args.since else None,
        before=day_start(args.until + timedelta(days=1), zone) if args.until else None,
        requester=args.requester)
    if args.output:
        try:
            out = args.output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            print(t("cli.output_unwritable", lang, path=args.output,
                    error=exc.strerror or exc), file=sys.stderr)
            return 2
        with out:
            count = export.write(rows, out, args.format)
            if args.with_checkpoints:
                checkpoints.write_export_lines(store, out)
        print(f"{count} events written to {args.output}", file=sys.stderr)
        return 0
    try:
        export.write(rows, sys.stdout, args.format)
        if args.with_checkpoints:
            checkpoints.write_export_lines(store, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`| head`): say so once, and keep Python from writing to the
        # closed pipe again at exit (the documented recipe: stdout onto /dev/null).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(t("cli.output_closed", lang), file=sys.stderr)
        return 1
    return 0


def _backup(settings: Settings, target: Path) -> int:
    lang, source = settings.language, Path(settings.audit_db)
    path = backup.target_path(source, target)
    if path.resolve() == source.resolve():
        print(t("backup.same_file", lang, path=source), file=sys.stderr)
        return 2
    if not path.parent.is_dir():
        print(t("backup.failed", lang, path=path, error=t("cli.no_folder", lang,
                                                         folder=path.parent)), file=sys.stderr)
        return 2
    try:
        snapshot = checkpoints.read_copy(settings)
        verdict = backup.backup(source, path)
    except (OSError, sqlite3.Error) as exc:
        error = getattr(exc, "strerror", None) or str(exc)
        print(t("backup.failed", lang, path=path, error=error), file=sys.stderr)
        return 2
    if not verdict.ok:
        print(t("backup.broken", lang, event=verdict.bad_event, problem=verdict.problem),
              file=sys.stderr)
        return 1
    print(t("backup.ok", lang, path=path, count=verdict.checked, head=verdict.head))
    try:
        if snapshot is not None:
            print(t("checkpoint.backed_up", lang, path=checkpoints.write_copy(snapshot, path)))
    except OSError as exc:
        print(t("backup.failed", lang, path=path.with_suffix(".checkpoints"),
                error=exc.strerror or exc), file=sys.stderr)
        return 2
    return 0
