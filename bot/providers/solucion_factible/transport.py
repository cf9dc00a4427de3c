"""zeep's async transport, minus the envelope logging.

zeep's AsyncTransport logs every request and response body at DEBUG, which puts the
provider password in the logs. This transport logs only where, how big and what status.
"""

from __future__ import annotations

import logging
from typing import Any

from zeep.exceptions import TransportError
from zeep.transports import AsyncTransport

log = logging.getLogger(__name__)


class QuietAsyncTransport(AsyncTransport):
    """zeep's async transport on the shared httpx client, logging nothing secret."""

    async def post(self, address: str, message: Any, headers: dict[str, str]) -> Any:
        response = await self.client.post(address, content=message, headers=headers)
        log.debug("POST %s: %d bytes sent, HTTP %d, %d bytes back", address, len(message),
                  response.status_code, len(response.content))
        # An error page (HTML, plain text) is an HTTP failure, not a SOAP fault: zeep would
        # parse well-formed HTML as an envelope and report "Unknown fault".
        content_type = response.headers.get("Content-Type", "")
        if response.status_code >= 400 and "xml" not in content_type:
            raise TransportError(f"HTTP {response.status_code}", status_code=response.status_code)
        return response
