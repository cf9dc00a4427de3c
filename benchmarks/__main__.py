"""`python -m benchmarks [name ...]` (or `make bench`): run the benchmarks and print figures."""

from __future__ import annotations

import sys

from benchmarks import ack, audit, bulk, facts, rendering, watcher

BENCHMARKS = {
    "ack": ack.main, "bulk": bulk.main, "audit": audit.main, "watcher": watcher.main,
    "rendering": rendering.main, "facts": facts.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        BENCHMARKS[name]()
    return 0


sys.exit(main(sys.argv[1:]))
