"""`python -m bot audit browse`: the audit file in Datasette, read-only and immutable, its
canned queries and the events in words, as headless Chromium renders them. Skipped, saying
why, only when Datasette (the `browse` extra) or Chromium is not installed."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from bot.sandbox.stage import Stage
from bot.sat.refs import InvoiceRef
from tests.helpers import OK_UUID, card_of, click

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("datasette") is None,
                       reason="Datasette is not installed: pip install 'cfdi-bot[browse]'"),
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Chromium is not installed (Debian: apt-get install chromium)"),
]
READY_WITHIN_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def audit_file(tmp_path: Path) -> Path:
    """A request approved and answered, through the real flow, then the bot stopped."""
    path = tmp_path / "audit.db"
    stage = await Stage.open(path, resolve_after_s=0.5)
    try:
        card = await card_of(stage, lines=[OK_UUID, "FAC 1001"])
        await click(stage, "U0BETO", card)
    finally:
        await stage.close()
    return path


@pytest.fixture
def browser(audit_file: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AUDIT_DB": str(audit_file), "LANGUAGE": "es",
           "TIMEZONE": "America/Mexico_City"}
    server = subprocess.Popen([sys.executable, "-m", "bot", "audit", "browse", "--port",
                               str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:  # waits for a condition (the port answers), never for a duration
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the browser did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/audit"
    finally:
        server.terminate()
        server.wait(timeout=10)


def month_of_request(path: Path) -> str:
    """The month (in TIMEZONE) the stage's request was made in: it ran on the real clock."""
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:  # no -wal
        (created,) = conn.execute("SELECT created_at FROM requests WHERE id = 1").fetchone()
    moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo("America/Mexico_City")).strftime("%Y-%m")


def dom(url: str) -> str:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", url], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_the_canned_queries_show_the_story_in_words(audit_file: Path, browser: str) -> None:
    before = hashlib.sha256(audit_file.read_bytes()).hexdigest()
    home = dom(browser)
    for title in ("Las cancelaciones de un mes", "La historia de una factura",
                  "Quién aprobó qué, con qué datos", "Los eventos en palabras"):
        assert title in home
    story = dom(f"{browser}/invoice_story?invoice={quote(OK_UUID.lower())}")
    assert "creó la solicitud #1" in story and "aprobó" in story
    assert "el proveedor respondió" in story
    month = dom(f"{browser}/month_cancellations?month={month_of_request(audit_file)}")
    assert OK_UUID in month and "FAC-1001" in month
    approvals = dom(f"{browser}/approvals")
    assert "beto.ruiz" in approvals and "aprobó" in approvals
    # ... on the facts recorded when it was given: the invoice_facts events it names.
    assert InvoiceRef(uuid=OK_UUID).key in approvals
    words = dom(f"{browser}/events_in_words")
    assert "publicó la tarjeta de la solicitud #1" in words
    # Read-only: a statement that writes is refused, and the file is not touched.
    refused = dom(f"{browser}?sql={quote('DELETE FROM requests')}")
    assert "Statement must be a SELECT" in refused
    assert hashlib.sha256(audit_file.read_bytes()).hexdigest() == before
    assert not Path(f"{audit_file}-wal").exists()
