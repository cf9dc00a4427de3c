"""`python -m benchmarks [--quick] [name ...]` (or `make bench`): run the benchmarks and print
figures (docs/benchmarks.md says what each one measures)."""

from __future__ import annotations

import argparse
import sys

from benchmarks import (
    ack,
    audit,
    bulk,
    bulk_file,
    checkpoints,
    facts,
    large,
    reconcile,
    reminders,
    rendering,
    report,
    watcher,
)

BENCHMARKS = {
    "ack": ack.main, "bulk": bulk.main, "bulk_file": bulk_file.main, "audit": audit.main,
    "watcher": watcher.main,
    "rendering": rendering.main, "facts": facts.main, "reconcile": reconcile.main,
    "checkpoints": checkpoints.main,
    "reminders": reminders.main,
    "report": report.main,
    "large": large.main,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"which to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true",
                        help="ack only: 2 short rounds and 2,000 due invoices, to check that "
                        "it runs (its figures are too few to quote)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in args.names or list(BENCHMARKS):
        if name == "ack":
            ack.main(quick=args.quick)
        else:
            BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
