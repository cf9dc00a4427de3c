"""Logging for every command: one line per record (text, or one JSON object with LOG_FORMAT=json),
secrets replaced by *** in the final text (raw, and in every escaped or encoded form: see
storage/redact.py).

Redacting the formatted record (message, arguments and traceback together) covers what a
library logs too, whatever its level; the provider transport logs no bodies to begin with.
A JSON line is scrubbed field by field before it is serialised, so no replacement can break it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import aiohttp

from storage.redact import Redactor

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The Socket Mode client's own logger: it logs every failed connection with a traceback.
SOCKET_MODE_LOGGER = "slack_sdk.socket_mode.aiohttp"


class RedactingFormatter(logging.Formatter):
    """A log formatter that replaces every secret with `***`, in any encoding."""

    def __init__(self, secrets: Iterable[str], fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)
        self.redactor = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers: time (UTC), level, logger, message, and the
    traceback as `exception` when there is one."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redactor = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(self.redactor.scrub_value(entry), ensure_ascii=False)


class NetworkFailureInOneLine(logging.Filter):
    """A network failure while (re)connecting is expected now and then: its log line keeps
    the library's message (which names the error) and drops the 40-line traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging(secrets: Iterable[str], level: int | str = logging.INFO,
                  fmt: str = "text") -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json"
                         else RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    numeric = root.level
    # httpx and aiohttp's access log speak at INFO on every request; the bot logs what matters.
    for noisy in ("httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    socket_mode = logging.getLogger(SOCKET_MODE_LOGGER)
    if not any(isinstance(f, NetworkFailureInOneLine) for f in socket_mode.filters):
        socket_mode.addFilter(NetworkFailureInOneLine())
    return handler
