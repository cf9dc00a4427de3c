"""The provider client as configured: the real service, or the sandbox started in-process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.pac.client import PacClient, RetryPolicy
from bot.sandbox.pac_server import SandboxPac


@dataclass
class Provider:
    client: PacClient
    sandbox: SandboxPac | None

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.sandbox is not None:
            self.sandbox.stop()


async def start_provider(settings: Settings, **sandbox_options: Any) -> Provider:
    """Build the client once (WSDL parsed off the event loop); start the sandbox if asked.

    `sandbox_options` tune the built-in sandbox (resolve_after_s, slow_s…) for demos and tests.
    """
    sandbox = None
    endpoint = settings.cfdi_endpoint
    if settings.sandbox:
        sandbox = SandboxPac(**sandbox_options).start()
        endpoint = sandbox.endpoint
    client = await PacClient.create(
        settings.cfdi_wsdl, endpoint, usuario=settings.cfdi_usuario,
        password=settings.cfdi_password.get_secret_value(), timeout_s=settings.cfdi_timeout_s,
        batch_size=settings.cfdi_batch_size,
        retry=RetryPolicy(attempts=settings.cfdi_retry_attempts,
                          total_s=settings.cfdi_retry_max_s))
    return Provider(client, sandbox)
