"""`python -m bot report --month AAAA-MM --output DIR`: the monthly report's files (chart,
XLSX, CSV) written from the command line, as `/cfdi reporte` would send them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.auditdb import Unusable, open_existing
from bot.config import Settings
from bot.i18n import t
from bot.reporting.months import Month, last_closed
from bot.reporting.service import make, write_files


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser(
        "report", help="write the monthly report's chart and spreadsheet (XLSX, CSV)",
        description="Write the month's report files into a folder: the chart (PNG) and the "
        "invoices (XLSX and CSV), as /cfdi reporte sends them. Changes nothing.")
    report.add_argument("--month", metavar="AAAA-MM",
                        help="the month, in TIMEZONE (default: the last closed one)")
    report.add_argument("--output", type=Path, default=Path("."), metavar="DIR",
                        help="folder for the files (created; default: here)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    lang = settings.language
    try:
        store = open_existing(settings.audit_db, lang)
    except Unusable as exc:
        print(exc.sentence, file=sys.stderr)
        return exc.code
    try:
        month = Month.parse(args.month) if args.month else last_closed(store.clock(),
                                                                         settings.zone)
        if month is None:
            print(t("cli.report_bad_month", lang), file=sys.stderr)
            return 2
        made = make(store, month, lang=lang, zone=settings.zone)
        try:
            written = write_files(made, args.output)
        except OSError as exc:
            print(t("cli.output_unwritable", lang, path=args.output,
                    error=exc.strerror or exc), file=sys.stderr)
            return 2
    finally:
        store.close()
    for path in written:
        print(t("cli.report_written", lang, path=path))
    return 0
