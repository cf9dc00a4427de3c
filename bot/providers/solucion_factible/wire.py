"""What the bot's requests look like on Solución Factible's wire: the one place that maps
the SAT's and the contract's types to the WSDL's element names.

The reason always travels inside `uuid`, as the provider's 2025 page and production clients
send it: `UUID|Motivo|UUIDSustituye|FolioSustituye|SerieSustituye`, with the UUID left empty
when the invoice is named by `folio` + `serie`. A separate `motivoCancelacion` element goes
only where the loaded WSDL declares one (bot.providers.solucion_factible.checks).
"""

from __future__ import annotations

from typing import Any

from bot.providers.contract import SendRequest
from bot.sat.cancellation import CancelItem
from bot.sat.refs import InvoiceRef


def pipe(item: CancelItem) -> str:
    uuid, reason, replacement = item.ref.uuid or "", item.reason.value, item.replacement
    if replacement is None:
        return f"{uuid}|{reason}|"
    if replacement.uuid:
        return f"{uuid}|{reason}|{replacement.uuid}"
    return f"{uuid}|{reason}||{replacement.folio}|{replacement.serie}"


def cancel_item(item: CancelItem, *, motivo: bool = False) -> dict[str, Any]:
    """One `solicitudesCancelacion` item."""
    fields: dict[str, Any] = {"uuid": pipe(item)}
    if item.ref.uuid is None:
        fields |= {"folio": item.ref.folio, "serie": item.ref.serie}
    if motivo:
        fields["motivoCancelacion"] = item.reason.value
    return fields


def send_request(request: SendRequest) -> dict[str, Any]:
    """`solicitudEnvio`. Its fields are not published: modelled on the provider's
    single-invoice sender (uuid, enviarPDF, asunto, cuerpo, email), which names invoices by
    UUID only; `provider check` compares them with the loaded WSDL."""
    return {
        "asunto": request.subject,
        "cuerpo": request.message,
        "email": list(request.emails),
        "enviarPDF": request.attach_pdf,
        "uuid": [ref.uuid for ref in request.refs],
    }


def download_request(ref: InvoiceRef) -> dict[str, Any]:
    """`descargarXML`'s search: by `uuid`, or by `folio` + `serie` with an empty `uuid`, as
    production clients send it (a folio is an xs:long: never sent empty)."""
    if ref.uuid:
        return {"uuid": ref.uuid}
    return {"folio": ref.folio, "serie": ref.serie, "uuid": ""}
