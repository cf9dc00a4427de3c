"""Everything offline at once: the sandbox provider, the Slack stand-in, the bot serving
HTTP on a free port, and a driver that plays the people. Used by the demo and the tests.

`sandbox_runtime` is also what `python -m bot run` uses when CFDI_ENDPOINT=sandbox: the
sandbox is chosen here, where the app is assembled, so no production module imports it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import SANDBOX, Settings
from bot.providers import solucion_factible
from bot.runtime.assembly import Runtime, build, connect_sat
from bot.runtime.http import EVENTS_PATH
from bot.sandbox.pac_server import SandboxPac
from bot.sandbox.sat_server import SandboxSat
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.slack_server import SlackStandIn
from bot.slack.io import Identity

APPROVALS = "C0APROBACIONES"
FINANCE = "C0FINANZAS"
ADMIN = "C0ADMIN"
APPROVER_GROUP = "S0APROBADORES"
PEOPLE = {
    "U0ANA": "ana.lopez",       # requester
    "U0BETO": "beto.ruiz",      # approver, named in APPROVERS
    "U0CARLA": "carla.diaz",    # approver through the user group
    "U0DIEGO": "diego.mora",    # neither
}


async def sandbox_runtime(settings: Settings, identity: Identity | None = None,
                          **sandbox_options: Any
                          ) -> tuple[Runtime, SandboxPac, SandboxSat | None]:
    """The bot on the built-in sandbox provider and, when SAT_CONSULTA_URL=sandbox, the SAT
    stand-in that knows its invoices (started here, stopped with the runtime).

    `sandbox_options` tune them (resolve_after_s, slow_s…) for demos and tests.
    """
    assert settings.sandbox, "CFDI_ENDPOINT is not sandbox"
    pac = SandboxPac(**sandbox_options).start()
    sat = SandboxSat(pac.state, pac.book).start() if settings.sat_consulta_url == SANDBOX \
        else None
    stops = [pac.stop, *([sat.stop] if sat else [])]
    try:
        provider = await solucion_factible.connect(settings, pac.endpoint)
        sat_client = await connect_sat(settings, sat.endpoint if sat else None)
        return await build(settings, provider, on_stop=stops, sat=sat_client,
                           identity=identity), pac, sat
    except BaseException:
        for stop in stops:
            stop()
        raise


@dataclass
class Stage:
    """The bot and every stand-in running together, for the demo and the tests."""

    settings: Settings
    pac: SandboxPac
    sat: SandboxSat | None
    slack: SlackStandIn
    runtime: Runtime
    driver: SlackDriver

    @classmethod
    async def open(cls, audit_db: Path, *, resolve_after_s: float = 30.0, slow_s: float = 5.0,
                   provider_password: str = "sandbox",
                   prepare_slack: Callable[[SlackStandIn], object] | None = None,
                   **overrides: Any) -> Stage:
        """`prepare_slack` sets the Slack stand-in up before the bot starts (faults at
        start-up); `overrides` are settings."""
        token = "xoxb-sandbox-" + secrets.token_hex(8)
        signing_secret = secrets.token_hex(16)
        slack = SlackStandIn(token=token, users=PEOPLE, groups={APPROVER_GROUP: ["U0CARLA"]},
                             channels={APPROVALS: "aprobaciones-cfdi", FINANCE: "finanzas",
                                       ADMIN: "operaciones"}).start()
        if prepare_slack is not None:
            prepare_slack(slack)
        options: dict[str, Any] = {
            "slack_bot_token": token, "slack_signing_secret": signing_secret,
            "slack_api_url": slack.api_url, "approvals_channel": APPROVALS,
            "approvers": ["U0BETO", APPROVER_GROUP], "admin_channel": ADMIN,
            "audit_db": audit_db, "cfdi_endpoint": "sandbox", "cfdi_retry_attempts": 2,
            "cfdi_retry_max_s": 5, "cfdi_timeout_s": 30, "cfdi_password": provider_password,
        }
        settings = Settings(_env_file=None, **{**options, **overrides})  # type: ignore[call-arg]
        runtime, pac, sat = await sandbox_runtime(settings, resolve_after_s=resolve_after_s,
                                                  slow_s=slow_s, password=provider_password)
        port = await runtime.start_http(host="127.0.0.1", port=0)
        driver = SlackDriver(f"http://127.0.0.1:{port}{EVENTS_PATH}", signing_secret, slack)
        return cls(settings, pac, sat, slack, runtime, driver)

    async def close(self, *, drain: bool = True) -> None:
        await self.driver.aclose()
        await self.runtime.stop(drain=drain)  # stops the sandbox provider too
        self.slack.stop()

    async def settle(self) -> None:
        """Wait until the bot's background work (provider calls, replies) is done."""
        await self.runtime.tasks.drain()
