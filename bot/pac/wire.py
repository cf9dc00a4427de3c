"""What the bot's requests look like on Solución Factible's wire: the one place that maps
the SAT's and the contract's types to the WSDL's element names."""

from __future__ import annotations

from typing import Any

from bot.provider import SendRequest
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef


def reference(ref: InvoiceRef) -> dict[str, Any]:
    return {"uuid": ref.uuid} if ref.uuid else {"serie": ref.serie, "folio": ref.folio}


def cancel_item(item: CancelItem) -> dict[str, Any]:
    """One `solicitudesCancelacion` item; a replacement travels as `UUID|01|UUIDSustituye`."""
    fields = reference(item.ref)
    if item.replacement:
        fields["uuid"] = f"{item.ref.uuid}|{item.reason.value}|{item.replacement}"
    fields["motivoCancelacion"] = item.reason.value
    return fields


def send_request(request: SendRequest) -> dict[str, Any]:
    """The shape of `solicitudEnvio`; kept here alone so a real WSDL can replace it."""
    return {
        "asunto": request.subject,
        "comprobantes": [reference(ref) for ref in request.refs],
        "emails": request.emails,
        "incluirPDF": request.attach_pdf,
        "mensaje": request.message,
    }
