"""Shared fixtures: a real sandbox provider on a free port, a zeep client on it, a store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.stage import Stage
from storage.store import AuditStore
from tests.helpers import FAST_RETRY


@pytest.fixture
def sandbox() -> Iterator[SandboxPac]:
    with SandboxPac(resolve_after_s=0.5, slow_s=1.0, transient_failures=2) as server:
        yield server


@pytest.fixture
async def pac(sandbox: SandboxPac) -> AsyncIterator[PacClient]:
    client = await PacClient.create(sandbox.wsdl_url, sandbox.endpoint, usuario="sandbox",
                                    password="sandbox", timeout_s=5, batch_size=50,
                                    retry=FAST_RETRY)
    yield client
    await client.aclose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    audit = AuditStore.open(tmp_path / "audit.db")
    yield audit
    audit.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.faults import LEDGER

    if LEDGER.injected:
        terminalreporter.write_line(
            f"Faults injected: {len(LEDGER.injected)}, survived: {len(LEDGER.survived)}, "
            f"requests lost: {LEDGER.lost}")
        terminalreporter.write_line(f"Duplicate side effects: {LEDGER.duplicates}")


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    """The bot on the stand-ins (a test module may define its own); `param` (indirect
    parametrization) passes options to Stage.open."""
    opened = await Stage.open(tmp_path / "audit.db", resolve_after_s=0.5,
                              **getattr(request, "param", {}))
    yield opened
    await opened.close()
