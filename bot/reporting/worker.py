"""`python -m bot.reporting.worker`: one report made in a process of its own, for the bot.

The chart and the spreadsheet of a month of 10,000 invoices are seconds of CPU; in a thread
of the bot's process they would share its interpreter lock with the event loop that answers
Slack (its acks took twice as long meanwhile: docs/benchmarks.md). The bot starts this
module instead (bot.reporting.service.Reports.produce) and reads back what it wrote into a
temporary folder: the three files and `message.json` (the Block Kit to post, and how many
invoices). It reads the audit file read-only and is told everything else on its command
line: no settings, no secrets.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.reporting.months import Month
from bot.reporting.service import MESSAGE, make, write_files
from bot.slack.render.report import report_blocks
from storage.store import AuditStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.reporting.worker")
    parser.add_argument("db", type=Path)
    parser.add_argument("month", type=Month.parse)
    parser.add_argument("output", type=Path)
    parser.add_argument("--lang", default="es")
    parser.add_argument("--timezone", required=True)
    parser.add_argument("--made-at", required=True, type=datetime.fromisoformat)
    parser.add_argument("--sandbox", action="store_true")
    args = parser.parse_args(argv)
    zone, made_at = ZoneInfo(args.timezone), args.made_at
    if not args.db.is_file():
        print(f"no audit file at {args.db}", file=sys.stderr)
        return 2
    conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    store = AuditStore(sqlite_utils.Database(conn), clock=lambda: made_at)
    try:
        made = make(store, args.month, lang=args.lang, zone=zone)
    finally:
        conn.close()
    write_files(made, args.output)
    payload = report_blocks(made.report, lang=args.lang, sandbox=args.sandbox, zone=zone)
    (args.output / MESSAGE).write_text(json.dumps(
        {"payload": payload, "invoices": made.report.total_invoices}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
