"""Logging for every command: one line per record, secrets replaced by *** in the final text
(raw, and in every escaped or encoded form: see storage/redact.py).

Redacting the formatted line (message, arguments and traceback together) covers what a
library logs too, whatever its level; the provider transport logs no bodies to begin with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from storage.redact import Redactor


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str) -> None:
        super().__init__(fmt)
        self.redactor = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.scrub(super().format(record))


def setup_logging(secrets: Iterable[str], level: int = logging.INFO) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets, "%(asctime)s %(levelname)s %(name)s: "
                                                     "%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx and aiohttp's access log speak at INFO on every request; the bot logs what matters.
    for noisy in ("httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return handler
