"""The provider password and the Slack tokens never reach a log line or an error text."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFormatter
from bot.pac.client import PacClient
from bot.provider import SendRequest
from bot.sandbox.pac_server import SandboxPac
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef
from tests.helpers import FAST_RETRY, uuid_with

PASSWORD = "Zr9-unique-PAC-pass-Q7"
WRONG = "Wr0ng-unique-PAC-pass-K2"


async def test_no_password_in_logs_or_errors_with_every_logger_at_debug(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root, so zeep, httpx, httpcore and ours all at DEBUG
    for name in ("zeep", "zeep.transports", "httpx", "httpcore", "bot"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[str] = []
    with SandboxPac(usuario="acme", password=PASSWORD, resolve_after_s=0) as sandbox:
        for password in (PASSWORD, WRONG):
            client = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="acme",
                                            password=password, retry=FAST_RETRY)
            for code in ("000", "211", "9F0", "9F1", "9F2", "9F3", "503", "601"):
                result = await client.cancel([CancelItem(ref=InvoiceRef(uuid=uuid_with(code)),
                                                         reason="02")])
                texts += [str(result.error), repr(result.error),
                          result.model_dump_json(exclude={"error"})]
            sent = await client.send(SendRequest(refs=[InvoiceRef(uuid=uuid_with("000"))],
                                                 emails=["a@example.com"]))
            texts += [str(sent.error), sent.model_dump_json(exclude={"error"})]
            await client.aclose()
        assert PASSWORD in sandbox.last_request.decode() or WRONG in \
            sandbox.last_request.decode()  # it did travel, where it must
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP" in logged  # the loggers did speak at DEBUG
    for secret in (PASSWORD, WRONG):
        assert secret not in logged
        assert not any(secret in text for text in texts)


def test_the_log_formatter_replaces_every_secret() -> None:
    formatter = RedactingFormatter(["xoxb-1-2-abc", "xoxb-1-2-abcdef", "pw"], "%(message)s")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s and %s", (
        "xoxb-1-2-abcdef", "pw"), None)
    assert formatter.format(record) == "token *** and ***"
