"""What the workflow's tests share: the SAT's word through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from bot.config import Settings
from bot.providers.solucion_factible.client import PacClient
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sat.consulta.client import SatClient
from bot.slack.outbox import Outbox
from bot.workflow.facts import FactFinder
from storage.store import AuditStore
from tests.helpers import FAST_RETRY


@pytest.fixture
async def sat(store: AuditStore, pac: PacClient, sandbox: SandboxPac
              ) -> AsyncIterator[FactFinder]:
    """The SAT stand-in over the sandbox's memory, asked through the real client."""
    with SandboxSat(sandbox.state, sandbox.book) as server:
        client = SatClient.build(server.endpoint, timeout_s=5, retry=FAST_RETRY)
        # The outbox only serves the card's lookups (FactFinder.gather), not used here.
        yield FactFinder(Settings(_env_file=None), store, pac,  # type: ignore[call-arg]
                         client, cast(Outbox, None))
        await client.aclose()
