"""The demo's month-end list (issue 21): Ana cancels invoices listed in a CSV file, each with
its own reason; a bad row sends the file back to her by DM with an `error` column, and the
fixed file is recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the demo calls this step with itself
    from bot.sandbox.demo import Demo

LIST_NAME = "cierre-octubre.csv"  # a month-end list, as Excel saves a CSV on Windows
LIST_INVOICES = [
    "5A6B7C8D-1E2F-4A3B-8C21-9D0E1F2A3B4C",  # reason 01, with the invoice that replaces it
    "6B7C8D9E-2F3A-4B4C-8C21-0E1F2A3B4C5D",  # reason 03
    "7C8D9E0F-3A4B-4C5D-8C21-1F2A3B4C5D6E",  # no reason of its own: the form's
]
LIST_BAD, LIST_FIXED = "FAC -2002", "FAC 2002"  # a minus sign before the folio: refused
LIST_JUSTIFICATION = "Cierre de octubre: facturas con errores y operaciones no realizadas"


async def month_end_list(demo: Demo, requester: str) -> None:
    """Ana cancels a month-end list as a file, each invoice with its own reason: a folio
    with a minus sign sends the file back to her by DM with an `error` column and nothing is
    recorded; fixed and attached again, the request is recorded."""
    stage = demo.stage
    first = LIST_INVOICES[0]
    replacement = stage.pac.book.replace(first)  # reason 01: issued before cancelling
    rows = [["Factura", "Motivo", "Sustituye", "Cliente"],
            [first, "01", replacement.uuid, "Comercial del Norte"],
            [LIST_BAD, "02", "", "Servicios Ruiz"],
            [LIST_INVOICES[1], "03", "", "Papelería Mora"],
            [LIST_INVOICES[2], "", "", "Díaz y Asociados"]]  # blank: the form's reason (04)

    async def attach(rows: list[list[str]]) -> None:
        await demo.command(requester, "/cfdi cancelar")
        content = "\n".join(";".join(row) for row in rows).encode("cp1252")  # Excel's CSV
        attached = stage.driver.attach(requester, LIST_NAME, content)
        await demo.submit(requester, {"invoices": "", "reason": "04",
                                      "justification": LIST_JUSTIFICATION,
                                      "xml_files": [attached]})

    demo.step("bulk.demo.step.list", requester, name=LIST_NAME, rows=len(rows) - 1)
    await attach(rows)
    demo.step("bulk.demo.step.list_fixed", requester, row=3, typed=LIST_BAD, fixed=LIST_FIXED)
    rows[2][0] = LIST_FIXED
    await attach(rows)
